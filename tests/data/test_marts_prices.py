"""The prices and breadth marts on real Postgres with the sandbox's data, built incrementally.

CoinGecko /coins/markets and CMC listings land through the ingest code path for three intervals across
two UTC days, the sandbox's clock moved each time (the prices move), with the identity's dimensions (the
CoinGecko coins list and /coins/{id} of the top 3, the CMC map and info) landed once; after each round
``dbt build --select +tag:prices +tag:breadth`` runs incrementally. The rounds:

- r1, D1 22:20: the interval of hour 22 of both APIs, and the dimensions;
- r2, D2 00:00:20 and 01:40: the intervals of hours 0 and 1. The sandbox answers for the minute's
  snapshot and CoinGecko stamps its observations up to 45 s before it: the landing filed under D2's
  hour 0 holds CoinGecko observations of D1 23:59 (CMC's are of 00:00), the only ones of D1's hour 23;
- r3, re-runs of both intervals of r1 and r2's first, whose rows replace the earlier ones: D1 22:50,
  hour 22 with the later prices and, on the CoinGecko side, the top 20 only (the 5 coins it no longer
  holds must leave the marts' hour 22); D2 00:40, hour 0 again, whose CoinGecko observations are now
  stamped 00:39: D1's hour 23 loses every observation while no new row observes it, and must leave the
  marts (the hourly ones, the consolidated one, D1's daily closes and its breadth).

Then the marts are checked against values worked out here from the raw JSON bodies the warehouse holds
(parsed with exact decimals; not from the SQL): the hourly OHLC and close of both sources, the daily OHLC
of the hourly closes, the consolidated price (the mean of the sources) and its deviation through the
identity's matches, breadth's advancers and decliners over the top N of each day; then a --full-refresh
rebuild of the marts must equal the incremental result row for row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_batch, land_dataset, land_request, plan_batches
from tests.conftest import reset_controls
from tests.helpers import SANDBOX_PLANS, sandbox_connections

pytestmark = pytest.mark.slow

D1 = datetime(2026, 12, 14, tzinfo=UTC)
D2 = D1 + timedelta(days=1)
TOP_N = 25  # coins per listing
RELANDED_TOP = 20  # r3's CoinGecko re-run holds fewer coins
BREADTH_N = 10  # breadth's top N (var breadth_top_n), below TOP_N so that the cut matters
SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N),
    "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": "3",
    # the calls are paced by the shared limiter at the configured rate: fast here (the sandbox's own
    # limits are switched off for the test)
    "CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": "600",
    "CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "600",
}
# (the history table too: fct_price_hourly reads its points, which another test may have left)
RAW_TABLES = ("coingecko__coins_markets", "coingecko__coins_list", "coingecko__coin",
              "coingecko__coins_market_chart_range", "cmc__cryptocurrency_listings_latest",
              "cmc__cryptocurrency_map", "cmc__cryptocurrency_info")
MARTS = {  # mart -> its grain (the order of a comparison)
    "fct_price_hourly": "asset_id, price_hour",
    "fct_cmc_price_hourly": "cmc_id, price_hour",
    "fct_price_daily": "asset_key, source, price_date",
    "fct_price_consolidated_hourly": "asset_id, price_hour",
    "fct_market_breadth_daily": "price_date",
}
# the columns a rebuild cannot reproduce: which snapshot and transaction wrote the row
BUILD_COLUMNS = {"built_xmin", "built_xid"}
VARS = json.dumps({"test_since": "'-infinity'", "breadth_top_n": BREADTH_N})
# the tests of other areas' models on the identity are theirs to run (their models are not built here)
SELECTION = ["--select", "+tag:prices", "+tag:breadth", "--indirect-selection", "cautious"]


@dataclass(frozen=True)
class Landing:
    """One hour of /coins/markets and CMC listings landed at a clock time."""

    at: datetime
    hour: datetime
    coingecko_top: int = TOP_N


HOUR_22 = D1 + timedelta(hours=22)
ROUNDS: dict[str, list[Landing]] = {
    "r1": [Landing(HOUR_22 + timedelta(minutes=20), HOUR_22)],
    "r2": [Landing(D2 + timedelta(seconds=20), D2),
           Landing(D2 + timedelta(hours=1, minutes=40), D2 + timedelta(hours=1))],
    "r3": [Landing(HOUR_22 + timedelta(minutes=50), HOUR_22, RELANDED_TOP),
           Landing(D2 + timedelta(minutes=40), D2)],
}


def parse(text: str) -> Any:
    """A body as the test reads it: every JSON number with a fraction or exponent an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(str(value))


