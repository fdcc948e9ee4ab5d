"""Benchmark of the price history under the real scheduler: ``airflow backfill create`` of
``coingecko_price_history`` over a year of 300 coins, on a throwaway stack of its own (profile
``bench_history_airflow``: Postgres databases, the sandbox, api-server, scheduler, dag-processor and
triggerer with the LocalExecutor, started and stopped by ``python -m cryptoflow.devstack``), with CoinGecko's
limit scaled up on both sides (``BENCH_HISTORY_AIRFLOW_RATE`` calls a minute: the sandbox's plan and
``apis.coingecko.calls_per_minute``, which also sizes the pool) so it ends in minutes; the ratios hold at
any limit. ``bench_history`` runs the same code without Airflow and only estimates Airflow's share; this
measures it.

Only the history DAG is unpaused and the scheduler creates no scheduled or asset-triggered run
(``[scheduler] use_job_schedule = False``; backfill runs still run), so nothing else calls CoinGecko or
competes for the two cores; the first run's ``plan`` lands the ``coingecko_markets`` listing it reads its
top N from (2 calls, counted apart). ``history.live_share`` is 0: history may use the whole rate.

Figures: runs and task instances; calls (the sandbox's accounting) against the fewest for these dates
(:func:`cryptoflow.backfill.plan_backfill`, the arithmetic ``make backfill`` prints) and the naive plan's
(one call per coin per day, computed, not run); wall time (backfill created -> its last run ended)
against the floor the rate sets (calls / rate), and the most calls in any 60 s of the sandbox's
per-second log against the limit; **Airflow's overhead**: wall time during which no task instance ran
(from ``task_instance`` start/end), as a share of wall time, beside the queued -> running delays. A task's
own start (its process, the DAG file's parse, imports) counts as task time here; with more tasks than
the 8 slots of ``core.parallelism``, queued -> running is mostly waiting for a slot.

``BENCH_HISTORY_AIRFLOW_COINS`` (300) x ``_DAYS`` (365) at ``_RATE`` (600/min): 5 runs of 7 tasks, 1,500
calls, a floor of 2.5 min; with the stack's start and stop about 4-5 minutes on 2 cores. Timings are of
a shared machine: read them beside its load.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta

from bench.common import REPO_ROOT, bench_stack, percentile, report, window_max

COINS = int(os.environ.get("BENCH_HISTORY_AIRFLOW_COINS", "300"))
DAYS = int(os.environ.get("BENCH_HISTORY_AIRFLOW_DAYS", "365"))
RATE = float(os.environ.get("BENCH_HISTORY_AIRFLOW_RATE", "600"))
TIMEOUT_S = float(os.environ.get("BENCH_HISTORY_AIRFLOW_TIMEOUT", "1800"))
PROFILE = "bench_history_airflow"
DAG_ID = "coingecko_price_history"
ENDPOINT = "coins_market_chart_range"


def _run(argv: list[str], env: dict[str, str], timeout: float = 600) -> str:
    """Run a command of the stack; its output, or an error carrying it."""
    done = subprocess.run(argv, cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:6])} ... exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return done.stdout


def _devstack(*args: str, env: dict[str, str]) -> str:
    return _run([sys.executable, "-m", "cryptoflow.devstack", "--profile", PROFILE, *args], env)


def _sandbox(profile, method: str, path: str, payload=None) -> dict:
    """The running sandbox's admin API (``cryptoflow.sandbox.admin``)."""
    import requests

    with requests.Session() as session:
        session.trust_env = False  # 127.0.0.1, never through a proxy
        resp = session.request(method, f"{profile.sandbox_url}/__admin{path}", json=payload, timeout=30)
    resp.raise_for_status()
    return resp.json()


def _query(dsn: str, sql: str, params: tuple = ()) -> list[tuple]:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        return conn.execute(sql, params).fetchall()


def _wait(what: str, done, timeout: float, every: float = 2.0, note=None) -> None:
    deadline, last_note = time.monotonic() + timeout, time.monotonic()
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not done after {timeout:.0f} s")
        if note and time.monotonic() - last_note > 30:
            print(note(), flush=True)
            last_note = time.monotonic()
        time.sleep(every)


def _busy_seconds(spans: list[tuple[datetime, datetime]]) -> float:
    """Seconds during which at least one of ``spans`` was open (their union)."""
    busy, until = 0.0, None
    for start, end in sorted(spans):
        if until is None or start > until:
            busy, until = busy + (end - start).total_seconds(), end
        elif end > until:
            busy, until = busy + (end - until).total_seconds(), end
    return busy


