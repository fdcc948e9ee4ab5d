"""Background processes of a local stack, each with a pid file and a log under ``.local/<profile>/``.

A :class:`Service` is started in its own session (so that stopping it also stops the children it forked,
such as task runners) with stdout and stderr appended to ``logs/<name>.log``. Its pid file
``run/<name>.json`` records the pid, the process's start time and a fingerprint of its command and
environment. A pid counts as ours only while a process with that pid *and that start time* exists (pids
are reused; Airflow renames its processes, so the command line alone cannot tell), which is why
``make stop`` can never signal a stranger. A changed fingerprint means the service runs with an outdated
configuration and must be restarted.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil


@dataclass(frozen=True)
class Service:
    """One long-running process of the stack."""

    name: str
    argv: tuple[str, ...]
    home: Path  # .local/<profile>
    port: int | None = None
    signature: str = ""  # a word its command line must contain (a sanity check besides the start time)

    @property
    def pid_file(self) -> Path:
        return self.home / "run" / f"{self.name}.json"

    @property
    def log_file(self) -> Path:
        return self.home / "logs" / f"{self.name}.log"

    def fingerprint(self, env: Mapping[str, str]) -> str:
        """A digest of the command and the stack's environment: equal digests, same configuration."""
        blob = json.dumps({"argv": self.argv, "env": dict(sorted(env.items()))})
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Running:
    """A verified process of ours, as its pid file recorded it."""

    pid: int
    started: float
    fingerprint: str
    port: int | None


def read_pid_file(service: Service) -> dict | None:
    try:
        return json.loads(service.pid_file.read_text())
    except (OSError, ValueError):
        return None


def running(service: Service) -> Running | None:
    """The process of ``service`` if it is alive and still the one we started; else None (and the stale
    pid file is removed)."""
    record = read_pid_file(service)
    if not record:
        return None
    proc = _verified(record)
    if proc is None:
        service.pid_file.unlink(missing_ok=True)
        return None
    return Running(record["pid"], record["create_time"], record.get("fingerprint", ""), record.get("port"))


def _verified(record: dict) -> psutil.Process | None:
    signature = record.get("signature", "")
    try:
        proc = psutil.Process(int(record["pid"]))
        if abs(proc.create_time() - float(record["create_time"])) > 0.05:
            return None  # the pid was reused by another process
        if proc.status() == psutil.STATUS_ZOMBIE:
            return None
        # A process that retitles itself (redis-server, Airflow) shows an empty command line for a moment
        # while it does: pid and start time already prove it is ours, so only a different one refutes it.
        cmdline = " ".join(proc.cmdline())
        if signature and cmdline and signature not in cmdline:
            return None
        return proc
    except (psutil.Error, KeyError, ValueError, TypeError):
        return None


def start(service: Service, env: Mapping[str, str], cwd: Path) -> Running:
    """Start ``service`` in the background with ``env`` added to this process's environment."""
    service.pid_file.parent.mkdir(parents=True, exist_ok=True)
    service.log_file.parent.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    with service.log_file.open("ab") as log:
        log.write(f"\n===== {stamp}: starting {' '.join(service.argv)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            list(service.argv),
            cwd=cwd,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    created = psutil.Process(proc.pid).create_time()
    record = {
        "pid": proc.pid,
        "create_time": created,
        "fingerprint": service.fingerprint(env),
        "port": service.port,
        "signature": service.signature,
        "argv": list(service.argv),
        "started_at": stamp,
    }
    tmp = service.pid_file.with_suffix(".tmp")
    tmp.write_text(json.dumps(record, indent=1) + "\n")
    tmp.replace(service.pid_file)
    return Running(proc.pid, created, record["fingerprint"], service.port)


def exited(service: Service) -> bool:
    """True when the process we started for ``service`` is gone (it crashed, or was never started)."""
    return running(service) is None


def log_tail(service: Service, lines: int = 25) -> str:
    """The last ``lines`` lines of the service's log, from its latest start."""
    try:
        text = service.log_file.read_text(errors="replace")
    except OSError:
        return ""
    text = text.rsplit("\n===== ", 1)[-1]
    return "\n".join(text.strip().splitlines()[-lines:])


def stop(services: Sequence[Service], timeout: float = 20.0) -> list[str]:
    """Stop the verified processes of ``services`` (and their process groups): SIGTERM, then SIGKILL
    after ``timeout`` seconds. Returns the names that were running. Never signals a process that is not
    the one we started."""
    targets: list[tuple[Service, psutil.Process]] = []
    for service in services:
        record = read_pid_file(service)
        if not record:
            continue
        proc = _verified(record)
        if proc is None:
            # The leader is gone; children it left in its session may not be.
            _kill_orphans(record)
            service.pid_file.unlink(missing_ok=True)
            continue
        targets.append((service, proc))
        _signal_group(proc.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for service, proc in targets:
        with contextlib.suppress(psutil.Error):
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        if proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE:
            _signal_group(proc.pid, signal.SIGKILL)
            with contextlib.suppress(psutil.Error):
                proc.wait(timeout=5)
        _kill_orphans({"pid": proc.pid, "create_time": proc.create_time()})
        service.pid_file.unlink(missing_ok=True)
    return [service.name for service, _ in targets]


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pgid, sig)


def _kill_orphans(record: dict) -> None:
    """Kill what is left of a session we started: same process group, started no earlier than its
    leader (so a later, unrelated group that happens to reuse the id is left alone)."""
    try:
        pgid, since = int(record["pid"]), float(record["create_time"])
    except (KeyError, ValueError, TypeError):
        return
    for proc in psutil.process_iter(["pid", "create_time"]):
        with contextlib.suppress(psutil.Error, ProcessLookupError, PermissionError):
            if proc.info["pid"] != os.getpid() and os.getpgid(proc.info["pid"]) == pgid \
                    and proc.info["create_time"] >= since - 0.05:
                proc.kill()