# ------------------------------------------------------------------------------------------ landing


def land_round(run_id: str, landings: list[Landing], sandbox) -> None:
    for landing in landings:
        sandbox.set_clock(landing.at)
        interval = {"interval_start": landing.hour, "interval_end": landing.hour + timedelta(hours=1)}
        land_request("coingecko", "coins_markets", **interval, run_id=run_id, params={"vs_currency": "usd"},
                     wanted=landing.coingecko_top)
        land_request("cmc", "cryptocurrency_listings_latest", **interval, run_id=run_id,
                     params={"convert": "USD"}, wanted=TOP_N)
    if run_id == "r1":  # the identity's dimensions, once
        at = landings[0].at
        for name in ("coingecko_coins_list", "cmc_map"):
            land_dataset(name, interval_start=None, interval_end=None, run_after=at, run_id=run_id)
        for name in ("coingecko_coins", "cmc_info"):
            for batch in plan_batches(name, interval_start=None, interval_end=None, run_after=at,
                                      run_id=run_id):
                land_batch(name, batch, run_id=run_id)


@dataclass
class Built:
    builds: dict[str, dict[str, Any]] = field(default_factory=dict)  # round -> dbt summary, with seconds
    incremental: dict[str, list[dict]] = field(default_factory=dict)  # mart -> its rows after r3
    relanded_changed: int = 0  # CoinGecko prices of hour 22 that r3 changed against r1
    hour_22_before_r3: set[str] = field(default_factory=set)  # fct_price_hourly's coins of hour 22 then
    hour_23_before_r3: dict[str, int] = field(default_factory=dict)  # mart -> its rows of D1's hour 23
    seconds: float = 0.0


def mart_rows(conn, mart: str) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT * FROM marts.{mart} ORDER BY {MARTS[mart]}").fetchall()
    return [{k: v for k, v in row.items() if k not in BUILD_COLUMNS} for row in rows]


def markets_prices(conn, run_id: str) -> dict[str, Decimal]:
    bodies = conn.execute("SELECT body FROM raw.coingecko__coins_markets WHERE run_id = %s",
                          (run_id,)).fetchall()
    return {coin["id"]: number(coin["current_price"]) for (body,) in bodies for coin in parse(body)}


def hour_22(conn) -> set[str]:
    rows = conn.execute("SELECT asset_id FROM marts.fct_price_hourly WHERE price_hour = %s", (HOUR_22,))
    return {row[0] for row in rows}


def hour_23(conn) -> dict[str, int]:
    return {mart: conn.execute(f"SELECT count(*) FROM marts.{mart} WHERE price_hour = %s",
                               (D1 + timedelta(hours=23),)).fetchone()[0]
            for mart in ("fct_price_hourly", "fct_price_consolidated_hourly")}


def views(conn) -> set[tuple[str, str]]:
    return set(conn.execute(
        "SELECT table_schema, table_name FROM information_schema.views "
        "WHERE table_schema IN ('staging', 'intermediate')").fetchall())