def main() -> None:
    from cryptoflow.devstack import stack
    from cryptoflow.devstack.airflow_db import prepare_airflow_db
    from cryptoflow.devstack.environment import stack_env

    # fresh databases: an empty warehouse, and a metadata database at head (a copy of a template)
    server, profile = bench_stack(PROFILE)
    env = stack_env(profile, server)
    if server.started:  # `down` stops the cluster we started, unless other sessions use it
        stack.note_cluster_started(profile, server)
    prepare_airflow_db(profile, server, env, fresh=True)
    metadata = server.dsn_for(profile.metadata_db)
    settings = {
        "CRYPTOFLOW__UNIVERSE__TOP_N": str(COINS),
        "CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": f"{RATE:g}",  # the limiter and the pool's size
        "CRYPTOFLOW__APIS__COINGECKO__DAILY_CREDITS": "1000000000",
        "CRYPTOFLOW__APIS__COINGECKO__MONTHLY_CREDITS": "1000000000",
        "CRYPTOFLOW__HISTORY__LIVE_SHARE": "0",  # nothing else calls: history may use the whole rate
        "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",  # no scheduled or asset runs; backfills run
    }
    # the devstack CLI's environment: none of this process's stack variables (earlier benchmarks set
    # connections and settings here), its ports and settings
    cli_env = {k: v for k, v in os.environ.items()
               if k not in env and not k.startswith(("AIRFLOW", "CRYPTOFLOW__"))}
    cli_env.update(settings, CRYPTOFLOW_EXECUTOR="local", CRYPTOFLOW_AIRFLOW_PORT=str(profile.airflow_port),
                   CRYPTOFLOW_SANDBOX_PORT=str(profile.sandbox_port))
    airflow_env = {**cli_env, **env}
    today = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first, last = today - timedelta(days=DAYS), today - timedelta(days=1)
    try:
        t_up = time.monotonic()
        _devstack("up", env=cli_env)
        print(f"stack {PROFILE} up in {time.monotonic() - t_up:.0f} s", flush=True)
        limits = {"calls_per_minute": int(RATE), "monthly_credits": 1_000_000_000, "daily_credits": None}
        _sandbox(profile, "POST", "/limits", {"coingecko": {"*": limits}})
        _wait("the dag-processor storing " + DAG_ID, lambda: _query(
            metadata, "SELECT 1 FROM serialized_dag WHERE dag_id = %s", (DAG_ID,)), 180)
        _run([sys.executable, "-m", "airflow", "dags", "unpause", DAG_ID], airflow_env)
        _sandbox(profile, "POST", "/accounting/reset")
        print(_devstack("backfill", DAG_ID, f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}", env=cli_env), flush=True)

        def finished() -> bool:
            failed = _query(metadata, "SELECT task_id, map_index, state FROM task_instance WHERE dag_id = %s "
                            "AND state IN ('failed', 'up_for_retry')", (DAG_ID,))
            if failed:  # a retry would skew every figure: stop, and say where to look
                raise RuntimeError(f"{DAG_ID}: task instances {failed} failed; see their logs under "
                                   f"{profile.airflow_home / 'logs'}")
            rows = _query(metadata, "SELECT completed_at FROM backfill WHERE dag_id = %s", (DAG_ID,))
            return bool(rows) and rows[0][0] is not None

        def progress() -> str:
            rows = _query(metadata, "SELECT state, count(*) FROM task_instance WHERE dag_id = %s GROUP BY 1",
                          (DAG_ID,))
            return "  task instances: " + ", ".join(f"{n} {s}" for s, n in sorted(rows, key=str))

        _wait("the backfill", finished, TIMEOUT_S, note=progress)
        figures = _figures(metadata, _sandbox(profile, "GET", "/accounting"), first, last, cli_env)
    finally:
        print(_devstack("down", env=cli_env).strip(), flush=True)
    report("history_backfill_airflow", figures)


def _figures(metadata: str, accounting: dict, first: datetime, last: datetime,
             environ: dict[str, str]) -> list[tuple]:
    from cryptoflow.backfill import plan_backfill
    from cryptoflow.config import load_config

    (created, completed, max_active), = _query(
        metadata, "SELECT created_at, completed_at, max_active_runs FROM backfill WHERE dag_id = %s",
        (DAG_ID,))
    runs = _query(metadata, "SELECT state, start_date, end_date FROM dag_run WHERE dag_id = %s "
                  "AND run_type = 'backfill'", (DAG_ID,))
    tis = _query(metadata, "SELECT state, queued_dttm, start_date, end_date, try_number FROM task_instance "
                 "WHERE dag_id = %s", (DAG_ID,))
    # on the plan of the coingecko connection in airflow_settings.yaml
    config = load_config(environ=environ)
    plan = plan_backfill(DAG_ID, first, last, config=config, plan_name="demo")
    calls = other = refused = 0
    per_second: dict[int, int] = {}  # every call the sandbox counted, per UNIX second (all endpoints)
    for key in accounting["apis"]["coingecko"]["keys"].values():
        for name, endpoint in key["endpoints"].items():
            calls += endpoint.get("calls", 0) if name == ENDPOINT else 0
            other += endpoint.get("calls", 0) if name != ENDPOINT else 0
        for second, n, limited in key.get("per_second", []):
            per_second[second] = per_second.get(second, 0) + n
            refused += limited
    wall = (max(r[2] for r in runs) - created).total_seconds()
    floor = plan.calls / RATE * 60
    # the limiter spaces permits (60 + safety margin) / rate apart, so no 60 s window passes the limit
    margin = config.control.safety_margin_s
    limiter_floor = plan.calls * (60 + margin) / RATE
    ran = [(s, e) for _, _, s, e, _ in tis if s and e]
    busy = _busy_seconds(ran)
    waits = [(s - q).total_seconds() for _, q, s, _, _ in tis if q and s]
    span = max(per_second) - min(per_second) + 1 if per_second else 0
    states: dict[str, int] = {}
    for state, *_ in tis:
        states[state] = states.get(state, 0) + 1
    return [
        ("coins", plan.coins, "coins"), ("days", DAYS, f"days [{first:%Y-%m-%d}, {last:%Y-%m-%d}]"),
        ("rate", RATE, "calls/min (sandbox plan and cryptoflow's limiter)"),
        ("runs", len(runs), f"backfill runs ({sum(r[0] == 'success' for r in runs)} success, "
                            f"{max_active} at most at once)"),
        ("task_instances", len(tis), ", ".join(f"{n} {s}" for s, n in sorted(states.items(), key=str))),
        ("task_retries", sum(max(0, t[4] - 1) for t in tis), "tries past the first"),
        ("calls", calls, f"calls to /coins/{{id}}/market_chart/range (+{other} to other endpoints)"),
        ("fewest_calls", plan.calls, "calls (make backfill's plan)"),
        ("calls_over_fewest", calls / plan.calls, "ratio (goal <= 1.02)"),
        ("naive_calls", plan.naive_calls, "calls (one per coin per day)"),
        ("naive_over_fewest", plan.naive_calls / plan.calls, "ratio"),
        ("wall", wall, "s (backfill created -> last run ended)"),
        ("floor", floor, "s (fewest calls / rate)"),
        ("wall_over_floor", wall / floor, "ratio (goal <= 1.10)"),
        ("limiter_floor", limiter_floor, f"s (permits {60 + margin:g} s / rate apart: the safety margin)"),
        ("wall_over_limiter_floor", wall / limiter_floor, "ratio (what Airflow and the machine add)"),
        ("naive_floor", plan.naive_calls / RATE * 60, "s at the same rate"),
        ("achieved_rate", (calls + other) / wall * 60, "calls/min over the wall time"),
        ("max_calls_in_60s", window_max(per_second), f"calls (limit {RATE:g})"),
        ("calls_limited", refused, "calls the sandbox answered 429"),
        ("calling_span", span, "s (first call -> last call, the sandbox's log)"),
        ("outside_calls_share", (wall - span) / wall, "of wall time before the first or after the last call"),
        ("backfill_completed_after", (completed - created).total_seconds(), "s (Airflow marks it done)"),
        ("tasks_running", busy, "s of wall time with a task instance running"),
        ("airflow_overhead", wall - busy, "s of wall time with no task instance running"),
        ("airflow_share", (wall - busy) / wall, "of wall time"),
        ("task_seconds", sum((e - s).total_seconds() for s, e in ran), "s (sum over task instances)"),
        ("queued_to_running_mean", sum(waits) / len(waits) if waits else float("nan"), "s"),
        ("queued_to_running_p95", percentile(waits, 95), "s"),
        ("queued_to_running_max", max(waits, default=float("nan")), "s"),
    ]


if __name__ == "__main__":
    main()
