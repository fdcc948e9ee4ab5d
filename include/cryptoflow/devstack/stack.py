"""The local stack behind ``make demo``, ``make stop``, ``make env`` and ``make status``.

``up`` brings, in order: Postgres (``$CRYPTOFLOW_PG_DSN`` or a throwaway cluster under ``.local/``), the
metadata and warehouse databases, the API sandbox, Airflow's metadata schema (migrated only when not at
head), ``airflow_settings.yaml`` (applied idempotently), and Airflow's api-server, scheduler,
dag-processor and triggerer as background processes. A ``celery`` profile (``make demo EXECUTOR=celery``)
also brings a Redis (:mod:`cryptoflow.devstack.redis`) before anything of Airflow, and two Celery workers
(:mod:`cryptoflow.devstack.workers`) after the scheduler; a ``local`` one stops workers left from an
earlier ``celery`` run. Switching executors restarts exactly the processes whose configuration changed
(every Airflow component; the sandbox runs without the executor's settings and stays).

Whatever already runs with the right configuration is left alone, so a second ``make demo`` changes
nothing and takes seconds. Everything that can be checked before starting anything is checked first (the
settings file, the ports, the DAG files, for ``celery`` whether the installed Celery can run the
provider); if a later step fails, what this invocation started is stopped again, so a failed start leaves
nothing half-running.

``demo`` then unpauses every DAG the dag-processor stored (asset-scheduled consumers before their
producers: an asset event only creates a run for a consumer that is unpaused when the event arrives),
waits for a successful run of each time-scheduled DAG and then of each asset-scheduled one, and prints
the UI's address and login and the row count of every table and view in the ``marts`` schema.

``down`` stops only processes whose pid files it wrote (checked by pid *and* start time), the workers
included, and the ``.local`` Postgres cluster and ``.local`` redis-server only when ``make demo`` started
them (and no other stack still uses them).
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from cryptoflow.devstack import processes
from cryptoflow.devstack.environment import (
    LOCAL_DIR,
    REPO_ROOT,
    WAREHOUSE_SCHEMAS,
    Profile,
    stack_env,
    without_executor,
)
from cryptoflow.devstack.postgres import (
    DSN_ENV,
    LocalCluster,
    Server,
    StackError,
    check_dsn,
    ensure_database,
    ensure_server,
    port_in_use,
    redact,
)
from cryptoflow.devstack.processes import Service
from cryptoflow.devstack.redis import LocalRedis, RedisServer, ensure_redis, known_redis, ping
from cryptoflow.devstack.workers import WorkerProbe, check_celery_provider, node_names, worker_services

AIRFLOW_COMPONENTS = ("api-server", "scheduler", "dag-processor", "triggerer")
SETTINGS_FILE = REPO_ROOT / "airflow_settings.yaml"
POSTGRES_ROOT = LOCAL_DIR / "postgres"
REDIS_ROOT = LOCAL_DIR / "redis"
DEFAULT_PG_PORT = 55432
PORT_ENV = {"api-server": "CRYPTOFLOW_AIRFLOW_PORT", "sandbox": "CRYPTOFLOW_SANDBOX_PORT"}

Log = Callable[[str], None]


def services(profile: Profile) -> dict[str, Service]:
    """The background processes of ``profile``'s stack, by name (sandbox first, then Airflow, then, for a
    ``celery`` profile, its workers)."""
    py = sys.executable
    home = profile.home
    module = sandbox_module()
    out = {
        "sandbox": Service("sandbox", (py, "-m", module, "--host", "127.0.0.1",
                                       "--port", str(profile.sandbox_port)),
                           home, port=profile.sandbox_port, signature=module),
        "api-server": Service("api-server", (py, "-m", "airflow", "api-server", "--host", "127.0.0.1",
                                             "--port", str(profile.airflow_port)),
                              home, port=profile.airflow_port, signature="airflow"),
    }
    # Logs are read from local files by the api-server: no log-serving ports (8793/8794) that two
    # stacks on one machine would fight over.
    out["scheduler"] = Service("scheduler", (py, "-m", "airflow", "scheduler", "--skip-serve-logs"), home,
                               signature="airflow")
    out["dag-processor"] = Service("dag-processor", (py, "-m", "airflow", "dag-processor"), home,
                                   signature="airflow")
    out["triggerer"] = Service("triggerer", (py, "-m", "airflow", "triggerer", "--skip-serve-logs"), home,
                               signature="airflow")
    if profile.executor == "celery":
        out.update(worker_services(profile))
    return out


def sandbox_module() -> str:
    """The module run as the API sandbox (``$CRYPTOFLOW_SANDBOX_MODULE`` lets the devstack's own tests
    stand in a stub)."""
    return os.environ.get("CRYPTOFLOW_SANDBOX_MODULE", "cryptoflow.sandbox")


def _check_sandbox_importable() -> None:
    import importlib.util

    module = sandbox_module()

    def runnable(name: str) -> bool:
        try:
            spec = importlib.util.find_spec(name)
        except (ImportError, ValueError):
            return False
        if spec is None:
            return False
        return spec.submodule_search_locations is None or runnable(f"{name}.__main__")

    if not runnable(module):
        raise StackError(f"the API sandbox cannot start: 'python -m {module}' finds nothing to run. "
                         "Run make setup (or finish include/cryptoflow/sandbox/).")


def _marker(profile: Profile) -> Path:
    """Written when this profile's stack started the ``.local`` cluster, so ``down`` may stop it."""
    return profile.home / "run" / "postgres.json"


