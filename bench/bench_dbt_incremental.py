"""Benchmark of dbt over history: does an hourly ``dbt build`` cost what the new hour costs, or what the
history costs?

For each history (one day, then ``BENCH_DBT_DAYS`` = 365 days) of ``BENCH_DBT_COINS`` = 300 coins, hourly:

1. a warehouse of its own; the history lands from the sandbox through the history DAG's own code (the
   coins' listing, then ``/coins/{id}/market_chart/range`` per coin and window, limits off: see
   ``bench_history`` for the paced figures), and one live hour of ``/coins/markets``;
2. a **full** ``dbt build`` of the whole project (every model, snapshot and test, the tests over all of
   history as the daily dbt DAGs run them: ``test_since`` ``-infinity``): seconds, and raw price points
   and mart rows per second;
3. one more live hour lands, and ``dbt build`` runs as ``dbt_marts`` runs it for that landing
   (:func:`cryptoflow.dbt.build_for_events`: the models downstream of ``coins_markets`` with their tests,
   recurring tests scoped to recent data: ``test_since`` three days before the hour, as the project's
   default ``now() - interval '3 days'`` is when the hour is the present): the **incremental** build's
   seconds.

The figure that matters is ``incremental_year_over_day``: the hourly build on top of a year against the
same on top of a day (goal <= 1.2). Seconds are given two ways: the dbt process's wall time (start-up and
parsing included, the same on both sides) and the sum of its nodes' execution times (``run_results.json``).
"""

from __future__ import annotations

import os
import time
from datetime import timedelta

from bench.bench_history import NOW, run_history  # the history ends at NOW's midnight; live hours follow
from bench.common import api_connection, bench_stack, lift_limits, report

COINS = int(os.environ.get("BENCH_DBT_COINS", "300"))
DAYS = int(os.environ.get("BENCH_DBT_DAYS", "365"))
LIVE = "raw.coingecko__coins_markets"


def land_live_hour(sandbox, hour: int) -> None:
    """The live ``/coins/markets`` snapshot of the hour ``[NOW + hour - 1h, NOW + hour)``."""
    from cryptoflow.ingest import land_request

    end = NOW + timedelta(hours=hour)
    sandbox.set_clock(end - timedelta(minutes=40), frozen=False)
    land_request("coingecko", "coins_markets", interval_start=end - timedelta(hours=1), interval_end=end,
                 run_id=f"bench-live-{hour}", wanted=COINS)


def timed_build(args: list[str], test_since: str) -> tuple[float, float, dict]:
    """(wall seconds, sum of node seconds, summary) of one ``dbt`` invocation on the warehouse, its
    tests reading facts from ``test_since`` (SQL) on."""
    import json

    from cryptoflow.dbt import run_dbt, warehouse_env

    began = time.perf_counter()
    summary = run_dbt([*args, "--vars", json.dumps({"test_since": test_since})],
                      env=warehouse_env("warehouse"))
    return time.perf_counter() - began, sum(summary["seconds"].values()), summary


def one_history(sandbox, server, profile, days: int) -> dict[str, float]:
    from cryptoflow.dbt import selection_for
    from cryptoflow.devstack import environment
    from cryptoflow.devstack.postgres import drop_database, ensure_database
    from cryptoflow.warehouse import WAREHOUSE_CONN_ID, connect

    drop_database(server, profile.warehouse_db)
    ensure_database(server, profile.warehouse_db, environment.WAREHOUSE_SCHEMAS)
    sandbox.set_clock(NOW, frozen=False)
    began = time.perf_counter()
    landed = run_history(sandbox, coins=COINS, days=days, rate=None, run_id=f"bench-{days}d")
    land_live_hour(sandbox, 0)
    landing_s = time.perf_counter() - began
    lift_limits(sandbox, "coingecko", "demo")  # run_history left them off; the live hours need the same

    full_wall, full_nodes, full = timed_build(["build"], "'-infinity'")
    with connect(WAREHOUSE_CONN_ID) as conn:
        mart_rows = conn.execute("SELECT count(*) FROM marts.fct_price_hourly").fetchone()[0]
    land_live_hour(sandbox, 1)
    selection = selection_for([LIVE])  # as build_for_events selects it for this landing
    since = NOW + timedelta(hours=1) - timedelta(days=3)  # the project's default, at the new hour
    args = ["build", "--select", *selection, "--indirect-selection", "cautious"]
    inc_wall, inc_nodes, inc = timed_build(args, f"'{since.isoformat()}'::timestamptz")
    with connect(WAREHOUSE_CONN_ID) as conn:
        after = conn.execute("SELECT count(*) FROM marts.fct_price_hourly").fetchone()[0]
    assert after == mart_rows + COINS, (mart_rows, after)  # the new hour, and nothing else, was added
    return {"days": days, "points": landed["points"], "landing_s": landing_s, "mart_rows": mart_rows,
            "full_wall": full_wall, "full_nodes": full_nodes, "full_nodes_run": sum(full["counts"].values()),
            "inc_wall": inc_wall, "inc_nodes": inc_nodes, "inc_nodes_run": sum(inc["counts"].values())}


def main() -> None:
    from cryptoflow.devstack.postgres import drop_database
    from cryptoflow.sandbox import SandboxServer

    server, profile = bench_stack("bench_dbt")
    figures: list[tuple[str, float, str]] = []
    results = {}
    with SandboxServer(port=profile.sandbox_port) as sandbox:
        sandbox.reset()
        os.environ.update(api_connection(sandbox, "coingecko", "demo"))
        for label, days in (("day", 1), ("year", DAYS)):
            r = results[label] = one_history(sandbox, server, profile, days)
            figures += [
                (f"{label}_history_points", r["points"], f"raw price points ({COINS} coins x {days} days)"),
                (f"{label}_landing_seconds", r["landing_s"], "s (limits off)"),
                (f"{label}_mart_rows", r["mart_rows"], "rows in fct_price_hourly"),
                (f"{label}_full_build_seconds", r["full_wall"], f"s wall ({r['full_nodes_run']} nodes)"),
                (f"{label}_full_build_node_seconds", r["full_nodes"], "s (sum of nodes)"),
                (f"{label}_full_build_points_per_second", r["points"] / r["full_wall"], "points/s"),
                (f"{label}_full_build_rows_per_second", r["mart_rows"] / r["full_wall"], "mart rows/s"),
                (f"{label}_incremental_build_seconds", r["inc_wall"], f"s wall ({r['inc_nodes_run']} nodes)"),
                (f"{label}_incremental_build_node_seconds", r["inc_nodes"], "s (sum of nodes)"),
            ]
        if not os.environ.get("BENCH_KEEP_DB"):
            drop_database(server, profile.warehouse_db)
    day, year = results["day"], results["year"]
    figures += [
        ("history_ratio", year["points"] / day["points"], "x more history"),
        ("full_build_year_over_day", year["full_wall"] / day["full_wall"], "x"),
        ("incremental_year_over_day", year["inc_wall"] / day["inc_wall"], "x wall (goal <= 1.2)"),
        ("incremental_nodes_year_over_day", year["inc_nodes"] / day["inc_nodes"], "x node seconds"),
    ]
    report("dbt_incremental", figures)


if __name__ == "__main__":
    main()
