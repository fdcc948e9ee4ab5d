"""The environment variables of a local stack: one place that says how Airflow, dbt, the sandbox and
psql find each other, for the demo (``make demo``, ``make env``) and for the tests alike.

A *profile* keeps stacks apart: ``demo`` and ``test`` use their own Airflow home and their own
databases on the same server, so a test run never writes DAG runs into the demo's metadata (a manual
run on a scheduled slot would stall the demo's catchup).

A profile also names its executor: ``local`` (LocalExecutor, the default) or ``celery`` (CeleryExecutor,
with a Redis broker from :mod:`cryptoflow.devstack.redis` and Celery's results in the metadata database).
Nothing else changes between the two. Stacks sharing one Redis stay apart: each sends its tasks to its
own queue ``cryptoflow_<profile>`` (its workers consume only that one) under its own Redis key prefix
``cryptoflow_<profile>:``, so neither tasks nor the workers' control messages cross.

Every ``AIRFLOW__<SECTION>__<KEY>`` below was checked against Airflow 3.3.2's
``airflow/config_templates/config.yml`` and, for the Celery ones, the config of
apache-airflow-providers-celery 3.26 (``get_provider_info()``); ``global_keyprefix`` is a Redis transport
option of kombu, which Airflow passes on from its ``[celery_broker_transport_options]`` section.

The secrets the components must share (the JWT secret of the Execution API, the API's session key, the
Fernet key that encrypts connection passwords) are random, made once per profile and kept in
``.local/<profile>/secrets/`` (mode 0600).
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from cryptoflow.devstack.postgres import Server, StackError

REPO_ROOT = Path(__file__).resolve().parents[3]
LOCAL_DIR = Path(os.environ.get("CRYPTOFLOW_LOCAL_DIR", REPO_ROOT / ".local")).resolve()

WAREHOUSE_SCHEMAS = ("raw", "staging", "intermediate", "marts", "ops")

EXECUTOR_ENV = "CRYPTOFLOW_EXECUTOR"
EXECUTORS = ("local", "celery")
CELERY_WORKERS = 2
CELERY_WORKER_CONCURRENCY = 4  # two workers of 4: the stack's parallelism of 8


# The demo's own settings (over cryptoflow.yaml), so that `make demo` lands every dataset in a few
# minutes: /coins/{id} costs one call per coin at 15 calls a minute, so the top 100 alone would take 7;
# the price history catches up one window of the last 7 days (from the last UTC midnight) for the top 10
# coins, one call each, instead of a year of 300 coins (1,500 calls, 100 minutes at 15 a minute); the
# CMC and DEX history DAGs catch up the same 7 days, one run each.
# A variable already set in the environment wins; `make budget` shows the configured cost.
DEMO_SETTINGS = {
    "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": "10",
    "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOW_DAYS": "7",
    "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__START_DAYS_AGO": "7",
    "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__TOP_N": "10",
    # the CMC and DEX history DAGs: the same 7 days (one run each; OHLCV ends skipped on Basic)
    "CRYPTOFLOW__HISTORY__CMC_PRICE_HISTORY__START_DAYS_AGO": "7",
    "CRYPTOFLOW__HISTORY__CMC_PRICE_HISTORY__TOP_N": "10",
    "CRYPTOFLOW__HISTORY__CMC_OHLCV_HISTORY__START_DAYS_AGO": "7",
    "CRYPTOFLOW__HISTORY__CMC_GLOBAL_METRICS_HISTORY__WINDOW_DAYS": "7",
    "CRYPTOFLOW__HISTORY__CMC_GLOBAL_METRICS_HISTORY__START_DAYS_AGO": "7",
    "CRYPTOFLOW__HISTORY__CMC_FEAR_AND_GREED_HISTORY__WINDOW_DAYS": "7",
    "CRYPTOFLOW__HISTORY__CMC_FEAR_AND_GREED_HISTORY__START_DAYS_AGO": "7",
    "CRYPTOFLOW__HISTORY__CMC_DEX_PAIR_OHLCV_HISTORY__WINDOW_DAYS": "7",
    "CRYPTOFLOW__HISTORY__CMC_DEX_PAIR_OHLCV_HISTORY__START_DAYS_AGO": "7",
}


def demo_settings(profile: Profile) -> dict[str, str]:
    """The :data:`DEMO_SETTINGS` a stack profile runs with (none for a test session's or a benchmark's
    profile, which set what they measure), minus those the environment already sets."""
    if profile.name.startswith(("test", "bench")):
        return {}
    return {name: value for name, value in DEMO_SETTINGS.items() if name not in os.environ}


@dataclass(frozen=True)
class Profile:
    """Names and places of one stack (``demo``, ``test``, or another name for a stack of its own)."""

    name: str
    airflow_port: int
    sandbox_port: int
    executor: str = "local"  # "local" (LocalExecutor) or "celery" (CeleryExecutor with Redis)

    def __post_init__(self) -> None:
        if self.executor not in EXECUTORS:
            raise StackError(f"executor {self.executor!r}: use one of {', '.join(EXECUTORS)}")

    @property
    def home(self) -> Path:
        return LOCAL_DIR / self.name

    @property
    def airflow_home(self) -> Path:
        return self.home / "airflow"

    @property
    def metadata_db(self) -> str:
        return f"cryptoflow_{self.name}_airflow"

    @property
    def warehouse_db(self) -> str:
        return "cryptoflow_warehouse" if self.name == "demo" else f"cryptoflow_{self.name}_warehouse"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    @property
    def celery_queue(self) -> str:
        """The Celery queue this stack's tasks go to and its workers consume (and nothing else)."""
        return f"cryptoflow_{self.name}"

    @property
    def redis_key_prefix(self) -> str:
        """Prefix of every Redis key (and pub/sub channel) of this stack's Celery."""
        return f"cryptoflow_{self.name}:"

    def worker_name(self, number: int) -> str:
        """The Celery node name of worker ``number`` (``%h`` is the machine's host name)."""
        return f"{self.name}-worker{number}@%h"


