"""CoinMarketCap's history endpoints in the marts, on real Postgres, real dbt and the API sandbox.

Raw bodies land through the ingest code path (``land_request``) into the history DAGs' raw tables:
/v2/cryptocurrency/quotes/historical (hourly; ids 1 and 1027 bundled in one call, so ``data`` is keyed by
id, and 825 alone, so ``data`` is the bare coin), /v1/global-metrics/quotes/historical (``interval=1h``)
for two back-to-back 2-day windows W1 and W2 (``time_start`` and ``time_end`` both inclusive at the API,
so the sample at W1's end is in both bodies), and /v3/fear-and-greed/historical for [W1 start, W2 end)
with an offset range that reaches days before and after it. Beside them, live landings: listings and
global metrics for one hour inside W2, fear-and-greed readings on a day the history holds and on one it
does not. After each round ``dbt build`` of the CMC price, global-market and fear-and-greed marts (and
what reads them) runs incrementally. The rounds:

- r1, history jitter 0 (samples exactly on the hour): all of the above;
- r2, jitter 30 s: W1's quotes again (the same requests: their rows are replaced; every sample moved and
  repriced), and the fear-and-greed history again a day later (other offsets, the same days);
- r3: W2's quotes and global metrics again with the clock inside W2, so the hours after it leave the
  history; then, jitter 0 again, one day inside W1 landed for coin 1 alone under an interval of its own:
  its later fetch is the point of each hour it holds.

After each build the marts are checked against values worked out here from the raw JSON bodies (exact
decimals, not from SQL); at the end a --full-refresh rebuild must equal the incremental result row for row.

A second fixture does the same for DEX pair OHLCV history windows in the live DAG's raw table
(``fct_dex_pair_ohlcv_hourly``): see its section below.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_request
from cryptoflow.landing import ensure_raw_table
from tests.conftest import reset_controls
from tests.helpers import SANDBOX_PLANS, sandbox_connections

pytestmark = pytest.mark.slow

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
D0 = datetime(2026, 10, 5, tzinfo=UTC)
W1 = (D0, D0 + 2 * DAY)
W2 = (W1[1], W1[1] + 2 * DAY)
FEAR_GREED = (W1[0], W2[1])  # the fear-and-greed history's interval
NOW = W2[1] + 3 * DAY + 12 * HOUR  # the sandbox's clock for history: after both windows
SNAPSHOT = D0 + 3 * DAY + 10 * HOUR  # the hour of the live listings and global metrics (inside W2)
LIVE_FEAR_GREED = (D0 + DAY + 10 * HOUR, W2[1] + DAY + 9 * HOUR)  # a day the history holds, one it does not
CUT = D0 + 3 * DAY + 6 * HOUR + 30 * timedelta(minutes=1)  # r3's clock while W2 lands again
OVERLAP = (D0 + DAY, D0 + 2 * DAY)  # r3: one day inside W1, for OVERLAP_COIN only
OVERLAP_COIN = 1
ID_CALLS = ("1,1027", "825")  # several ids: data keyed by id; one id: the bare coin object
COINS = (1, 1027, 825)
LISTINGS_TOP = 5

QUOTES = "raw.cmc__cryptocurrency_quotes_historical"
GLOBAL = "raw.cmc__global_metrics_quotes_historical"
FEAR = "raw.cmc__fear_and_greed_historical"
LISTINGS = "raw.cmc__cryptocurrency_listings_latest"
GLOBAL_LIVE = "raw.cmc__global_metrics_quotes_latest"
FEAR_LIVE = "raw.cmc__fear_and_greed_latest"
HISTORY_TABLES = (QUOTES, GLOBAL, FEAR)
RAW_TABLES = (*HISTORY_TABLES, LISTINGS, GLOBAL_LIVE, FEAR_LIVE, "raw.coingecko__coins_markets",
              "raw.coingecko__coins_market_chart_range", "raw.coingecko__global",
              "raw.cmc__cryptocurrency_map", "raw.cmc__cryptocurrency_info")
MARTS = {  # mart -> its grain (the order of a comparison)
    "fct_cmc_price_hourly": "cmc_id, price_hour",
    "fct_market_breadth_daily": "price_date",
    "fct_price_daily": "asset_key, source, price_date",
    "fct_price_consolidated_hourly": "asset_id, price_hour",
    "fct_global_market_hourly": "source, market_hour",
    "fct_fear_greed_daily": "fear_greed_date",
}
BUILD_COLUMNS = {"built_xmin", "built_xid"}  # which snapshot and transaction wrote a row
VARS = json.dumps({"test_since": "'-infinity'", "breadth_top_n": 3})
# the CMC price mart, what it reads and what reads it (the daily, consolidated and breadth marts), what
# those read, and the sentiment marts that take CMC history
SELECTION = ["--select", "+fct_cmc_price_hourly+", "+fct_price_consolidated_hourly",
             "+fct_market_breadth_daily", "+fct_global_market_hourly", "+fct_fear_greed_daily",
             "--indirect-selection", "cautious"]
# the calls are paced by the shared limiter at the configured rate: fast here (the sandbox's own limits
# are switched off for the test)
SETTINGS = {"CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "600",
            "CRYPTOFLOW__APIS__CMC_DEX__CALLS_PER_MINUTE": "600"}


def parse(text: str) -> Any:
    """A body as the test reads it: every JSON number with a fraction or exponent an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def at_iso(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly."""
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hours(start: datetime, end: datetime) -> list[datetime]:
    return [start + n * HOUR for n in range((end - start) // HOUR)]


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


# ------------------------------------------------------------------------------------------ landing


def land_quotes(run_id: str, window: tuple[datetime, datetime], ids=ID_CALLS) -> None:
    for id_list in ids:
        land_request("cmc", "cryptocurrency_quotes_historical", interval_start=window[0],
                     interval_end=window[1], run_id=run_id,
                     params={"id": id_list, "interval": "hourly", "time_start": unix(window[0]),
                             "time_end": unix(window[1])})


def land_global(run_id: str, window: tuple[datetime, datetime]) -> None:
    land_request("cmc", "global_metrics_quotes_historical", interval_start=window[0], interval_end=window[1],
                 run_id=run_id, params={"interval": "1h", "time_start": unix(window[0]),
                                        "time_end": unix(window[1])})


def land_fear_greed_history(run_id: str, clock: datetime) -> None:
    """The offsets from the newest day back to two days before the interval: days on both sides of it."""
    newest = clock.replace(hour=0, minute=0, second=0, microsecond=0)
    wanted = (newest - (FEAR_GREED[0] - 2 * DAY)) // DAY + 1
    land_request("cmc", "fear_and_greed_historical", interval_start=FEAR_GREED[0],
                 interval_end=FEAR_GREED[1], run_id=run_id, wanted=wanted)


def land_live(run_id: str, sandbox) -> None:
    sandbox.set_clock(SNAPSHOT + 20 * timedelta(minutes=1))
    land_request("cmc", "cryptocurrency_listings_latest", interval_start=SNAPSHOT,
                 interval_end=SNAPSHOT + HOUR, run_id=run_id, params={"convert": "USD"}, wanted=LISTINGS_TOP)
    land_request("cmc", "global_metrics_quotes_latest", interval_start=SNAPSHOT,
                 interval_end=SNAPSHOT + HOUR, run_id=run_id)
    for moment in LIVE_FEAR_GREED:
        sandbox.set_clock(moment + 20 * timedelta(minutes=1))
        land_request("cmc", "fear_and_greed_latest", interval_start=moment, interval_end=moment + HOUR,
                     run_id=run_id)


def land_round(run_id: str, sandbox) -> None:
    if run_id == "r1":
        sandbox.set_settings(cmc_historical_jitter_s=0)
        land_live(run_id, sandbox)
        sandbox.set_clock(NOW)
        for window in (W1, W2):
            land_quotes(run_id, window)
            land_global(run_id, window)
        land_fear_greed_history(run_id, NOW)
    elif run_id == "r2":
        sandbox.set_settings(cmc_historical_jitter_s=30)
        sandbox.set_clock(NOW + HOUR)
        land_quotes(run_id, W1)
        sandbox.set_clock(NOW + DAY)
        land_fear_greed_history(run_id, NOW + DAY)
    else:
        sandbox.set_clock(CUT)
        land_quotes(run_id, W2)
        land_global(run_id, W2)
        sandbox.set_settings(cmc_historical_jitter_s=0)
        sandbox.set_clock(NOW + 2 * HOUR)
        land_quotes(run_id, OVERLAP, ids=(str(OVERLAP_COIN),))


# ------------------------------------------------------------------------------ expected, from raw


@dataclass(frozen=True)
class Landing:
    landing_id: int
    fetched: datetime
    start: datetime
    end: datetime
    params: dict
    body: Any

    def holds(self, moment: datetime) -> bool:
        return self.start <= moment < self.end


def landings(conn, table: str) -> list[Landing]:
    rows = conn.execute(f"SELECT landing_id, fetched_at, interval_start, interval_end, request_params, body "
                        f"FROM {table}")
    return [Landing(landing_id, fetched, start, end, params, parse(body))
            for landing_id, fetched, start, end, params, body in rows]


def latest_by(items: list[tuple[Any, Landing, Any]]) -> dict[Any, tuple[Landing, Any]]:
    """Per key, the item of the latest fetch (then the later landing)."""
    out: dict[Any, tuple[Landing, Any]] = {}
    for key, landing, item in items:
        kept = out.get(key)
        if kept is None or (landing.fetched, landing.landing_id) > (kept[0].fetched, kept[0].landing_id):
            out[key] = (landing, item)
    return out


def coin_objects(data: Any) -> list[dict]:
    """quotes/historical's `data`: the coin itself (one id) or a map keyed by id (several)."""
    if "quotes" in data:
        return [data]
    return list(data.values())


@dataclass(frozen=True)
class Observation:
    cmc_id: int
    observed: datetime
    fetched: datetime
    landing_id: int
    kind: int  # 1 snapshot, 2 history sample: the order of a tie
    interval_start: datetime
    price: Decimal
    market_cap: Decimal | None
    volume: Decimal | None
    rank: int | None


def history_samples(conn) -> list[Observation]:
    """Each sample inside its landing's interval, one per coin and hour: the latest fetch's."""
    found = []
    for landing in landings(conn, QUOTES):
        for coin in coin_objects(landing.body["data"]):
            for sample in coin["quotes"]:
                moment, usd = at_iso(sample["timestamp"]), sample["quote"]["USD"]
                if landing.holds(moment) and usd["price"] is not None:
                    found.append(((coin["id"], hour_of(moment)), landing, (coin, moment, usd)))
    out = []
    for landing, (coin, moment, usd) in latest_by(found).values():
        volume = usd.get("volume_24h", usd.get("volume_24hr"))
        out.append(Observation(coin["id"], moment, landing.fetched, landing.landing_id, 2, landing.start,
                               number(usd["price"]), number(usd["market_cap"]), number(volume), None))
    return out


def listing_observations(conn) -> list[Observation]:
    out = []
    for landing in landings(conn, LISTINGS):
        for coin in landing.body["data"]:
            usd = coin["quote"]["USD"]
            if usd["price"] is not None:
                out.append(Observation(
                    coin["id"], at_iso(coin["last_updated"]), landing.fetched, landing.landing_id, 1,
                    landing.start, number(usd["price"]), number(usd["market_cap"]), number(usd["volume_24h"]),
                    coin["cmc_rank"]))
    return out


def expected_prices(conn) -> dict[tuple[int, datetime], dict[str, Any]]:
    """Per (coin, hour of the observation's own time): OHLC, the close's figures, the intervals."""
    by_hour: dict[tuple[int, datetime], list[Observation]] = {}
    for obs in (*listing_observations(conn), *history_samples(conn)):
        by_hour.setdefault((obs.cmc_id, hour_of(obs.observed)), []).append(obs)
    out = {}
    for key, group in by_hour.items():
        first = min(group, key=lambda o: (us(o.observed), -us(o.fetched), -o.landing_id, o.kind))
        last = min(group, key=lambda o: (-us(o.observed), -us(o.fetched), -o.landing_id, o.kind))
        out[key] = {"open_usd": first.price, "high_usd": max(o.price for o in group),
                    "low_usd": min(o.price for o in group), "price_usd": last.price,
                    "market_cap_usd": last.market_cap, "volume_24h_usd": last.volume,
                    "cmc_rank": last.rank, "observed_at": last.observed,
                    "landed_intervals": sorted({o.interval_start for o in group})}
    return out


def expected_global(conn) -> dict[datetime, dict[str, Any]]:
    """CMC's rows: per hour, the latest snapshot by its own time (history: inside its interval, the latest
    fetch of a timestamp; ties to the latest fetch, then the live snapshot)."""
    found = []
    for landing in landings(conn, GLOBAL):
        for snap in landing.body["data"]["quotes"]:
            moment = at_iso(snap["timestamp"])
            if landing.holds(moment):
                found.append((moment, landing, snap))
    candidates = []  # (time, fetched, landing_id, kind, figures)
    for moment, (landing, snap) in latest_by(found).items():
        usd = snap["quote"]["USD"]
        candidates.append((moment, landing.fetched, landing.landing_id, 2, {
            "total_market_cap_usd": number(usd["total_market_cap"]),
            "btc_dominance_pct": number(snap["btc_dominance"]), "market_cap_change_24h_pct": None,
            "landing_id": landing.landing_id, "observed_at": moment}))
    for landing in landings(conn, GLOBAL_LIVE):
        data = landing.body["data"]
        usd, moment = data["quote"]["USD"], at_iso(data["last_updated"])
        candidates.append((moment, landing.fetched, landing.landing_id, 1, {
            "total_market_cap_usd": number(usd["total_market_cap"]),
            "btc_dominance_pct": number(data["btc_dominance"]),
            "market_cap_change_24h_pct": number(usd["total_market_cap_yesterday_percentage_change"]),
            "landing_id": landing.landing_id, "observed_at": moment}))
    out: dict[datetime, dict[str, Any]] = {}
    for moment, fetched, landing_id, kind, figures in sorted(
            candidates, key=lambda c: (us(c[0]), us(c[1]), c[2], -c[3])):
        out[hour_of(moment)] = figures  # the last in this order wins its hour
        del fetched, landing_id, kind
    return out


def expected_fear_greed(conn) -> dict[date, dict[str, Any]]:
    found = []
    for landing in landings(conn, FEAR):
        for day in landing.body["data"]:
            moment = datetime.fromtimestamp(int(day["timestamp"]), UTC)
            if landing.holds(moment):
                found.append((moment, landing, day))
    readings = []  # (time, fetched, landing_id, kind, value, classification, source)
    for moment, (landing, day) in latest_by(found).items():
        readings.append((moment, landing.fetched, landing.landing_id, 2, number(day["value"]),
                         day["value_classification"], "history"))
    for landing in landings(conn, FEAR_LIVE):
        data = landing.body["data"]
        readings.append((at_iso(data["update_time"]), landing.fetched, landing.landing_id, 1,
                         number(data["value"]), data["value_classification"], "live"))
    by_day: dict[date, list[tuple]] = {}
    for reading in readings:
        by_day.setdefault(reading[0].date(), []).append(reading)
    out = {}
    for day, group in by_day.items():
        latest = max(group, key=lambda r: (us(r[0]), us(r[1]), r[2], -r[3]))
        history = [r[4] for r in group if r[6] == "history"]
        out[day] = {"fear_greed_value": latest[4], "value_classification": latest[5],
                    "value_source": latest[6], "landing_id": latest[2], "observed_at": latest[0],
                    "observations": len(group),
                    "min_fear_greed_value": min(r[4] for r in group),
                    "max_fear_greed_value": max(r[4] for r in group),
                    "history_fear_greed_value": history[0] if history else None}
    return out


# ------------------------------------------------------------------------------------------ the build


@dataclass
class Round:
    prices: dict[tuple[int, datetime], dict[str, Any]]
    expected_prices: dict[tuple[int, datetime], dict[str, Any]]
    global_cmc: dict[datetime, dict[str, Any]]
    expected_global: dict[datetime, dict[str, Any]]
    fear_greed: dict[date, dict[str, Any]]
    expected_fear_greed: dict[date, dict[str, Any]]
    daily_cmc: dict[tuple[str, date], dict[str, Any]]
    build: dict[str, Any]


@dataclass
class Built:
    rounds: dict[str, Round]
    incremental: dict[str, list[dict]]
    full_refresh: dict[str, list[dict]]
    builds: dict[str, dict[str, Any]]
    raw_r1: dict[str, list[Landing]]  # r1's history landings, as landed


def mart_rows(conn, mart: str) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT * FROM marts.{mart} ORDER BY {MARTS[mart]}").fetchall()
    return [{k: v for k, v in row.items() if k not in BUILD_COLUMNS} for row in rows]


def views(conn) -> set[tuple[str, str]]:
    return set(conn.execute(
        "SELECT table_schema, table_name FROM information_schema.views "
        "WHERE table_schema IN ('staging', 'intermediate')").fetchall())


def empty(conn) -> None:
    for table in RAW_TABLES:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]:
            conn.execute(f"TRUNCATE {table}")
    for mart in (*MARTS, "fct_price_hourly"):
        conn.execute(f"DROP TABLE IF EXISTS marts.{mart}")


