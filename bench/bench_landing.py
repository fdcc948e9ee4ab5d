"""Benchmark of the thin slice's landing: CoinGecko ``/coins/markets`` through :class:`ApiHook` into
``raw.coingecko__coins_markets``, on the sandbox and real Postgres.

Figures: responses and rows landed per second (fetch + validate + land, end to end, no pacing), the
calls spent against the fewest the API allows (from the sandbox's own accounting), and the bytes landed.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from bench.common import api_connection, lift_limits, report

INTERVALS = int(os.environ.get("BENCH_LANDING_INTERVALS", "24"))
TOP_N = int(os.environ.get("BENCH_LANDING_TOP_N", "500"))


def main() -> None:

    from cryptoflow.devstack import environment
    from cryptoflow.devstack.postgres import drop_database, ensure_database, ensure_server, free_port
    from cryptoflow.sandbox import SandboxServer

    server = ensure_server(environment.LOCAL_DIR / "postgres")
    profile = environment.Profile("bench_run", airflow_port=free_port(), sandbox_port=free_port())
    drop_database(server, profile.warehouse_db)
    ensure_database(server, profile.warehouse_db, environment.WAREHOUSE_SCHEMAS)
    os.environ.update(environment.stack_env(profile, server))

    from cryptoflow.apis import get_api
    from cryptoflow.ingest import land_request

    endpoint = get_api("coingecko").endpoint("coins_markets")
    with SandboxServer(port=profile.sandbox_port) as sandbox:
        sandbox.reset()
        sandbox.set_clock(datetime(2026, 6, 1, 12, 30, tzinfo=UTC), frozen=False)
        # Limits far above what one process can send, ours and the sandbox's: this measures our side.
        lift_limits(sandbox, "coingecko", "demo")
        os.environ.update(api_connection(sandbox, "coingecko", "demo"))
        start = datetime(2026, 6, 1, tzinfo=UTC)
        responses = rows = n_bytes = 0
        began = time.perf_counter()
        for i in range(INTERVALS):
            result = land_request("coingecko", "coins_markets", interval_start=start + timedelta(hours=i),
                                  interval_end=start + timedelta(hours=i + 1), run_id=f"bench-{i}",
                                  wanted=TOP_N)
            responses += result["pages"]
            rows += result["records"]
            n_bytes += result["bytes"]
        elapsed = time.perf_counter() - began
        counted = sandbox.accounting(log=False)["apis"]["coingecko"]["calls"]
    fewest = INTERVALS * endpoint.paginator.calls_for(TOP_N)
    report("landing_coingecko_markets", [
        ("intervals", INTERVALS, "intervals"),
        ("top_n", TOP_N, "coins"),
        ("responses_per_second", responses / elapsed, "responses/s"),
        ("rows_per_second", rows / elapsed, "rows/s"),
        ("megabytes_landed", n_bytes / 1e6, "MB"),
        ("calls_spent", counted, "calls"),
        ("calls_fewest_possible", fewest, "calls"),
        ("calls_ratio_to_fewest", counted / fewest, "x"),
        ("wall_seconds", elapsed, "s"),
    ])


if __name__ == "__main__":
    main()
