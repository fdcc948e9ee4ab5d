"""``python -m cryptoflow.devstack COMMAND``: the local stack's commands (the Makefile calls these).

    demo            start everything, run every DAG once, print the UI login and the marts (make demo)
    up              start everything, run nothing
    down            stop what demo/up started, and nothing else (make stop)
    env             print export lines for a shell that reaches the stack: eval "$(make -s env)"
    status          what runs, with pids, addresses and logs (make status)
    apply-settings  apply airflow_settings.yaml to the metadata database (idempotent)
    report          print the UI login and the marts again
    postgres        start|stop|status the stack's Postgres alone (.ci/run uses it)
    redis           start|stop|status the Redis of the celery profile alone
    container-init  docker-compose's one-shot init (secrets, databases, migration, settings)

Environment: CRYPTOFLOW_PG_DSN (an admin DSN of a Postgres to use instead of a throwaway cluster under
.local/), CRYPTOFLOW_AIRFLOW_PORT (8080), CRYPTOFLOW_SANDBOX_PORT (8765), CRYPTOFLOW_DEMO_TIMEOUT
(seconds to wait for the DAG runs, 900), CRYPTOFLOW_<CONN_ID>_API_KEY (API keys for the connections),
CRYPTOFLOW_DAGS_FOLDER (dags/), CRYPTOFLOW_LOCAL_DIR (.local/).

Celery: demo, up, env and status take --executor local|celery (or CRYPTOFLOW_EXECUTOR; demo and up default
to local, env and status to the executor the stack last came up with). CRYPTOFLOW_REDIS_URL names a Redis
to use; without it, the one answering on CRYPTOFLOW_REDIS_DEFAULT_URL (redis://127.0.0.1:6379), else a
throwaway redis-server under .local/redis.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from dataclasses import replace
from pathlib import Path

from cryptoflow.devstack.environment import demo_profile, executor_from_env, shell_exports, stack_env
from cryptoflow.devstack.postgres import StackError


def _profile(args, follow_running: bool = False):
    """The profile of ``--profile``; its executor from ``--executor``, else ``$CRYPTOFLOW_EXECUTOR``, else
    (``follow_running``) the one its stack last came up with, else local."""
    profile = demo_profile(args.profile)
    executor = getattr(args, "executor", None) or executor_from_env()
    if executor is None and follow_running:
        from cryptoflow.devstack import stack

        executor = stack.recorded_executor(profile)
    return replace(profile, executor=executor or "local")


def _broker_url(profile) -> str | None:
    """The Redis URL a celery profile's environment names, without starting anything."""
    if profile.executor != "celery":
        return None
    from cryptoflow.devstack import stack
    from cryptoflow.devstack.redis import known_redis

    return known_redis(stack.REDIS_ROOT)[0].url


def _settings_file(args) -> Path:
    from cryptoflow.devstack.stack import SETTINGS_FILE

    return Path(args.file) if getattr(args, "file", None) else SETTINGS_FILE


def cmd_demo(args) -> int:
    from cryptoflow.devstack import stack

    timeout = args.timeout or float(os.environ.get("CRYPTOFLOW_DEMO_TIMEOUT", "900"))
    stack.demo(_profile(args), timeout=timeout, settings_file=_settings_file(args))
    return 0


def cmd_up(args) -> int:
    from cryptoflow.devstack import stack

    profile = _profile(args)
    stack.up(profile, settings_file=_settings_file(args))
    print(f"stack up: Airflow {profile.airflow_url}, sandbox {profile.sandbox_url}; make stop stops it")
    return 0


def cmd_down(args) -> int:
    from cryptoflow.devstack import stack

    stack.down(_profile(args))
    return 0