def build(env: dict[str, str], *extra: str) -> dict[str, Any]:
    began = time.monotonic()
    summary = run_dbt(["build", *extra, *SELECTION, "--vars", VARS], env=env)
    summary["wall_seconds"] = round(time.monotonic() - began, 1)
    return summary


def snapshot_round(conn, summary: dict[str, Any]) -> Round:
    return Round(
        {(r["cmc_id"], r["price_hour"]): r for r in mart_rows(conn, "fct_cmc_price_hourly")},
        expected_prices(conn),
        {r["market_hour"]: r for r in mart_rows(conn, "fct_global_market_hourly") if r["source"] == "cmc"},
        expected_global(conn),
        {r["fear_greed_date"]: r for r in mart_rows(conn, "fct_fear_greed_daily")},
        expected_fear_greed(conn),
        {(r["asset_key"], r["price_date"]): r
         for r in mart_rows(conn, "fct_price_daily") if r["source"] == "cmc"},
        summary)


@pytest.fixture(scope="module")
def built(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[Built]:
    """Every round landed into emptied raw tables, each followed by an incremental build; then a full
    refresh. Afterwards the raw tables are emptied again, and the marts and the views this made dropped."""
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    target = tmp_path_factory.mktemp("dbt")
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    before = views(conn)
    started = time.monotonic()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**SETTINGS, **sandbox_connections(sandbox, SANDBOX_PLANS)}.items():
                patch.setenv(name, value)
            sandbox.reset()
            sandbox.set_limits(enforce=False)
            reset_controls(warehouse_dsn)
            with conn.transaction(), conn.cursor() as cur:
                for table in RAW_TABLES:
                    ensure_raw_table(cur, table)
            empty(conn)
            rounds, builds, raw_r1 = {}, {}, {}
            try:
                for run_id in ("r1", "r2", "r3"):
                    land_round(run_id, sandbox)
                    if run_id == "r1":
                        raw_r1 = {table: landings(conn, table) for table in HISTORY_TABLES}
                    builds[run_id] = build(dbt_env)
                    rounds[run_id] = snapshot_round(conn, builds[run_id])
            finally:
                sandbox.reset()
            incremental = {mart: mart_rows(conn, mart) for mart in MARTS}
            builds["full-refresh"] = build(dbt_env, "--full-refresh")
            full = {mart: mart_rows(conn, mart) for mart in MARTS}
        print({run_id: (b["counts"], b["wall_seconds"]) for run_id, b in builds.items()},
              f"total {round(time.monotonic() - started, 1)} s")
        yield Built(rounds, incremental, full, builds, raw_r1)
    finally:
        for mart in (*MARTS, "fct_price_hourly"):
            conn.execute(f"DROP TABLE IF EXISTS marts.{mart}")
        for schema, name in sorted(views(conn) - before, key=lambda v: v[0] != "intermediate"):
            conn.execute(f'DROP VIEW IF EXISTS {schema}."{name}" CASCADE')
        empty(conn)
        conn.close()


