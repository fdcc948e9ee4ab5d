"""dbt staging for every CMC and CMC DEX raw table, on real Postgres with the sandbox's data.

Every CMC and DEX dataset is landed through the ingest code path (``land_dataset`` for the listings and
the per-network spot pairs, ``plan_batches`` + ``land_batch`` for the datasets over ids) with a small
configuration (top 50 coins, the DEX on Solana only, its top 3 pairs), the sandbox's clock frozen at
``T1``; then the sandbox's clock moves six hours on and the CMC listings, the map and the DEX OHLCV land
again for the next interval (the OHLCV windows of consecutive runs overlap by one candle on purpose).
CMC exchange listings cannot land on the Basic plan: its raw table holds nothing and is dropped, so its
staging model must build (empty) from no table at all. Then ``dbt build`` of the CMC and DEX sources and
everything downstream of them (not the marts) must pass, and every model's typed values are checked
against the sandbox's bodies, fetched directly at the same frozen clock and parsed here: numbers as
exact decimals, timestamps as UTC instants, the dimensions' latest fetch per key, the observation
models' every observation once (the overlapping candle once, from the later fetch). Last, exchange
listings land on a Growth key and its model is rebuilt from the table.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_batch, land_dataset, plan_batches
from cryptoflow.plans import EndpointNotOnPlan
from tests.conftest import reset_controls
from tests.helpers import sandbox_pages

pytestmark = pytest.mark.slow

T1 = datetime(2025, 3, 4, 12, 10, tzinfo=UTC)
T2 = T1 + timedelta(hours=6)  # the next interval of the 6-hourly DEX OHLCV
R1, R2 = ("r1", T1), ("r2", T2)  # the rounds: run id, the sandbox's frozen clock
TOP_N = 50
NETWORK = "solana"
PAIRS = 3
LIQUIDITY_MIN = "100000"  # dex.min_liquidity_usd, the default
USD = 2781
SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N),
    "CRYPTOFLOW__DEX__NETWORKS": json.dumps([NETWORK]),
    "CRYPTOFLOW__DEX__PAIRS_PER_NETWORK": str(PAIRS),
    # the calls are paced by the shared limiter at the configured rate: fast here (the sandbox's own
    # limits are switched off for the test)
    "CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "600",
    "CRYPTOFLOW__APIS__CMC_DEX__CALLS_PER_MINUTE": "600",
}
SNAPSHOTS = ("cmc_listings", "cmc_map", "cmc_fear_and_greed", "cmc_global_metrics", "cmc_dex_networks",
             "cmc_dex_spot_pairs")
PER_ID = ("cmc_info", "cmc_dex_pair_quotes", "cmc_dex_pair_ohlcv")
AGAIN_AT_T2 = ("cmc_listings", "cmc_map")  # and cmc_dex_pair_ohlcv
TABLES = {  # raw table -> (api, endpoint)
    "cmc__cryptocurrency_listings_latest": ("cmc", "cryptocurrency_listings_latest"),
    "cmc__cryptocurrency_map": ("cmc", "cryptocurrency_map"),
    "cmc__cryptocurrency_info": ("cmc", "cryptocurrency_info"),
    "cmc__fear_and_greed_latest": ("cmc", "fear_and_greed_latest"),
    "cmc__global_metrics_quotes_latest": ("cmc", "global_metrics_quotes_latest"),
    "cmc__exchange_listings_latest": ("cmc", "exchange_listings_latest"),
    "cmc_dex__networks_list": ("cmc_dex", "networks_list"),
    "cmc_dex__spot_pairs_latest": ("cmc_dex", "spot_pairs_latest"),
    "cmc_dex__pairs_quotes_latest": ("cmc_dex", "pairs_quotes_latest"),
    "cmc_dex__pairs_ohlcv_historical": ("cmc_dex", "pairs_ohlcv_historical"),
}
EXCHANGES = "cmc__exchange_listings_latest"
# the staging views, in an order they can be dropped in (stg_cmc_dex__dexes reads stg_cmc_dex__spot_pairs)
MODELS = ("stg_cmc_dex__dexes", "stg_cmc_dex__spot_pairs", "stg_cmc_dex__pair_quotes",
          "stg_cmc_dex__pair_ohlcv", "stg_cmc_dex__networks", "stg_cmc__listings", "stg_cmc__coins",
          "stg_cmc__coin_infos", "stg_cmc__coin_contracts", "stg_cmc__fear_and_greed",
          "stg_cmc__global_metrics", "stg_cmc__exchanges", "stg_cmc__fear_and_greed_history",
          "stg_cmc__global_metrics_history", "stg_cmc__quotes_history", "stg_cmc__ohlcv_history")
# staging only: not what reads it (marts, intermediate, snapshots)
STAGING_ONLY = ["--exclude", "marts", "intermediate", "resource_type:snapshot"]
SELECTION = ["--select", "source:cmc+", "source:cmc_dex+", *STAGING_ONLY]


def parse(text: str) -> Any:
    """A body as the test reads it: every JSON number with a fraction or exponent an exact Decimal."""
    return json.loads(text, parse_float=Decimal)


def utc(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text.replace("Z", "+00:00"))


def address(value: str | None) -> str | None:
    """The test's own canonical address: trimmed, empty to null, hexadecimal (EVM) lower-cased."""
    value = (value or "").strip() or None
    if value and value[:2].lower() == "0x" and len(value) > 2 \
            and all(c in "0123456789abcdefABCDEF" for c in value[2:]):
        return value.lower()
    return value