def empty(conn) -> None:
    for table in RAW_TABLES:
        if conn.execute("SELECT to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]:
            conn.execute(f"TRUNCATE raw.{table}")
    for mart in MARTS:
        conn.execute(f"DROP TABLE IF EXISTS marts.{mart}")


@pytest.fixture(scope="module")
def built(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[tuple[Built, psycopg.Connection]]:
    """Every round landed into emptied raw tables, each followed by an incremental dbt build of the prices
    and breadth marts and everything they read. Afterwards the raw tables are emptied again and the marts
    and the views this made are dropped (views on the raw tables would stop a later test dropping them)."""
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    target = tmp_path_factory.mktemp("dbt")
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    before = views(conn)
    done = Built()
    started = time.monotonic()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**SETTINGS, **sandbox_connections(sandbox, SANDBOX_PLANS[:2])}.items():
                patch.setenv(name, value)
            sandbox.reset()
            sandbox.set_limits(enforce=False)
            reset_controls(warehouse_dsn)
            empty(conn)
            try:
                for run_id, landings in ROUNDS.items():
                    if run_id == "r3":
                        r1 = markets_prices(conn, "r1")
                        done.hour_22_before_r3 = hour_22(conn)
                        done.hour_23_before_r3 = hour_23(conn)
                    land_round(run_id, landings, sandbox)
                    t0 = time.monotonic()
                    done.builds[run_id] = run_dbt(["build", *SELECTION, "--vars", VARS], env=dbt_env)
                    done.builds[run_id]["wall_seconds"] = round(time.monotonic() - t0, 1)
            finally:
                sandbox.reset()
            r3 = markets_prices(conn, "r3")
            done.relanded_changed = sum(r1[coin] != price for coin, price in r3.items() if coin in r1)
            done.incremental = {mart: mart_rows(conn, mart) for mart in MARTS}
            t0 = time.monotonic()
            done.builds["full-refresh"] = run_dbt(
                ["build", "--full-refresh", "--select", "tag:prices", "tag:breadth", "--vars", VARS],
                env=dbt_env)
            done.builds["full-refresh"]["wall_seconds"] = round(time.monotonic() - t0, 1)
        done.seconds = round(time.monotonic() - started, 1)
        print({run_id: (b["counts"], b["wall_seconds"]) for run_id, b in done.builds.items()},
              f"total {done.seconds} s")
        yield done, conn
    finally:
        for mart in MARTS:
            conn.execute(f"DROP TABLE IF EXISTS marts.{mart}")
        for schema, name in sorted(views(conn) - before, key=lambda v: v[0] != "intermediate"):
            conn.execute(f'DROP VIEW IF EXISTS {schema}."{name}" CASCADE')
        empty(conn)
        conn.close()


# ------------------------------------------------------------------------------ expected, from raw


@dataclass(frozen=True)
class Observation:
    asset: str
    observed: datetime
    fetched: datetime
    landing_id: int
    price: Decimal
    market_cap: Decimal | None
    volume: Decimal | None
    rank: int | None


def coingecko_observations(conn) -> list[Observation]:
    out = []
    for landing_id, fetched, params, body in conn.execute(
            "SELECT landing_id, fetched_at, request_params, body FROM raw.coingecko__coins_markets"):
        assert params["vs_currency"] == "usd"
        for coin in parse(body):
            if coin["current_price"] is not None:
                out.append(Observation(coin["id"], utc(coin["last_updated"]), fetched, landing_id,
                                       number(coin["current_price"]), number(coin["market_cap"]),
                                       number(coin["total_volume"]), coin["market_cap_rank"]))
    return out


def cmc_observations(conn) -> list[Observation]:
    out = []
    for landing_id, fetched, body in conn.execute(
            "SELECT landing_id, fetched_at, body FROM raw.cmc__cryptocurrency_listings_latest"):
        for coin in parse(body)["data"]:
            usd = coin["quote"]["USD"]
            if usd["price"] is not None:
                out.append(Observation(str(coin["id"]), utc(coin["last_updated"]), fetched, landing_id,
                                       number(usd["price"]), number(usd["market_cap"]),
                                       number(usd["volume_24h"]), coin["cmc_rank"]))
    return out


def hourly(observations: list[Observation]) -> dict[tuple[str, datetime], dict[str, Any]]:
    """Per (asset, hour of the observation's own time): open, high, low, close and the close's figures."""
    by_hour: dict[tuple[str, datetime], list[Observation]] = {}
    for obs in observations:
        by_hour.setdefault((obs.asset, hour_of(obs.observed)), []).append(obs)
    out = {}
    for key, group in by_hour.items():
        first = min(group, key=lambda o: o.observed)
        last = max(group, key=lambda o: (o.observed, o.fetched, o.landing_id))
        out[key] = {"open": first.price, "high": max(o.price for o in group),
                    "low": min(o.price for o in group), "close": last.price, "market_cap": last.market_cap,
                    "volume": last.volume, "rank": last.rank, "observed": last.observed}
    return out


def daily(hours: dict[tuple[str, datetime], dict[str, Any]]) -> dict[tuple[str, date], dict[str, Any]]:
    """Per (asset, UTC day): OHLC of the hourly closes, the last hour's market cap."""
    by_day: dict[tuple[str, date], list[tuple[datetime, dict]]] = {}
    for (asset, hour), row in hours.items():
        by_day.setdefault((asset, hour.date()), []).append((hour, row))
    out = {}
    for key, group in by_day.items():
        group.sort(key=lambda item: item[0])
        closes = [row["close"] for _, row in group]
        out[key] = {"open": closes[0], "high": max(closes), "low": min(closes), "close": closes[-1],
                    "market_cap": group[-1][1]["market_cap"], "hours": len(group), "close_hour": group[-1][0]}
    return out


# ------------------------------------------------------------------------------------------- tests


def test_every_build_passed(built):
    done, _ = built
    for run_id, summary in done.builds.items():
        assert summary["failed"] == [], (run_id, summary["failed"])
        assert summary["counts"].get("pass", 0) >= 50, (run_id, summary["counts"])
    seconds = done.builds["r3"]["seconds"]
    for mart in MARTS:
        assert f"model.cryptoflow.{mart}" in seconds, mart
    assert done.relanded_changed > RELANDED_TOP // 2, "the re-run of hour 22 landed other prices than r1's"


def test_hourly_marts_hold_the_ohlc_of_the_raw_observations(built):
    done, conn = built
    for mart, observations, key in (("fct_price_hourly", coingecko_observations(conn), "asset_id"),
                                    ("fct_cmc_price_hourly", cmc_observations(conn), "cmc_id")):
        expected = hourly(observations)
        got = {(str(row[key]), row["price_hour"]): row for row in done.incremental[mart]}
        assert got.keys() == expected.keys(), mart
        rank = "market_cap_rank" if mart == "fct_price_hourly" else "cmc_rank"
        for point, want in expected.items():
            row = got[point]
            assert (row["open_usd"], row["high_usd"], row["low_usd"], row["price_usd"]) == (
                want["open"], want["high"], want["low"], want["close"]), (mart, point)
            assert (row["market_cap_usd"], row["volume_24h_usd"], row[rank], row["observed_at"]) == (
                want["market_cap"], want["volume"], want["rank"], want["observed"]), (mart, point)
        assert sorted({hour for _, hour in expected}) == [HOUR_22, D2, D2 + timedelta(hours=1)], mart
    # hour 22 of CoinGecko: the coins that r3 (the top 20) no longer holds were in the mart before r3's
    # build and are gone after it
    after = {row["asset_id"] for row in done.incremental["fct_price_hourly"] if row["price_hour"] == HOUR_22}
    assert len(after) == RELANDED_TOP and len(done.hour_22_before_r3) == TOP_N
    assert after < done.hour_22_before_r3, "the re-run's build removed the coins it no longer holds"
    # D1's hour 23: r2's landing of D2's hour 0 had put CoinGecko's 23:59 closes there; its re-run in r3
    # observes 00:39 only, and the hour has left the marts
    assert done.hour_23_before_r3 == {"fct_price_hourly": TOP_N, "fct_price_consolidated_hourly": TOP_N}
    assert hour_23(conn) == {"fct_price_hourly": 0, "fct_price_consolidated_hourly": 0}


def test_daily_ohlc_rolls_up_the_hourly_closes(built):
    done, conn = built
    got = {(row["source"], row["asset_key"], row["price_date"]): row
           for row in done.incremental["fct_price_daily"]}
    expected = {}
    for source, observations in (("coingecko", coingecko_observations(conn)),
                                 ("cmc", cmc_observations(conn))):
        for (asset, day), want in daily(hourly(observations)).items():
            expected[(source, asset, day)] = want
    assert got.keys() == expected.keys()
    for key, want in expected.items():
        row = got[key]
        assert (row["open_usd"], row["high_usd"], row["low_usd"], row["close_usd"], row["market_cap_usd"],
                row["hours_observed"], row["close_hour"]) == (
            want["open"], want["high"], want["low"], want["close"], want["market_cap"], want["hours"],
            want["close_hour"]), key
        assert row["cmc_id"] == (int(key[1]) if key[0] == "cmc" else None), key
    assert {day for _, _, day in expected} == {D1.date(), D2.date()}
    assert any(row["hours"] == 2 for row in expected.values())
    # D1's CoinGecko closes are hour 22's again (hour 23 is gone), 20 coins (r3's top 20)
    d1 = [row for row in got.values() if row["source"] == "coingecko" and row["price_date"] == D1.date()]
    assert len(d1) == RELANDED_TOP and {row["close_hour"] for row in d1} == {HOUR_22}


def test_consolidated_price_is_the_mean_of_the_sources_with_their_deviation(built):
    done, conn = built
    identity = dict(conn.execute("SELECT cmc_id::text, asset_id FROM intermediate.int_asset_identity "
                                 "WHERE cmc_id IS NOT NULL").fetchall())
    coingecko = {key: row["close"] for key, row in hourly(coingecko_observations(conn)).items()}
    cmc = {(identity[asset], hour): row["close"]
           for (asset, hour), row in hourly(cmc_observations(conn)).items() if asset in identity}
    got = {(row["asset_id"], row["price_hour"]): row
           for row in done.incremental["fct_price_consolidated_hourly"]}
    assert got.keys() == coingecko.keys() | cmc.keys()
    both = 0
    for key, row in got.items():
        cg, cm = coingecko.get(key), cmc.get(key)
        prices = [p for p in (cg, cm) if p is not None]
        assert (row["price_coingecko"], row["price_cmc"], row["sources_count"]) == (cg, cm, len(prices)), key
        assert abs(row["price_usd"] - sum(prices) / len(prices)) <= Decimal("1e-12") * row["price_usd"], key
        if cg is not None and cm is not None:
            both += 1
            deviation = (cm - cg) / cg * 100
            assert abs(row["deviation_pct"] - deviation) <= Decimal("1e-10"), key
            assert abs(deviation) < 5, key  # the sandbox's CMC quote is CoinGecko's within 0.5 %
        else:
            assert row["deviation_pct"] is None, key
    assert both >= TOP_N, f"too few assets priced by both sources to prove anything ({both})"


def test_breadth_counts_advancers_and_decliners_of_the_top_n(built):
    done, conn = built
    closes = daily(hourly(coingecko_observations(conn)))
    got = {row["price_date"]: row for row in done.incremental["fct_market_breadth_daily"]}
    assert set(got) == {D1.date(), D2.date()}
    for day, row in got.items():
        ranked = sorted(((want["market_cap"], asset) for (asset, d), want in closes.items()
                         if d == day and want["market_cap"] is not None),
                        key=lambda item: (-item[0], item[1]))
        top = [asset for _, asset in ranked[:BREADTH_N]]
        previous = {asset: closes[(asset, day - timedelta(days=1))]["close"] for asset in top
                    if (asset, day - timedelta(days=1)) in closes}
        advancers = sum(closes[(a, day)]["close"] > previous[a] for a in previous)
        decliners = sum(closes[(a, day)]["close"] < previous[a] for a in previous)
        assert (row["top_n"], row["assets_count"], row["advancers"], row["decliners"],
                row["unchanged"]) == (BREADTH_N, len(top), advancers, decliners,
                                      len(previous) - advancers - decliners), day
        # two days of history: no full window anywhere, the shares and highs/lows are unknown
        assert (row["assets_with_7d_window"], row["share_above_ma_7d"], row["share_above_ma_200d"],
                row["new_30d_highs"], row["new_30d_lows"]) == (0, None, None, None, None), day
    assert got[D1.date()]["advancers"] == got[D1.date()]["decliners"] == 0
    assert got[D2.date()]["advancers"] + got[D2.date()]["decliners"] > 0


def test_incremental_marts_equal_a_full_refresh(built):
    done, conn = built
    for mart in MARTS:
        rebuilt = mart_rows(conn, mart)
        assert rebuilt == done.incremental[mart], mart
        assert rebuilt, mart