def demo_profile(name: str = "demo", executor: str | None = None) -> Profile:
    """The stack ``make demo`` runs; ports from ``CRYPTOFLOW_AIRFLOW_PORT`` and ``CRYPTOFLOW_SANDBOX_PORT``,
    the executor from ``executor`` or ``$CRYPTOFLOW_EXECUTOR`` (``local`` unless set).
    (Another ``name`` gives a stack of the same shape with its own home and databases.)"""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise StackError(f"profile name {name!r}: use lower-case letters, digits and '_'")
    return Profile(name, airflow_port=_port_env("CRYPTOFLOW_AIRFLOW_PORT", 8080),
                   sandbox_port=_port_env("CRYPTOFLOW_SANDBOX_PORT", 8765),
                   executor=executor or executor_from_env() or "local")


def executor_from_env() -> str | None:
    """``$CRYPTOFLOW_EXECUTOR`` (``local`` or ``celery``), or None when unset."""
    raw = os.environ.get(EXECUTOR_ENV, "").strip().lower()
    if not raw:
        return None
    if raw not in EXECUTORS:
        raise StackError(f"{EXECUTOR_ENV}={raw!r}: use one of {', '.join(EXECUTORS)} (or unset it for local)")
    return raw


def _port_env(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise StackError(f"{name}={raw!r} is not a port number (1-65535)")
    return int(raw)


def test_profile(airflow_port: int = 0, sandbox_port: int = 0, executor: str = "local") -> Profile:
    return Profile("test", airflow_port=airflow_port, sandbox_port=sandbox_port, executor=executor)


def _secret(path: Path, make=lambda: secrets.token_urlsafe(32)) -> str:
    """A random secret kept in ``path`` (mode 0600) so that every process of one stack shares it.

    Created atomically: two processes starting at once (a test run beside ``make demo``) agree on
    one value instead of each writing its own.
    """
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as fh:
        fh.write(make() + "\n")
    return path.read_text().strip()


def _fernet_key() -> str:
    """A Fernet key (32 random bytes, url-safe base64), the format ``cryptography.fernet`` expects."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode()


def stack_env(profile: Profile, server: Server, broker_url: str | None = None) -> dict[str, str]:
    """Every variable a process of ``profile``'s stack needs (Airflow, dbt, psql, the sandbox).

    A ``celery`` profile needs ``broker_url``, the Redis its Celery uses (:func:`cryptoflow.devstack.redis.
    ensure_redis`); a ``local`` one ignores it and gets exactly the LocalExecutor settings."""
    warehouse_dsn = server.dsn_for(profile.warehouse_db)
    metadata_dsn = server.dsn_for(profile.metadata_db)
    wh = urlsplit(warehouse_dsn)
    meta = urlsplit(metadata_dsn)
    secrets_dir = profile.home / "secrets"
    env = {
        "CRYPTOFLOW_PROFILE": profile.name,
        "CRYPTOFLOW_WAREHOUSE_DSN": warehouse_dsn,
        "CRYPTOFLOW_SANDBOX_URL": profile.sandbox_url,
        # dbt (dbt_project/profiles.yml reads these)
        "CRYPTOFLOW_WH_HOST": wh.hostname or "127.0.0.1",
        "CRYPTOFLOW_WH_PORT": str(wh.port or 5432),
        "CRYPTOFLOW_WH_USER": wh.username or "postgres",
        "CRYPTOFLOW_WH_PASSWORD": wh.password or "",
        "CRYPTOFLOW_WH_DBNAME": profile.warehouse_db,
        "DBT_PROFILES_DIR": str(REPO_ROOT / "dbt_project"),
        "DBT_PROJECT_DIR": str(REPO_ROOT / "dbt_project"),
        "DBT_TARGET_PATH": str(profile.home / "dbt" / "target"),
        "DBT_LOG_PATH": str(profile.home / "dbt" / "logs"),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        "DBT_VERSION_CHECK": "false",
        "DBT_USE_COLORS": "false",
        # psql
        "PGHOST": wh.hostname or "127.0.0.1",
        "PGPORT": str(wh.port or 5432),
        "PGUSER": wh.username or "postgres",
        "PGDATABASE": profile.warehouse_db,
        **({"PGPASSWORD": wh.password} if wh.password else {}),
        # The stack talks to itself on 127.0.0.1: never through a proxy the user's shell may set.
        "NO_PROXY": _no_proxy(os.environ.get("NO_PROXY") or os.environ.get("no_proxy")),
        "no_proxy": _no_proxy(os.environ.get("NO_PROXY") or os.environ.get("no_proxy")),
        # Airflow
        "AIRFLOW_HOME": str(profile.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": os.environ.get("CRYPTOFLOW_DAGS_FOLDER") or str(REPO_ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "8",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": (
            f"postgresql+psycopg2://{meta.netloc}/{profile.metadata_db}"
        ),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{profile.airflow_url}/execution/",
        "AIRFLOW__API__PORT": str(profile.airflow_port),
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__BASE_URL": profile.airflow_url,
        "AIRFLOW__API_AUTH__JWT_SECRET": _secret(secrets_dir / "jwt_secret"),
        "AIRFLOW__API__SECRET_KEY": _secret(secrets_dir / "api_secret_key"),
        # Connection passwords and variables are stored encrypted with this key.
        "AIRFLOW__CORE__FERNET_KEY": _secret(secrets_dir / "fernet_key", _fernet_key),
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(secrets_dir / "simple_auth_passwords.json"),
        "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.5",
        # A DAG file edited is parsed again at once (its mtime is newer than its last parse); the interval
        # only paces re-parsing unchanged files, which cost a third of 2 cores' CPU at 15 s (each parse
        # a process that imports Airflow and Cosmos). Settings and the dbt manifest show within it.
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "120",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "20",
        "AIRFLOW__LOGGING__COLORED_CONSOLE_LOG": "False",
        "AIRFLOW__CORE__ALLOWED_DESERIALIZATION_CLASSES_REGEXP": r"cryptoflow\..*",
        # Cosmos would report usage to the internet (scarf.sh) from every dbt task and DAG run: never.
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
        "DO_NOT_TRACK": "1",
        "SCARF_NO_ANALYTICS": "true",
        "AIRFLOW_CONN_WAREHOUSE": warehouse_dsn.replace("postgresql://", "postgres://", 1),
        **demo_settings(profile),
    }
    if profile.executor == "celery":
        if not broker_url:
            raise StackError(f"the celery profile {profile.name!r} needs a Redis URL (broker_url)")
        env.update(celery_env(profile, broker_url, f"{meta.netloc}/{profile.metadata_db}"))
    return env


def celery_env(profile: Profile, broker_url: str, metadata_netloc_db: str) -> dict[str, str]:
    """The CeleryExecutor settings of ``profile``: broker, result backend (the metadata database, through
    psycopg2: with SQLAlchemy 2.1 a bare ``db+postgresql://`` would mean psycopg 3), concurrency, and the
    queue and key prefix that keep two stacks on one Redis apart."""
    return {
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+postgresql+psycopg2://{metadata_netloc_db}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": str(CELERY_WORKER_CONCURRENCY),
        "AIRFLOW__OPERATORS__DEFAULT_QUEUE": profile.celery_queue,
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__GLOBAL_KEYPREFIX": profile.redis_key_prefix,
        # Airflow's default for Redis, stated so that no component logs a warning about it on start.
        "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__VISIBILITY_TIMEOUT": "86400",
    }


# Keys that only an executor decides; the sandbox runs without them (it is no Airflow component), so
# switching executors does not restart it.
EXECUTOR_KEYS = ("AIRFLOW__CORE__EXECUTOR", "AIRFLOW__CELERY__", "AIRFLOW__CELERY_BROKER_TRANSPORT_OPTIONS__",
                 "AIRFLOW__OPERATORS__DEFAULT_QUEUE")


def without_executor(env: dict[str, str]) -> dict[str, str]:
    """``env`` without the executor's settings."""
    return {k: v for k, v in env.items() if not k.startswith(EXECUTOR_KEYS)}


def _no_proxy(current: str | None) -> str:
    hosts = [h for h in (current or "").split(",") if h]
    return ",".join(hosts + [h for h in ("127.0.0.1", "localhost") if h not in hosts])


def shell_exports(env: dict[str, str]) -> str:
    """``export NAME='value'`` lines for ``eval "$(make -s env)"``."""
    lines = []
    for key in sorted(env):
        value = env[key].replace("'", "'\"'\"'")
        lines.append(f"export {key}='{value}'")
    return "\n".join(lines)