def as_int(value: Any) -> int | None:
    """An id the validation types as an integer (a number, or a string of digits)."""
    return None if value is None else int(value)


def usd(quotes: list[dict] | None) -> dict:
    """The element of a DEX `quote[]` whose convert_id is USD's."""
    return next(q for q in quotes or [] if int(q["convert_id"]) == USD)


def data_records(table: str, body: dict) -> list[dict]:
    """The records of a CMC body: `data` as a list, one object, or (info) a map keyed by id whose value
    is a record or a list of records."""
    data = body["data"]
    if isinstance(data, list):
        return data
    if table == "cmc__cryptocurrency_info":
        return [r for v in data.values() for r in (v if isinstance(v, list) else [v])]
    return [data]


@dataclass
class Landed:
    """What the sandbox served for one raw table in one round, fetched directly, and the landing id of
    each body (one raw row per page)."""

    table: str
    at: datetime
    pages: list[str] = field(default_factory=list)
    landing_of: dict[str, int] = field(default_factory=dict)  # body -> landing id

    def bodies(self) -> list[tuple[int, Any]]:
        return [(self.landing_of[text], parse(text)) for text in self.pages]

    def records(self) -> list[tuple[int, dict]]:
        return [(landing_id, record) for landing_id, body in self.bodies()
                for record in data_records(self.table, body)]


@dataclass
class Served:
    """Everything the sandbox served: raw table -> round (run id) -> its bodies; the DEX pairs asked for."""

    tables: dict[str, dict[str, Landed]] = field(default_factory=dict)
    pairs: list[str] = field(default_factory=list)

    def __getitem__(self, table: str) -> dict[str, Landed]:
        return self.tables[table]


def fetch(sandbox, served: Served, when: tuple[str, datetime], table: str, params=None, *,
          plan: str = "basic", wanted: int | None = None) -> list[str]:
    """The bodies the sandbox serves for one request (fetched directly), filed under round ``when``."""
    (run_id, at), (api, endpoint) = when, TABLES[table]
    pages = sandbox_pages(sandbox, api, plan, endpoint, params, wanted=wanted)[0]
    served.tables.setdefault(table, {}).setdefault(run_id, Landed(table, at)).pages.extend(pages)
    return pages


