"""dbt staging for every CoinGecko raw table, on real Postgres with the sandbox's data.

Every CoinGecko dataset is landed through the ingest code path (``land_dataset`` for the snapshots,
``plan_batches`` + ``land_batch`` for ``/coins/{id}`` of the top 5), in two rounds with the sandbox's
clock moved six months between them; then ``dbt build`` of the CoinGecko sources and staging models
must pass. The staging models' typed values are checked against the sandbox's bodies, fetched directly
at the same frozen clock and parsed here: numbers as exact decimals, timestamps as UTC instants, the
dimensions' latest fetch per key (the later round wins; a key missing from it keeps its earlier row),
the observation models' one row per landing.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_batch, land_dataset, plan_batches
from tests.conftest import reset_controls
from tests.helpers import sandbox_pages

pytestmark = pytest.mark.slow

ROUNDS = {"r1": datetime(2024, 3, 1, 9, 40, tzinfo=UTC), "r2": datetime(2024, 9, 2, 10, 20, tzinfo=UTC)}
TOP_N = 10   # coingecko_markets: one page
COINS = 5    # coingecko_coins: /coins/{id} of the top 5
# dataset -> (endpoint, params over the endpoint's defaults, wanted)
SNAPSHOTS = {
    "coingecko_markets": ("coins_markets", {"vs_currency": "usd"}, TOP_N),
    "coingecko_global": ("global", {}, None),
    "coingecko_trending": ("search_trending", {}, None),
    "coingecko_exchanges": ("exchanges", {}, None),
    "coingecko_coins_list": ("coins_list", {}, None),
}
MODELS = ("stg_coingecko__coins_markets", "stg_coingecko__global_metrics", "stg_coingecko__trending_coins",
          "stg_coingecko__exchanges", "stg_coingecko__coins", "stg_coingecko__coin_platforms",
          "stg_coingecko__coin_details")
RAW_TABLES = ("coins_markets", "global", "search_trending", "exchanges", "coins_list", "coin")
SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N),
    "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": str(COINS),
    # the calls are paced by the shared limiter at the configured rate: fast here (the sandbox's own
    # limits are switched off for the test)
    "CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": "600",
}


def parse(text: str) -> Any:
    """A body as the test reads it: every JSON number with a fraction or exponent an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def utc(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def address(value: str | None) -> str | None:
    """The test's own normalisation of a contract address (see stg_coingecko__coin_platforms): trimmed,
    empty to None, hexadecimal lower-cased, anything else (base58) as sent."""
    value = (value or "").strip() or None
    return value.lower() if value and re.fullmatch(r"0[xX][0-9a-fA-F]+", value) else value


@dataclass
class Round:
    """What one round served: the sandbox's bodies (fetched directly) and the landing ids it wrote."""

    at: datetime
    pages: dict[str, list[str]] = field(default_factory=dict)  # raw table -> bodies
    landing_ids: dict[str, list[int]] = field(default_factory=dict)  # raw table -> landing ids
    coin_landing: dict[str, int] = field(default_factory=dict)  # coin id -> its /coins/{id} landing id

    def bodies(self, table: str) -> list[Any]:
        return [parse(text) for text in self.pages[table]]

    def records(self, table: str) -> list[Any]:
        return [record for body in self.bodies(table) for record in body]


def land_round(sandbox, run_id: str, at: datetime) -> Round:
    """Freeze the sandbox at ``at``; land every CoinGecko dataset as runs triggered then would (the
    interval of one cadence that ends at ``at``); fetch the same requests directly."""
    sandbox.set_clock(at)
    served = Round(at)
    for name, (endpoint, params, wanted) in SNAPSHOTS.items():
        land_dataset(name, interval_start=None, interval_end=None, run_after=at, run_id=run_id)
        served.pages[endpoint] = sandbox_pages(sandbox, "coingecko", "demo", endpoint, params,
                                               wanted=wanted)[0]
    batches = plan_batches("coingecko_coins", interval_start=None, interval_end=None, run_after=at,
                           run_id=run_id)
    served.pages["coin"] = []
    for batch in batches:
        land_batch("coingecko_coins", batch, run_id=run_id)
        for call in batch["calls"]:
            served.pages["coin"] += sandbox_pages(sandbox, "coingecko", "demo", "coin",
                                                  path_values=call["path_values"])[0]
    top = [record["id"] for record in served.records("coins_markets")[:COINS]]
    assert [parse(body)["id"] for body in served.pages["coin"]] == top
    return served


@pytest.fixture(scope="module")
def rounds(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[dict[str, Round]]:
    """Two rounds landed into emptied CoinGecko raw tables, then the CoinGecko sources and staging models
    built and tested by dbt. The staging views this creates are dropped afterwards, pass or fail (views on
    the raw tables would stop a later test from dropping them)."""
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    before = views(conn)
    try:
        yield land_and_build(sandbox, conn, warehouse_dsn, tmp_path_factory.mktemp("dbt"))
    finally:
        for name in sorted(views(conn) - before):
            conn.execute(f'DROP VIEW IF EXISTS staging."{name}"')
        conn.close()


def land_and_build(sandbox, conn, warehouse_dsn: str, target) -> dict[str, Round]:
    env = dict(SETTINGS)
    env["AIRFLOW_CONN_COINGECKO"] = json.dumps({
        "conn_type": "http", "host": sandbox.base_url("coingecko", "demo"),
        "password": sandbox.key("coingecko", "demo"), "extra": {"plan": "demo"}})
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        sandbox.reset()
        sandbox.set_limits(enforce=False)
        reset_controls(warehouse_dsn)
        try:
            for table in RAW_TABLES:
                if conn.execute("SELECT to_regclass(%s)", (f"raw.coingecko__{table}",)).fetchone()[0]:
                    conn.execute(f"TRUNCATE raw.coingecko__{table}")
            served = {run_id: land_round(sandbox, run_id, at) for run_id, at in ROUNDS.items()}
        finally:
            sandbox.reset()
    for run_id, landed in served.items():
        for table in RAW_TABLES:
            rows = conn.execute(f"SELECT landing_id, body FROM raw.coingecko__{table} WHERE run_id = %s "
                                "ORDER BY landing_id", (run_id,)).fetchall()
            landed.landing_ids[table] = [row[0] for row in rows]
            if table == "coin":
                landed.coin_landing = {parse(row[1])["id"]: row[0] for row in rows}
            # what landed is what the sandbox serves, byte for byte
            assert sorted(row[1] for row in rows) == sorted(landed.pages[table]), (run_id, table)
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    result = run_dbt(["build", "--select", "source:coingecko", "staging.coingecko",
                      "--indirect-selection", "cautious"], env=dbt_env)
    assert result["failed"] == [], result
    assert {f"model.cryptoflow.{name}" for name in MODELS} <= set(result["seconds"]), result
    assert result["counts"].get("pass", 0) >= 100, result
    run_dbt(["source", "freshness", "--select", "source:coingecko"], env=dbt_env)
    return served


def views(conn) -> set[str]:
    return {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.views WHERE table_schema = 'staging' "
        "AND table_name LIKE 'stg\\_coingecko\\_\\_%'").fetchall()}


def rows(warehouse_dsn: str, query: str, *params: Any) -> list[dict[str, Any]]:
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        return conn.execute(query, params).fetchall()


def staged(warehouse_dsn: str, model: str, order: str = "landing_id") -> list[dict[str, Any]]:
    return rows(warehouse_dsn, f"SELECT * FROM staging.{model} ORDER BY {order}")


def landing_of(rounds: dict[str, Round], table: str) -> dict[int, str]:
    """landing id -> the round (run id) that landed it."""
    return {landing_id: run_id for run_id, landed in rounds.items()
            for landing_id in landed.landing_ids[table]}


def test_global_metrics_one_row_per_landing_typed(rounds, warehouse_dsn):
    got = {row["landing_id"]: row for row in staged(warehouse_dsn, "stg_coingecko__global_metrics")}
    assert sorted(got) == sorted(i for r in rounds.values() for i in r.landing_ids["global"])
    for landed in rounds.values():
        (landing_id,) = landed.landing_ids["global"]
        (body,) = landed.bodies("global")
        data, row = body["data"], got[landing_id]
        assert row["total_market_cap_usd"] == data["total_market_cap"]["usd"]
        assert row["total_volume_24h_usd"] == data["total_volume"]["usd"]
        assert row["btc_dominance_percentage"] == data["market_cap_percentage"]["btc"]
        assert row["eth_dominance_percentage"] == data["market_cap_percentage"]["eth"]
        assert row["market_cap_change_percentage_24h_usd"] == data["market_cap_change_percentage_24h_usd"]
        assert row["active_cryptocurrencies"] == data["active_cryptocurrencies"]
        assert row["active_markets"] == data["markets"]
        assert row["ended_icos"] == data["ended_icos"]
        assert row["updated_at"] == datetime.fromtimestamp(data["updated_at"], UTC)
        assert row["fetched_at"] == landed.at
        assert row["interval_end"] == landed.at


def test_trending_coins_every_coin_of_every_landing_in_order(rounds, warehouse_dsn):
    got = staged(warehouse_dsn, "stg_coingecko__trending_coins", "landing_id, position_in_list")
    for landed in rounds.values():
        (landing_id,) = landed.landing_ids["search_trending"]
        (body,) = landed.bodies("search_trending")
        items = [coin["item"] for coin in body["coins"]]
        mine = [row for row in got if row["landing_id"] == landing_id]
        assert len(items) == 15
        assert [row["coin_id"] for row in mine] == [item["id"].strip().lower() for item in items]
        for row, item in zip(mine, items, strict=True):
            assert row["symbol"] == item["symbol"].strip().lower()
            assert row["coin_numeric_id"] == item["coin_id"]
            assert row["score"] == item["score"]
            assert row["market_cap_rank"] == item["market_cap_rank"]
            assert row["price_btc"] == item["price_btc"]
            assert row["price_usd"] == item["data"]["price"]
            change = item["data"]["price_change_percentage_24h"]["usd"]
            assert row["price_change_percentage_24h_usd"] == change
            assert row["fetched_at"] == landed.at
    assert len(got) == 15 * len(rounds)


def test_exchanges_latest_fetch_per_exchange(rounds, warehouse_dsn):
    got = {row["exchange_id"]: row for row in staged(warehouse_dsn, "stg_coingecko__exchanges")}
    first, last = (dict((r["id"], r) for r in rounds[run].records("exchanges")) for run in ROUNDS)
    assert len(last) > 100, "more than one page"
    assert set(got) == set(first) | set(last)
    changed = [key for key in last if first.get(key, {}).get("trade_volume_24h_btc") !=
               last[key]["trade_volume_24h_btc"]]
    assert changed, "the rounds serve different volumes: the dedupe has something to choose"
    later = landing_of(rounds, "exchanges")
    for key, row in got.items():
        record, run_id = (last[key], "r2") if key in last else (first[key], "r1")
        assert later[row["landing_id"]] == run_id and row["fetched_at"] == ROUNDS[run_id]
        assert row["exchange_name"] == record["name"].strip()
        assert row["trade_volume_24h_btc"] == record["trade_volume_24h_btc"]
        assert row["trade_volume_24h_btc_normalized"] == record["trade_volume_24h_btc_normalized"]
        assert row["trust_score"] == record["trust_score"]
        assert row["trust_score_rank"] == record["trust_score_rank"]
        assert row["year_established"] == record["year_established"]
        assert row["country"] == ((record["country"] or "").strip() or None)


def kept_coins(rounds: dict[str, Round]) -> dict[str, tuple[str, dict]]:
    """coin id -> (round, record) of its latest fetch: the later round's, else the earlier's."""
    out: dict[str, tuple[str, dict]] = {}
    for run_id in ROUNDS:  # in time order: a later fetch replaces an earlier one
        for record in rounds[run_id].records("coins_list"):
            out[record["id"].strip().lower()] = (run_id, record)
    return out


def test_coins_latest_fetch_per_coin_and_a_delisted_coin_kept(rounds, warehouse_dsn):
    got = {row["coin_id"]: row for row in staged(warehouse_dsn, "stg_coingecko__coins")}
    expected = kept_coins(rounds)
    assert set(got) == set(expected)
    only_first = [key for key, (run_id, _) in expected.items() if run_id == "r1"]
    assert only_first, "some coin left the list between the rounds: its earlier row is kept"
    later = landing_of(rounds, "coins_list")
    for key, (run_id, record) in expected.items():
        row = got[key]
        assert later[row["landing_id"]] == run_id and row["fetched_at"] == ROUNDS[run_id], key
        assert row["symbol"] == record["symbol"].strip().lower()
        assert row["coin_name"] == record["name"].strip()
    first_ids = {r["id"] for r in rounds["r1"].records("coins_list")}
    assert any(key not in first_ids for key in got), "some coin was listed between the rounds"


def test_coin_platforms_of_each_coins_kept_record(rounds, warehouse_dsn):
    got = {(row["coin_id"], row["platform"]): row["contract_address"]
           for row in staged(warehouse_dsn, "stg_coingecko__coin_platforms")}
    expected = {}
    for key, (_, record) in kept_coins(rounds).items():
        for platform, value in (record.get("platforms") or {}).items():
            if platform.strip():
                expected[(key, platform.strip().lower())] = address(value)
    assert got == expected
    assert any(value.startswith("0x") for value in got.values() if value)
    base58 = [value for (_, platform), value in got.items() if platform == "solana" and value]
    assert base58 and any(c.isupper() for value in base58 for c in value), "base58 keeps its case"
    natives = {key for key, (_, record) in kept_coins(rounds).items() if not record.get("platforms")}
    assert natives and not natives & {key for key, _ in got}, "a native coin has no platform row"


def test_coin_details_every_observation_typed(rounds, warehouse_dsn):
    got = {(row["coin_id"], row["landing_id"]): row
           for row in staged(warehouse_dsn, "stg_coingecko__coin_details")}
    assert len(got) == COINS * len(rounds)
    for landed in rounds.values():
        for body in landed.bodies("coin"):
            landing_id = landed.coin_landing[body["id"]]
            row, md = got[(body["id"], landing_id)], body["market_data"]
            assert row["symbol"] == body["symbol"].lower()
            assert row["coin_name"] == body["name"]
            assert row["price_usd"] == md["current_price"]["usd"]
            assert row["market_cap_usd"] == md["market_cap"]["usd"]
            assert row["volume_24h_usd"] == md["total_volume"]["usd"]
            assert row["high_24h_usd"] == md["high_24h"]["usd"]
            assert row["ath_usd"] == md["ath"]["usd"]
            assert row["price_change_percentage_7d"] == md["price_change_percentage_7d"]
            assert row["circulating_supply"] == md["circulating_supply"]
            assert row["max_supply"] == md["max_supply"]
            assert row["market_cap_rank"] == body["market_cap_rank"]
            assert row["watchlist_portfolio_users"] == body["watchlist_portfolio_users"]
            assert row["sentiment_votes_up_percentage"] == body["sentiment_votes_up_percentage"]
            assert row["sentiment_votes_down_percentage"] == body["sentiment_votes_down_percentage"]
            assert row["categories"] == body["categories"]
            assert row["homepage_url"] == body["links"]["homepage"][0]
            assert row["genesis_date_text"] == body["genesis_date"]
            assert row["asset_platform_id"] == body["asset_platform_id"]
            assert row["platforms"] == {k: v for k, v in body["platforms"].items() if k != ""}
            assert row["last_updated_at"] == utc(body["last_updated"])
            assert row["market_data_updated_at"] == utc(md["last_updated"])
            assert row["ath_at"] == utc(md["ath_date"]["usd"])
            assert row["fetched_at"] == landed.at and row["fetched_date"] == landed.at.date()
    # a coin fetched in both rounds has two observations, each with its own day's data
    twice = set(rounds["r1"].coin_landing) & set(rounds["r2"].coin_landing)
    assert twice, "the top 5 overlap between the rounds"
    for coin_id in twice:
        first, last = (got[(coin_id, rounds[run].coin_landing[coin_id])] for run in ROUNDS)
        assert first["price_usd"] != last["price_usd"]
        assert (first["fetched_date"], last["fetched_date"]) == tuple(at.date() for at in ROUNDS.values())

