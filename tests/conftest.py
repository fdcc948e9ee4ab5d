"""Session set-up shared by every test layer: real Postgres, a test Airflow home, the API sandbox.

Before anything imports Airflow (``pytest_configure`` runs before collection), the test profile's
environment is exported: its own metadata database and warehouse on the server from
``$CRYPTOFLOW_PG_DSN`` or the throwaway cluster under ``.local/``, so tests never touch the demo's
state. The warehouse database is recreated empty for every session.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def pytest_configure(config: pytest.Config) -> None:
    from cryptoflow.devstack import environment
    from cryptoflow.devstack.postgres import StackError, drop_database, ensure_database, ensure_server, free_port

    try:
        server = ensure_server(environment.LOCAL_DIR / "postgres")
    except StackError as exc:
        pytest.exit(f"cannot start the tests' Postgres: {exc}", returncode=3)
    profile = environment.test_profile(airflow_port=free_port(), sandbox_port=free_port())
    drop_database(server, profile.warehouse_db)
    ensure_database(server, profile.warehouse_db, environment.WAREHOUSE_SCHEMAS)
    ensure_database(server, profile.metadata_db)
    env = environment.stack_env(profile, server)
    os.environ.update(env)
    config.stash[SERVER_KEY] = server
    config.stash[PROFILE_KEY] = profile


SERVER_KEY = pytest.StashKey[object]()
PROFILE_KEY = pytest.StashKey[object]()


@pytest.fixture(scope="session")
def pg_server(pytestconfig: pytest.Config):
    """The Postgres server of this session (``cryptoflow.devstack.postgres.Server``)."""
    return pytestconfig.stash[SERVER_KEY]


@pytest.fixture(scope="session")
def profile(pytestconfig: pytest.Config):
    return pytestconfig.stash[PROFILE_KEY]


@pytest.fixture(scope="session")
def warehouse_dsn() -> str:
    return os.environ["CRYPTOFLOW_WAREHOUSE_DSN"]


@pytest.fixture
def warehouse(warehouse_dsn: str) -> Iterator[object]:
    """A psycopg connection to the (session's) test warehouse."""
    import psycopg

    with psycopg.connect(warehouse_dsn) as conn:
        yield conn


@pytest.fixture(scope="session")
def airflow_db(pg_server, profile) -> str:
    """The test metadata database, migrated to head once per session."""
    airflow_cli("db", "migrate")
    return pg_server.dsn_for(profile.metadata_db)


def airflow_cli(*args: str, env: dict[str, str] | None = None, check: bool = True,
                timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run ``airflow <args>`` with the session's environment; on failure show its output."""
    exe = str(Path(sys.executable).with_name("airflow"))
    proc = subprocess.run([exe, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} exited {proc.returncode}\n"
                             f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return proc


@pytest.fixture(scope="session")
def sandbox(profile) -> Iterator[object]:
    """The API sandbox, a real HTTP server in a subprocess, on this session's port."""
    from cryptoflow.sandbox import SandboxServer

    server = SandboxServer(port=profile.sandbox_port)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def api_connections(sandbox) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables that point the three API connections at the sandbox."""
    import json

    env = {}
    for api, plan in (("coingecko", "demo"), ("cmc", "basic"), ("cmc_dex", "basic")):
        env[f"AIRFLOW_CONN_{api.upper()}"] = json.dumps({
            "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
            "extra": {"plan": plan},
        })
    return env
