"""Benchmark of the price history: a year of 300 coins, hourly, through the history DAG's own code
(:func:`cryptoflow.history.plan_history`, then :func:`~cryptoflow.history.land_history_batch` for its
batches in ``BENCH_HISTORY_WORKERS`` OS processes, as workers run the mapped tasks), against the sandbox
with its limits scaled up (``BENCH_HISTORY_RATE`` calls a minute, on both sides) so it ends in minutes;
the ratios hold at any limit.

Figures:

- calls spent (the sandbox's accounting) against the fewest the API allows (goal <= 1.02), and the naive
  plan's calls (one per coin per day, computed, not run) against the same minimum;
- wall time against the floor the rate sets (calls / rate; goal <= 1.10), the achieved rate, and the most
  calls in any 60-second window against the limit (must never pass it);
- **scale**: the plans for 10,000 coins x 5 years (calls, credits, floor at each CoinGecko plan's rate),
  and a slice of 2,000 coins x 90 days with every limit off, the sandbox serving 10,000 coins: calls/s and
  points/s landed, where the pipeline itself bottlenecks.

Airflow's own cost per task is measured by ``tests/devstack`` runs and in PLATFORM_NOTES (about 0.2 s a
task): a run of 300 coins is 6 mapped tasks of 50 calls, so at 15 calls a minute Airflow's share of the
wall time is 6 x 0.2 s against 20 minutes of paced calls (0.1 %); the figure
``airflow_share_estimate`` prints that arithmetic for the rate used here.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime, timedelta

from bench.common import api_connection, bench_stack, report, run_together, window_max

COINS = int(os.environ.get("BENCH_HISTORY_COINS", "300"))
DAYS = int(os.environ.get("BENCH_HISTORY_DAYS", "365"))
RATE = float(os.environ.get("BENCH_HISTORY_RATE", "1200"))
WORKERS = int(os.environ.get("BENCH_HISTORY_WORKERS", "4"))
SCALE_COINS = int(os.environ.get("BENCH_HISTORY_SCALE_COINS", "2000"))
SCALE_UNIVERSE = 10_000  # the sandbox's universe for the scale slice (its default has 620 coins)
SCALE_DAYS = int(os.environ.get("BENCH_HISTORY_SCALE_DAYS", "90"))
AIRFLOW_TASK_S = 0.2  # Airflow's own cost of one task here (PLATFORM_NOTES)
# The history ends at today's UTC midnight (and the sandbox's clock runs from 06:00): the plan's depth is
# counted from the real clock, so a fixed date would drift out of it and shorten the year.
NOW = datetime.now(UTC).replace(hour=6, minute=0, second=0, microsecond=0)
NAME = "coingecko_price_history"


def land_batches(gate, env: dict[str, str], batches: list[dict], run_id: str) -> dict:
    """One worker: its share of the run's batches, as mapped task instances would run them."""
    os.environ.update(env)
    from cryptoflow.history import land_history_batch

    gate.wait()
    calls = points = 0
    for batch in batches:
        out = land_history_batch(NAME, batch, dag_id="bench_history", run_id=run_id)
        calls += out["calls"]
        points += out["points"]
    return {"calls": calls, "points": points}


def run_history(sandbox, *, coins: int, days: int, rate: float | None, run_id: str) -> dict:
    """Plan one run over ``days`` ending at NOW's midnight, then land it with WORKERS processes."""
    from cryptoflow.history import plan_history

    os.environ["CRYPTOFLOW__UNIVERSE__TOP_N"] = str(coins)
    os.environ["CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOW_DAYS"] = "90"
    os.environ["CRYPTOFLOW__HISTORY__LIVE_SHARE"] = "0"  # nothing else calls: history may use the whole rate
    for name in ("CALLS_PER_MINUTE", "DAILY_CREDITS", "MONTHLY_CREDITS"):
        os.environ[f"CRYPTOFLOW__APIS__COINGECKO__{name}"] = {
            "CALLS_PER_MINUTE": str(rate or 1_000_000)}.get(name, "1000000000")
    sandbox.set_limits({"coingecko": {"demo": {"calls_per_minute": int(rate or 1_000_000),
                                               "monthly_credits": 1_000_000_000, "daily_credits": None}}})
    end = NOW.replace(hour=0)
    start = end - timedelta(days=days)
    # the coins' listing (the top N of coins_markets) lands first, for this N, outside the measured run
    from cryptoflow.warehouse import WAREHOUSE_CONN_ID, connect, migrate

    with connect(WAREHOUSE_CONN_ID) as conn:
        migrate(conn)
        conn.execute("TRUNCATE raw.coingecko__coins_markets")
        conn.commit()
    batches = plan_history(NAME, interval_start=start, interval_end=end, run_after=None,
                           dag_id="bench_history", run_id=run_id)
    sandbox.reset_accounting()
    env = {k: v for k, v in os.environ.items() if k.startswith(("AIRFLOW", "CRYPTOFLOW"))}
    shares = [batches[i::WORKERS] for i in range(WORKERS)]
    t0, results = run_together(land_batches, [(env, share, run_id) for share in shares if share])
    wall = time.time() - t0
    accounting = sandbox.accounting()
    keys = accounting["apis"]["coingecko"]["keys"]
    endpoint = {}
    for key in keys.values():
        endpoint = key["endpoints"].get("coins_market_chart_range", endpoint)
    per_second: dict[int, int] = {}  # every call the sandbox counted, per UNIX second (all endpoints)
    for key in keys.values():
        for second, calls, _limited in key.get("per_second", []):
            per_second[second] = per_second.get(second, 0) + calls
    return {"calls": endpoint.get("calls", 0), "wall": wall, "points": sum(r["points"] for r in results),
            "max_60s": window_max(per_second) if per_second else None, "tasks": len(batches),
            "coins": sum(len(b["coins"]) for b in batches)}