def cmd_env(args) -> int:
    from cryptoflow.devstack import stack

    profile = _profile(args, follow_running=True)
    server, running = stack.known_server()
    print(shell_exports(stack_env(profile, server, broker_url=_broker_url(profile))))
    # airflow and dbt live in the virtual environment: put it first on PATH (once).
    bindir = shlex.quote(str(Path(sys.executable).parent))
    print(f'case ":$PATH:" in *:{bindir}:*) ;; *) export PATH={bindir}:"$PATH" ;; esac')
    if running is False:
        print("# postgres is not running: these are the values the stack would use; start it with make demo",
              file=sys.stderr)
    return 0


def cmd_backfill(args) -> int:
    """The plan of the backfill, then ``airflow backfill create`` against the running stack."""
    import subprocess
    from datetime import UTC, datetime

    from cryptoflow.apis import get_api
    from cryptoflow.backfill import NotAHistoryDag, describe, plan_backfill
    from cryptoflow.catalog import HISTORY_SPECS
    from cryptoflow.config import load_config
    from cryptoflow.devstack import stack
    from cryptoflow.settings import load_settings

    profile = _profile(args, follow_running=True)
    server, _ = stack.known_server()
    env = {**os.environ, **stack_env(profile, server, broker_url=_broker_url(profile))}
    start, end = (datetime.fromisoformat(d).replace(tzinfo=UTC) for d in (args.from_date, args.to_date))
    history = HISTORY_SPECS.get(args.dag_id)
    conn_id = get_api(history.api).conn_id if history else None
    conn = next((c for c in load_settings(_settings_file(args)).connections if c.conn_id == conn_id), None)
    try:
        plan = plan_backfill(args.dag_id, start, end, config=load_config(environ=env),
                             plan_name=conn.plan if conn else None)
    except NotAHistoryDag as exc:
        print(f"backfill: {exc}", file=sys.stderr)
        if not args.force:
            print("backfill: not started (FORCE=1 starts it anyway)", file=sys.stderr)
            return 1
    else:
        print(describe(plan))
    command = ["airflow", "backfill", "create", "--dag-id", args.dag_id, "--from-date", args.from_date,
               "--to-date", args.to_date]
    if args.reprocess_behavior:
        command += ["--reprocess-behavior", args.reprocess_behavior]
    if args.max_active_runs:
        command += ["--max-active-runs", str(args.max_active_runs)]
    if args.dry_run:
        command.append("--dry-run")
    print("$ " + " ".join(command), flush=True)
    env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
    done = subprocess.run(command, env=env, check=False)
    if done.returncode == 0 and not args.dry_run:
        print(f"backfill: started; the scheduler runs it (make status, or {profile.airflow_url}/dags/"
              f"{args.dag_id})")
    return done.returncode


def cmd_status(args) -> int:
    from cryptoflow.devstack import stack

    all_up = stack.status(_profile(args, follow_running=True))
    return 3 if args.check and not all_up else 0


def cmd_apply_settings(args) -> int:
    from cryptoflow.devstack import airflow_db, stack
    from cryptoflow.devstack.postgres import ensure_server
    from cryptoflow.settings import load_settings

    path = _settings_file(args)
    load_settings(path)  # a bad file fails before anything is touched
    profile = _profile(args)
    server = ensure_server(stack.POSTGRES_ROOT)
    if server.started:
        stack.note_cluster_started(profile, server)
        print("postgres: started the throwaway cluster (make stop stops it)")
    env = stack_env(profile, server)
    airflow_db.prepare_airflow_db(profile, server, env)
    report = airflow_db.apply_settings_file(path, env)
    print(f"settings: {path.name} applied to {profile.metadata_db} ({report.summary()})")
    return 0


