"""CoinGecko's hourly history (/coins/{id}/market_chart/range) in the prices marts, on real Postgres, real dbt
and the API sandbox.

Two back-to-back 3-day windows W1 and W2 land for 3 coins through the ingest code path
(``land_request``), with the sandbox's clock after them, and a /coins/markets snapshot lands for one hour
inside W2; after each round ``dbt build --select +fct_price_hourly+ +fct_price_consolidated_hourly``
(fct_price_hourly, what it reads, everything downstream of it, and the identity the consolidated mart
joins) runs incrementally. The rounds:

- r1, jitter 0 (hourly points exactly on the hour): W1 and W2, and the snapshot. The point at W1's end
  is in both windows' bodies (``to`` and ``from`` are inclusive at the API) and must count once, in W2;
- r2, jitter 30 s: W1 again (the same request: its rows are replaced), every point moved a few seconds,
  so every value differs;
- r3: W2 again with the clock inside it, so its body stops at the clock and the hours after it must
  leave the marts; then, jitter 0 again, one day inside W1 landed for one coin under an interval of its
  own, which supersedes that coin's W1 points of the day (a later fetch speaks for the span it covers).

After each build fct_price_hourly is checked against values worked out here from the raw JSON bodies
(exact decimals, not from SQL): every hour of both windows once per coin, the boundary hour from W2, OHLC
and close figures; then a --full-refresh rebuild of the marts must equal the incremental result row for
row.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
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
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
COINS = ("bitcoin", "ethereum", "tether")
D0 = datetime(2026, 10, 5, tzinfo=UTC)
W1 = (D0, D0 + 3 * DAY)
W2 = (W1[1], W1[1] + 3 * DAY)
NOW = W2[1] + 2 * DAY + 12 * HOUR  # the sandbox's clock for history: after both windows
SNAPSHOT = D0 + 4 * DAY + 10 * HOUR  # the hour of the /coins/markets landing (inside W2)
CUT = D0 + 5 * DAY + 6 * HOUR + 30 * timedelta(minutes=1)  # r3's clock while W2 lands again
OVERLAP = (D0 + DAY, D0 + 2 * DAY)  # r3: one day inside W1, for OVERLAP_COIN only
OVERLAP_COIN = "bitcoin"
SNAPSHOT_TOP = 5

CHART = "raw.coingecko__coins_market_chart_range"
RAW_TABLES = (CHART, "raw.coingecko__coins_markets", "raw.coingecko__coins_list", "raw.coingecko__coin",
              "raw.cmc__cryptocurrency_listings_latest", "raw.cmc__cryptocurrency_map",
              "raw.cmc__cryptocurrency_info")
MARTS = {  # mart -> its grain (the order of a comparison)
    "fct_price_hourly": "asset_id, price_hour",
    "fct_cmc_price_hourly": "cmc_id, price_hour",
    "fct_price_daily": "asset_key, source, price_date",
    "fct_price_consolidated_hourly": "asset_id, price_hour",
    "fct_market_breadth_daily": "price_date",
}
BUILD_COLUMNS = {"built_xmin", "built_xid"}  # which snapshot and transaction wrote a row
VARS = json.dumps({"test_since": "'-infinity'", "breadth_top_n": 3})
# fct_price_hourly, what it reads and what reads it, and what those read (the consolidated mart's identity);
# tests only of what is built (the identity's metadata tests belong to the metadata marts' builds)
SELECTION = ["--select", "+fct_price_hourly+", "+fct_price_consolidated_hourly", "--indirect-selection",
             "cautious"]
SETTINGS = {"CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": "600"}


def parse(text: str) -> Any:
    """A body as the test reads it: every JSON number with a fraction or exponent an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def number(value: Any) -> Decimal | None:
    return None if value is None else Decimal(value)


def at_ms(ms: int) -> datetime:
    return EPOCH + timedelta(milliseconds=ms)