def main() -> None:
    from cryptoflow.sandbox import SandboxServer
    from cryptoflow.windows import calls_for, naive_calls_for

    _, profile = bench_stack("bench_history")
    with SandboxServer(port=profile.sandbox_port) as sandbox:
        sandbox.reset()
        sandbox.set_clock(NOW, frozen=False)
        os.environ.update(api_connection(sandbox, "coingecko", "demo"))

        year = run_history(sandbox, coins=COINS, days=DAYS, rate=RATE, run_id="year")
        fewest = calls_for(COINS, DAYS)
        naive = naive_calls_for(COINS, DAYS)
        floor_s = fewest / RATE * 60
        figures = [
            ("year_coins", year["coins"], f"coins (asked {COINS})"), ("year_days", DAYS, "days"),
            ("rate", RATE, "calls/min"),
            ("year_calls", year["calls"], "calls"), ("year_fewest_calls", fewest, "calls"),
            ("year_calls_over_fewest", year["calls"] / fewest, "ratio (goal <= 1.02)"),
            ("naive_calls", naive, "calls (one per coin per day)"),
            ("naive_over_fewest", naive / fewest, "ratio"),
            ("year_wall", year["wall"], "s"), ("year_floor", floor_s, "s (calls / rate)"),
            ("year_wall_over_floor", year["wall"] / floor_s, "ratio (goal <= 1.10)"),
            ("naive_floor", naive / RATE * 60, "s at the same rate"),
            ("year_achieved_rate", year["calls"] / year["wall"] * 60, "calls/min"),
            ("year_points_landed", year["points"], "points"),
            ("airflow_share_estimate", year["tasks"] * AIRFLOW_TASK_S / (year["wall"] + year["tasks"]
                                                                        * AIRFLOW_TASK_S), "of wall time"),
        ]
        if year["max_60s"] is not None:
            figures.append(("year_max_calls_in_60s", year["max_60s"], f"calls (limit {RATE:g})"))

        sandbox.set_settings(coins=SCALE_UNIVERSE)
        scale = run_history(sandbox, coins=SCALE_COINS, days=SCALE_DAYS, rate=None, run_id="scale")
        figures += [
            ("scale_coins", scale["coins"], f"coins (asked {SCALE_COINS}, of {SCALE_UNIVERSE:,})"),
            ("scale_days", SCALE_DAYS, "days"),
            ("scale_calls", scale["calls"], "calls"), ("scale_wall", scale["wall"], "s"),
            ("scale_calls_per_second", scale["calls"] / scale["wall"], "calls/s (limits off)"),
            ("scale_points_per_second", scale["points"] / scale["wall"], "points/s landed"),
        ]
    big = calls_for(10_000, 5 * 365)
    figures += [("plan_10000x5y_calls", big, "calls"), ("plan_10000x5y_credits", big, "credits"),
                ("plan_10000x5y_naive_calls", naive_calls_for(10_000, 5 * 365), "calls")]
    for plan, rate in (("demo", 30), ("basic", 300), ("analyst", 500), ("enterprise", 1000)):
        figures.append((f"plan_10000x5y_floor_{plan}", big / rate / 60, f"h at {rate}/min"))
    report("history_backfill", figures)


if __name__ == "__main__":
    main()