def cmd_postgres(args) -> int:
    """The stack's Postgres alone: ``start`` prints ``started``, ``running`` or ``external`` (from
    $CRYPTOFLOW_PG_DSN) on stdout; ``stop`` stops the .local cluster; ``status`` exits 0 when reachable."""
    from cryptoflow.devstack import stack
    from cryptoflow.devstack.postgres import DSN_ENV, LocalCluster, check_dsn, ensure_server, redact

    external = bool(os.environ.get(DSN_ENV, "").strip())
    if args.action == "start":
        server = ensure_server(stack.POSTGRES_ROOT)
        state = "external" if external else ("started" if server.started else "running")
        print(state)
        print(f"postgres: {state}: {redact(server.admin_dsn)}", file=sys.stderr)
        return 0
    if args.action == "stop":
        if external:
            print(f"postgres: {DSN_ENV} names a server of yours; nothing to stop", file=sys.stderr)
            return 0
        stopped = LocalCluster(stack.POSTGRES_ROOT).stop()
        print(f"postgres: {'stopped' if stopped else 'was not running'}", file=sys.stderr)
        return 0
    server, running = stack.known_server()
    reason = check_dsn(server.admin_dsn, timeout=3) if running is not False else "not running"
    print(f"postgres: {redact(server.admin_dsn)}: {reason or 'reachable'}")
    return 0 if reason is None else 3


def cmd_redis(args) -> int:
    """The celery profile's Redis alone: ``start`` prints ``started``, ``running`` (the .local server
    already ran) or ``external`` ($CRYPTOFLOW_REDIS_URL, or the server answering on the default address)
    on stdout; ``stop`` stops the .local redis-server; ``status`` exits 0 when it answers PING."""
    from cryptoflow.devstack import stack
    from cryptoflow.devstack.postgres import redact
    from cryptoflow.devstack.redis import URL_ENV, LocalRedis, ensure_redis, known_redis, ping

    if args.action == "start":
        redis = ensure_redis(stack.REDIS_ROOT)
        state = "started" if redis.started else ("running" if redis.owned else "external")
        print(state)
        print(f"redis: {state}: {redis.describe()}", file=sys.stderr)
        return 0
    if args.action == "stop":
        if LocalRedis(stack.REDIS_ROOT).stop():
            print("redis: stopped the redis-server under .local/redis", file=sys.stderr)
        elif os.environ.get(URL_ENV, "").strip():
            print(f"redis: {URL_ENV} names a server of yours; nothing to stop", file=sys.stderr)
        else:
            print("redis: no redis-server of ours was running", file=sys.stderr)
        return 0
    redis, running = known_redis(stack.REDIS_ROOT)
    reason = ping(redis.url) if running is not False else "not running"
    print(f"redis: {redact(redis.url)}: {reason or 'reachable'}")
    return 0 if reason is None else 3


def cmd_container_init(args) -> int:
    """docker-compose's one-shot init: shared secrets, databases, migration and settings, all from this
    container's own environment (docker-compose.yml sets it; nothing from stack_env)."""
    from cryptoflow.devstack import airflow_db, environment
    from cryptoflow.devstack.postgres import ensure_database, ensure_server
    from cryptoflow.settings import apply_settings, load_settings

    path = _settings_file(args)
    loaded = load_settings(path)
    secrets_dir = Path(os.environ.get("CRYPTOFLOW_SECRETS_DIR", "/opt/airflow/secrets"))
    for name in ("jwt_secret", "api_secret_key"):
        environment._secret(secrets_dir / name)
    environment._secret(secrets_dir / "fernet_key", environment._fernet_key)
    if not os.environ.get("CRYPTOFLOW_PG_DSN"):
        raise StackError("CRYPTOFLOW_PG_DSN is not set; docker-compose.yml sets it to the postgres service")
    server = ensure_server(environment.LOCAL_DIR / "postgres")
    profile = _profile(args)
    ensure_database(server, profile.metadata_db)
    ensure_database(server, profile.warehouse_db, environment.WAREHOUSE_SCHEMAS)
    airflow_db.prepare_airflow_db(profile, server, {})
    report = apply_settings(airflow_db.resolve_settings(loaded, dict(os.environ)))
    print(f"settings: {path.name} applied ({report.summary()})")
    # the daily dbt DAGs render from the manifest (dbt_project/ is mounted from the host): build it here
    # when missing or stale, so that a fresh clone's containers parse them
    from cryptoflow.cosmos_dags import ensure_manifest
    from cryptoflow.dbt import DbtError

    try:
        print(f"dbt manifest: {ensure_manifest()}")
    except (DbtError, OSError) as exc:
        print(f"dbt manifest: not built ({exc}); the dbt_<area>_daily DAGs will not import until "
              "`make manifest` is run on the host")
    return 0