def us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly."""
    return (moment - EPOCH) // timedelta(microseconds=1)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def hours(start: datetime, end: datetime) -> list[datetime]:
    return [start + n * HOUR for n in range((end - start) // HOUR)]


# ------------------------------------------------------------------------------------------ landing


def land_window(run_id: str, window: tuple[datetime, datetime], coins=COINS) -> None:
    for coin in coins:
        start, end = window
        land_request("coingecko", "coins_market_chart_range", interval_start=start, interval_end=end,
                     run_id=run_id, params={"from": int(start.timestamp()), "to": int(end.timestamp())},
                     path_values={"id": coin})


def land_round(run_id: str, sandbox) -> None:
    if run_id == "r1":
        sandbox.set_settings(cg_intraday_jitter_s=0)
        sandbox.set_clock(SNAPSHOT + 20 * timedelta(minutes=1))
        land_request("coingecko", "coins_markets", interval_start=SNAPSHOT, interval_end=SNAPSHOT + HOUR,
                     run_id=run_id, params={"vs_currency": "usd"}, wanted=SNAPSHOT_TOP)
        sandbox.set_clock(NOW)
        land_window(run_id, W1)
        land_window(run_id, W2)
    elif run_id == "r2":
        sandbox.set_settings(cg_intraday_jitter_s=30)
        sandbox.set_clock(NOW + HOUR)
        land_window(run_id, W1)
    else:
        sandbox.set_clock(CUT)
        land_window(run_id, W2)
        sandbox.set_settings(cg_intraday_jitter_s=0)
        sandbox.set_clock(NOW + 2 * HOUR)
        land_window(run_id, OVERLAP, coins=(OVERLAP_COIN,))


# ------------------------------------------------------------------------------ expected, from raw


@dataclass(frozen=True)
class Observation:
    asset: str
    observed: datetime
    fetched: datetime
    landing_id: int
    kind: int  # 1 snapshot, 2 history point: the order of a tie
    interval_start: datetime
    price: Decimal
    market_cap: Decimal | None
    volume: Decimal | None
    rank: int | None


@dataclass(frozen=True)
class Window:
    landing_id: int
    coin: str
    fetched: datetime
    start: datetime
    end: datetime
    requested_from: datetime
    requested_to: datetime
    body: dict

    def covers(self, moment: datetime) -> bool:
        """The data interval, half-open, cut to the requested window (inclusive at both ends)."""
        return self.start <= moment < self.end and self.requested_from <= moment <= self.requested_to


def windows(conn) -> list[Window]:
    out = []
    for landing_id, endpoint, fetched, start, end, params, body in conn.execute(
            f"SELECT landing_id, endpoint, fetched_at, interval_start, interval_end, request_params, body "
            f"FROM {CHART}"):
        assert params["vs_currency"] == "usd"
        coin = endpoint.removeprefix("/coins/").removesuffix("/market_chart/range")
        assert endpoint == f"/coins/{coin}/market_chart/range"
        out.append(Window(landing_id, coin, fetched, start, end, datetime.fromtimestamp(params["from"], UTC),
                          datetime.fromtimestamp(params["to"], UTC), parse(body)))
    return out


def history_observations(conn) -> list[Observation]:
    """Each window's points inside its span that no later fetch of the coin covers."""
    landed = windows(conn)
    out = []
    for w in landed:
        later = [o for o in landed
                 if o.coin == w.coin and (o.fetched, o.landing_id) > (w.fetched, w.landing_id)]
        prices, caps, volumes = w.body["prices"], w.body["market_caps"], w.body["total_volumes"]
        assert len(prices) == len(caps) == len(volumes)
        for (ms, price), (cap_ms, cap), (volume_ms, volume) in zip(prices, caps, volumes, strict=True):
            assert ms == cap_ms == volume_ms
            moment = at_ms(ms)
            if w.covers(moment) and not any(o.covers(moment) for o in later):
                out.append(Observation(w.coin, moment, w.fetched, w.landing_id, 2, w.start, number(price),
                                       number(cap), number(volume), None))
    return out


def snapshot_observations(conn) -> list[Observation]:
    out = []
    for landing_id, fetched, start, body in conn.execute(
            "SELECT landing_id, fetched_at, interval_start, body FROM raw.coingecko__coins_markets"):
        for coin in parse(body):
            if coin["current_price"] is not None:
                out.append(Observation(
                    coin["id"], datetime.fromisoformat(coin["last_updated"].replace("Z", "+00:00")), fetched,
                    landing_id, 1, start, number(coin["current_price"]), number(coin["market_cap"]),
                    number(coin["total_volume"]), coin["market_cap_rank"]))
    return out


