"""History landing (cryptoflow.history) on real Postgres and the API sandbox, without Airflow: the run's
coins resolved once, windows whose boundary points belong to one interval, a try killed half-way that
resumes without refetching, a finished batch run again that refetches and lands the same rows, and an
interval older than the plan reaches skipped with the reason before any call.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from cryptoflow.catalog import history_spec
from cryptoflow.history import land_history_batch, plan_history
from tests.helpers import kill_history_try

pytestmark = pytest.mark.slow

NAME = "coingecko_price_history"
DAG_ID = "test_history_landing"
TABLE = history_spec(NAME).raw_table
TOP_N = 5
HELD_S = 5  # how long the sandbox holds the call the killed try waits on
DAY = timedelta(days=1)
# the sandbox's clock: history is asked for days that end before it
NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
INTERVAL = (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 13, tzinfo=UTC))
SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N),
    "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOW_DAYS": "3",
    "CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": "600",
}


@pytest.fixture
def env(sandbox, api_connections, warehouse, monkeypatch) -> dict[str, str]:
    """The sandbox at NOW with its own limits off (the shared limiter paces at 600/min) and jitter 0 (the
    boundary points are then exactly on the hour and returned by both back-to-back calls); the raw
    table and this test DAG's progress emptied."""
    sandbox.reset()
    sandbox.set_limits(enforce=False)
    sandbox.set_settings(cg_intraday_jitter_s=0)
    sandbox.set_clock(NOW)
    values = {**api_connections, **SETTINGS}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    from cryptoflow.warehouse import migrate

    migrate(warehouse)
    warehouse.execute(f"TRUNCATE {TABLE}")
    for table in ("history_universe", "history_batches", "history_progress"):
        warehouse.execute(f"DELETE FROM ops.{table} WHERE dag_id = %s", (DAG_ID,))
    yield values
    sandbox.set_settings(cg_intraday_jitter_s=30)
    sandbox.clear_faults()


def calls(sandbox) -> int:
    keys = sandbox.accounting()["apis"].get("coingecko", {}).get("keys", {})
    return sum(k["endpoints"].get("coins_market_chart_range", {}).get("calls", 0) for k in keys.values())


def plan(run_id: str, interval=INTERVAL) -> list[dict]:
    return plan_history(NAME, interval_start=interval[0], interval_end=interval[1], run_after=None,
                        dag_id=DAG_ID, run_id=run_id)


def raw(warehouse) -> list[tuple[str, str, str]]:
    """(coin path, interval start, body sha256) of every raw row, sorted."""
    return warehouse.execute(f"SELECT endpoint, interval_start::text, body_sha256 FROM {TABLE} "
                             "ORDER BY 1, 2").fetchall()


def test_the_runs_coins_are_resolved_once_and_read_back(env, sandbox, warehouse):
    batches = plan("run-a")
    coins = [c for b in batches for c in b["coins"]]
    assert len(coins) == TOP_N and len(set(coins)) == TOP_N
    stored = [r[0] for r in warehouse.execute(
        "SELECT coin_id FROM ops.history_universe WHERE dag_id = %s AND run_id = 'run-a' ORDER BY rank",
        (DAG_ID,))]
    assert stored == coins
    # a later try of the run reads what the first stored, even when the listing has changed since: here
    # its landings are gone altogether, and the try makes no call for it
    warehouse.execute("TRUNCATE raw.coingecko__coins_markets")
    sandbox.reset_accounting()
    again = [c for b in plan("run-a") for c in b["coins"]]
    assert again == coins
    assert "coins_markets" not in json.dumps(sandbox.accounting()["apis"].get("coingecko", {}))


