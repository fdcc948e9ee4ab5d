"""The breadth mart's long windows fill once enough history exists (real Postgres, real dbt, the sandbox).

A history run of 205 days for 3 coins lands through the ingest code path, in the fewest windows (90, 90
and 25 days: what the history DAG asks for), then ``dbt build`` of ``fct_market_breadth_daily`` and what
it reads. The 200-day window is full from the 200th day on: days before it have no 200-day figure (null,
as its description says), the last 6 days have one. A second run lands the next 20 days, an incremental
build follows, and the 200-day figure then covers 26 days. Every figure is checked against the daily
closes worked out here from the raw JSON bodies (exact decimals), not from SQL. (That a full refresh of
the breadth mart equals its incremental builds is test_marts_history's.)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_request
from cryptoflow.landing import ensure_raw_table
from cryptoflow.windows import windows_for
from tests.conftest import reset_controls
from tests.helpers import SANDBOX_PLANS, sandbox_connections

pytestmark = pytest.mark.slow

DAY = timedelta(days=1)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COINS = ("bitcoin", "ethereum", "solana")
D0 = datetime(2026, 1, 5, tzinfo=UTC)
RUNS = [(D0, D0 + 205 * DAY), (D0 + 205 * DAY, D0 + 225 * DAY)]
NOW = D0 + 240 * DAY  # the sandbox's clock: after both runs, inside the Demo plan's 365 days
CHART = "raw.coingecko__coins_market_chart_range"
MARTS = ("fct_price_hourly", "fct_cmc_price_hourly", "fct_price_daily", "fct_market_breadth_daily")
SELECTION = ["--select", "+fct_market_breadth_daily", "--indirect-selection", "cautious",
             "--vars", json.dumps({"test_since": "'-infinity'", "breadth_top_n": len(COINS)})]


def land_run(run_id: str, interval: tuple[datetime, datetime]) -> int:
    """Each coin's windows of the run, landed under the run's interval; the calls made."""
    calls = 0
    for coin in COINS:
        for window in windows_for(*interval):
            land_request("coingecko", "coins_market_chart_range", interval_start=interval[0],
                         interval_end=interval[1], run_id=run_id, params=window.params,
                         path_values={"id": coin})
            calls += 1
    return calls


def daily_closes(conn) -> dict[str, dict[date, Decimal]]:
    """Per coin and UTC day, the price of the day's latest point inside its landing's interval."""
    latest: dict[tuple[str, date], tuple[datetime, Decimal]] = {}
    for endpoint, start, end, body in conn.execute(f"SELECT endpoint, interval_start, interval_end, body "
                                                   f"FROM {CHART}"):
        coin = re.fullmatch(r"/coins/([^/]+)/market_chart/range", endpoint).group(1)
        for ms, price in json.loads(body, parse_float=Decimal)["prices"]:
            moment = EPOCH + timedelta(milliseconds=ms)
            if start <= moment < end and price is not None:
                key = (coin, moment.date())
                if key not in latest or moment > latest[key][0]:
                    latest[key] = (moment, Decimal(price))
    out: dict[str, dict[date, Decimal]] = {}
    for (coin, day), (_, price) in latest.items():
        out.setdefault(coin, {})[day] = price
    return out


def expected_200d(closes: dict[str, dict[date, Decimal]], day: date) -> tuple[int, int]:
    """(assets with a full 200-day window on ``day``, of which closed above their 200-day average)."""
    full = above = 0
    for by_day in closes.values():
        window = [by_day.get(day - n * DAY) for n in range(200)]
        if all(close is not None for close in window):
            full += 1
            above += by_day[day] > sum(window) / 200
    return full, above


def breadth(conn) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute("SELECT price_date, assets_count, assets_with_200d_window, share_above_ma_200d, "
                           "assets_with_30d_window FROM marts.fct_market_breadth_daily "
                           "ORDER BY price_date").fetchall()


def empty(conn) -> None:
    for table in ("raw.coingecko__coins_markets", CHART, "raw.cmc__cryptocurrency_listings_latest"):
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]:
            conn.execute(f"TRUNCATE {table}")
    for mart in MARTS:
        conn.execute(f"DROP TABLE IF EXISTS marts.{mart}")


@pytest.fixture(scope="module")
def rounds(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[tuple[list[dict], psycopg.Connection]]:
    """Per run: calls, the dbt build's summary, the breadth table after it and the closes in raw."""
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    target = tmp_path_factory.mktemp("dbt")
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE", "600")
            for name, value in sandbox_connections(sandbox, SANDBOX_PLANS[:2]).items():
                patch.setenv(name, value)
            sandbox.reset()
            sandbox.set_limits(enforce=False)
            sandbox.set_settings(cg_intraday_jitter_s=0)
            sandbox.set_clock(NOW)
            reset_controls(warehouse_dsn)
            with conn.transaction(), conn.cursor() as cur:
                ensure_raw_table(cur, CHART)
            empty(conn)
            done = []
            try:
                for n, interval in enumerate(RUNS, 1):
                    calls = land_run(f"run{n}", interval)
                    summary = run_dbt(["build", *SELECTION], env=dbt_env)
                    done.append({"calls": calls, "build": summary, "breadth": breadth(conn),
                                 "closes": daily_closes(conn)})
            finally:
                sandbox.reset()
        yield done, conn
    finally:
        empty(conn)
        conn.close()


def test_each_run_lands_in_the_fewest_calls_and_builds_clean(rounds):
    done, _ = rounds
    assert [r["calls"] for r in done[:2]] == [3 * len(COINS), len(COINS)]  # 90 + 90 + 25 days, then 20
    for r in done:
        assert r["build"]["failed"] == [], r["build"]["failed"]
        assert r["build"]["counts"].get("pass", 0) >= 20, r["build"]["counts"]  # the models' tests ran
        assert "model.cryptoflow.fct_market_breadth_daily" in r["build"]["seconds"]


@pytest.mark.parametrize("run", [0, 1])
def test_the_200_day_window_fills_from_its_200th_day(rounds, run):
    done, _ = rounds
    rows, closes = done[run]["breadth"], done[run]["closes"]
    last = RUNS[run][1] - DAY
    assert [r["price_date"] for r in rows] == [(D0 + n * DAY).date() for n in range((last - D0) // DAY + 1)]
    assert all(r["assets_count"] == len(COINS) for r in rows)
    filled = [r for r in rows if r["assets_with_200d_window"]]
    # before the 200th day: no full window, so no figure (null, not 0)
    assert all(r["share_above_ma_200d"] is None for r in rows if not r["assets_with_200d_window"])
    days = (last - D0) // DAY + 1
    assert [r["price_date"] for r in filled] == [(D0 + n * DAY).date() for n in range(199, days)]
    assert len(filled) == (6, 26)[run]
    for r in filled:
        full, above = expected_200d(closes, r["price_date"])
        assert r["assets_with_200d_window"] == full, r
        assert abs(r["share_above_ma_200d"] - Decimal(above) / full) < Decimal("1e-12"), (r, above)
    assert rows[29]["assets_with_30d_window"] == len(COINS) and rows[28]["assets_with_30d_window"] == 0