def cmd_report(args) -> int:
    from cryptoflow.devstack import stack

    profile = _profile(args)
    server, running = stack.known_server()
    if running is False:
        raise StackError("postgres is not running; start the stack with make demo")
    stack.report(profile, stack_env(profile, server))
    return 0


COMMANDS = {
    "demo": (cmd_demo, "start everything, run every DAG once, print the UI login and the marts"),
    "up": (cmd_up, "start everything, run nothing"),
    "down": (cmd_down, "stop what demo/up started, and nothing else"),
    "env": (cmd_env, "print export lines: eval \"$(make -s env)\""),
    "status": (cmd_status, "what of the stack runs"),
    "backfill": (cmd_backfill, "print a backfill's plan (runs, calls, credits, time), then start it"),
    "apply-settings": (cmd_apply_settings, "apply airflow_settings.yaml to the metadata database"),
    "report": (cmd_report, "print the UI login and the marts with their row counts"),
    "postgres": (cmd_postgres, "start, stop or check the stack's Postgres alone (CI uses it)"),
    "redis": (cmd_redis, "start, stop or check the celery profile's Redis alone"),
    "container-init": (cmd_container_init, "docker-compose's init: secrets, databases, migration, settings"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cryptoflow.devstack", description=__doc__.split("\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profile", default="demo",
                        help="the stack to act on (default demo; another name gets its own home under "
                             ".local/ and its own databases)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (_, help_text) in COMMANDS.items():
        p = sub.add_parser(name, help=help_text)
        if name in ("demo", "up", "apply-settings", "container-init"):
            p.add_argument("--file", help="the settings file (default: airflow_settings.yaml in the repo)")
        if name == "status":
            p.add_argument("--check", action="store_true", help="exit 3 unless every part runs")
        if name in ("postgres", "redis"):
            p.add_argument("action", choices=("start", "stop", "status"))
        if name in ("demo", "up", "env", "status"):
            p.add_argument("--executor", choices=("local", "celery"), default=None,
                           help="LocalExecutor or CeleryExecutor with two workers and Redis (default "
                                "$CRYPTOFLOW_EXECUTOR, else " + ("local)" if name in ("demo", "up") else
                                                                  "the one the stack last came up with)"))
        if name == "backfill":
            p.add_argument("dag_id")
            p.add_argument("from_date", help="YYYY-MM-DD, inclusive (a logical date: a run's start)")
            p.add_argument("to_date", help="YYYY-MM-DD, inclusive")
            p.add_argument("--reprocess-behavior", choices=("none", "completed", "failed"), default=None)
            p.add_argument("--max-active-runs", type=int, default=None)
            p.add_argument("--dry-run", action="store_true")
            p.add_argument("--force", action="store_true", help="start it even for a DAG with no history")
        if name == "demo":
            p.add_argument("--timeout", type=float, default=None,
                           help="seconds to wait for the DAG runs (default $CRYPTOFLOW_DEMO_TIMEOUT or 900)")
    args = parser.parse_args(argv)
    from cryptoflow.settings import SettingsError

    try:
        return COMMANDS[args.command][0](args)
    except (StackError, SettingsError) as exc:
        print(f"{args.command}: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        after = " (what was already up keeps running; make status shows it, make stop stops it)"
        print(f"\n{args.command}: interrupted{after if args.command in ('demo', 'up') else ''}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