def expected_hourly(conn) -> dict[tuple[str, datetime], dict[str, Any]]:
    """Per (asset, hour of the observation's own time): OHLC, the close's figures, the intervals."""
    by_hour: dict[tuple[str, datetime], list[Observation]] = {}
    for obs in (*snapshot_observations(conn), *history_observations(conn)):
        by_hour.setdefault((obs.asset, hour_of(obs.observed)), []).append(obs)
    out = {}
    for key, group in by_hour.items():
        # ties on the time go to the latest fetch, then the later landing, then the snapshot
        first = min(group, key=lambda o: (us(o.observed), -us(o.fetched), -o.landing_id, o.kind))
        last = min(group, key=lambda o: (-us(o.observed), -us(o.fetched), -o.landing_id, o.kind))
        out[key] = {"open_usd": first.price, "high_usd": max(o.price for o in group),
                    "low_usd": min(o.price for o in group), "price_usd": last.price,
                    "market_cap_usd": last.market_cap, "volume_24h_usd": last.volume,
                    "market_cap_rank": last.rank, "observed_at": last.observed,
                    "landed_intervals": sorted({o.interval_start for o in group})}
    return out


# ------------------------------------------------------------------------------------------ the build


@dataclass
class Round:
    expected: dict[tuple[str, datetime], dict[str, Any]]
    mart: dict[tuple[str, datetime], dict[str, Any]]
    build: dict[str, Any]
    history_prices: dict[tuple[str, datetime], Decimal]  # (coin, hour) -> the history point's price


@dataclass
class Built:
    rounds: dict[str, Round]
    incremental: dict[str, list[dict]]
    full_refresh: dict[str, list[dict]]
    builds: dict[str, dict[str, Any]]
    w1_bodies_r1: list[dict]  # r1's W1 bodies, as landed


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
    for mart in MARTS:
        conn.execute(f"DROP TABLE IF EXISTS marts.{mart}")


def build(env: dict[str, str], *extra: str) -> dict[str, Any]:
    began = time.monotonic()
    summary = run_dbt(["build", *extra, *SELECTION, "--vars", VARS], env=env)
    summary["wall_seconds"] = round(time.monotonic() - began, 1)
    return summary


@pytest.fixture(scope="module")
def built(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[tuple[Built, psycopg.Connection]]:
    """Every round landed into emptied raw tables, each followed by an incremental build; then a full
    refresh. Afterwards the raw tables are emptied again, and the marts and the views this made dropped
    (a later test's marts must not hold this history)."""
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    target = tmp_path_factory.mktemp("dbt")
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    before = views(conn)
    started = time.monotonic()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**SETTINGS, **sandbox_connections(sandbox, SANDBOX_PLANS[:2])}.items():
                patch.setenv(name, value)
            sandbox.reset()
            sandbox.set_limits(enforce=False)
            reset_controls(warehouse_dsn)
            with conn.transaction(), conn.cursor() as cur:  # before the catalog registers the dataset
                ensure_raw_table(cur, CHART)
            empty(conn)
            rounds, builds, w1_bodies = {}, {}, []
            try:
                for run_id in ("r1", "r2", "r3"):
                    land_round(run_id, sandbox)
                    if run_id == "r1":
                        w1_bodies = [json.loads(body) for (body,) in conn.execute(
                            f"SELECT body FROM {CHART} WHERE interval_start = %s", (W1[0],))]
                    builds[run_id] = build(dbt_env)
                    rows = mart_rows(conn, "fct_price_hourly")
                    rounds[run_id] = Round(
                        expected_hourly(conn), {(r["asset_id"], r["price_hour"]): r for r in rows},
                        builds[run_id],
                        {(o.asset, hour_of(o.observed)): o.price for o in history_observations(conn)})
            finally:
                sandbox.reset()
            incremental = {mart: mart_rows(conn, mart) for mart in MARTS}
            builds["full-refresh"] = build(dbt_env, "--full-refresh")
            full = {mart: mart_rows(conn, mart) for mart in MARTS}
        print({run_id: (b["counts"], b["wall_seconds"]) for run_id, b in builds.items()},
              f"total {round(time.monotonic() - started, 1)} s")
        yield Built(rounds, incremental, full, builds, w1_bodies), conn
    finally:
        for mart in MARTS:
            conn.execute(f"DROP TABLE IF EXISTS marts.{mart}")
        for schema, name in sorted(views(conn) - before, key=lambda v: v[0] != "intermediate"):
            conn.execute(f'DROP VIEW IF EXISTS {schema}."{name}" CASCADE')
        empty(conn)
        conn.close()


# ------------------------------------------------------------------------------------------- tests