def land_round_one(sandbox, served: Served) -> None:
    """At T1: every CMC and DEX dataset, as runs triggered then would land them (the interval of one
    cadence that ends at T1); the same requests fetched directly."""
    sandbox.set_clock(T1)
    for name in SNAPSHOTS:
        land_dataset(name, interval_start=None, interval_end=None, run_after=T1, run_id="r1")
    for name in PER_ID:
        for batch in plan_batches(name, interval_start=None, interval_end=None, run_after=T1, run_id="r1"):
            land_batch(name, batch, run_id="r1")
    with pytest.raises(EndpointNotOnPlan):  # Growth and up: skipped before any call
        land_dataset("cmc_exchange_listings", interval_start=None, interval_end=None, run_after=T1,
                     run_id="r1")
    listing = fetch(sandbox, served, R1, "cmc__cryptocurrency_listings_latest", {"convert": "USD"},
                    wanted=TOP_N)
    fetch(sandbox, served, R1, "cmc__cryptocurrency_map")
    ids = [str(coin["id"]) for body in listing for coin in parse(body)["data"]][:TOP_N]
    fetch(sandbox, served, R1, "cmc__cryptocurrency_info", {"id": ",".join(ids), "skip_invalid": "true"})
    fetch(sandbox, served, R1, "cmc__fear_and_greed_latest")
    fetch(sandbox, served, R1, "cmc__global_metrics_quotes_latest")
    fetch(sandbox, served, R1, "cmc_dex__networks_list")
    spot = fetch(sandbox, served, R1, "cmc_dex__spot_pairs_latest",
                 {"network_slug": NETWORK, "liquidity_min": LIQUIDITY_MIN})
    assert len(spot) > 1, "the scroll_id cursor is walked over more than one page"
    pairs = [pair["contract_address"] for body in spot for pair in parse(body)["data"]][:PAIRS]
    fetch(sandbox, served, R1, "cmc_dex__pairs_quotes_latest",
          {"network_slug": NETWORK, "contract_address": ",".join(pairs)})
    for pair in pairs:  # 6 hours of candles plus one of overlap (and the incomplete current one)
        fetch(sandbox, served, R1, "cmc_dex__pairs_ohlcv_historical",
              {"network_slug": NETWORK, "contract_address": pair, "count": "8"})
    served.pairs = pairs


def land_round_two(sandbox, served: Served) -> None:
    """Six hours later: the listings, the map and the OHLCV of the same pairs (read from the spot pairs
    landed at T1), for the next interval."""
    sandbox.set_clock(T2)
    for name in AGAIN_AT_T2:
        land_dataset(name, interval_start=None, interval_end=None, run_after=T2, run_id="r2")
    for batch in plan_batches("cmc_dex_pair_ohlcv", interval_start=None, interval_end=None, run_after=T2,
                              run_id="r2"):
        land_batch("cmc_dex_pair_ohlcv", batch, run_id="r2")
    fetch(sandbox, served, R2, "cmc__cryptocurrency_listings_latest", {"convert": "USD"}, wanted=TOP_N)
    fetch(sandbox, served, R2, "cmc__cryptocurrency_map")
    for pair in served.pairs:
        fetch(sandbox, served, R2, "cmc_dex__pairs_ohlcv_historical",
              {"network_slug": NETWORK, "contract_address": pair, "count": "8"})


def record_landings(conn, tables: dict[str, dict[str, Landed]]) -> None:
    """Map each served body to the raw row that holds it; what landed is what the sandbox serves, byte
    for byte."""
    for table, rounds in tables.items():
        for run_id, landed in rounds.items():
            rows = conn.execute(f"SELECT landing_id, body FROM raw.{table} WHERE run_id = %s", (run_id,)
                                ).fetchall()
            assert sorted(body for _, body in rows) == sorted(landed.pages), (table, run_id)
            landed.landing_of = {body: landing_id for landing_id, body in rows}


def staging_views(conn) -> set[str]:
    return {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.views WHERE table_schema = 'staging' "
        "AND table_name = ANY(%s)", (list(MODELS),)).fetchall()}


def drop_views(conn) -> None:
    """Drop the CMC staging views (views on the raw tables would stop another test dropping them)."""
    present = staging_views(conn)
    for name in MODELS:
        if name in present:
            conn.execute(f'DROP VIEW IF EXISTS staging."{name}"')


