"""The CMC and CMC DEX history datasets (cryptoflow.history over their HistorySpecs) on real Postgres and
the API sandbox, without Airflow: each lands back-to-back intervals in the calls and credits worked out
here from the API's rules (100 coins a call, one credit per 100 points; one series; one DEX pair a
call), every hour (or day) of the two intervals exactly once with none doubled at their boundary; a
re-run replaces its own rows, even where the request moves with the clock (fear and greed's
newest-first offsets); what the plan may not call, or cannot reach back to, is skipped with the reason
and no call.

Dates are relative to today: CMC's Basic plan reaches 30 days back hourly.
"""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from cryptoflow.catalog import NETWORK_SEP, history_spec
from cryptoflow.config import load_config
from cryptoflow.history import land_history_batch, plan_history
from tests.helpers import kill_history_try

pytestmark = pytest.mark.slow

DAG_ID = "test_history_cmc"
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
D0 = TODAY - 10 * DAY
FIRST, SECOND = (D0, D0 + 3 * DAY), (D0 + 3 * DAY, D0 + 6 * DAY)
CLOCK = D0 + 8 * DAY  # the sandbox's clock: after both intervals
COINS = 3
PAIRS = 2  # per DEX network
SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": str(COINS),
    "CRYPTOFLOW__HISTORY__CMC_PRICE_HISTORY__TOP_N": str(COINS),
    "CRYPTOFLOW__HISTORY__CMC_DEX_PAIR_OHLCV_HISTORY__TOP_N": str(PAIRS),
    "CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "600",
    "CRYPTOFLOW__APIS__CMC_DEX__CALLS_PER_MINUTE": "600",
}


@pytest.fixture
def env(sandbox, api_connections, warehouse, monkeypatch) -> dict[str, str]:
    """The sandbox at CLOCK with its own limits off (the shared limiter paces), the history tables and
    this test DAG's progress emptied."""
    from cryptoflow.catalog import HISTORY_SPECS
    from cryptoflow.warehouse import migrate
    from tests.conftest import reset_controls

    sandbox.reset()
    sandbox.set_limits(enforce=False)
    sandbox.set_clock(CLOCK)
    values = {**api_connections, **SETTINGS}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    migrate(warehouse)
    reset_controls(warehouse.info.dsn)
    for spec in HISTORY_SPECS.values():
        if spec.api != "coingecko":
            warehouse.execute(f"TRUNCATE {spec.raw_table}")
    for table in ("history_universe", "history_batches", "history_progress"):
        warehouse.execute(f"DELETE FROM ops.{table} WHERE dag_id = %s", (DAG_ID,))
    return values


def spent(sandbox, api: str, endpoint: str) -> tuple[int, int]:
    """(calls, credits) the sandbox counted for one endpoint."""
    keys = sandbox.accounting()["apis"].get(api, {}).get("keys", {})
    rows = [k["endpoints"].get(endpoint, {}) for k in keys.values()]
    return sum(r.get("calls", 0) for r in rows), sum(r.get("credits", 0) for r in rows)


def land(name: str, run_id: str, interval: tuple[datetime, datetime]) -> list[dict]:
    out = []
    for batch in plan_history(name, interval_start=interval[0], interval_end=interval[1], run_after=None,
                              dag_id=DAG_ID, run_id=run_id):
        out.append(land_history_batch(name, batch, dag_id=DAG_ID, run_id=run_id))
    return out


def bodies(warehouse, name: str) -> list[tuple[datetime, datetime, dict, dict]]:
    """(interval start, interval end, request params, body) of every raw row of ``name``."""
    table = history_spec(name).raw_table
    return warehouse.execute(f"SELECT interval_start, interval_end, request_params, body FROM {table} "
                             "ORDER BY interval_start, landing_id").fetchall()