# ------------------------------------------------------------------------------------------- tests


def test_every_build_passed(built):
    for run_id, summary in built.builds.items():
        assert summary["failed"] == [], (run_id, summary["failed"])
        assert summary["counts"].get("pass", 0) >= 40, (run_id, summary["counts"])
    for mart in MARTS:
        assert f"model.cryptoflow.{mart}" in built.builds["r3"]["seconds"], mart


@pytest.mark.parametrize("run_id", ["r1", "r2", "r3"])
def test_the_cmc_price_mart_holds_the_raw_samples_values(built, run_id):
    state = built.rounds[run_id]
    assert state.prices.keys() == state.expected_prices.keys()
    for key, want in state.expected_prices.items():
        row = state.prices[key]
        assert {name: row[name] for name in want} == want, key


@pytest.mark.parametrize("run_id", ["r1", "r3"])
def test_the_global_market_mart_holds_the_raw_snapshots(built, run_id):
    state = built.rounds[run_id]
    assert state.global_cmc.keys() == state.expected_global.keys()
    for hour, want in state.expected_global.items():
        row = state.global_cmc[hour]
        assert {name: row[name] for name in want} == want, hour


@pytest.mark.parametrize("run_id", ["r1", "r2"])
def test_the_fear_greed_mart_holds_history_beside_live_readings(built, run_id):
    state = built.rounds[run_id]
    assert state.fear_greed.keys() == state.expected_fear_greed.keys()
    for day, want in state.expected_fear_greed.items():
        row = state.fear_greed[day]
        assert {name: row[name] for name in want} == want, day
    # the history's days are its interval's, though its bodies reach further; the live-only day is there
    history_days = [(FEAR_GREED[0] + n * DAY).date() for n in range((FEAR_GREED[1] - FEAR_GREED[0]) // DAY)]
    live_days = [moment.date() for moment in LIVE_FEAR_GREED]
    assert sorted(state.fear_greed) == sorted({*history_days, *live_days})
    both, live_only = LIVE_FEAR_GREED[0].date(), LIVE_FEAR_GREED[1].date()
    assert state.fear_greed[both]["value_source"] == "live"
    assert state.fear_greed[both]["history_fear_greed_value"] is not None
    assert state.fear_greed[both]["observations"] == 2
    assert state.fear_greed[live_only]["history_fear_greed_value"] is None
    assert all(state.fear_greed[day]["value_source"] == "history" for day in history_days if day != both)


def test_bodies_reach_outside_their_interval_and_only_the_interval_counts(built):
    raw, r1 = built.raw_r1, built.rounds["r1"]
    # the API answered W1 with the sample at its `time_end`, which W2 holds too (jitter 0: on the hour)
    w1 = [landing for landing in raw[QUOTES] if landing.start == W1[0]]
    assert len(w1) == len(ID_CALLS)
    for landing in w1:
        for coin in coin_objects(landing.body["data"]):
            assert at_iso(coin["quotes"][-1]["timestamp"]) == W1[1], coin["id"]
    assert {type(landing.body["data"]).__name__ for landing in w1} == {"dict"}
    shapes = {"quotes" in landing.body["data"] for landing in w1}
    assert shapes == {True, False}, "one call gives the bare coin, the other a map keyed by id"
    for coin in COINS:
        assert sorted(hour for cmc_id, hour in r1.prices if cmc_id == coin and W1[0] <= hour < W2[1]) == \
            hours(W1[0], W2[1]), coin
        assert r1.prices[(coin, W1[1])]["landed_intervals"] == [W2[0]], coin
        assert r1.prices[(coin, W1[1] - HOUR)]["landed_intervals"] == [W1[0]], coin
    global_w1 = next(landing for landing in raw[GLOBAL] if landing.start == W1[0])
    assert at_iso(global_w1.body["data"]["quotes"][-1]["timestamp"]) == W1[1]
    assert r1.global_cmc[W1[1]]["landing_id"] != global_w1.landing_id
    # the fear-and-greed body holds days before and after its interval
    days = [datetime.fromtimestamp(int(day["timestamp"]), UTC) for day in raw[FEAR][0].body["data"]]
    assert min(days) < FEAR_GREED[0] and max(days) >= FEAR_GREED[1]
    # the live snapshot's hour: history opens it (on the hour), the listing (later in the hour) closes it
    for coin in COINS:
        row = r1.prices[(coin, SNAPSHOT)]
        if row["cmc_rank"] is not None:
            assert row["observed_at"] > SNAPSHOT, coin
            assert row["landed_intervals"] == sorted([W2[0], SNAPSHOT]), coin
    assert r1.global_cmc[SNAPSHOT]["market_cap_change_24h_pct"] is not None  # the live snapshot won the hour


def test_a_relanded_window_with_other_values_corrects_the_mart(built):
    r1, r2 = built.rounds["r1"], built.rounds["r2"]
    w1_hours = [(coin, hour) for coin in COINS for hour in hours(*W1)]
    changed = sum(r1.prices[key]["price_usd"] != r2.prices[key]["price_usd"] for key in w1_hours)
    assert changed > 0.9 * len(w1_hours), "the re-landed W1 brought other prices"
    moved = sum(r2.prices[key]["observed_at"] != key[1] for key in w1_hours)
    assert moved > 0.9 * len(w1_hours), "W1's samples are off the hour now (jitter)"
    for coin in COINS:  # W2 is as it was
        for hour in hours(*W2):
            assert r2.prices[(coin, hour)] == r1.prices[(coin, hour)], (coin, hour)
    # the fear-and-greed history landed again under other offsets: the same days, the same values
    assert r2.fear_greed.keys() == r1.fear_greed.keys()
    for day in r1.fear_greed:
        assert r2.fear_greed[day]["fear_greed_value"] == r1.fear_greed[day]["fear_greed_value"], day


def test_hours_a_relanded_window_no_longer_holds_leave_the_marts(built):
    r2, r3 = built.rounds["r2"], built.rounds["r3"]
    kept, gone = hours(W2[0], hour_of(CUT) + HOUR), hours(hour_of(CUT) + HOUR, W2[1])
    remaining = 0
    for coin in COINS:
        assert all((coin, hour) in r2.prices for hour in gone), coin
        assert all((coin, hour) in r3.prices for hour in kept), coin
        # an hour with a live listing of the coin stays, from the listing alone
        left = [hour for hour in gone if (coin, hour) in r3.prices]
        assert len(left) <= 1, (coin, left)
        for hour in left:
            assert r3.prices[(coin, hour)]["landed_intervals"] == [SNAPSHOT], (coin, hour)
            assert r3.prices[(coin, hour)]["cmc_rank"] is not None, (coin, hour)
        remaining += len(left)
    assert remaining > 0, "the listing's hour outlives the history that left"
    assert [hour for hour in gone if hour in r3.global_cmc] == [SNAPSHOT]
    # the overlap day: its coin's hours from the later, narrower landing (jitter 0 again)
    for hour in hours(*OVERLAP):
        assert r3.prices[(OVERLAP_COIN, hour)]["landed_intervals"] == [OVERLAP[0]], hour
        assert r3.prices[(OVERLAP_COIN, hour)]["observed_at"] == hour, hour
        for coin in set(COINS) - {OVERLAP_COIN}:
            assert r3.prices[(coin, hour)] == r2.prices[(coin, hour)], (coin, hour)


def test_the_daily_price_mart_follows(built):
    for run_id, state in built.rounds.items():
        want: dict[tuple[str, date], list[datetime]] = {}
        for cmc_id, hour in state.expected_prices:
            want.setdefault((str(cmc_id), hour.date()), []).append(hour)
        assert state.daily_cmc.keys() == want.keys(), run_id
        for key, day_hours in want.items():
            row = state.daily_cmc[key]
            assert row["hours_observed"] == len(day_hours), (run_id, key)
            close = state.expected_prices[(int(key[0]), max(day_hours))]["price_usd"]
            assert row["close_usd"] == close, (run_id, key)


def test_incremental_marts_equal_a_full_refresh(built):
    for mart in MARTS:
        assert built.full_refresh[mart] == built.incremental[mart], mart
    assert len(built.incremental["fct_cmc_price_hourly"]) > len(COINS) * 80
    assert len(built.incremental["fct_fear_greed_daily"]) == 5


# ------------------------------------------------------------------- DEX pair OHLCV history windows
#
# The DEX history lands in the live OHLCV DAG's raw table with long windows (`time_start`/`time_end`, both
# inclusive at the API, here with 2 hours of slack before the start): a window's candle counts only inside
# its data interval, the live landings' (`count` only) every candle. V1 and V2 are back to back; a live run
# after V2 overlaps it by its deliberate extra candles. r2 lands V1 again with the clock inside it: its
# candles after the clock leave the mart, and so do V2's slack candles before V2 (outside V2's interval).

DEX_NETWORK = "solana"
V1 = (D0, D0 + 4 * DAY)
V2 = (V1[1], V1[1] + 4 * DAY)
DEX_NOW = V2[1] + 3 * DAY  # the clock while the windows land
LIVE_DEX = (V2[1], V2[1] + 6 * HOUR)  # a live run's interval, just after V2
DEX_CUT = V1[0] + 2 * DAY + 6 * HOUR + 30 * timedelta(minutes=1)  # r2's clock while V1 lands again
SLACK = 2 * HOUR
OHLCV = "raw.cmc_dex__pairs_ohlcv_historical"
DEX_RAW = (OHLCV, "raw.cmc_dex__spot_pairs_latest", "raw.cmc_dex__networks_list",
           "raw.cmc_dex__pairs_quotes_latest")
DEX_MART = "fct_dex_pair_ohlcv_hourly"
DEX_SELECTION = ["--select", f"+{DEX_MART}", "--indirect-selection", "cautious"]


def land_dex_window(run_id: str, address: str, window: tuple[datetime, datetime]) -> None:
    land_request("cmc_dex", "pairs_ohlcv_historical", interval_start=window[0], interval_end=window[1],
                 run_id=run_id, params={"network_slug": DEX_NETWORK, "contract_address": address,
                                        "time_start": unix(window[0] - SLACK), "time_end": unix(window[1])})


def expected_candles(conn) -> dict[datetime, dict[str, Any]]:
    """Per candle: the latest fetch of those that count (a window's inside its interval, a live run's all)."""
    found = []
    for landing in landings(conn, OHLCV):
        window = "time_start" in landing.params or "time_end" in landing.params
        for pair in landing.body["data"]:
            for candle in pair["quotes"]:
                opened = at_iso(candle["time_open"])
                if not window or landing.holds(opened):
                    found.append((opened, landing, candle))
    out = {}
    for opened, (landing, candle) in latest_by(found).items():
        (usd,) = [quote for quote in candle["quote"] if int(quote["convert_id"]) == 2781]
        out[opened] = {"open_usd": number(usd["open"]), "high_usd": number(usd["high"]),
                       "low_usd": number(usd["low"]), "close_usd": number(usd["close"]),
                       "volume_usd": number(usd["volume"]), "landing_id": landing.landing_id,
                       "landed_interval_start": landing.start, "landed_interval_end": landing.end}
    return out


def dex_rows(conn) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(f"SELECT * FROM marts.{DEX_MART} ORDER BY network_id, contract_address, "
                           f"candle_hour").fetchall()
    return [{k: v for k, v in row.items() if k not in BUILD_COLUMNS} for row in rows]


@dataclass
class DexBuilt:
    rounds: dict[str, tuple[dict[datetime, dict], dict[datetime, dict]]]  # run -> (mart, expected)
    incremental: list[dict]
    full_refresh: list[dict]
    builds: dict[str, dict[str, Any]]
    raw_r1: list[Landing]


@pytest.fixture(scope="module")
def dex_built(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[DexBuilt]:
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    target = tmp_path_factory.mktemp("dbt_dex")
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    before = views(conn)

    def dex_build(*extra: str) -> dict[str, Any]:
        return run_dbt(["build", *extra, *DEX_SELECTION, "--vars", VARS], env=dbt_env)

    def clear() -> None:
        for table in DEX_RAW:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]:
                conn.execute(f"TRUNCATE {table}")
        conn.execute(f"DROP TABLE IF EXISTS marts.{DEX_MART}")

    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**SETTINGS, **sandbox_connections(sandbox, SANDBOX_PLANS)}.items():
                patch.setenv(name, value)
            sandbox.reset()
            sandbox.set_limits(enforce=False)
            reset_controls(warehouse_dsn)
            with conn.transaction(), conn.cursor() as cur:
                for table in DEX_RAW:
                    ensure_raw_table(cur, table)
            clear()
            rounds, builds = {}, {}
            try:
                sandbox.set_clock(DEX_NOW)
                land_request("cmc_dex", "spot_pairs_latest", interval_start=DEX_NOW - HOUR,
                             interval_end=DEX_NOW, run_id="r1", params={"network_slug": DEX_NETWORK},
                             wanted=3)
                pages = sorted(landings(conn, "raw.cmc_dex__spot_pairs_latest"), key=lambda p: p.landing_id)
                address = pages[0].body["data"][0]["contract_address"]
                # r1: the live run (landed first: its fetch is the earlier), then both windows
                sandbox.set_clock(LIVE_DEX[1] + 5 * timedelta(minutes=1))
                land_request("cmc_dex", "pairs_ohlcv_historical", interval_start=LIVE_DEX[0],
                             interval_end=LIVE_DEX[1], run_id="r1",
                             params={"network_slug": DEX_NETWORK, "contract_address": address, "count": "8"})
                sandbox.set_clock(DEX_NOW)
                land_dex_window("r1", address, V1)
                land_dex_window("r1", address, V2)
                raw_r1 = landings(conn, OHLCV)
                builds["r1"] = dex_build()
                rounds["r1"] = ({row["candle_hour"]: row for row in dex_rows(conn)}, expected_candles(conn))
                sandbox.set_clock(DEX_CUT)
                land_dex_window("r2", address, V1)
                builds["r2"] = dex_build()
                rounds["r2"] = ({row["candle_hour"]: row for row in dex_rows(conn)}, expected_candles(conn))
            finally:
                sandbox.reset()
            incremental = dex_rows(conn)
            builds["full-refresh"] = dex_build("--full-refresh")
            full = dex_rows(conn)
        yield DexBuilt(rounds, incremental, full, builds, raw_r1)
    finally:
        clear()
        for schema, name in sorted(views(conn) - before, key=lambda v: v[0] != "intermediate"):
            conn.execute(f'DROP VIEW IF EXISTS {schema}."{name}" CASCADE')
        conn.close()


def test_dex_builds_passed(dex_built):
    for run_id, summary in dex_built.builds.items():
        assert summary["failed"] == [], (run_id, summary["failed"])
        assert f"model.cryptoflow.{DEX_MART}" in summary["seconds"], run_id


@pytest.mark.parametrize("run_id", ["r1", "r2"])
def test_dex_candles_each_once_from_the_interval_that_holds_them(dex_built, run_id):
    mart, expected = dex_built.rounds[run_id]
    assert mart.keys() == expected.keys()
    for hour, want in expected.items():
        assert {name: mart[hour][name] for name in want} == want, hour


def test_dex_window_bodies_reach_outside_their_interval(dex_built):
    r1, _ = dex_built.rounds["r1"]
    v1 = next(landing for landing in dex_built.raw_r1 if landing.start == V1[0])
    opened = [at_iso(candle["time_open"]) for candle in v1.body["data"][0]["quotes"]]
    assert min(opened) == V1[0] - SLACK and max(opened) == V1[1]  # slack before, V2's first candle after
    assert sorted(r1) == hours(V1[0], LIVE_DEX[1])  # from V1's start to the live run's last candle
    assert r1[V1[1]]["landed_interval_start"] == V2[0]
    assert r1[V1[1] - HOUR]["landed_interval_start"] == V1[0]
    # the live run's candles before its interval count (its deliberate overlap), but V2 fetched them later
    assert r1[LIVE_DEX[0] - HOUR]["landed_interval_start"] == V2[0]
    assert r1[LIVE_DEX[0]]["landed_interval_start"] == LIVE_DEX[0]


def test_dex_relanded_window_replaces_its_candles(dex_built):
    r1, _ = dex_built.rounds["r1"]
    r2, _ = dex_built.rounds["r2"]
    gone = [hour for hour in r1 if hour_of(DEX_CUT) - HOUR < hour < V2[0]]
    assert len(gone) > 24
    assert not any(hour in r2 for hour in gone)  # V2's slack candles hold two of them: they do not count
    assert all(r2[hour] == r1[hour] for hour in r1 if hour >= V2[0])
    assert dex_built.full_refresh == dex_built.incremental