def note_cluster_started(profile: Profile, server: Server) -> None:
    """Record that a command of ``profile`` started the ``.local`` cluster (``down`` then stops it)."""
    _marker(profile).parent.mkdir(parents=True, exist_ok=True)
    _marker(profile).write_text(json.dumps({"data_dir": str(server.data_dir)}) + "\n")


def _redis_marker(profile: Profile) -> Path:
    """Written when this profile's stack started the ``.local`` redis-server, so ``down`` may stop it."""
    return profile.home / "run" / "redis.started"


def _executor_file(profile: Profile) -> Path:
    return profile.home / "executor"


def recorded_executor(profile: Profile) -> str | None:
    """The executor the last ``up``/``demo`` of ``profile`` ran with (``make env``/``status`` follow it)."""
    try:
        value = _executor_file(profile).read_text().strip()
    except OSError:
        return None
    return value or None


def known_server() -> tuple[Server, bool | None]:
    """The server the stack uses, without starting anything, and whether it runs (None: not checked)."""
    dsn = os.environ.get(DSN_ENV, "").strip()
    if dsn:
        return Server(dsn, owned=False), None
    cluster = LocalCluster(POSTGRES_ROOT)
    port = cluster.port() or DEFAULT_PG_PORT
    return Server(cluster.dsn(port), owned=True, data_dir=cluster.data_dir), cluster.running()


@dataclass
class _Started:
    """What one invocation started, to undo when a later step fails."""

    services: list[Service] = field(default_factory=list)
    cluster: bool = False
    redis: bool = False


def check_ports(profile: Profile) -> None:
    """Fail before starting anything when a port the stack needs is taken by a process not ours."""
    for name, service in services(profile).items():
        if service.port is None:
            continue
        mine = processes.running(service)
        if mine is not None and mine.port == service.port:
            continue
        if port_in_use(service.port):
            holder = _port_holder(service.port)
            raise StackError(
                f"port {service.port} ({'Airflow API server' if name == 'api-server' else 'API sandbox'}) "
                f"is in use by another process{holder}. Stop that process, or give the stack another port: "
                f"{PORT_ENV[name]}={service.port + 1} make demo"
            )


def _port_holder(port: int) -> str:
    import psutil

    with contextlib.suppress(psutil.Error, OSError):
        for conn in psutil.net_connections(kind="inet"):
            if conn.laddr and conn.laddr.port == port and conn.status == psutil.CONN_LISTEN and conn.pid:
                cmd = " ".join(psutil.Process(conn.pid).cmdline())[:120]
                return f" (pid {conn.pid}: {cmd})"
    return ""