def empty_raw_tables(conn) -> None:
    for table in TABLES:
        if conn.execute("SELECT to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]:
            conn.execute(f"TRUNCATE raw.{table}")


def connections(sandbox, cmc_plan: str = "basic") -> dict[str, str]:
    return {f"AIRFLOW_CONN_{api.upper()}": json.dumps({
        "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
        "extra": {"plan": plan}}) for api, plan in (("cmc", cmc_plan), ("cmc_dex", "basic"))}


@dataclass
class Built:
    served: Served
    build: dict[str, Any]
    exchanges_before: dict[str, Any]  # stg_cmc__exchanges built from no raw table: rows, column types
    exchanges: Landed | None = None  # exchange listings landed on a Growth key, after


@pytest.fixture(scope="module")
def built(sandbox, warehouse_dsn, tmp_path_factory) -> Iterator[Built]:
    """Both rounds landed into emptied CMC and DEX raw tables, exchange listings' table dropped, then the
    CMC and DEX sources and their staging models built and tested by dbt (timed); then exchange listings
    landed on a Growth key and its model rebuilt. The views and rows it made are removed afterwards."""
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    target = tmp_path_factory.mktemp("dbt")
    dbt_env = {"DBT_TARGET_PATH": str(target), "DBT_LOG_PATH": str(target)}
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**SETTINGS, **connections(sandbox)}.items():
                patch.setenv(name, value)
            done = build_on_basic(conn, sandbox, warehouse_dsn, dbt_env)
            patch.setenv("AIRFLOW_CONN_CMC", connections(sandbox, "growth")["AIRFLOW_CONN_CMC"])
            done.exchanges = exchanges_on_growth(conn, sandbox, warehouse_dsn, done.served, dbt_env)
            run_dbt(["source", "freshness", "--select", "source:cmc", "source:cmc_dex"], env=dbt_env)
        yield done
    finally:
        # leave the raw tables as a Basic stack has them before its first cycle (later tests of the
        # session compare what they land with every row of a table)
        drop_views(conn)
        empty_raw_tables(conn)
        conn.close()


def build_on_basic(conn, sandbox, warehouse_dsn: str, dbt_env: dict[str, str]) -> Built:
    served = Served()
    sandbox.reset()
    sandbox.set_limits(enforce=False)
    reset_controls(warehouse_dsn)
    drop_views(conn)
    try:
        empty_raw_tables(conn)
        land_round_one(sandbox, served)
        land_round_two(sandbox, served)
    finally:
        sandbox.reset()
    record_landings(conn, served.tables)
    # on Basic nothing lands in exchange listings (the migration may have created its table, empty):
    # without the table at all, its staging model must still build
    if conn.execute("SELECT to_regclass(%s)", (f"raw.{EXCHANGES}",)).fetchone()[0]:
        assert conn.execute(f"SELECT count(*) FROM raw.{EXCHANGES}").fetchone()[0] == 0
        conn.execute(f"DROP TABLE raw.{EXCHANGES}")
    started = datetime.now(UTC)
    result = run_dbt(["build", *SELECTION], env=dbt_env)
    result["wall_seconds"] = (datetime.now(UTC) - started).total_seconds()
    print(f"dbt build {' '.join(SELECTION)}: {result['counts']} in {result['wall_seconds']:.1f} s")
    exchanges_before = {
        "rows": conn.execute("SELECT count(*) FROM staging.stg_cmc__exchanges").fetchone()[0],
        "types": dict(conn.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = "
            "'staging' AND table_name = 'stg_cmc__exchanges'").fetchall()),
    }
    return Built(served, result, exchanges_before)


def exchanges_on_growth(conn, sandbox, warehouse_dsn: str, served: Served, dbt_env: dict[str, str]) -> Landed:
    """Exchange listings landed on a Growth key (the landing creates the table) at T2, fetched directly;
    its staging model rebuilt from the table."""
    reset_controls(warehouse_dsn)
    sandbox.set_limits(enforce=False)
    sandbox.set_clock(T2)
    try:
        land_dataset("cmc_exchange_listings", interval_start=None, interval_end=None, run_after=T2,
                     run_id="r3")
        fetch(sandbox, served, ("r3", T2), EXCHANGES, plan="growth")
    finally:
        sandbox.reset()
    record_landings(conn, {EXCHANGES: served[EXCHANGES]})
    again = run_dbt(["build", "--select", "source:cmc.exchange_listings_latest+", *STAGING_ONLY],
                    env=dbt_env)
    assert again["failed"] == [] and again["counts"].get("success") == 1, again
    return served[EXCHANGES]["r3"]


def staged(warehouse_dsn: str, model: str) -> list[dict[str, Any]]:
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        return conn.execute(f"SELECT * FROM staging.{model}").fetchall()


