"""Fixtures of the local-stack tests: the session's test metadata database (migrated only when not at
head), an Airflow ORM session whose writes are rolled back, and a way to run the devstack CLI on a
stack of its own (profile ``devstack``: own home under a temporary ``CRYPTOFLOW_LOCAL_DIR``, own
databases on the session's Postgres, free ports) so these tests never touch the demo or the other tests.

A test asks for a Celery stack with ``celery_cli_env`` (``cli_env`` plus ``CRYPTOFLOW_EXECUTOR=celery``
and a default Redis address where nothing answers, so the stack starts and stops a throwaway
redis-server of its own under the session's ``CRYPTOFLOW_LOCAL_DIR``); ``fresh_cli_databases`` gives a
test that counts DAG runs an empty metadata database and warehouse, whatever earlier tests ran.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pytest

from cryptoflow.devstack.environment import Profile

REPO = Path(__file__).resolve().parents[2]
CLI_PROFILE = "devstack"


@pytest.fixture(scope="session")
def metadata_dsn(pg_server, profile) -> str:
    """The test profile's metadata database at Airflow's head revision (``airflow db migrate`` runs
    only when it is not)."""
    from cryptoflow.devstack.airflow_db import prepare_airflow_db
    from cryptoflow.devstack.environment import stack_env

    prepare_airflow_db(profile, pg_server, stack_env(profile, pg_server), log=lambda _: None)
    return pg_server.dsn_for(profile.metadata_db)


@pytest.fixture
def airflow_session(metadata_dsn) -> Iterator[object]:
    """A SQLAlchemy session of this process's Airflow (the test profile), rolled back at the end."""
    from airflow import settings

    session = settings.Session()
    try:
        yield session
    finally:
        session.rollback()
        session.close()


def free_port() -> int:
    from cryptoflow.devstack.postgres import free_port as pick

    return pick()


@pytest.fixture(scope="session")
def cli_local_dir(tmp_path_factory) -> Path:
    """``CRYPTOFLOW_LOCAL_DIR`` of the CLI runs: their Airflow home, pid files, logs and secrets."""
    return tmp_path_factory.mktemp("devstack-local")


@contextmanager
def cli_profile_lock(pg_server) -> Iterator[None]:
    """The CLI profile's databases on ``pg_server`` to this process alone: its stacks use the same
    database names from every pytest-xdist worker (and every checkout testing on the same server), and a
    test that makes them fresh would drop another's under its running stack."""
    dsn = urlparse(pg_server.admin_dsn)
    path = Path(tempfile.gettempdir()) / f"cryptoflow-{CLI_PROFILE}-{dsn.hostname}-{dsn.port}.lock"
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


@pytest.fixture(autouse=True)
def _one_cli_stack_at_a_time(request) -> Iterator[None]:
    """Each test that runs the CLI's stack (asks for ``cli_env``) holds :func:`cli_profile_lock`."""
    if "cli_env" not in request.fixturenames:
        yield
        return
    with cli_profile_lock(request.getfixturevalue("pg_server")):
        yield


@pytest.fixture(scope="session")
def cli_databases(pg_server, cli_local_dir) -> None:
    """Fresh databases for the CLI's stack: an empty warehouse, and a metadata database at head copied
    from a template (migrated once, ever, and again only when Airflow's head moves)."""
    with cli_profile_lock(pg_server):
        _fresh_cli_databases(pg_server, cli_local_dir)


@pytest.fixture
def fresh_cli_databases(pg_server, cli_local_dir, cli_databases) -> None:
    """The CLI stack's databases made fresh again for this test (under a second: a template copy). Only
    while no stack of the CLI profile runs (a demo test ends with ``down``)."""
    _fresh_cli_databases(pg_server, cli_local_dir)


def _fresh_cli_databases(pg_server, cli_local_dir: Path) -> None:
    from cryptoflow.devstack.airflow_db import prepare_airflow_db
    from cryptoflow.devstack.postgres import drop_database

    profile = Profile(CLI_PROFILE, 0, 0)
    conn = pg_server.dsn_for(profile.metadata_db).replace("postgresql://", "postgresql+psycopg2://", 1)
    env = {"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": conn, "AIRFLOW_HOME": str(cli_local_dir / "migrate")}
    prepare_airflow_db(_InDir(profile.name, 0, 0, root=cli_local_dir), pg_server, env, log=lambda _: None,
                       fresh=True)
    drop_database(pg_server, profile.warehouse_db)


@dataclass(frozen=True)
class _InDir(Profile):
    """A profile whose home is under ``root`` rather than this process's ``.local``."""

    root: Path = Path()

    @property
    def home(self) -> Path:
        return self.root / self.name


@pytest.fixture(scope="session")
def cli_env(pg_server, cli_local_dir, cli_databases) -> dict[str, str]:
    """The environment for ``python -m cryptoflow.devstack --profile devstack ...``: this session's
    Postgres as an external server (so the CLI never starts or stops a cluster) and no variable of the
    test profile's own stack."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW", "CRYPTOFLOW_", "DBT_", "PG"))}
    env.update({
        "CRYPTOFLOW_LOCAL_DIR": str(cli_local_dir),
        "CRYPTOFLOW_PG_DSN": pg_server.admin_dsn,
        "CRYPTOFLOW_AIRFLOW_PORT": str(free_port()),
        "CRYPTOFLOW_SANDBOX_PORT": str(free_port()),
    })
    return env


@pytest.fixture
def celery_cli_env(cli_env) -> dict[str, str]:
    """``cli_env`` for a Celery stack: ``CRYPTOFLOW_EXECUTOR=celery``, and the default Redis address moved
    to a free port, so the stack starts (and ``down`` stops) a throwaway redis-server under
    ``CRYPTOFLOW_LOCAL_DIR``/redis rather than using the machine's Redis."""
    return {**cli_env, "CRYPTOFLOW_EXECUTOR": "celery",
            "CRYPTOFLOW_REDIS_DEFAULT_URL": f"redis://127.0.0.1:{free_port()}"}


def run_cli(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m cryptoflow.devstack --profile devstack <args>``; its output, whatever the exit code."""
    return subprocess.run([sys.executable, "-m", "cryptoflow.devstack", "--profile", CLI_PROFILE, *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)