def up(profile: Profile, *, settings_file: Path = SETTINGS_FILE, log: Log = print,
       before_airflow: Callable[[dict[str, str]], None] | None = None) -> tuple[Server, dict[str, str]]:
    """Start (or confirm) the whole stack; returns the server and the stack's environment.

    ``before_airflow(env)`` runs after the databases exist and before any Airflow process starts (the
    demo parses the DAG files there); an exception from it also undoes what this call started.
    """
    from cryptoflow.settings import load_settings

    settings = load_settings(settings_file)  # an unreadable file stops us before anything starts
    check_ports(profile)
    _check_sandbox_importable()
    if profile.executor == "celery":
        check_celery_provider()
    started = _Started()
    try:
        server = ensure_server(POSTGRES_ROOT)
        if server.started:
            started.cluster = True
            note_cluster_started(profile, server)
            log(f"postgres: started a throwaway cluster on {redact(server.admin_dsn)}")
        ensure_database(server, profile.metadata_db)
        ensure_database(server, profile.warehouse_db, WAREHOUSE_SCHEMAS)
        redis = _ensure_redis(profile, started, log) if profile.executor == "celery" else None
        env = stack_env(profile, server, broker_url=redis.url if redis else None)
        svc = services(profile)
        if profile.executor != "celery":
            _stop_workers_of_celery_run(profile, log)
        _ensure_running(svc["sandbox"], without_executor(env), started, log)
        if before_airflow:
            before_airflow(env)

        from cryptoflow.devstack import airflow_db

        airflow_db.use_stack_env(env)
        airflow_db.prepare_airflow_db(profile, server, env, log=log)
        report = _apply(settings, env, log)
        log(f"settings: {settings_file.name} applied ({report.summary()})")
        # The workers start after the scheduler (and are checked with the others below).
        for name in (*AIRFLOW_COMPONENTS, *worker_services(profile)):
            if name in svc:
                _ensure_running(svc[name], env, started, log)
        _wait_healthy(profile, svc, log, env=env)
        _executor_file(profile).parent.mkdir(parents=True, exist_ok=True)
        _executor_file(profile).write_text(f"{profile.executor}\n")
        return server, env
    except BaseException:
        _undo(profile, started, log)
        raise


def _ensure_redis(profile: Profile, started: _Started, log: Log) -> RedisServer:
    redis = ensure_redis(REDIS_ROOT)
    if redis.started:
        started.redis = True
        _redis_marker(profile).parent.mkdir(parents=True, exist_ok=True)
        _redis_marker(profile).write_text(f"{redis.url}\n")
        log(f"redis: started a throwaway redis-server on {redis.url} "
            f"(log {_rel(LocalRedis(REDIS_ROOT).log_file)})")
    else:
        log(f"redis: using {redis.describe()}")
    return redis


def _stop_workers_of_celery_run(profile: Profile, log: Log) -> None:
    """A ``local`` stack has no workers: stop those an earlier ``celery`` run of this profile left."""
    workers = list(worker_services(profile).values())
    if any(processes.running(w) for w in workers):
        stopped = processes.stop(workers)
        log(f"{', '.join(stopped)}: stopped (the stack now runs the LocalExecutor)")


def _apply(settings, env: dict[str, str], log: Log):
    from cryptoflow import settings as cf_settings
    from cryptoflow.devstack import airflow_db

    return cf_settings.apply_settings(airflow_db.resolve_settings(settings, env, log=log))


def _ensure_running(service: Service, env: dict[str, str], started: _Started, log: Log) -> None:
    current = processes.running(service)
    if current is not None and current.fingerprint == service.fingerprint(env):
        if service.name == "sandbox" and (newer := _code_newer_than(current.started)):
            # Airflow's components import the package afresh for each parse and task; the sandbox holds
            # its code for as long as it runs.
            log(f"sandbox: {_rel(newer)} is newer than the running sandbox; "
                "make stop && make demo runs the new code")
        return
    if current is not None:
        log(f"{service.name}: configuration changed; restarting")
        processes.stop([service])
    processes.start(service, env, cwd=REPO_ROOT)
    started.services.append(service)
    where = f" on port {service.port}" if service.port else ""
    log(f"{service.name}: started{where} (log {_rel(service.log_file)})")