def test_back_to_back_intervals_have_no_gap_and_no_doubled_hour(env, sandbox, warehouse):
    second = (INTERVAL[1], INTERVAL[1] + 3 * DAY)
    for run_id, interval in (("run-1", INTERVAL), ("run-2", second)):
        for batch in plan(run_id, interval):
            land_history_batch(NAME, batch, dag_id=DAG_ID, run_id=run_id)
    rows = warehouse.execute(f"SELECT endpoint, interval_start, interval_end, body FROM {TABLE}").fetchall()
    assert len(rows) == 2 * TOP_N
    kept: dict[str, list[datetime]] = {}
    boundary_in_both = 0
    for endpoint, start, end, body in rows:
        stamps = [datetime.fromtimestamp(ms / 1000, UTC) for ms, _ in json.loads(body)["prices"]]
        boundary_in_both += INTERVAL[1] in stamps
        kept.setdefault(endpoint, []).extend(t for t in stamps if start <= t < end)
    # the API returns the shared boundary to both calls (jitter 0): 2 bodies per coin hold it
    assert boundary_in_both == 2 * TOP_N
    hours = [INTERVAL[0] + timedelta(hours=h) for h in range(6 * 24)]
    for stamps in kept.values():
        assert sorted(stamps) == hours  # each hour once, none missing, the boundary in the later interval


def test_a_killed_try_resumes_without_refetching_and_a_rerun_refetches_the_same(env, sandbox, warehouse,
                                                                                 caplog):
    [batch] = plan("run-k")
    # the third call hangs; the try is killed while it waits, as a worker lost mid-run
    sandbox.set_faults(api="coingecko", endpoint="coins_market_chart_range", kind="slow", delay_s=HELD_S,
                       after=2, count=1)
    sandbox.reset_accounting()
    kill_history_try(NAME, batch, dag_id=DAG_ID, run_id="run-k", env=env,
                     landed=lambda: progress(warehouse, "run-k"), after=2)
    assert progress(warehouse, "run-k") == 2
    assert len(raw(warehouse)) == 2  # what landed, landed whole: no partial coin
    assert status_row(warehouse, "run-k")[3:7] == (TOP_N, 2, 0, 2)  # make status: 2 of 5 coins, 2 calls
    time.sleep(HELD_S)  # the held call ends (unanswered) before the calls are counted again
    sandbox.clear_faults()

    sandbox.reset_accounting()
    with caplog.at_level("INFO", logger="cryptoflow.history"):
        summary = land_history_batch(NAME, batch, dag_id=DAG_ID, run_id="run-k")  # the retry
    # the run's progress, the killed try's coins and calls included: one window (one call) per coin
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("progress run-k: ")]
    assert [m.split(";")[0] for m in said] == [
        f"progress run-k: {n} of {TOP_N} ids done, {n} calls spent" for n in range(3, TOP_N + 1)]
    assert [m.split("(")[1].split(" at ")[0] for m in said] == [
        f"{TOP_N - n} calls" for n in range(3, TOP_N + 1)]
    assert " about 0.0 min left (0 calls at " in said[-1]
    assert calls(sandbox) == TOP_N - 2  # only the coins the killed try lacked
    assert (summary["skipped_as_landed"], summary["calls"]) == (2, TOP_N - 2)
    first = raw(warehouse)
    assert len(first) == TOP_N and progress(warehouse, "run-k") == TOP_N
    assert status_row(warehouse, "run-k")[2:7] == (INTERVAL[0], TOP_N, TOP_N, 0, TOP_N)

    sandbox.reset_accounting()
    land_history_batch(NAME, batch, dag_id=DAG_ID, run_id="run-k")  # cleared after it finished
    assert calls(sandbox) == TOP_N  # everything again
    assert raw(warehouse) == first  # the same rows: replaced, not added, same bodies


def status_row(warehouse, run_id: str) -> tuple:
    from cryptoflow.history import progress_rows

    return next(row for row in progress_rows(warehouse) if row[:2] == (DAG_ID, run_id))


def progress(warehouse, run_id: str) -> int:
    return warehouse.execute("SELECT count(*) FROM ops.history_progress WHERE dag_id = %s AND run_id = %s "
                             "AND status = 'landed'", (DAG_ID, run_id)).fetchone()[0]


def test_an_interval_older_than_the_plan_reaches_is_skipped_before_any_call(env, sandbox, warehouse):
    old = (NOW - timedelta(days=500), NOW - timedelta(days=410))
    sandbox.reset_accounting()
    with pytest.raises(AirflowSkipException) as skipped:
        plan("run-old", old)
    message = str(skipped.value)
    assert "CoinGecko /coins/{id}/market_chart/range" in message
    assert "plan demo, whose history reaches 365 days back" in message
    assert "Nothing was fetched, landed or deleted" in message
    assert calls(sandbox) == 0

