"""Benchmark: does an incremental run of ``fct_price_hourly`` cost what the new data costs, or what the
history costs? Lands H hours of ``/coins/markets`` snapshots from the sandbox into real Postgres, builds
the mart, lands one more hour and runs the model incrementally, for a short and a 10x longer history.

Figures are the model's own execution time from dbt's ``run_results.json`` (dbt's start-up excluded,
but its per-model work included: introspection, temp table, delete+insert, about 0.3 s here). The
incremental run should stay near flat as history grows tenfold, while a full build grows with it.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from bench.common import api_connection, lift_limits, report

HISTORIES = [int(h) for h in os.environ.get("BENCH_DBT_HISTORIES", "24,240").split(",")]
TOP_N = 250
MODEL = "model.cryptoflow.fct_price_hourly"
START = datetime(2026, 3, 1, tzinfo=UTC)


def main() -> None:
    from cryptoflow.devstack import environment
    from cryptoflow.devstack.postgres import drop_database, ensure_database, ensure_server, free_port
    from cryptoflow.sandbox import SandboxServer

    server = ensure_server(environment.LOCAL_DIR / "postgres")
    profile = environment.Profile("bench_dbt", airflow_port=free_port(), sandbox_port=free_port())
    os.environ.update(environment.stack_env(profile, server))

    import psycopg

    from cryptoflow.dbt import run_dbt
    from cryptoflow.ingest import land_request

    figures: list[tuple[str, float, str]] = []
    per_history = {}
    with SandboxServer(port=profile.sandbox_port) as sandbox:
        # Limits far above what one process can send, ours and the sandbox's: this measures our side.
        lift_limits(sandbox, "coingecko", "demo")
        os.environ.update(api_connection(sandbox, "coingecko", "demo"))

        def land_hour(hour: int) -> None:
            sandbox.set_clock(START + timedelta(hours=hour, minutes=20))
            land_request("coingecko", "coins_markets", interval_start=START + timedelta(hours=hour),
                         interval_end=START + timedelta(hours=hour + 1), run_id=f"bench-{hour}", wanted=TOP_N)

        for hours in HISTORIES:
            drop_database(server, profile.warehouse_db)
            ensure_database(server, profile.warehouse_db, environment.WAREHOUSE_SCHEMAS)
            began = time.perf_counter()
            for hour in range(hours):
                land_hour(hour)
            landing_s = time.perf_counter() - began
            full = run_dbt(["run", "--select", "+fct_price_hourly"])["seconds"][MODEL]
            land_hour(hours)
            incremental = run_dbt(["run", "--select", "fct_price_hourly"])["seconds"][MODEL]
            with psycopg.connect(os.environ["CRYPTOFLOW_WAREHOUSE_DSN"]) as conn:
                rows = conn.execute("SELECT count(*) FROM marts.fct_price_hourly").fetchone()[0]
            per_history[hours] = (full, incremental)
            figures += [
                (f"history_{hours}h_mart_rows", rows, "rows"),
                (f"history_{hours}h_landing_seconds", landing_s, "s"),
                (f"history_{hours}h_full_build_seconds", full, "s"),
                (f"history_{hours}h_incremental_one_hour_seconds", incremental, "s"),
            ]
        if not os.environ.get("BENCH_KEEP_DB"):
            drop_database(server, profile.warehouse_db)
    short, long = min(per_history), max(per_history)
    figures += [
        ("history_ratio", long / short, "x"),
        ("full_build_ratio", per_history[long][0] / per_history[short][0], "x"),
        ("incremental_ratio", per_history[long][1] / per_history[short][1], "x"),
    ]
    report("dbt_incremental", figures)


if __name__ == "__main__":
    main()