def same_names(row: dict, record: dict) -> bool:
    return [row["symbol"], row["coin_name"], row["slug"]] == [record[k] for k in ("symbol", "name", "slug")]


def lineage_of(row: dict, landing_id: int, at: datetime) -> None:
    assert row["landing_id"] == landing_id
    assert row["fetched_at"] == at and row["interval_end"] == at
    assert row["interval_start"] < row["interval_end"] and row["landed_at"] is not None
    assert row["landed_xid"] is not None


def test_dbt_build_of_the_cmc_and_dex_selection_passes(built):
    result = built.build
    assert result["failed"] == [], result
    counts = result["counts"]
    assert counts.get("success") == len(MODELS), counts  # the fifteen views, and no mart
    assert counts.get("pass", 0) >= 150 and not counts.get("warn"), counts
    assert set(counts) <= {"success", "pass"}, counts


def test_exchanges_build_empty_without_a_raw_table_then_typed_from_it(built, warehouse_dsn):
    before = built.exchanges_before
    assert before["rows"] == 0
    types = before["types"]
    assert types["exchange_id"] == "bigint" and types["volume_24h_usd"] == "numeric"
    assert types["last_updated_at"] == "timestamp with time zone" and types["landed_xid"] == "xid8"
    assert types["exchange_name"] == "text" and types["landing_id"] == "bigint"
    got = {row["exchange_id"]: row for row in staged(warehouse_dsn, "stg_cmc__exchanges")}
    expected = {record["id"]: (landing_id, record) for landing_id, record in built.exchanges.records()}
    assert len(expected) > 100 and set(got) == set(expected)
    for key, (landing_id, record) in expected.items():
        row, quote = got[key], record["quote"]["USD"]
        lineage_of(row, landing_id, T2)
        assert row["exchange_name"] == record["name"] and row["slug"] == record["slug"]
        assert row["exchange_rank"] == record["rank"]
        assert row["num_market_pairs"] == record["num_market_pairs"]
        assert row["exchange_score"] is None and record["exchange_score"] is None
        assert row["traffic_score"] == record["traffic_score"]
        assert row["volume_24h_usd"] == quote["volume_24h"]
        assert row["volume_30d_usd"] == quote["volume_30d"]
        assert row["percent_change_volume_7d"] == quote["percent_change_volume_7d"]
        assert row["derivative_volume_usd"] == quote["derivative_volume"]
        assert row["spot_volume_usd"] == quote["spot_volume_usd"]
        assert row["last_updated_at"] == utc(record["last_updated"])
        assert row["launched_at"] == utc(record["date_launched"])


def test_listings_every_observation_of_both_rounds_typed(built, warehouse_dsn):
    got = {(row["cmc_id"], row["last_updated_at"]): row for row in staged(warehouse_dsn, "stg_cmc__listings")}
    expected = {}
    for landed in built.served["cmc__cryptocurrency_listings_latest"].values():
        for landing_id, record in landed.records():
            expected[(record["id"], utc(record["last_updated"]))] = (landing_id, landed.at, record)
    assert len(expected) == 2 * TOP_N and set(got) == set(expected)
    tokens = 0
    for key, (landing_id, at, record) in expected.items():
        row, quote, platform = got[key], record["quote"]["USD"], record["platform"]
        lineage_of(row, landing_id, at)
        assert same_names(row, record)
        assert row["cmc_rank"] == record["cmc_rank"]
        assert row["num_market_pairs"] == record["num_market_pairs"]
        assert row["circulating_supply"] == record["circulating_supply"]
        assert row["total_supply"] == record["total_supply"]
        assert row["max_supply"] == record["max_supply"]
        assert row["price_usd"] == quote["price"]
        assert row["volume_24h_usd"] == quote["volume_24h"]
        assert row["market_cap_usd"] == quote["market_cap"]
        assert row["market_cap_dominance_pct"] == quote["market_cap_dominance"]
        assert row["fully_diluted_market_cap_usd"] == quote["fully_diluted_market_cap"]
        for period in ("1h", "24h", "7d", "30d", "60d", "90d"):
            assert row[f"percent_change_{period}"] == quote[f"percent_change_{period}"]
        assert row["added_at"] == utc(record["date_added"])
        assert row["quote_last_updated_at"] == utc(quote["last_updated"])
        assert row["page"] == 1
        if platform:
            tokens += 1
            assert row["platform_cmc_id"] == platform["id"] and row["platform_slug"] == platform["slug"]
            assert row["token_address"] == address(platform["token_address"])
        else:
            assert row["platform_cmc_id"] is None and row["token_address"] is None
    assert tokens, "some listed coin is a token"