def stamp(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def kept(rows, points) -> dict[str, list[datetime]]:
    """Per id, the points each landing keeps: those inside its own interval (``start <= t < end``)."""
    out: dict[str, list[datetime]] = {}
    for start, end, _, body in rows:
        for key, moment in points(json.loads(body)):
            if start <= moment < end:
                out.setdefault(key, []).append(moment)
    return out


def quote_points(body):
    data = body["data"]
    coins = data.values() if "quotes" not in data else [data]
    for coin in coins:
        for quote in coin["quotes"]:
            yield str(coin["id"]), hour_of(stamp(quote["timestamp"]))


def test_cmc_prices_bundle_the_coins_and_pay_one_credit_per_100_points(env, sandbox, warehouse):
    name = "cmc_price_history"
    for run_id, interval in (("run-1", FIRST), ("run-2", SECOND)):
        land(name, run_id, interval)
    # one call per interval carries all 3 coins; each call returns 3 x 72 hourly quotes
    assert spent(sandbox, "cmc", "cryptocurrency_quotes_historical") == (2, 2 * math.ceil(COINS * 72 / 100))
    rows = bodies(warehouse, name)
    assert len(rows) == 2
    hours = [D0 + h * HOUR for h in range(6 * 24)]
    points = kept(rows, quote_points)
    assert len(points) == COINS
    for coin_hours in points.values():
        assert sorted(coin_hours) == hours  # every hour once: the boundary hour only in the later one
    # the end is sent one second short of the next interval, so no boundary quote is paid for twice
    every = [point for _, _, _, body in rows for point in quote_points(json.loads(body))]
    assert len(every) == len(set(every)) == COINS * 6 * 24


def test_cmc_prices_older_than_the_plan_reaches_are_skipped_without_a_call(env, sandbox):
    old = (TODAY - 45 * DAY, TODAY - 38 * DAY)
    with pytest.raises(AirflowSkipException, match=r"plan basic, whose intraday history reaches 30 days "
                                                   r"back; this interval is older\. Nothing was fetched"):
        land("cmc_price_history", "run-old", old)
    assert spent(sandbox, "cmc", "cryptocurrency_quotes_historical") == (0, 0)


def test_cmc_ohlcv_is_skipped_on_basic_with_the_plans_that_may_call_it(env, sandbox):
    with pytest.raises(AirflowSkipException, match=r"is on plan basic, which may not call this endpoint; "
                                                   r"plans that may: startup, growth"):
        land("cmc_ohlcv_history", "run-o", FIRST)
    assert spent(sandbox, "cmc", "cryptocurrency_ohlcv_historical") == (0, 0)


def test_global_metrics_is_one_series_hour_by_hour(env, sandbox, warehouse):
    import pendulum

    name = "cmc_global_metrics_history"
    # the second interval as Airflow hands it to the task: pendulum datetimes
    as_airflow = tuple(pendulum.instance(moment) for moment in SECOND)
    for run_id, interval in (("run-1", FIRST), ("run-2", as_airflow)):
        [summary] = land(name, run_id, interval)
        assert summary["calls"] == 1 and summary["points"] == 72
    assert spent(sandbox, "cmc", "global_metrics_quotes_historical") == (2, 2 * math.ceil(72 / 100))
    rows = bodies(warehouse, name)
    assert {r[2]["interval"] for r in rows} == {"1h"}
    points = kept(rows, lambda body: (("all", stamp(q["timestamp"])) for q in body["data"]["quotes"]))
    assert sorted(points["all"]) == [D0 + h * HOUR for h in range(6 * 24)]


def test_fear_and_greed_walks_newest_first_and_a_rerun_replaces_its_rows(env, sandbox, warehouse,
                                                                          monkeypatch):
    name = "cmc_fear_and_greed_history"

    def days(body):
        return (("all", datetime.fromtimestamp(int(e["timestamp"]), UTC)) for e in body["data"])

    for run_id, interval in (("run-1", FIRST), ("run-2", SECOND)):
        land(name, run_id, interval)
    assert spent(sandbox, "cmc", "fear_and_greed_historical")[0] == 2
    first = bodies(warehouse, name)
    assert sorted(kept(first, days)["all"]) == [D0 + d * DAY for d in range(6)]
    # a day later the same run asks other offsets (the newest value moved on); it replaces its own rows
    import cryptoflow.history

    later = datetime.now(UTC) + DAY
    monkeypatch.setattr(cryptoflow.history, "_now", lambda: later)
    sandbox.set_clock(CLOCK + DAY)
    land(name, "run-1", FIRST)
    again = bodies(warehouse, name)
    assert len(again) == len(first) == 2
    assert [r[2] for r in again] != [r[2] for r in first]  # the offsets moved with the clock
    assert sorted(kept(again, days)["all"]) == [D0 + d * DAY for d in range(6)]


def test_dex_pairs_one_call_each_per_network_and_interval(env, sandbox, warehouse):
    name = "cmc_dex_pair_ohlcv_history"
    config = load_config()
    for run_id, interval in (("run-1", FIRST), ("run-2", SECOND)):
        land(name, run_id, interval)
    pairs = len(config.dex.networks) * PAIRS
    assert spent(sandbox, "cmc_dex", "pairs_ohlcv_historical")[0] == 2 * pairs
    ids = [r[0] for r in warehouse.execute(
        "SELECT coin_id FROM ops.history_universe WHERE dag_id = %s AND run_id = 'run-1' ORDER BY rank",
        (DAG_ID,))]
    assert len(ids) == pairs and {i.split(NETWORK_SEP)[0] for i in ids} == set(config.dex.networks)
    rows = bodies(warehouse, name)
    assert {(r[2]["network_slug"], r[2]["contract_address"]) for r in rows} == {
        tuple(i.split(NETWORK_SEP, 1)) for i in ids}

    def candles(body):
        for pair in body["data"]:
            for quote in pair["quotes"]:
                yield pair["contract_address"], stamp(quote["time_open"])

    per_pair = kept(rows, candles)
    assert len(per_pair) == pairs
    for opens in per_pair.values():
        assert len(opens) == len(set(opens))  # no candle twice
        # a pair listed before the intervals has every hour; a younger one every hour since it began
        assert sorted(opens) == [t for t in (D0 + h * HOUR for h in range(6 * 24)) if t >= min(opens)]


def test_cmc_ohlcv_on_startup_returns_every_candle_of_the_window_once(env, sandbox, warehouse,
                                                                     monkeypatch, tmp_path):
    """On a plan that may call it, each window's first candle is there (the API's time_start is
    exclusive) and the boundary candle only in the later interval; staging keeps each candle once, with
    the body's prices."""
    from decimal import Decimal

    from cryptoflow.dbt import run_dbt
    from tests.helpers import sandbox_connections

    for name, value in sandbox_connections(sandbox, (("cmc", "startup"),)).items():
        monkeypatch.setenv(name, value)
    name = "cmc_ohlcv_history"
    for run_id, interval in (("run-1", FIRST), ("run-2", SECOND)):
        land(name, run_id, interval)
    assert spent(sandbox, "cmc", "cryptocurrency_ohlcv_historical") == (2, 2 * math.ceil(COINS * 72 / 100))

    def candles(body):
        for coin in _coins(body):
            for quote in coin["quotes"]:
                yield str(coin["id"]), stamp(quote["time_open"])

    rows = bodies(warehouse, name)
    every = [point for _, _, _, body in rows for point in candles(json.loads(body))]
    assert len(every) == len(set(every)) == COINS * 6 * 24
    for opens in kept(rows, candles).values():
        assert sorted(opens) == [D0 + h * HOUR for h in range(6 * 24)]
    closes = {(int(coin["id"]), stamp(q["time_open"])): Decimal(str(q["quote"]["USD"]["close"]))
              for start, end, _, body in rows for coin in _coins(json.loads(body))
              for q in coin["quotes"] if start <= stamp(q["time_open"]) < end}
    run_dbt(["build", "--select", "stg_cmc__ohlcv_history"],
            env={"DBT_TARGET_PATH": str(tmp_path), "DBT_LOG_PATH": str(tmp_path)})
    staged = dict(((cmc_id, hour), close) for cmc_id, hour, close in warehouse.execute(
        "SELECT cmc_id, candle_hour, close_usd FROM staging.stg_cmc__ohlcv_history").fetchall())
    assert staged == closes and len(staged) == COINS * 6 * 24


def _coins(body):
    data = body["data"]
    return data.values() if "quotes" not in data else [data]


def test_a_killed_dex_try_resumes_without_refetching_and_a_rerun_refetches_the_same(env, sandbox, warehouse):
    """The restart of a CMC DEX run, one pair a call: what a killed try landed is not fetched again."""
    name = "cmc_dex_pair_ohlcv_history"
    pairs = len(load_config().dex.networks) * PAIRS
    [batch] = plan_history(name, interval_start=FIRST[0], interval_end=FIRST[1], run_after=None,
                           dag_id=DAG_ID, run_id="run-k")
    assert len(batch["coins"]) == pairs >= 3

    def landed() -> int:
        return warehouse.execute("SELECT count(*) FROM ops.history_progress WHERE dag_id = %s AND "
                                 "run_id = 'run-k' AND status = 'landed'", (DAG_ID,)).fetchone()[0]

    # the third call is held; the try is killed while it waits
    sandbox.set_faults(api="cmc_dex", endpoint="pairs_ohlcv_historical", kind="slow", delay_s=5, after=2,
                       count=1)
    sandbox.reset_accounting()
    kill_history_try(name, batch, dag_id=DAG_ID, run_id="run-k", env=env, landed=landed, after=2)
    assert landed() == 2 and len(bodies(warehouse, name)) == 2  # what landed, landed whole
    time.sleep(5)  # the held call ends (unanswered) before the calls are counted again
    sandbox.clear_faults()

    sandbox.reset_accounting()
    summary = land_history_batch(name, batch, dag_id=DAG_ID, run_id="run-k")  # the retry
    assert spent(sandbox, "cmc_dex", "pairs_ohlcv_historical")[0] == pairs - 2  # only the pairs it lacked
    assert (summary["skipped_as_landed"], summary["calls"]) == (2, pairs - 2)
    first = bodies(warehouse, name)
    assert landed() == pairs and len(first) == pairs

    sandbox.reset_accounting()
    land_history_batch(name, batch, dag_id=DAG_ID, run_id="run-k")  # cleared after it finished
    assert spent(sandbox, "cmc_dex", "pairs_ohlcv_historical")[0] == pairs  # every pair again
    assert bodies(warehouse, name) == first  # replaced, not added: the same rows