def test_every_build_passed(built):
    done, _ = built
    for run_id, summary in done.builds.items():
        assert summary["failed"] == [], (run_id, summary["failed"])
        assert summary["counts"].get("pass", 0) >= 40, (run_id, summary["counts"])
    for mart in MARTS:
        assert f"model.cryptoflow.{mart}" in done.builds["r3"]["seconds"], mart


@pytest.mark.parametrize("run_id", ["r1", "r2", "r3"])
def test_the_hourly_mart_holds_the_raw_points_values(built, run_id):
    done, _ = built
    state = done.rounds[run_id]
    assert state.mart.keys() == state.expected.keys()
    for key, want in state.expected.items():
        row = state.mart[key]
        assert {name: row[name] for name in want} == want, key


def test_every_hour_of_both_windows_once_per_coin_the_boundary_in_the_later_interval(built):
    done, _ = built
    r1 = done.rounds["r1"]
    boundary_ms = int(W1[1].timestamp()) * 1000
    # the API answered W1 with the point at its `to`, which W2 (from = the same instant) holds too
    assert len(done.w1_bodies_r1) == len(COINS)
    assert all(body["prices"][-1][0] == boundary_ms for body in done.w1_bodies_r1)
    every_hour = hours(W1[0], W2[1])
    for coin in COINS:
        assert sorted(hour for asset, hour in r1.mart if asset == coin) == every_hour, coin
        row = r1.mart[(coin, W1[1])]
        assert row["observed_at"] == W1[1] and row["landed_intervals"] == [W2[0]], coin
        assert r1.mart[(coin, W1[1] - HOUR)]["landed_intervals"] == [W1[0]], coin
    # the snapshot's hour: the history point opens it, the snapshot (later in the hour) closes it
    for coin in COINS:
        row = r1.mart[(coin, SNAPSHOT)]
        assert row["observed_at"] > SNAPSHOT and row["market_cap_rank"] is not None, coin
        assert row["landed_intervals"] == sorted([W2[0], SNAPSHOT]), coin
        assert row["open_usd"] == r1.history_prices[(coin, SNAPSHOT)], coin


def test_a_relanded_window_with_other_values_corrects_the_mart(built):
    done, _ = built
    r1, r2 = done.rounds["r1"], done.rounds["r2"]
    w1_hours = [(coin, hour) for coin in COINS for hour in hours(*W1)]
    changed = sum(r1.mart[key]["price_usd"] != r2.mart[key]["price_usd"] for key in w1_hours)
    assert changed > 0.9 * len(w1_hours), "the re-landed W1 brought other prices"
    moved = sum(r2.mart[key]["observed_at"] != key[1] for key in w1_hours)
    assert moved > 0.9 * len(w1_hours), "W1's points are off the hour now (jitter)"
    for coin in COINS:  # W2 and the boundary hour are as they were
        for hour in hours(*W2):
            assert r2.mart[(coin, hour)] == r1.mart[(coin, hour)], (coin, hour)


def test_hours_a_relanded_window_no_longer_holds_leave_the_mart(built):
    done, _ = built
    r2, r3 = done.rounds["r2"], done.rounds["r3"]
    kept, gone = hours(W2[0], hour_of(CUT) + HOUR), hours(hour_of(CUT) + HOUR, W2[1])
    for coin in COINS:
        assert all((coin, hour) in r2.mart for hour in gone), coin
        assert not any((coin, hour) in r3.mart for hour in gone), coin
        assert all((coin, hour) in r3.mart for hour in kept), coin
    # a later fetch speaks for the span it covers: the overlap day is its coin's from the overlap landing
    for hour in hours(*OVERLAP):
        assert r3.mart[(OVERLAP_COIN, hour)]["landed_intervals"] == [OVERLAP[0]], hour
        assert r3.mart[(OVERLAP_COIN, hour)]["observed_at"] == hour, hour  # jitter 0 again
        for coin in set(COINS) - {OVERLAP_COIN}:
            assert r3.mart[(coin, hour)] == r2.mart[(coin, hour)], (coin, hour)


def test_incremental_marts_equal_a_full_refresh(built):
    done, _ = built
    for mart in MARTS:
        assert done.full_refresh[mart] == done.incremental[mart], mart
    assert len(done.incremental["fct_price_hourly"]) > len(COINS) * 100
    assert len(done.incremental["fct_price_daily"]) >= len(COINS) * 6
