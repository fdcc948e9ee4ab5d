"""Session set-up shared by every test layer: real Postgres, a test Airflow home, the API sandbox.

Before anything imports Airflow (``pytest_configure`` runs before collection), the test profile's
environment is exported: its own metadata database and warehouse on the server from
``$CRYPTOFLOW_PG_DSN`` or the throwaway cluster under ``.local/``, so tests never touch the demo's
state. The warehouse database is recreated empty for every session.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest


def pytest_configure(config: pytest.Config) -> None:
    from cryptoflow.devstack import environment
    from cryptoflow.devstack.postgres import StackError, ensure_database, ensure_server, free_port

    try:
        server = ensure_server(environment.LOCAL_DIR / "postgres")
    except StackError as exc:
        pytest.exit(f"cannot start the tests' Postgres: {exc}", returncode=3)
    drop_stale_sessions(server)
    config.stash[SERVER_KEY] = server
    if getattr(config.option, "numprocesses", None) and not hasattr(config, "workerinput"):
        return  # pytest-xdist's controller runs no test; each worker is a session with its own profile
    # One profile per test session (its own warehouse, metadata database and Airflow home), so that
    # concurrent sessions never see each other's rows or runs.
    profile = environment.Profile(f"test_{os.getpid()}", airflow_port=free_port(), sandbox_port=free_port())
    ensure_database(server, profile.warehouse_db, environment.WAREHOUSE_SCHEMAS)
    ensure_database(server, profile.metadata_db)
    os.environ.update(environment.stack_env(profile, server))
    config.stash[PROFILE_KEY] = profile


def pytest_unconfigure(config: pytest.Config) -> None:
    import shutil

    from cryptoflow.devstack.postgres import drop_database

    server = config.stash.get(SERVER_KEY, None)
    profile = config.stash.get(PROFILE_KEY, None)
    if server is None or profile is None or os.environ.get("CRYPTOFLOW_KEEP_TEST_STATE"):
        return
    for name in (profile.warehouse_db, profile.metadata_db):
        drop_database(server, name)
    shutil.rmtree(profile.home, ignore_errors=True)


def drop_stale_sessions(server) -> None:
    """Drop the databases of earlier test sessions whose process is gone (a killed run leaves them)."""
    import re

    import psycopg

    from cryptoflow.devstack.postgres import drop_database

    with psycopg.connect(server.admin_dsn) as conn:
        names = [r[0] for r in conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE 'cryptoflow\\_test\\_%'").fetchall()]
    for name in names:
        match = re.fullmatch(r"cryptoflow_test_(\d+)_(warehouse|airflow)", name)
        if match and not pid_alive(int(match.group(1))):
            drop_database(server, name)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


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
    """A psycopg connection to the (session's) test warehouse, in autocommit: a test's reads must not
    hold locks that a dbt run in another process waits on."""
    import psycopg

    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def airflow_db(pg_server, profile) -> str:
    """This session's metadata database at head: a copy of a template migrated only when Airflow's
    migrations change (``airflow db migrate`` costs 10-20 s; a copy under a second)."""
    from cryptoflow.devstack.airflow_db import prepare_airflow_db

    prepare_airflow_db(profile, pg_server, dict(os.environ), log=lambda _: None, fresh=True)
    return pg_server.dsn_for(profile.metadata_db)


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
    from tests.helpers import sandbox_connections

    return sandbox_connections(sandbox)


CONTROL_TABLES = ("ops.rate_limiter", "ops.circuit_breaker", "ops.credit_budget", "ops.api_call")


def reset_controls(dsn: str) -> None:
    """Forget the shared limiter's, breakers' and budgets' state (and the call log) in the warehouse."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        if conn.execute("SELECT to_regclass('ops.rate_limiter')").fetchone()[0] is not None:
            conn.execute(f"TRUNCATE {', '.join(CONTROL_TABLES)}")


@pytest.fixture(autouse=True)
def fresh_controls(request: pytest.FixtureRequest) -> None:
    """Each test that meets the sandbox starts with the control layer at rest: one test's permits (taken
    with recorded, not real, sleeps) or open breaker must not hold up the next."""
    if "sandbox" in request.fixturenames:
        reset_controls(os.environ["CRYPTOFLOW_WAREHOUSE_DSN"])
