"""The Celery profile's parts that need no Airflow process: the Redis (named, found, or a throwaway
``redis-server`` of our own), the CeleryExecutor settings of ``stack_env``, the CLI's executor switch and
the check that the installed Celery can run the installed provider. The demo on two workers is in
test_stack.py."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cryptoflow.devstack import environment
from cryptoflow.devstack import redis as devredis
from cryptoflow.devstack.environment import Profile, demo_profile, stack_env, without_executor
from cryptoflow.devstack.postgres import Server, StackError
from tests.devstack.conftest import CLI_PROFILE, free_port, run_cli
from tests.devstack.test_stack import _one_message, _pid_files

SERVER = Server("postgresql://alice:s3cr%27t@db.example:5433/postgres", owned=False)


@pytest.fixture
def homes(tmp_path, monkeypatch) -> Path:
    monkeypatch.setattr(Profile, "home", property(lambda self: tmp_path / self.name))
    return tmp_path


@pytest.fixture
def no_redis_env(monkeypatch) -> str:
    """No $CRYPTOFLOW_REDIS_URL, and a default address where nothing answers (as if 6379 were free)."""
    monkeypatch.delenv(devredis.URL_ENV, raising=False)
    url = f"redis://127.0.0.1:{free_port()}"
    monkeypatch.setenv(devredis.DEFAULT_URL_ENV, url)
    return url


# --------------------------------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------------------------------


def test_a_redis_url_that_points_nowhere_is_one_message(monkeypatch, tmp_path):
    nowhere = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    monkeypatch.setenv(devredis.URL_ENV, nowhere)
    with pytest.raises(StackError) as err:
        devredis.ensure_redis(tmp_path / "redis")
    message = str(err.value)
    port = nowhere.rsplit(":", 1)[1]
    assert message.startswith(f"CRYPTOFLOW_REDIS_URL=redis://:***@127.0.0.1:{port} is not reachable: ")
    assert "Connection refused" in message and "unset CRYPTOFLOW_REDIS_URL" in message
    assert "hunter2" not in message, "the password is redacted"
    assert not (tmp_path / "redis").exists(), "nothing of ours was started"


def test_cli_redis_start_with_a_url_that_points_nowhere_is_one_message(cli_env, cli_local_dir):
    nowhere = f"redis://:hunter2@127.0.0.1:{free_port()}/0"
    proc = run_cli("redis", "start", env={**cli_env, "CRYPTOFLOW_REDIS_URL": nowhere})
    message = _one_message(proc, "CRYPTOFLOW_REDIS_URL=", "is not reachable", "unset CRYPTOFLOW_REDIS_URL")
    assert "hunter2" not in message
    assert not (cli_local_dir / "redis" / "run" / "redis-server.json").exists()


def test_without_a_redis_a_throwaway_server_starts_answers_and_stops(no_redis_env, tmp_path):
    import redis

    root = tmp_path / "redis"
    server = devredis.ensure_redis(root)
    try:
        assert (server.owned, server.started, server.source) == (True, True, "local")
        assert server.url.startswith("redis://127.0.0.1:") and server.url != no_redis_env
        assert devredis.ping(server.url) is None
        client = redis.Redis.from_url(server.url)
        try:
            assert client.config_get("save") == {"save": ""}
            assert client.config_get("appendonly") == {"appendonly": "no"}
            assert client.config_get("bind")["bind"] == "127.0.0.1"
        finally:
            client.close()
        local = devredis.LocalRedis(root)
        assert (root / "run" / "redis-server.json").exists() and local.log_file == root / "logs" / \
            "redis-server.log"
        again = devredis.ensure_redis(root)
        assert (again.url, again.started) == (server.url, False), "a running server is reused"
        known = devredis.RedisServer(server.url, owned=True, source="local")
        assert devredis.known_redis(root) == (known, True)
    finally:
        stopped = devredis.LocalRedis(root).stop()
    assert stopped
    assert devredis.ping(server.url, timeout=0.5) is not None
    assert not (root / "run" / "redis-server.json").exists()
    assert devredis.LocalRedis(root).stop() is False


def test_a_redis_answering_on_the_default_address_is_used_as_it_is(no_redis_env, tmp_path):
    theirs = devredis.LocalRedis(tmp_path / "theirs").start(preferred_port=free_port())
    try:
        found = devredis.ensure_redis(tmp_path / "ours", default=theirs.url)
        assert (found.url, found.owned, found.started, found.source) == (theirs.url, False, False, "default")
        assert not (tmp_path / "ours").exists()
    finally:
        devredis.LocalRedis(tmp_path / "theirs").stop()


def test_a_redis_server_that_will_not_start_is_one_message_and_stays_down(no_redis_env, tmp_path,
                                                                          monkeypatch):
    fake = tmp_path / "bin" / "redis-server"
    fake.parent.mkdir()
    fake.write_text("#!/bin/sh\necho '*** FATAL CONFIG FILE ERROR (Redis 7.0.15) ***' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setattr(devredis, "find_redis_server", lambda: str(fake))
    root = tmp_path / "redis"
    with pytest.raises(StackError) as err:
        devredis.ensure_redis(root)
    message = str(err.value)
    assert "redis-server did not start on port" in message
    assert str(root / "logs" / "redis-server.log") in message
    assert "FATAL CONFIG FILE ERROR" in message and "set CRYPTOFLOW_REDIS_URL" in message
    assert devredis.LocalRedis(root).running() is None
    assert not (root / "run" / "redis-server.json").exists()


def test_redis_server_is_installed_with_apt_get_only_when_missing(monkeypatch):
    calls = []

    def run(cmd, env=None, **_):
        calls.append((cmd, env.get("DEBIAN_FRONTEND")))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    from cryptoflow.devstack import postgres  # apt_install, shared with the PostgreSQL server install

    monkeypatch.setattr(postgres.shutil, "which", {"apt-get": "/usr/bin/apt-get"}.get)
    monkeypatch.setattr(postgres.subprocess, "run", run)
    monkeypatch.setattr(devredis, "find_redis_server", lambda: None)
    monkeypatch.setattr(postgres.os, "geteuid", lambda: 0)
    with pytest.raises(StackError, match="apt-get installed redis-server but no redis-server binary"):
        devredis.install_redis_server()
    assert calls == [(["apt-get", "update", "-qq"], "noninteractive"),
                     (["apt-get", "install", "-y", "-qq", "redis-server"], "noninteractive")]


def test_cli_redis_start_status_stop(cli_env, cli_local_dir):
    env = {**cli_env, "CRYPTOFLOW_REDIS_DEFAULT_URL": f"redis://127.0.0.1:{free_port()}"}
    try:
        start = run_cli("redis", "start", env=env)
        assert start.returncode == 0 and start.stdout == "started\n", start.stdout + start.stderr
        assert run_cli("redis", "start", env=env).stdout == "running\n"
        status = run_cli("redis", "status", env=env)
        assert status.returncode == 0 and "reachable" in status.stdout, status.stdout
    finally:
        stop = run_cli("redis", "stop", env=env)
    assert "stopped the redis-server under .local/redis" in stop.stderr
    assert run_cli("redis", "status", env=env).returncode == 3
    assert not (cli_local_dir / "redis" / "run" / "redis-server.json").exists()


# --------------------------------------------------------------------------------------------------
# stack_env with the CeleryExecutor
# --------------------------------------------------------------------------------------------------


def test_celery_stack_env_has_the_celery_settings_and_a_queue_of_its_profile(homes):
    env = stack_env(Profile("demo", 8080, 8765, executor="celery"), SERVER, broker_url="redis://127.0.0.1:6379/0")
    assert env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://127.0.0.1:6379/0"
    # the metadata database, through psycopg2 as Airflow's own connection (a bare db+postgresql:// would
    # mean psycopg 3 under SQLAlchemy 2.1)
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == \
        "db+postgresql+psycopg2://alice:s3cr%27t@db.example:5433/cryptoflow_demo_airflow"
    assert env["AIRFLOW__CELERY__RESULT_BACKEND"] == "db+" + env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__WORKER_CONCURRENCY"] == "4"
    assert env["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "cryptoflow_demo"
    assert env["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] == "cryptoflow_demo:"

    other = stack_env(environment.test_profile(1, 2, executor="celery"), SERVER, broker_url="redis://127.0.0.1:6379/0")
    assert other["AIRFLOW__OPERATORS__DEFAULT_QUEUE"] == "cryptoflow_test"
    assert other["AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX"] == "cryptoflow_test:"
    assert other["AIRFLOW__CELERY__RESULT_BACKEND"].endswith("/cryptoflow_test_airflow")


def test_celery_settings_are_the_celery_providers_and_the_result_backend_url_loads(homes):
    from airflow.providers.celery.get_provider_info import get_provider_info
    from celery.app.backends import by_url

    env = stack_env(Profile("demo", 8080, 8765, executor="celery"), SERVER, broker_url="redis://r:6379/0")
    options = {(section, option) for section, body in get_provider_info()["config"].items()
               for option in body["options"]}
    options.add(("celery_broker_transport_options", "global_keyprefix"))  # kombu's Redis transport option
    options.add(("operators", "default_queue"))  # Airflow's own
    options.add(("core", "executor"))
    celery_keys = [k for k in env if k.startswith(("AIRFLOW__CELERY", "AIRFLOW__OPERATORS__"))]
    assert len(celery_keys) == 6
    unknown = [k for k in celery_keys
               if tuple(k.removeprefix("AIRFLOW__").lower().split("__", 1)) not in options]
    assert unknown == []
    backend, url = by_url(env["AIRFLOW__CELERY__RESULT_BACKEND"])
    assert backend.__name__ == "DatabaseBackend" and url.startswith("postgresql+psycopg2://")


def test_local_stack_env_has_no_celery_settings_and_the_sandbox_keeps_its_environment(homes):
    local = stack_env(Profile("demo", 8080, 8765), SERVER, broker_url="redis://ignored:6379/0")
    celery = stack_env(Profile("demo", 8080, 8765, executor="celery"), SERVER, broker_url="redis://r:6379/0")
    assert local["AIRFLOW__CORE__EXECUTOR"] == "LocalExecutor"
    assert not [k for k in local if "CELERY" in k or k == "AIRFLOW__OPERATORS__DEFAULT_QUEUE"]
    assert set(celery) - set(local) == {k for k in celery if "CELERY" in k or "OPERATORS" in k}
    # the sandbox gets neither executor's settings, so switching does not restart it; Airflow's do differ
    assert without_executor(local) == without_executor(celery)
    assert "AIRFLOW__CORE__EXECUTOR" not in without_executor(celery)


def test_a_celery_profile_needs_a_broker_and_executors_are_checked(homes, monkeypatch):
    with pytest.raises(StackError, match="needs a Redis URL"):
        stack_env(Profile("demo", 8080, 8765, executor="celery"), SERVER)
    with pytest.raises(StackError, match="executor 'kubernetes': use one of local, celery"):
        Profile("demo", 1, 2, executor="kubernetes")
    monkeypatch.setenv("CRYPTOFLOW_EXECUTOR", "Celery")
    assert demo_profile().executor == "celery"
    assert demo_profile(executor="local").executor == "local"
    monkeypatch.setenv("CRYPTOFLOW_EXECUTOR", "sequential")
    with pytest.raises(StackError, match="CRYPTOFLOW_EXECUTOR='sequential': use one of local, celery"):
        demo_profile()


def test_worker_names_and_queues():
    from cryptoflow.devstack.workers import node_names, worker_services

    profile = Profile("devstack", 1, 2, executor="celery")
    workers = worker_services(profile)
    assert list(workers) == ["celery-worker1", "celery-worker2"]
    argv = workers["celery-worker2"].argv
    assert argv[1:5] == ("-m", "airflow", "celery", "worker")
    assert argv[argv.index("--queues") + 1] == "cryptoflow_devstack"
    assert argv[argv.index("--celery-hostname") + 1] == "devstack-worker2@%h"
    assert "--skip-serve-logs" in argv, "two workers on one machine would fight over port 8793"
    import socket

    assert node_names(profile)["celery-worker1"] == f"devstack-worker1@{socket.gethostname()}"


def test_cli_env_with_the_celery_executor_starts_nothing(cli_env, cli_local_dir):
    env = {**cli_env, "CRYPTOFLOW_REDIS_DEFAULT_URL": f"redis://127.0.0.1:{free_port()}"}
    proc = run_cli("env", "--executor", "celery", env=env)
    assert proc.returncode == 0, proc.stderr
    assert "export AIRFLOW__CORE__EXECUTOR='CeleryExecutor'" in proc.stdout
    assert f"export AIRFLOW__OPERATORS__DEFAULT_QUEUE='cryptoflow_{CLI_PROFILE}'" in proc.stdout
    assert f"export AIRFLOW__CELERY__BROKER_URL='{env['CRYPTOFLOW_REDIS_DEFAULT_URL']}'" in proc.stdout
    assert _pid_files(cli_local_dir) == []
    assert not (cli_local_dir / "redis" / "run" / "redis-server.json").exists()
    bad = run_cli("env", env={**env, "CRYPTOFLOW_EXECUTOR": "kubernetes"})
    _one_message(bad, "CRYPTOFLOW_EXECUTOR='kubernetes': use one of local, celery")


# --------------------------------------------------------------------------------------------------
# The installed Celery and the Celery provider
# --------------------------------------------------------------------------------------------------


def test_a_celery_without_a_name_the_provider_imports_is_one_message(monkeypatch):
    from celery.backends import database

    from cryptoflow.devstack import workers

    monkeypatch.delattr(database, "retry", raising=False)
    with pytest.raises(StackError) as err:
        workers.check_celery_provider()
    message = str(err.value)
    assert "the provider imports celery.backends.database.retry" in message
    assert "apache-airflow-providers-celery 3." in message and "pin celery==5.6.3" in message


def test_the_installed_celery_runs_the_installed_celery_provider():
    """Fails while requirements.lock pins a Celery the provider cannot import (celery 5.7.0 with
    apache-airflow-providers-celery 3.26.0): every component of a celery stack would fail to start."""
    from cryptoflow.devstack.workers import check_celery_provider

    check_celery_provider()


def test_the_container_entry_point_picks_celery_only_when_the_broker_resolves():
    script = Path(__file__).resolve().parents[2] / "include/cryptoflow/devstack/container-entrypoint.sh"
    base = {"PATH": os.environ["PATH"], "AIRFLOW__CORE__EXECUTOR": "LocalExecutor"}

    def executor(**env: str) -> str:
        return subprocess.run(["sh", str(script), "sh", "-c", 'echo "$AIRFLOW__CORE__EXECUTOR"'],
                              env={**base, **env}, capture_output=True, text=True, check=True).stdout.strip()

    assert executor() == "LocalExecutor"
    assert executor(CRYPTOFLOW_COMPOSE_BROKER_HOST="cryptoflow-celery-broker.invalid") == "LocalExecutor"
    assert executor(CRYPTOFLOW_COMPOSE_BROKER_HOST="localhost") == "CeleryExecutor"