def _code_newer_than(started: float) -> Path | None:
    """A source file of the sandbox (or of the API descriptions it serves) changed after ``started``."""
    package = Path(__file__).resolve().parents[1]
    for folder in (package / "sandbox", package / "apis"):
        for path in folder.rglob("*.py"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime > started:
                    return path
    return None


def _undo(profile: Profile, started: _Started, log: Log) -> None:
    if started.services:
        names = processes.stop(list(reversed(started.services)), timeout=10)
        if names:
            log(f"stopped what this run started: {', '.join(names)}")
    if started.redis:
        LocalRedis(REDIS_ROOT).stop()
        _redis_marker(profile).unlink(missing_ok=True)
        log("redis: stopped the redis-server this run started")
    if started.cluster:
        LocalCluster(POSTGRES_ROOT).stop()
        _marker(profile).unlink(missing_ok=True)
        log("postgres: stopped the cluster this run started")


def _wait_healthy(profile: Profile, svc: dict[str, Service], log: Log, timeout: float = 180,
                  env: dict[str, str] | None = None) -> None:
    """Wait until the sandbox answers, Airflow's health endpoint reports every component healthy and
    each Celery worker (if any) answers on its queue; a process that exits meanwhile is an error
    carrying the end of its log."""
    import requests

    session = requests.Session()
    session.trust_env = False  # 127.0.0.1, never through a proxy
    workers = node_names(profile) if profile.executor == "celery" and env else {}
    pending = {"sandbox", *AIRFLOW_COMPONENTS, *workers}
    deadline = time.monotonic() + timeout
    last: dict = {}
    answered: dict[str, list[str]] = {}
    probe = WorkerProbe(env) if workers and env else None
    try:
        while pending:
            for name in sorted(pending):
                if processes.exited(svc[name]):
                    raise StackError(f"{name} exited during start-up (log {_rel(svc[name].log_file)}):\n"
                                     f"{processes.log_tail(svc[name])}")
            if "sandbox" in pending and _get(session, f"{profile.sandbox_url}/__admin/health") is not None:
                pending.discard("sandbox")
            if pending & set(AIRFLOW_COMPONENTS):
                body = _get(session, f"{profile.airflow_url}/api/v2/monitor/health")
                if body is not None:  # the api-server answers; it reports on the others
                    last = body
                    pending.discard("api-server")
                    for name in ("scheduler", "dag-processor", "triggerer"):
                        if (body.get(name.replace("-", "_")) or {}).get("status") == "healthy":
                            pending.discard(name)
            waiting = [n for n in workers if n in pending]
            if waiting and probe is not None:
                answered.update(probe.queues([workers[n] for n in waiting]))
                for name in waiting:
                    if profile.celery_queue in answered.get(workers[name], ()):
                        pending.discard(name)
            if not pending:
                break
            if time.monotonic() > deadline:
                detail = f"; last health report: {json.dumps(last)}" if last else ""
                for name in sorted(set(workers) & pending):
                    queues = answered.get(workers[name])
                    detail += (f"; {workers[name]} does not answer on the broker" if queues is None else
                               f"; {workers[name]} consumes {', '.join(queues) or 'no queue'}, not "
                               f"{profile.celery_queue}")
                logs = ", ".join(_rel(svc[n].log_file) for n in sorted(pending))
                raise StackError(f"not healthy after {timeout:.0f} s: {', '.join(sorted(pending))}{detail}. "
                                 f"See {logs}.")
            time.sleep(0.5)
    finally:
        if probe is not None:
            probe.__exit__(None, None, None)


def _get(session, url: str) -> dict | None:
    import requests

    try:
        resp = session.get(url, timeout=2)
    except requests.RequestException:
        return None
    if resp.status_code != 200:
        return None
    try:
        return resp.json()
    except ValueError:
        return {}


def down(profile: Profile, log: Log = print) -> None:
    """Stop this profile's processes (its Celery workers too, whatever the executor) and, when ``make
    demo`` started them, the ``.local`` redis-server and cluster."""
    svc = {**services(profile), **worker_services(profile)}
    # The api-server last: task runners that are finishing report to it.
    first = (*worker_services(profile), "triggerer", "dag-processor", "scheduler", "sandbox")
    stopped = processes.stop([svc[n] for n in first])
    stopped += processes.stop([svc["api-server"]])
    log(f"stopped: {', '.join(stopped)}" if stopped else "no process of the demo stack was running")
    _stop_redis_if_ours(profile, log)
    marker = _marker(profile)
    if not marker.exists():
        return
    cluster = LocalCluster(POSTGRES_ROOT)
    if not cluster.running():
        marker.unlink(missing_ok=True)
        return
    others = _other_sessions(cluster, profile)
    if others:
        log(f"postgres: left running; {others} session(s) of other databases use it "
            f"(tests?). Run 'make stop' again when they are done.")
        return
    cluster.stop()
    marker.unlink(missing_ok=True)
    log(f"postgres: stopped the cluster under {_rel(POSTGRES_ROOT)}")


def _stop_redis_if_ours(profile: Profile, log: Log) -> None:
    marker = _redis_marker(profile)
    if not marker.exists():
        return
    local = LocalRedis(REDIS_ROOT)
    if local.running() is None:
        marker.unlink(missing_ok=True)
        return
    others = local.clients()
    if others:
        log(f"redis: left running; {others} client(s) of other stacks use it (tests?). Run 'make stop' "
            "again when they are done.")
        return
    local.stop()
    marker.unlink(missing_ok=True)
    log(f"redis: stopped the redis-server under {_rel(REDIS_ROOT)}")


def _other_sessions(cluster: LocalCluster, profile: Profile) -> int:
    import psycopg2

    port = cluster.port()
    if not port:
        return 0
    try:
        conn = psycopg2.connect(cluster.dsn(port), connect_timeout=3)
    except psycopg2.Error:
        return 0
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid <> pg_backend_pid() "
                "AND datname IS NOT NULL AND datname NOT IN (%s, %s, 'postgres')",
                (profile.metadata_db, profile.warehouse_db),
            )
            return int(cur.fetchone()[0])
    finally:
        conn.close()