def test_coins_latest_fetch_per_cmc_id(built, warehouse_dsn):
    got = {row["cmc_id"]: row for row in staged(warehouse_dsn, "stg_cmc__coins")}
    rounds = built.served["cmc__cryptocurrency_map"]
    expected = {}
    for run_id in ("r1", "r2"):  # in time order: the later fetch replaces the earlier
        for landing_id, record in rounds[run_id].records():
            expected[record["id"]] = (landing_id, rounds[run_id].at, record)
    assert len(expected) > 500 and set(got) == set(expected)
    assert any(at == T2 for _, at, _ in expected.values())
    for key, (landing_id, at, record) in expected.items():
        row, platform = got[key], record["platform"]
        lineage_of(row, landing_id, at)
        assert same_names(row, record)
        assert row["cmc_rank"] == record["rank"]
        assert row["is_active"] is (record["is_active"] == 1)
        assert row["first_historical_data_at"] == utc(record["first_historical_data"])
        assert row["last_historical_data_at"] == utc(record["last_historical_data"])
        assert row["platform_cmc_id"] == (platform or {}).get("id")
        assert row["platform_name"] == (platform or {}).get("name")
        assert row["token_address"] == address((platform or {}).get("token_address"))


def test_coin_infos_and_their_contracts(built, warehouse_dsn):
    got = {row["cmc_id"]: row for row in staged(warehouse_dsn, "stg_cmc__coin_infos")}
    (landed,) = built.served["cmc__cryptocurrency_info"].values()
    expected = {record["id"]: (landing_id, record) for landing_id, record in landed.records()}
    assert len(expected) == TOP_N and set(got) == set(expected)
    contracts = set()
    for key, (landing_id, record) in expected.items():
        row, platform = got[key], record["platform"] or {}
        lineage_of(row, landing_id, T1)
        assert same_names(row, record)
        assert row["category"] == record["category"]
        assert row["tags"] == record["tags"]
        assert row["description"] == record["description"] and row["logo_url"] == record["logo"]
        assert row["website_urls"] == record["urls"]["website"]
        assert row["explorer_urls"] == record["urls"]["explorer"]
        assert row["is_hidden"] is (record["is_hidden"] == 1)
        assert row["added_at"] == utc(record["date_added"])
        assert row["launched_at"] == utc(record["date_launched"])
        assert row["platform_cmc_id"] == platform.get("id")
        assert row["token_address"] == address(platform.get("token_address"))
        for contract in record["contract_address"]:
            coin = contract["platform"]["coin"]
            contracts.add((key, int(coin["id"]), address(contract["contract_address"]),
                           contract["platform"]["name"], coin["slug"], landing_id))
    assert any(row["launched_at"] is None for row in got.values()), "a coin without a launch date"
    rows = staged(warehouse_dsn, "stg_cmc__coin_contracts")
    assert {(r["cmc_id"], r["platform_cmc_id"], r["contract_address"], r["platform_name"], r["platform_slug"],
             r["landing_id"]) for r in rows} == contracts
    assert len(rows) == len(contracts) > 0
    assert any(r["contract_address"].startswith("0x") for r in rows)
    base58 = [r["contract_address"] for r in rows if not r["contract_address"].startswith("0x")]
    assert base58 and any(c.isupper() for value in base58 for c in value), "base58 keeps its case"


