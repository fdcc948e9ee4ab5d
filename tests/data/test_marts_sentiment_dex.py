"""The sentiment and DEX marts on real Postgres with the sandbox's data, built incrementally.

The datasets the marts read are landed through the ingest code path in three steps across two UTC days,
the sandbox's clock moved for each landing (so values change), and ``dbt build --select +tag:sentiment
+tag:dex`` runs incrementally after each step:

1. ``D1 22:00``: CMC fear and greed, CoinGecko trending and /global, CMC global metrics, /coins/{id} of the
   top 3; at ``22:10`` the DEX datasets on Solana (networks, spot pairs, quotes and OHLCV of the top 3
   pairs);
2. ``D1 23:00``: the sentiment datasets and the coins again; step 1's DEX quotes interval landed again
   twenty minutes later (a re-landing: new values and observation times, the old rows gone);
3. ``D2 00:00``: the sentiment datasets; then step 2's interval of each of them and of the coins landed
   again at ``D2 00:05``: its readings, lists, snapshots and fetches move to the next hour and day, so hour
   23 of D1 loses its only trending list and CMC snapshot, D1 a fear-and-greed reading and each coin's
   latest fetch; then ``D2 04:00`` the sentiment datasets and, six hours after the first, the DEX datasets
   again (the OHLCV windows of the two DEX rounds overlap by one candle).

Then every mart is checked against values computed here from the landed JSON bodies (the raw rows as they
stand at the end, parsed with exact decimals), the incremental result against a ``--full-refresh``
rebuild row for row, and every build must pass (warnings only from the recency tests: the sandbox's clock
is months in the past).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_batch, land_dataset, plan_batches
from tests.conftest import reset_controls

pytestmark = pytest.mark.slow

D1 = datetime(2026, 3, 10, tzinfo=UTC)
D2 = D1 + timedelta(days=1)
HOUR = timedelta(hours=1)
SENTIMENT = ("cmc_fear_and_greed", "coingecko_trending", "coingecko_global", "cmc_global_metrics")
DEX_SNAPSHOTS = ("cmc_dex_networks", "cmc_dex_spot_pairs")
DEX_PER_ID = ("cmc_dex_pair_quotes", "cmc_dex_pair_ohlcv")
COINS = 3
NETWORK = "solana"
PAIRS = 3
USD = 2781
SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": "10",  # the markets listing /coins/{id} reads its ids from: one page
    "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": str(COINS),
    "CRYPTOFLOW__DEX__NETWORKS": json.dumps([NETWORK]),
    "CRYPTOFLOW__DEX__PAIRS_PER_NETWORK": str(PAIRS),
    # the calls are paced by the shared limiter at the configured rate: fast here (the sandbox's own
    # limits are switched off for the test)
    "CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": "600",
    "CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "600",
    "CRYPTOFLOW__APIS__CMC_DEX__CALLS_PER_MINUTE": "600",
}
RAW_TABLES = ("cmc__fear_and_greed_latest", "coingecko__search_trending", "coingecko__global",
              "cmc__global_metrics_quotes_latest", "coingecko__coin", "coingecko__coins_markets",
              "cmc_dex__networks_list", "cmc_dex__spot_pairs_latest", "cmc_dex__pairs_quotes_latest",
              "cmc_dex__pairs_ohlcv_historical")
MARTS = {  # model -> its grain (the order rows are compared in)
    "fct_fear_greed_daily": ("fear_greed_date",),
    "fct_trending_hourly": ("trend_hour", "coin_id"),
    "fct_community_votes_daily": ("asset_id", "vote_date"),
    "fct_global_market_hourly": ("source", "market_hour"),
    "fct_dex_pair_quotes": ("network_id", "contract_address", "observed_at"),
    "fct_dex_pair_ohlcv_hourly": ("network_id", "contract_address", "candle_hour"),
    "dim_dex_networks": ("network_id",),
    "dim_dexes": ("network_id", "dex_id"),
    "dim_dex_pairs": ("network_id", "contract_address"),
}
SELECTION = ["--select", "+tag:sentiment", "+tag:dex"]
# recurring runs test the last 3 days of now(): these rows are older, so every test checks every row
ALL_ROWS = ["--vars", "{test_since: \"'-infinity'\"}"]


@dataclass(frozen=True)
class Landing:
    """Datasets landed with the sandbox's clock at ``clock``, as a run triggered at ``run_after`` would
    (the interval of one cadence that ends then)."""

    run_id: str
    run_after: datetime
    clock: datetime
    datasets: tuple[str, ...]


# The DEX rounds run ten minutes after the hour: CMC DEX serves a candle five minutes after it closes, so a
# run in the first five minutes of an hour gets one candle less and no overlap with the run before.
DEX_AT = timedelta(minutes=10)
STEPS: tuple[tuple[Landing, ...], ...] = (
    (Landing("s1", D1 + 22 * HOUR, D1 + 22 * HOUR + timedelta(seconds=10), (*SENTIMENT, "coingecko_coins")),
     Landing("s1-dex", D1 + 22 * HOUR, D1 + 22 * HOUR + DEX_AT, (*DEX_SNAPSHOTS, *DEX_PER_ID))),
    (Landing("s2", D1 + 23 * HOUR, D1 + 23 * HOUR + timedelta(seconds=20), (*SENTIMENT, "coingecko_coins")),
     # step 1's quotes interval landed again, twenty minutes on: it corrects the values
     Landing("s1-quotes-again", D1 + 22 * HOUR, D1 + 22 * HOUR + DEX_AT + timedelta(minutes=20),
             ("cmc_dex_pair_quotes",))),
    (Landing("s3", D2, D2 + timedelta(seconds=15), SENTIMENT),
     # step 2's interval landed again after midnight: its data moves to the next hour and day
     Landing("s2-again", D1 + 23 * HOUR, D2 + timedelta(minutes=5), (*SENTIMENT, "coingecko_coins")),
     Landing("s4", D2 + 4 * HOUR, D2 + 4 * HOUR + timedelta(seconds=10), SENTIMENT),
     Landing("s4-dex", D2 + 4 * HOUR, D2 + 4 * HOUR + DEX_AT, (*DEX_SNAPSHOTS, *DEX_PER_ID))),
)


def parse(text: str) -> Any:
    """A body as the test reads it: every JSON number with a fraction or exponent an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def utc(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def hour_of(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def day_of(at: datetime) -> date:
    return at.astimezone(UTC).date()


def address(value: str | None) -> str | None:
    """The test's own canonical address: trimmed, empty to null, hexadecimal (EVM) lower-cased."""
    value = (value or "").strip() or None
    if value and value[:2].lower() == "0x" and len(value) > 2 \
            and all(c in "0123456789abcdefABCDEF" for c in value[2:]):
        return value.lower()
    return value


def usd(quotes: list[dict] | None) -> dict:
    """The element of a DEX `quote[]` whose convert_id is USD's."""
    return next(q for q in quotes or [] if int(q["convert_id"]) == USD)


def as_int(value: Any) -> int | None:
    return None if value is None else int(value)


@dataclass(frozen=True)
class Raw:
    """One raw row as it stands after every landing: the landed body and where it came from."""

    landing_id: int
    body: Any
    fetched_at: datetime
    interval_start: datetime
    interval_end: datetime


@dataclass
class Built:
    builds: list[dict[str, Any]] = field(default_factory=list)  # each dbt build's summary, timed
    after: list[dict[str, list[dict]]] = field(default_factory=list)  # every mart's rows after each build
    raw: dict[str, list[Raw]] = field(default_factory=dict)  # raw table -> its rows at the end
    incremental: dict[str, list[dict]] = field(default_factory=dict)
    full_refresh: dict[str, list[dict]] = field(default_factory=dict)
    full_refresh_seconds: float = 0.0


def connections(sandbox) -> dict[str, str]:
    plans = (("coingecko", "demo"), ("cmc", "basic"), ("cmc_dex", "basic"))
    return {f"AIRFLOW_CONN_{api.upper()}": json.dumps({
        "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
        "extra": {"plan": plan}}) for api, plan in plans}


def land(landing: Landing, sandbox) -> None:
    sandbox.set_clock(landing.clock)
    for name in landing.datasets:
        if name in ("coingecko_coins", *DEX_PER_ID):
            for batch in plan_batches(name, interval_start=None, interval_end=None,
                                      run_after=landing.run_after, run_id=landing.run_id):
                land_batch(name, batch, run_id=landing.run_id)
        else:
            land_dataset(name, interval_start=None, interval_end=None, run_after=landing.run_after,
                         run_id=landing.run_id)


def mart_rows(conn, model: str) -> list[dict]:
    """Every row of a mart in grain order, without built_xmin (the snapshot a row was built from differs
    between an incremental run and a rebuild)."""
    rows = conn.execute(f"SELECT * FROM marts.{model} ORDER BY {', '.join(MARTS[model])}").fetchall()
    return [{key: value for key, value in row.items() if key != "built_xmin"} for row in rows]


def all_marts(conn) -> dict[str, list[dict]]:
    return {model: mart_rows(conn, model) for model in MARTS}


def raw_rows(conn, table: str) -> list[Raw]:
    return [Raw(row["landing_id"], parse(row["body"]), row["fetched_at"], row["interval_start"],
                row["interval_end"])
            for row in conn.execute(f"SELECT landing_id, body, fetched_at, interval_start, interval_end "
                                    f"FROM raw.{table} ORDER BY landing_id").fetchall()]


def build(env: dict[str, str], *, first: bool) -> dict[str, Any]:
    """``dbt build`` of the selection (timed), with each node's status. The first build makes the staging
    views and runs their tests too; later ones leave the staging layer out (its views read what lands as
    it lands; its tests belong to the staging tests), which halves their time."""
    started = datetime.now(UTC)
    result = run_dbt(["build", *SELECTION, *([] if first else ["--exclude", "path:models/staging"]),
                      *ALL_ROWS], env=env)
    result["wall_seconds"] = (datetime.now(UTC) - started).total_seconds()
    results = json.loads((Path(env["DBT_TARGET_PATH"]) / "run_results.json").read_text())["results"]
    result["statuses"] = {node["unique_id"]: node["status"] for node in results}
    return result


def staging_views(conn) -> set[str]:
    return {row["table_name"] for row in conn.execute(
        "SELECT table_name FROM information_schema.views WHERE table_schema = 'staging'").fetchall()}


def drop_marts(conn) -> None:
    for model in MARTS:
        conn.execute(f'DROP TABLE IF EXISTS marts."{model}"')


def empty_raw_tables(conn) -> None:
    for table in RAW_TABLES:
        if conn.execute("SELECT to_regclass(%s) AS found", (f"raw.{table}",)).fetchone()["found"]:
            conn.execute(f"TRUNCATE raw.{table}")


def land_and_build(sandbox, conn, warehouse_dsn: str, env: dict[str, str]) -> Built:
    built = Built()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in {**SETTINGS, **connections(sandbox)}.items():
            patch.setenv(name, value)
        sandbox.reset()
        sandbox.set_limits(enforce=False)
        reset_controls(warehouse_dsn)
        try:
            for number, step in enumerate(STEPS):
                for landing in step:
                    land(landing, sandbox)
                result = build(env, first=number == 0)
                print(f"dbt build after {[x.run_id for x in step]}: {result['counts']} "
                      f"in {result['wall_seconds']:.1f} s")
                built.builds.append(result)
                built.after.append(all_marts(conn))
        finally:
            sandbox.reset()
    built.incremental = all_marts(conn)
    built.raw = {table: raw_rows(conn, table) for table in RAW_TABLES}
    started = datetime.now(UTC)
    run_dbt(["run", "--full-refresh", "--select", "tag:sentiment", "tag:dex", *ALL_ROWS], env=env)
    built.full_refresh_seconds = (datetime.now(UTC) - started).total_seconds()
    built.full_refresh = all_marts(conn)
    return built


@pytest.fixture(scope="module")
def built(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[Built]:
    """Every step landed into emptied raw tables and built incrementally from no marts, then the marts
    rebuilt with --full-refresh. The staging views and marts it made are dropped and the raw tables it
    landed in emptied afterwards, pass or fail (later tests of the session compare what they land with
    every row of a table; views on a raw table would stop another test dropping it)."""
    conn = psycopg.connect(warehouse_dsn, autocommit=True, row_factory=dict_row)
    target = tmp_path_factory.mktemp("dbt")
    env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    views_before = staging_views(conn)
    try:
        drop_marts(conn)
        empty_raw_tables(conn)
        yield land_and_build(sandbox, conn, warehouse_dsn, env)
    finally:
        drop_marts(conn)
        for name in sorted(staging_views(conn) - views_before):
            conn.execute(f'DROP VIEW IF EXISTS staging."{name}" CASCADE')
        empty_raw_tables(conn)
        conn.close()


# ------------------------------------------------------------------------------------------ expected


def latest(candidates: dict[tuple, tuple[tuple, Any]], key: tuple, order: tuple, value: Any) -> None:
    """Keep under ``key`` the value with the greatest ``order``."""
    if key not in candidates or order > candidates[key][0]:
        candidates[key] = (order, value)


def expected_fear_greed(built: Built) -> dict[tuple[date], dict]:
    readings: dict[tuple, tuple[tuple, Any]] = {}
    for raw in built.raw["cmc__fear_and_greed_latest"]:
        data = raw.body["data"]
        # one reading per update_time, from its latest fetch
        latest(readings, (utc(data["update_time"]),), (raw.fetched_at, raw.landing_id), (raw, data))
    days: dict[date, list[tuple[Raw, dict]]] = {}
    for (updated,), (_, reading) in readings.items():
        days.setdefault(day_of(updated), []).append(reading)
    out = {}
    for day, day_readings in days.items():
        raw, data = max(day_readings,
                        key=lambda r: (utc(r[1]["update_time"]), r[0].fetched_at, r[0].landing_id))
        values = [Decimal(r[1]["value"]) for r in day_readings]
        out[(day,)] = {
            "fear_greed_date": day, "landing_id": raw.landing_id, "fear_greed_value": data["value"],
            "value_classification": data["value_classification"], "observations": len(day_readings),
            "min_fear_greed_value": min(values), "max_fear_greed_value": max(values),
            "observed_at": utc(data["update_time"]),
            "landed_interval_start": min(r[0].interval_start for r in day_readings),
            "landed_interval_end": max(r[0].interval_end for r in day_readings),
        }
    return out


def expected_trending(built: Built) -> dict[tuple, dict]:
    kept: dict[tuple, tuple[tuple, Any]] = {}
    for raw in built.raw["coingecko__search_trending"]:
        for position, coin in enumerate(raw.body["coins"], start=1):
            item = coin["item"]
            key = (hour_of(raw.fetched_at), item["id"].strip().lower())
            latest(kept, key, (raw.fetched_at, raw.landing_id), {
                "trend_hour": key[0], "coin_id": key[1], "symbol": item["symbol"].strip().lower(),
                "coin_name": item["name"].strip(), "landing_id": raw.landing_id,
                "trending_score": item["score"], "trending_position": position,
                "market_cap_rank": item["market_cap_rank"], "price_btc": item["price_btc"],
                "price_usd": item["data"]["price"],
                "price_change_percentage_24h_usd": item["data"]["price_change_percentage_24h"]["usd"],
                "observed_at": raw.fetched_at, "landed_interval_start": raw.interval_start,
                "landed_interval_end": raw.interval_end})
    return {key: value for key, (_, value) in kept.items()}


def expected_votes(built: Built) -> dict[tuple, dict]:
    kept: dict[tuple, tuple[tuple, Any]] = {}
    for raw in built.raw["coingecko__coin"]:
        body = raw.body
        key = (body["id"].strip().lower(), day_of(raw.fetched_at))
        latest(kept, key, (raw.fetched_at, raw.landing_id), {
            "asset_id": key[0], "vote_date": key[1], "landing_id": raw.landing_id,
            "votes_up_pct": body["sentiment_votes_up_percentage"],
            "votes_down_pct": body["sentiment_votes_down_percentage"],
            "watchlist_portfolio_users": body["watchlist_portfolio_users"], "observed_at": raw.fetched_at,
            "landed_interval_start": raw.interval_start, "landed_interval_end": raw.interval_end})
    return {key: value for key, (_, value) in kept.items()}


def expected_global(built: Built) -> dict[tuple, dict]:
    kept: dict[tuple, tuple[tuple, Any]] = {}
    for raw in built.raw["coingecko__global"]:
        data = raw.body["data"]
        observed = datetime.fromtimestamp(data["updated_at"], UTC)
        key = ("coingecko", hour_of(observed))
        latest(kept, key, (observed, raw.fetched_at, raw.landing_id), {
            "source": "coingecko", "market_hour": key[1], "landing_id": raw.landing_id,
            "total_market_cap_usd": data["total_market_cap"]["usd"],
            "total_volume_24h_usd": data["total_volume"]["usd"],
            "btc_dominance_pct": data["market_cap_percentage"]["btc"],
            "eth_dominance_pct": data["market_cap_percentage"].get("eth"),
            "market_cap_change_24h_pct": data["market_cap_change_percentage_24h_usd"],
            "active_cryptocurrencies": data["active_cryptocurrencies"], "observed_at": observed,
            "landed_interval_start": raw.interval_start, "landed_interval_end": raw.interval_end})
    for raw in built.raw["cmc__global_metrics_quotes_latest"]:
        data = raw.body["data"]
        quote = data["quote"]["USD"]
        observed = utc(data["last_updated"])
        key = ("cmc", hour_of(observed))
        latest(kept, key, (observed, raw.fetched_at, raw.landing_id), {
            "source": "cmc", "market_hour": key[1], "landing_id": raw.landing_id,
            "total_market_cap_usd": quote["total_market_cap"],
            "total_volume_24h_usd": quote["total_volume_24h"],
            "btc_dominance_pct": data["btc_dominance"], "eth_dominance_pct": data["eth_dominance"],
            "market_cap_change_24h_pct": quote["total_market_cap_yesterday_percentage_change"],
            "active_cryptocurrencies": data["active_cryptocurrencies"], "observed_at": observed,
            "landed_interval_start": raw.interval_start, "landed_interval_end": raw.interval_end})
    return {key: value for key, (_, value) in kept.items()}


PAIR_ENDPOINTS = {"cmc_dex__pairs_quotes_latest": ("pairs_quotes_latest", 1),
                  "cmc_dex__spot_pairs_latest": ("spot_pairs_latest", 2)}
PREFERENCE = dict(PAIR_ENDPOINTS.values())  # endpoint -> its rank among equal observations


def pair_observations(built: Built) -> dict[tuple, tuple[Raw, str, dict]]:
    """(network id, address, last_updated) -> the observation kept: latest fetch, then pairs/quotes,
    then the later landing and position."""
    kept: dict[tuple, tuple[tuple, Any]] = {}
    for table, (endpoint, preference) in PAIR_ENDPOINTS.items():
        for raw in built.raw[table]:
            for position, record in enumerate(raw.body["data"]):
                key = (str(record["network_id"]), address(record["contract_address"]),
                       utc(record["last_updated"]))
                latest(kept, key, (raw.fetched_at, -preference, raw.landing_id, position),
                       (raw, endpoint, record))
    return {key: value for key, (_, value) in kept.items()}


def expected_quotes(built: Built) -> dict[tuple, dict]:
    out = {}
    for key, (raw, endpoint, record) in pair_observations(built).items():
        quote = usd(record["quote"])
        out[key] = {
            "network_id": key[0], "contract_address": key[1], "source_endpoint": endpoint,
            "landing_id": raw.landing_id, "price_usd": quote["price"],
            "price_by_quote_asset": quote["price_by_quote_asset"], "liquidity_usd": quote["liquidity"],
            "volume_24h_usd": quote["volume_24h"],
            "transactions_24h": as_int(quote["no_of_transactions_24h"]),
            "price_change_1h_pct": quote["percent_change_price_1h"],
            "price_change_24h_pct": quote["percent_change_price_24h"],
            "fully_diluted_value_usd": quote["fully_diluted_value"], "observed_at": key[2],
            "fetched_at": raw.fetched_at, "landed_interval_start": raw.interval_start,
            "landed_interval_end": raw.interval_end}
    return out


def expected_pairs(built: Built) -> dict[tuple, dict]:
    observations: dict[tuple, list[tuple]] = {}
    for (network, pair, observed), (raw, endpoint, record) in pair_observations(built).items():
        observations.setdefault((network, pair), []).append((observed, raw, endpoint, record))
    out = {}
    for key, seen in observations.items():
        # the latest observation; among equal ones the one the fact keeps (its order, as above)
        observed, raw, endpoint, record = max(
            seen, key=lambda s: (s[0], s[1].fetched_at, -PREFERENCE[s[2]], s[1].landing_id))
        quote = usd(record["quote"])
        out[key] = {
            "network_id": key[0], "contract_address": key[1], "network_slug": record["network_slug"].lower(),
            "pair_name": record["name"], "dex_id": str(record["dex_id"]), "dex_slug": record["dex_slug"],
            "base_asset_id": as_int(record["base_asset_id"]),
            "base_asset_ucid": as_int(record["base_asset_ucid"]),
            "base_asset_symbol": record["base_asset_symbol"], "base_asset_name": record["base_asset_name"],
            "base_asset_contract_address": address(record["base_asset_contract_address"]),
            "quote_asset_id": as_int(record["quote_asset_id"]),
            "quote_asset_ucid": as_int(record["quote_asset_ucid"]),
            "quote_asset_symbol": record["quote_asset_symbol"],
            "quote_asset_name": record["quote_asset_name"],
            "quote_asset_contract_address": address(record["quote_asset_contract_address"]),
            "price_usd": quote["price"], "liquidity_usd": quote["liquidity"],
            "volume_24h_usd": quote["volume_24h"],
            "created_at": utc(record["created_at"]), "launched_at": utc(record["date_launched"]),
            "first_observed_at": min(s[0] for s in seen), "last_observed_at": observed}
    return out


def expected_candles(built: Built) -> dict[tuple, dict]:
    kept: dict[tuple, tuple[tuple, Any]] = {}
    for raw in built.raw["cmc_dex__pairs_ohlcv_historical"]:
        for pair in raw.body["data"]:
            for candle in pair["quotes"]:
                quote = usd(candle["quote"])
                key = (str(pair["network_id"]), address(pair["contract_address"]), utc(candle["time_open"]))
                latest(kept, key, (raw.fetched_at, raw.landing_id), {
                    "network_id": key[0], "contract_address": key[1], "landing_id": raw.landing_id,
                    "open_usd": quote["open"], "high_usd": quote["high"], "low_usd": quote["low"],
                    "close_usd": quote["close"], "volume_usd": quote["volume"], "candle_hour": key[2],
                    "fetched_at": raw.fetched_at, "landed_interval_start": raw.interval_start,
                    "landed_interval_end": raw.interval_end})
    return {key: value for key, (_, value) in kept.items()}


def check(rows: list[dict], expected: dict[tuple, dict], grain: tuple[str, ...]) -> None:
    """The mart's rows are the expected rows (by grain), each with the expected values."""
    got = {tuple(row[column] for column in grain): row for row in rows}
    assert len(got) == len(rows), "one row per grain"
    assert set(got) == set(expected)
    for key, values in expected.items():
        row = got[key]
        assert {column: row[column] for column in values} == values, key


# ------------------------------------------------------------------------------------------ tests


def test_every_incremental_build_passes(built):
    for result in built.builds:
        assert result["failed"] == [], result
        counts = result["counts"]
        assert set(counts) <= {"success", "pass", "warn"}, counts
        warned = [node for node, status in result["statuses"].items() if status == "warn"]
        assert all("recent_within" in node for node in warned), warned
        models = {node.split(".")[-1] for node in result["statuses"] if node.startswith("model.")}
        assert set(MARTS) <= models
        units = [node for node in result["statuses"] if node.startswith("unit_test.")]
        assert len(units) >= 2, units
    print("dbt builds:", ", ".join(f"{result['wall_seconds']:.1f} s" for result in built.builds))


def test_fear_greed_daily_the_latest_reading_of_each_day(built):
    expected = expected_fear_greed(built)
    assert set(expected) == {(D1.date(),), (D2.date(),)}
    check(built.incremental["fct_fear_greed_daily"], expected, MARTS["fct_fear_greed_daily"])
    # after step 2 D1 had the readings of 22:00 and 23:00; step 2's re-landing moved the latter to D2
    before = {row["fear_greed_date"]: row for row in built.after[1]["fct_fear_greed_daily"]}
    assert before[D1.date()]["observations"] == 2 and expected[(D1.date(),)]["observations"] == 1
    assert all(0 <= row["fear_greed_value"] <= 100 for row in built.incremental["fct_fear_greed_daily"])


def test_trending_hourly_the_latest_list_of_each_hour(built):
    expected = expected_trending(built)
    check(built.incremental["fct_trending_hourly"], expected, MARTS["fct_trending_hourly"])
    hours = {key[0] for key in expected}
    assert hours == {D1 + 22 * HOUR, D2, D2 + 4 * HOUR}
    # hour 23 of D1 held step 2's list until its re-landing moved the list to the next hour
    assert {row["trend_hour"] for row in built.after[1]["fct_trending_hourly"]} >= {D1 + 23 * HOUR}


def test_community_votes_daily_the_latest_fetch_of_each_coin_and_day(built):
    expected = expected_votes(built)
    check(built.incremental["fct_community_votes_daily"], expected, MARTS["fct_community_votes_daily"])
    assert {key[1] for key in expected} == {D1.date(), D2.date()}
    assert len({key[0] for key in expected}) == COINS
    for row in built.incremental["fct_community_votes_daily"]:
        assert abs(row["votes_up_pct"] + row["votes_down_pct"] - 100) <= Decimal("0.1")
    # D1's votes came from step 2's fetches until their re-landing moved them to D2: step 1's again
    step1 = {raw.landing_id for raw in built.raw["coingecko__coin"] if raw.fetched_at == STEPS[0][0].clock}
    assert step1
    assert {row["landing_id"] for row in built.incremental["fct_community_votes_daily"]
            if row["vote_date"] == D1.date()} <= step1


def test_global_market_hourly_per_source_and_hour(built):
    expected = expected_global(built)
    check(built.incremental["fct_global_market_hourly"], expected, MARTS["fct_global_market_hourly"])
    assert {key[0] for key in expected} == {"coingecko", "cmc"}
    cmc_hours = {key[1] for key in expected if key[0] == "cmc"}
    assert cmc_hours == {D1 + 22 * HOUR, D2, D2 + 4 * HOUR}
    assert ("cmc", D1 + 23 * HOUR) in {(r["source"], r["market_hour"])
                                       for r in built.after[1]["fct_global_market_hourly"]}
    for row in built.incremental["fct_global_market_hourly"]:
        assert 0 <= row["btc_dominance_pct"] <= 100


def test_dex_dimensions(built):
    networks: dict[str, tuple[tuple, Any]] = {}
    for raw in built.raw["cmc_dex__networks_list"]:
        for record in raw.body["data"]:
            latest(networks, (str(record["id"]),), (raw.fetched_at, raw.landing_id), (raw, record))
    got = {row["network_id"]: row for row in built.incremental["dim_dex_networks"]}
    assert set(got) == {key for (key,) in networks}
    for (key,), (_, (raw, record)) in networks.items():
        assert got[key]["network_slug"] == record["network_slug"].lower()
        assert got[key]["network_name"] == record["name"]
        assert got[key]["native_cmc_id"] == as_int(record["cryptocurrencyId"])
        assert got[key]["wrapped_token_cmc_id"] == as_int(record["wrappedTokenId"])
        assert got[key]["pool_explorer_url"] == record["poolExplorerUrl"]
        assert got[key]["listed_at"] == raw.fetched_at
    (solana,) = [key for (key,), (_, (_, record)) in networks.items()
                 if record["network_slug"].lower() == NETWORK]
    pairs = expected_pairs(built)
    check(built.incremental["dim_dex_pairs"], pairs, MARTS["dim_dex_pairs"])
    assert len(pairs) > 100 and {key[0] for key in pairs} == {solana}
    dexes: dict[tuple, list[dict]] = {}
    for row in pairs.values():
        dexes.setdefault((row["network_id"], row["dex_id"]), []).append(row)
    got_dexes = {(row["network_id"], row["dex_id"]): row for row in built.incremental["dim_dexes"]}
    assert set(got_dexes) == set(dexes) and len(dexes) >= 2
    for key, members in dexes.items():
        assert got_dexes[key]["pairs"] == len(members)
        assert {got_dexes[key]["dex_slug"]} == {row["dex_slug"] for row in members}
        assert got_dexes[key]["last_observed_at"] == max(r["last_observed_at"] for r in members)


def test_dex_pair_quotes_every_observation_once(built):
    expected = expected_quotes(built)
    check(built.incremental["fct_dex_pair_quotes"], expected, MARTS["fct_dex_pair_quotes"])
    endpoints = {row["source_endpoint"] for row in expected.values()}
    assert endpoints == {"pairs_quotes_latest", "spot_pairs_latest"}
    # step 1's quotes were replaced by their re-landing twenty minutes on, with later observations: the
    # observations step 1 made of the top pairs are now those its spot pairs made at the same instant
    first = {(r["network_id"], r["contract_address"], r["observed_at"])
             for r in built.after[0]["fct_dex_pair_quotes"] if r["source_endpoint"] == "pairs_quotes_latest"}
    assert len(first) == PAIRS
    assert {expected[key]["source_endpoint"] for key in first} == {"spot_pairs_latest"}
    again = STEPS[1][1].clock  # step 1's quotes landed again
    relanded = [row for row in expected.values() if row["fetched_at"] == again]
    assert len(relanded) == PAIRS and {row["source_endpoint"] for row in relanded} == {"pairs_quotes_latest"}


def test_dex_ohlcv_hourly_the_overlapping_candle_once_from_the_later_fetch(built):
    expected = expected_candles(built)
    check(built.incremental["fct_dex_pair_ohlcv_hourly"], expected, MARTS["fct_dex_pair_ohlcv_hourly"])
    fetched: dict[tuple, list[datetime]] = {}
    for raw in built.raw["cmc_dex__pairs_ohlcv_historical"]:
        for pair in raw.body["data"]:
            for candle in pair["quotes"]:
                key = (str(pair["network_id"]), address(pair["contract_address"]), utc(candle["time_open"]))
                fetched.setdefault(key, []).append(raw.fetched_at)
    rounds = sorted({at for ats in fetched.values() for at in ats})
    assert len(rounds) == 2 and rounds[1] - rounds[0] == timedelta(hours=6)
    # each round holds the 7 complete hours before it: a pair fetched in both shares one candle with
    # itself, the hour before the first round, kept from the later fetch
    overlap = {key for key, ats in fetched.items() if len(ats) == 2}
    assert overlap and {key[2] for key in overlap} == {hour_of(rounds[0]) - HOUR}
    assert all(expected[key]["fetched_at"] == rounds[1] for key in overlap)
    for row in expected.values():
        assert row["low_usd"] <= row["close_usd"] <= row["high_usd"]


def test_incremental_equals_a_full_refresh(built):
    assert [model for model in MARTS if not built.incremental[model]] == []
    assert [model for model in MARTS if built.incremental[model] != built.full_refresh[model]] == []
    print(f"full refresh of the sentiment and DEX marts: {built.full_refresh_seconds:.1f} s")