def status(profile: Profile, log: Log = print) -> bool:
    """Print what runs; True when the whole stack does."""
    server, pg_running = known_server()
    if not server.owned:
        reason = check_dsn(server.admin_dsn, timeout=3)
        pg_running = reason is None
        where = f"{redact(server.admin_dsn)} (from {DSN_ENV})" + ("" if pg_running else f": {reason}")
    else:
        started_by = "make demo" if _marker(profile).exists() else "another command (tests?)"
        where = f"{redact(server.admin_dsn)}, cluster under {_rel(POSTGRES_ROOT)}" + (
            f", started by {started_by}" if pg_running else "")
    rows = [("postgres", "running" if pg_running else "stopped", where)]
    all_up = bool(pg_running)
    nodes = node_names(profile) if profile.executor == "celery" else {}
    if profile.executor == "celery":
        redis, redis_running = known_redis(REDIS_ROOT)
        if redis_running is None:  # named by $CRYPTOFLOW_REDIS_URL: not checked yet
            redis_running = ping(redis.url) is None
        detail = redis.describe()
        if redis.owned and redis_running:
            started_by = "make demo" if _redis_marker(profile).exists() else "another command (tests?)"
            detail += f", started by {started_by}"
        rows.append(("redis", "running" if redis_running else "stopped", detail))
        all_up &= bool(redis_running)
    for name, service in services(profile).items():
        current = processes.running(service)
        all_up &= current is not None
        url = {"sandbox": profile.sandbox_url, "api-server": profile.airflow_url}.get(name, "")
        if name in nodes:
            url = f"{nodes[name]} on queue {profile.celery_queue}"
        state = f"running (pid {current.pid})" if current else "stopped"
        rows.append((name, state, " ".join(x for x in (url, f"log {_rel(service.log_file)}") if x)))
    if profile.executor != "celery":
        for name, service in worker_services(profile).items():
            if current := processes.running(service):  # left from a celery run: make demo stops it
                rows.append((name, f"running (pid {current.pid})",
                             "left from a celery run; make stop stops it"))
    width = max(len(r[1]) for r in rows)
    for name, state, detail in rows:
        log(f"{name:<14} {state:<{width}}  {detail}")
    if pg_running:
        for line in _controls(server.dsn_for(profile.warehouse_db)):
            log(line)
    return all_up


def _controls(warehouse_dsn: str) -> list[str]:
    """The control layer's state per API (limiter, breaker, credits), from the warehouse's ops tables."""
    import psycopg

    from cryptoflow.limits import status as control_status

    try:
        with psycopg.connect(warehouse_dsn, connect_timeout=3) as conn:
            return ["", "control layer (shared by every worker):", *control_status(conn),
                    *_history_progress(conn)]
    except psycopg.OperationalError:
        return []  # no warehouse yet: nothing has called an API


def _history_progress(conn) -> list[str]:
    """The newest history runs' progress (ops.history_*), for make status."""
    from cryptoflow.history import progress_rows

    if conn.execute("SELECT to_regclass('ops.history_universe')").fetchone()[0] is None:
        return []
    rows = progress_rows(conn)
    if not rows:
        return []
    lines = ["", "history runs (newest first):"]
    for dag_id, run_id, start, coins, landed, gone, calls, updated in rows:
        since = f"{start:%Y-%m-%d}" if start else "?"
        last = f", last {updated:%Y-%m-%d %H:%M:%S}Z" if updated else ""
        lines.append(f"  {dag_id} {run_id} from {since}: {landed} of {coins} coins landed"
                     f"{f', {gone} gone' if gone else ''}, {calls} calls{last}")
    return lines


