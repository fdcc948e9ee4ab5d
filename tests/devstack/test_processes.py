"""Background processes: started with pid file and log, recognised by pid *and* start time, stopped with
the children they forked, and a pid file that names someone else's process never gets it killed."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import psutil
import pytest

from cryptoflow.devstack import processes
from cryptoflow.devstack.processes import Service

# A parent that forks a child and both sleep: stopping the service must take both.
FAMILY = ("import subprocess, sys, time; "
          "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(300)']); "
          "print('family up', flush=True); time.sleep(300)")


@pytest.fixture
def service(tmp_path):
    svc = Service("family", (sys.executable, "-c", FAMILY), tmp_path, signature="family up")
    yield svc
    processes.stop([svc], timeout=2)


def _children(pid: int) -> list[psutil.Process]:
    return psutil.Process(pid).children(recursive=True)


def _wait_for(condition, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def test_start_records_and_stop_takes_the_whole_group(service, tmp_path):
    started = processes.start(service, {"CRYPTOFLOW_X": "1"}, cwd=tmp_path)
    record = json.loads(service.pid_file.read_text())
    assert record["pid"] == started.pid
    assert record["fingerprint"] == service.fingerprint({"CRYPTOFLOW_X": "1"}) != service.fingerprint({})
    assert processes.running(service).pid == started.pid
    _wait_for(lambda: "family up" in service.log_file.read_text(), "the log line")
    _wait_for(lambda: _children(started.pid), "the child")
    family = [psutil.Process(started.pid), *_children(started.pid)]

    assert processes.stop([service], timeout=5) == ["family"]
    _, alive = psutil.wait_procs(family, timeout=5)
    assert alive == []
    assert not service.pid_file.exists()
    assert processes.running(service) is None
    assert processes.stop([service]) == []


def test_a_reused_pid_is_not_ours(service, tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        service.pid_file.parent.mkdir(parents=True)
        # Our pid file names the stranger's pid, but with another start time: a reused pid.
        service.pid_file.write_text(json.dumps({
            "pid": stranger.pid, "create_time": psutil.Process(stranger.pid).create_time() - 100,
            "signature": "", "fingerprint": "x"}))
        assert processes.running(service) is None
        assert not service.pid_file.exists(), "a stale pid file is removed"
        service.pid_file.write_text(json.dumps({
            "pid": stranger.pid, "create_time": psutil.Process(stranger.pid).create_time() - 100}))
        assert processes.stop([service], timeout=1) == []
        assert stranger.poll() is None, "the stranger keeps running"
    finally:
        stranger.kill()
        stranger.wait()


def test_a_process_that_no_longer_matches_its_signature_is_not_ours(service, tmp_path):
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"])
    try:
        service.pid_file.parent.mkdir(parents=True)
        service.pid_file.write_text(json.dumps({
            "pid": stranger.pid, "create_time": psutil.Process(stranger.pid).create_time(),
            "signature": "cryptoflow.sandbox"}))
        assert processes.running(service) is None
        assert stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_log_tail_shows_the_latest_start(tmp_path):
    crash = Service("crash", (sys.executable, "-c", "import sys; print('boom'); sys.exit(3)"), tmp_path)
    crash.log_file.parent.mkdir(parents=True)
    crash.log_file.write_text("\n===== old start\nold line\n")
    proc = processes.start(crash, {}, cwd=tmp_path)
    psutil.Process(proc.pid).wait(timeout=20)
    assert processes.exited(crash)
    tail = processes.log_tail(crash)
    assert "boom" in tail and "old line" not in tail