def test_fear_and_greed_and_global_metrics_typed(built, warehouse_dsn):
    (fear,) = staged(warehouse_dsn, "stg_cmc__fear_and_greed")
    ((landing_id, body),) = built.served["cmc__fear_and_greed_latest"]["r1"].bodies()
    lineage_of(fear, landing_id, T1)
    assert fear["fear_and_greed_value"] == body["data"]["value"]
    assert isinstance(fear["fear_and_greed_value"], Decimal) and 0 <= fear["fear_and_greed_value"] <= 100
    assert fear["value_classification"] == body["data"]["value_classification"]
    assert fear["updated_at"] == utc(body["data"]["update_time"])

    (metrics,) = staged(warehouse_dsn, "stg_cmc__global_metrics")
    ((landing_id, body),) = built.served["cmc__global_metrics_quotes_latest"]["r1"].bodies()
    data, quote = body["data"], body["data"]["quote"]["USD"]
    lineage_of(metrics, landing_id, T1)
    assert metrics["btc_dominance_pct"] == data["btc_dominance"]
    assert metrics["eth_dominance_pct"] == data["eth_dominance"]
    assert metrics["btc_dominance_yesterday_pct"] == data["btc_dominance_yesterday"]
    assert metrics["eth_dominance_change_24h_pct"] == data["eth_dominance_24h_percentage_change"]
    for column in ("active_cryptocurrencies", "total_cryptocurrencies", "active_market_pairs",
                   "active_exchanges", "total_exchanges"):
        assert metrics[column] == data[column]
    assert metrics["total_market_cap_usd"] == quote["total_market_cap"]
    assert metrics["total_volume_24h_usd"] == quote["total_volume_24h"]
    assert metrics["altcoin_market_cap_usd"] == quote["altcoin_market_cap"]
    assert metrics["total_market_cap_change_24h_pct"] == quote["total_market_cap_yesterday_percentage_change"]
    assert metrics["stablecoin_volume_24h_usd"] == data["stablecoin_volume_24h"]
    assert metrics["last_updated_at"] == utc(data["last_updated"])
    assert metrics["quote_last_updated_at"] == utc(quote["last_updated"])


def test_networks_dimension(built, warehouse_dsn):
    got = {row["network_id"]: row for row in staged(warehouse_dsn, "stg_cmc_dex__networks")}
    (landed,) = built.served["cmc_dex__networks_list"].values()
    expected = {str(record["id"]): (landing_id, record) for landing_id, record in landed.records()}
    assert NETWORK in {record["network_slug"] for _, record in expected.values()}
    assert set(got) == set(expected)
    for key, (landing_id, record) in expected.items():
        row = got[key]
        lineage_of(row, landing_id, T1)
        assert row["network_name"] == record["name"]
        assert row["network_slug"] == record["network_slug"].lower()
        assert row["native_cmc_id"] == as_int(record["cryptocurrencyId"])
        assert row["wrapped_token_cmc_id"] == as_int(record["wrappedTokenId"])
        assert row["native_symbol"] == record["alternativeName"]
        assert row["pool_explorer_url"] == record["poolExplorerUrl"]


def check_pair(row: dict, record: dict) -> None:
    quote = usd(record["quote"])
    assert row["network_id"] == str(record["network_id"])
    assert row["network_slug"] == record["network_slug"].lower() == NETWORK
    assert (row["dex_id"], row["dex_slug"]) == (str(record["dex_id"]), record["dex_slug"])
    assert row["pair_name"] == record["name"]
    assert row["base_asset_id"] == as_int(record["base_asset_id"])
    assert row["base_asset_ucid"] == as_int(record["base_asset_ucid"])
    assert row["quote_asset_id"] == as_int(record["quote_asset_id"])
    assert (row["base_asset_symbol"], row["quote_asset_symbol"]) == (record["base_asset_symbol"],
                                                                     record["quote_asset_symbol"])
    assert row["base_asset_contract_address"] == address(record["base_asset_contract_address"])
    assert row["quote_asset_contract_address"] == address(record["quote_asset_contract_address"])
    assert row["price_usd"] == quote["price"]
    assert row["price_by_quote_asset"] == quote["price_by_quote_asset"]
    assert row["liquidity_usd"] == quote["liquidity"]
    assert row["volume_24h_usd"] == quote["volume_24h"]
    assert row["no_of_transactions_24h"] == as_int(quote["no_of_transactions_24h"])
    assert row["percent_change_price_1h"] == quote["percent_change_price_1h"]
    assert row["percent_change_price_24h"] == quote["percent_change_price_24h"]
    assert row["fully_diluted_value_usd"] == quote["fully_diluted_value"]
    assert row["created_at"] == utc(record["created_at"])
    assert row["launched_at"] == utc(record["date_launched"])
    assert row["quote_last_updated_at"] == utc(quote["last_updated"])