def _rel(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# --------------------------------------------------------------------------------------------------
# make demo: up, then run every DAG once and show the marts
# --------------------------------------------------------------------------------------------------


def demo(profile: Profile, *, timeout: float = 900, settings_file: Path = SETTINGS_FILE,
         log: Log = print) -> None:
    """``make demo``: the stack up, every DAG unpaused and run once, then the UI login and the marts."""
    from cryptoflow import budget
    from cryptoflow.config import ConfigError
    from cryptoflow.devstack import airflow_db

    # make budget first: a configuration that cannot fit its APIs' limits and plans starts nothing.
    from cryptoflow.devstack.environment import demo_settings

    overrides = demo_settings(profile)
    for name, value in overrides.items():
        setting = name.removeprefix("CRYPTOFLOW__").lower().replace("__", ".")
        log(f"demo settings: {setting} = {value} (so that the demo ends in minutes; set {name} to change it)")
    try:
        for line in budget.preflight(settings_file, environ={**os.environ, **overrides}):
            log(line)
    except (budget.BudgetError, ConfigError) as exc:
        raise StackError(f"refused before starting anything: {exc}\n(make budget prints the whole budget)"
                         ) from None

    t0 = time.monotonic()
    expected: set[str] = set()

    def parse(env: dict[str, str]) -> None:
        airflow_db.use_stack_env(env)
        from cryptoflow.cosmos_dags import ensure_manifest
        from cryptoflow.dbt import DbtError

        try:  # the daily dbt DAGs render from it (dbt parse, only when missing or stale)
            ensure_manifest()
        except DbtError as exc:
            raise StackError(f"the dbt project does not parse, so the daily dbt DAGs cannot render: {exc}"
                             ) from None
        dags_folder = Path(env["AIRFLOW__CORE__DAGS_FOLDER"])
        ids, errors = airflow_db.parse_dags(dags_folder)
        if errors:
            listing = "\n".join(f"  {f}:\n    {e.strip().splitlines()[-1] if e.strip() else e}"
                                for f, e in sorted(errors.items()))
            raise StackError(f"{len(errors)} DAG file(s) in {_rel(dags_folder)} do not import:\n{listing}\n"
                             "Fix them (python <file> shows the whole error) and run make demo again.")
        expected.update(ids)

    _, env = up(profile, settings_file=settings_file, log=log, before_airflow=parse)
    log(f"stack up in {time.monotonic() - t0:.0f} s")
    if expected:
        dags = _await_stored(expected, services(profile)["dag-processor"], log)
        paused = sorted(set(dags) & DAILY_DBT_DAGS)
        if paused:
            dags = {dag_id: d for dag_id, d in dags.items() if dag_id not in DAILY_DBT_DAGS}
            log(f"dags: left paused {', '.join(paused)} (daily full-history dbt, a task per model and its "
                "tests; dbt_marts builds and tests what lands): unpause or trigger one in the UI to run it")
        # Datasets over ids read their listing's latest landing: their listings run first, so that the
        # demo's cycle spends the fewest calls (a per-id DAG that finds no listing lands it itself).
        later = {dag_id: d for dag_id, d in dags.items() if _reads_a_listing(dag_id)}
        # the freshness check runs last: before every dataset has landed once it would report them stale
        checks = {dag_id: d for dag_id, d in dags.items() if dag_id in CHECK_DAGS}
        first = {dag_id: d for dag_id, d in dags.items() if dag_id not in later and dag_id not in checks}
        for wave in (first, later):
            if wave:
                _unpause_all(wave, log)
                _await_runs(wave, profile, timeout, log)
        if later:  # the per-id landings triggered the asset-scheduled DAGs again: let those runs finish
            _await_settled(sorted(d.dag_id for d in first.values() if d.kind == "asset"), timeout, log)
        if checks:
            _unpause_all(checks, log)
            _await_runs(checks, profile, timeout, log)
    else:
        log(f"dags: no DAG in {env['AIRFLOW__CORE__DAGS_FOLDER']}; nothing to run")
    report(profile, env, log)
    log(f"make demo: done in {time.monotonic() - t0:.0f} s. Stop everything with: make stop")


def _await_stored(expected: set[str], dag_processor: Service, log: Log, timeout: float = 180):
    from cryptoflow.devstack import airflow_db

    stored: dict = {}

    def all_stored() -> bool:
        stored.update(airflow_db.stored_dags(expected - set(stored)))
        return set(stored) >= expected

    if not all_stored():
        log(f"dags: waiting for the dag-processor to store {len(expected) - len(stored)} DAG(s) ...")
        if not airflow_db.wait(all_stored, timeout, interval=1.0):
            errors = airflow_db.stored_import_errors()
            detail = "".join(f"\n  {f}: {e.strip().splitlines()[-1]}" for f, e in errors.items() if e.strip())
            raise StackError(
                f"the dag-processor has not stored {', '.join(sorted(expected - set(stored)))} after "
                f"{timeout:.0f} s{detail}. See {_rel(dag_processor.log_file)}."
            )
    return stored


def _await_settled(dag_ids: list[str], timeout: float, log: Log, quiet_s: float = 10.0) -> None:
    """Wait until none of ``dag_ids`` has had a queued or running run for ``quiet_s`` seconds (an asset
    event becomes a run within a few seconds), or ``timeout``."""
    from cryptoflow.devstack import airflow_db

    if not dag_ids:
        return
    deadline, quiet_since = time.monotonic() + timeout, time.monotonic()
    while time.monotonic() < deadline:
        if any(airflow_db.run_state(dag_id).active for dag_id in dag_ids):
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            log(f"dags: {', '.join(dag_ids)}: the runs the later landings triggered have finished")
            return
        time.sleep(1.0)
    log(f"dags: {', '.join(dag_ids)} still running after {timeout:.0f} s; the report may lag behind")


# DAGs that check what the others landed (dbt source freshness): unpaused once every dataset landed.
CHECK_DAGS = frozenset({"dbt_source_freshness"})

# The daily Cosmos DAGs (cryptoflow.cosmos_dags: dbt_<area>_daily) stay paused in the demo: a run of each
# would add minutes. (Not imported from there: it imports Airflow, configured only once the stack is up.)
DAILY_DBT_AREAS = ("prices", "metadata", "sentiment", "dex", "exchanges", "breadth")
DAILY_DBT_DAGS = frozenset(f"dbt_{area}_daily" for area in DAILY_DBT_AREAS)


def _reads_a_listing(dag_id: str) -> bool:
    """A dataset over ids, or a history DAG (its coins are the listing's top N)."""
    from cryptoflow.catalog import HISTORY_SPECS, SPECS

    return dag_id in HISTORY_SPECS or (dag_id in SPECS and SPECS[dag_id].ids is not None)


def _unpause_all(dags: dict, log: Log) -> None:
    from cryptoflow.devstack import airflow_db

    order = sorted(dags.values(), key=lambda d: (d.kind != "asset", d.dag_id))
    changed = airflow_db.unpause([d.dag_id for d in order])
    if changed:
        log(f"dags: unpaused {', '.join(changed)}")


def _await_runs(dags: dict, profile: Profile, timeout: float, log: Log) -> None:
    """Wait for a successful run of each time-scheduled DAG, then of each asset-scheduled one."""
    from cryptoflow.devstack import airflow_db

    time_dags = sorted(d.dag_id for d in dags.values() if d.kind == "time")
    asset_dags = sorted(d.dag_id for d in dags.values() if d.kind == "asset")
    manual = sorted(d.dag_id for d in dags.values() if d.kind == "manual")
    if manual:
        log(f"dags: not waiting for {', '.join(manual)} (no schedule: they run when triggered)")
    for dag_id in (*time_dags, *asset_dags):
        state = airflow_db.run_state(dag_id)
        if state.failed and not state.succeeded and not state.active:
            # A failed first run from an earlier make demo: run it again (a fix may have happened since).
            if airflow_db.retry_run(dag_id, state.failed):
                log(f"dags: {dag_id}: run {state.failed} failed earlier; cleared it to run again")
    deadline = time.monotonic() + timeout
    for group, label in ((time_dags, "scheduled"), (asset_dags, "asset-triggered")):
        if not group:
            continue
        pending = list(group)
        log(f"dags: waiting for the first successful run of {label} {', '.join(pending)} ...")
        started, last_note = time.monotonic(), time.monotonic()
        while pending:
            for dag_id in list(pending):
                state = airflow_db.run_state(dag_id)
                if state.succeeded:
                    pending.remove(dag_id)
                    log(f"dags: {dag_id} succeeded (run {state.succeeded}, "
                        f"{time.monotonic() - started:.0f} s)")
                elif state.failed and not state.active:
                    raise StackError(_failure_message(dag_id, state.failed, profile))
            if not pending:
                break
            now = time.monotonic()
            if now > deadline:
                raise StackError(_timeout_message(pending, label, timeout, profile))
            if now - last_note > 30:
                last_note = now
                log("dags: still waiting: " + "; ".join(_progress(airflow_db.run_state(d)) for d in pending))
            time.sleep(1.0)


def _progress(state) -> str:
    if not state.active:
        return f"{state.dag_id} (no run yet)"
    tasks = ", ".join(f"{n} {s}" for s, n in sorted(state.task_states.items()))
    return f"{state.dag_id} ({tasks or 'starting'})"


def _failure_message(dag_id: str, run_id: str, profile: Profile) -> str:
    from cryptoflow.devstack import airflow_db

    lines = [f"DAG {dag_id} failed (run {run_id})."]
    for task in airflow_db.failed_tasks(dag_id, run_id):
        where = _rel(task.log_file) if task.log_file else "(no log file)"
        mapped = f"[{task.map_index}]" if task.map_index >= 0 else ""
        lines.append(f"  task {task.task_id}{mapped}, attempt {task.try_number}: log {where}")
        if error := task.error():
            lines.append(f"    {error[:300]}")
    lines.append(f"  In the UI: {profile.airflow_url}/dags/{dag_id}/runs/{run_id}")
    lines.append("The stack is still running; fix the cause and run make demo again (it re-runs failed "
                 "first runs), or make stop.")
    return "\n".join(lines)


def _timeout_message(pending: list[str], label: str, timeout: float, profile: Profile) -> str:
    from cryptoflow.devstack import airflow_db

    states = "; ".join(_progress(airflow_db.run_state(d)) for d in pending)
    hint = ""
    if label == "asset-triggered":
        hint = ("\nAn asset-triggered DAG runs only on asset events that arrive while it is unpaused; "
                "trigger it once by hand if its producers ran before: airflow dags trigger <dag_id>.")
    sched = services(profile)["scheduler"].log_file
    return (f"no successful run after {timeout:.0f} s for {label} DAG(s): {states}.\n"
            f"See {_rel(sched)} and {profile.airflow_url}.{hint}\n"
            "The stack is still running; a larger CRYPTOFLOW_DEMO_TIMEOUT waits longer.")


def ui_login(env: dict[str, str]) -> tuple[str, str | None]:
    """The SimpleAuthManager user and the password it generated for it."""
    user = env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"].split(",")[0].split(":")[0]
    try:
        passwords = json.loads(Path(env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]).read_text())
    except (OSError, ValueError):
        return user, None
    return user, passwords.get(user)