def pair_key(record: dict) -> tuple[str, str, datetime]:
    return str(record["network_id"]), address(record["contract_address"]), utc(record["last_updated"])


def test_spot_pairs_every_pair_of_every_page_and_the_dexes_they_name(built, warehouse_dsn):
    got = {(r["network_id"], r["contract_address"], r["last_updated_at"]): r
           for r in staged(warehouse_dsn, "stg_cmc_dex__spot_pairs")}
    (landed,) = built.served["cmc_dex__spot_pairs_latest"].values()
    expected = {pair_key(record): (landing_id, record) for landing_id, record in landed.records()}
    assert len(expected) > 100 and set(got) == set(expected)
    assert {row["page"] for row in got.values()} == {1, 2}
    for key, (landing_id, record) in expected.items():
        lineage_of(got[key], landing_id, T1)
        check_pair(got[key], record)
    # Solana's base58 addresses keep their case
    assert any(c.isupper() for key in got for c in key[1])
    dexes = {(r["network_id"], r["dex_id"]): r for r in staged(warehouse_dsn, "stg_cmc_dex__dexes")}
    assert {key: (row["dex_slug"], row["network_slug"]) for key, row in dexes.items()} == {
        (str(record["network_id"]), str(record["dex_id"])): (record["dex_slug"], NETWORK)
        for _, record in expected.values()}
    assert len(dexes) >= 2


def test_pair_quotes_the_top_pairs_typed(built, warehouse_dsn):
    got = {(r["network_id"], r["contract_address"], r["last_updated_at"]): r
           for r in staged(warehouse_dsn, "stg_cmc_dex__pair_quotes")}
    (landed,) = built.served["cmc_dex__pairs_quotes_latest"].values()
    expected = {pair_key(record): (landing_id, record) for landing_id, record in landed.records()}
    assert len(expected) == PAIRS and set(got) == set(expected)
    assert [key[1] for key in expected] == [address(p) for p in built.served.pairs]
    for key, (landing_id, record) in expected.items():
        lineage_of(got[key], landing_id, T1)
        check_pair(got[key], record)


def test_pair_ohlcv_one_row_per_candle_the_overlap_from_the_later_fetch(built, warehouse_dsn):
    got = {(r["network_id"], r["contract_address"], r["time_open"]): r
           for r in staged(warehouse_dsn, "stg_cmc_dex__pair_ohlcv")}
    rounds = built.served["cmc_dex__pairs_ohlcv_historical"]
    expected: dict[tuple, tuple[int, datetime, dict, dict]] = {}
    seen: dict[tuple, list[str]] = {}
    for run_id in ("r1", "r2"):  # in time order: the later fetch replaces the earlier
        for landing_id, pair in rounds[run_id].records():
            for candle in pair["quotes"]:
                key = (str(pair["network_id"]), address(pair["contract_address"]), utc(candle["time_open"]))
                expected[key] = (landing_id, rounds[run_id].at, pair, candle)
                seen.setdefault(key, []).append(run_id)
    overlap = {key for key, runs in seen.items() if runs == ["r1", "r2"]}
    # each round: the 7 complete hours before its clock; consecutive runs share exactly one candle
    last_of_t1 = T1.replace(minute=0) - timedelta(hours=1)
    assert len(overlap) == PAIRS and {key[2] for key in overlap} == {last_of_t1}
    assert set(got) == set(expected) and len(got) == PAIRS * (7 + 7 - 1)
    for key, (landing_id, at, pair, candle) in expected.items():
        row, quote = got[key], usd(candle["quote"])
        lineage_of(row, landing_id, at)
        assert row["network_slug"] == NETWORK and row["dex_id"] == str(pair["dex_id"])
        assert row["pair_name"] == pair["name"]
        assert (row["open_usd"], row["high_usd"], row["low_usd"], row["close_usd"]) == (
            quote["open"], quote["high"], quote["low"], quote["close"])
        assert row["volume_usd"] == quote["volume"]
        assert row["quote_last_updated_at"] == utc(quote["last_updated"])
    for key in overlap:
        assert got[key]["fetched_at"] == T2, "the overlapping candle is the later fetch's"
        assert got[key]["landing_id"] in rounds["r2"].landing_of.values()