def relations(warehouse_dsn: str, schema: str) -> list[tuple[str, str, int]]:
    """(name, table|view|matview, row count) of every relation in the warehouse's ``schema``."""
    import psycopg2
    from psycopg2 import sql

    conn = psycopg2.connect(warehouse_dsn)
    try:
        with conn.cursor() as cur:
            cur.execute(
                "SELECT table_name, CASE table_type WHEN 'VIEW' THEN 'view' ELSE 'table' END "
                "FROM information_schema.tables WHERE table_schema = %s "
                "UNION ALL SELECT matviewname, 'matview' FROM pg_matviews WHERE schemaname = %s "
                "ORDER BY 1", (schema, schema)
            )
            out = []
            for name, kind in cur.fetchall():
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(schema, name)))
                out.append((name, kind, int(cur.fetchone()[0])))
            return out
    finally:
        conn.close()


def report(profile: Profile, env: dict[str, str], log: Log = print) -> None:
    """The UI's address and login, and the raw tables and marts with their row counts."""
    user, password = ui_login(env)
    log("")
    log(f"Airflow UI   {profile.airflow_url}")
    shown = password or f"(see {env['AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE']})"
    log(f"login        {user} / {shown}")
    log(f"sandbox      {profile.sandbox_url}")
    log("shell        eval \"$(make -s env)\"   # then airflow ..., dbt ..., psql")
    log("")
    for schema, label in (("raw", "raw table"), ("marts", "mart")):
        rows = relations(env["CRYPTOFLOW_WAREHOUSE_DSN"], schema)
        title = f"{label}s in {profile.warehouse_db}"
        if not rows:
            log(f"{title}: no tables or views yet")
            continue
        width = max(len(label), *(len(n) for n, _, _ in rows))
        log(title)
        log(f"  {label:<{width}}  {'kind':<7}  {'rows':>10}")
        for name, kind, count in rows:
            log(f"  {name:<{width}}  {kind:<7}  {count:>10,}")
