"""The metadata and exchanges marts on real Postgres with the sandbox's data.

Landed through the ingest code path (``land_dataset``; ``plan_batches`` + ``land_batch`` for the datasets
over ids), with a small universe (top 50; ``/coins/{id}`` of the top 3), the sandbox's clock frozen at
each round and moved between them:

- ``r1`` (two days ago, 09:10): the CoinGecko coins list, markets, ``/coins/{id}`` and exchanges; the CMC
  map, listings and info (Basic plan: no CMC exchange listings). Two crafted raw rows, filed as landings
  the APIs could have served, make the data ambiguous on purpose: a CMC info record listing the contract
  of a CoinGecko token that already matches another CMC id (two contract candidates), and a coins list
  record of a second CoinGecko coin with Bitcoin's symbol and name (one CMC id claimed twice);
- ``r2`` (the same day, 15:40): markets, exchanges, CMC listings;
- ``r2-again`` (the clock 25 minutes on, the same intervals as ``r2``): markets and exchanges re-landed,
  which replaces ``r2``'s rows with corrected values;
- ``r3`` (yesterday, 23:10): everything of ``r1`` again, plus CMC exchange listings on a Growth key.

After each round ``dbt build --select +tag:metadata +tag:exchanges`` runs incrementally (the snapshot
snap_assets is tagged metadata, so it runs in the build). The marts are then checked against values
computed here from the landed JSON bodies: the CoinGecko-CMC identity by contract address equality on
the same chain (the chain pairs from the sandbox's own platform table) then symbol and name, and never
against the sandbox universe's truth; the ambiguous cases; dim_assets' values; the snapshot's new
versions where a rank changed; each exchange's daily volume as the last observation of its day. Last,
the incremental fact equals a ``--full-refresh`` rebuild row for row, and ``dbt snapshot`` with nothing
changed adds no version.
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from psycopg.rows import dict_row

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_batch, land_dataset, plan_batches
from cryptoflow.sandbox.universe import PLATFORMS, Universe
from tests.conftest import reset_controls

pytestmark = pytest.mark.slow

# The last round is 50 minutes before the session starts: the recency tests of its build compare with
# the real clock (a round fixed at yesterday's 23:10 failed them from 23:10 UTC on). It is at 02:00 or
# later of its UTC day, so the hour before it is on the same day; before that, the previous day's 23:10.
R3 = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=50)
if R3.hour < 2:
    R3 = R3.replace(hour=0, minute=0) - timedelta(minutes=50)
DAY1 = R3.replace(hour=0, minute=0) - timedelta(days=1)  # the day before the last round's
R1 = DAY1 + timedelta(hours=9, minutes=10)
R2 = DAY1 + timedelta(hours=15, minutes=40)
R2_AGAIN = R2 + timedelta(minutes=25)  # the clock when r2's intervals are landed again
SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": "50",
    "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": "3",
    "CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": "600",
    "CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "600",
}
RAW_TABLES = ("coingecko__coins_list", "coingecko__coins_markets", "coingecko__coin", "coingecko__exchanges",
              "cmc__cryptocurrency_map", "cmc__cryptocurrency_listings_latest", "cmc__cryptocurrency_info",
              "cmc__exchange_listings_latest")
BUILT = ("marts.dim_assets", "marts.dim_exchanges", "marts.fct_exchange_volume_daily",
         "snapshots.snap_assets")
# Only the tests of what is built (not a staging model's relationships test from another area's mart).
# Every round is within the default var test_since (3 days), so the scoped tests check every row, and
# dbt parses partially from the session's manifest (other vars would make every run parse it all).
SELECTION = ["--select", "+tag:metadata", "+tag:exchanges", "--indirect-selection", "cautious"]
# The rounds before the last leave out the recency tests (they are days old by design); the middle ones
# also the staging views (built and tested by the first and the last build, and unchanged).
EARLY = ["--exclude", "test_name:metadata_recent"]
MIDDLE = ["--exclude", "test_name:metadata_recent", "path:models/staging"]
DECOY_CMC_ID = 990_001
CLONE = "bitcoin-clone"
GENERIC_WORDS = re.compile(r"[\W_]+(token|protocol|coin|network)$")
# CoinGecko platform id -> CMC platform coin id: the sandbox's own table, not the models' derivation
CHAIN = {platform: row[0] for platform, row in PLATFORMS.items()}


# ------------------------------------------------------------------------------------------ reading

def parse(text: str) -> Any:
    return json.loads(text, parse_float=Decimal)


def address(value: str | None) -> str | None:
    value = (value or "").strip() or None
    return value.lower() if value and re.fullmatch(r"0[xX][0-9a-fA-F]+", value) else value


def name_key(name: str) -> str:
    return re.sub(r"[\W_]+", "", GENERIC_WORDS.sub("", name.strip().lower()))


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


def landed(conn, table: str) -> list[dict]:
    """Every raw row of ``raw.<table>``: its landing id, fetch time, interval and parsed body."""
    rows = conn.execute(f"SELECT landing_id, fetched_at, interval_end, body FROM raw.{table}").fetchall()
    return [{"landing_id": r[0], "fetched_at": r[1], "interval_end": r[2], "body": parse(r[3])} for r in rows]


def latest(pairs: list[tuple[tuple, Any, Any]]) -> dict:
    """key -> value of the greatest order, from (order, key, value) triples."""
    best: dict = {}
    for order, key, value in pairs:
        if key not in best or order > best[key][0]:
            best[key] = (order, value)
    return {key: value for key, (_, value) in best.items()}


def cmc_info_records(body: dict) -> list[dict]:
    return [r for v in body["data"].values() for r in (v if isinstance(v, list) else [v])]


@dataclass
class Landings:
    """What the raw tables hold, read back as JSON and reduced here, without the models."""

    coins: dict[str, dict]  # CoinGecko coin id -> latest coins list record
    details: dict[str, dict]  # coin id -> latest /coins/{id} body (with _fetched_at)
    details_first: dict[str, datetime]
    markets: dict[str, dict]  # coin id -> record of the latest markets interval (with _fetched_at)
    cmc_map: dict[int, dict]
    cmc_info: dict[int, dict]

    @classmethod
    def read(cls, conn) -> Landings:
        coins = latest([((row["fetched_at"], row["landing_id"]), rec["id"].strip().lower(), rec)
                        for row in landed(conn, "coingecko__coins_list") for rec in row["body"]])
        detail_rows = landed(conn, "coingecko__coin")
        details = latest([((row["fetched_at"], row["landing_id"]), row["body"]["id"].strip().lower(),
                           {**row["body"], "_fetched_at": row["fetched_at"]}) for row in detail_rows])
        first: dict[str, datetime] = {}
        for row in detail_rows:
            key = row["body"]["id"].strip().lower()
            first[key] = min(first.get(key, row["fetched_at"]), row["fetched_at"])
        market_rows = landed(conn, "coingecko__coins_markets")
        newest = max(market_rows, key=lambda r: (r["fetched_at"], r["landing_id"]))["interval_end"]
        markets = latest([((row["fetched_at"], row["landing_id"], pos), rec["id"],
                           {**rec, "_fetched_at": row["fetched_at"]})
                          for row in market_rows if row["interval_end"] == newest
                          for pos, rec in enumerate(row["body"])])
        cmc_map = latest([((row["fetched_at"], row["landing_id"]), int(rec["id"]), rec)
                          for row in landed(conn, "cmc__cryptocurrency_map") for rec in row["body"]["data"]])
        cmc_info = latest([((row["fetched_at"], row["landing_id"]), int(rec["id"]), rec)
                           for row in landed(conn, "cmc__cryptocurrency_info")
                           for rec in cmc_info_records(row["body"])])
        return cls(coins, details, first, markets, cmc_map, cmc_info)


# ------------------------------------------------------------------------------ expected identity

@dataclass
class Identity:
    matched: dict[str, tuple[int, str]] = field(default_factory=dict)  # asset -> (cmc id, rule)
    ambiguous: set[tuple[str, int, str, str]] = field(default_factory=set)  # asset, cmc id, rule, status
    universe: set[str] = field(default_factory=set)


def expected_identity(data: Landings) -> Identity:
    """The matching, computed here: a contract address equal on the same chain first (a coin with such
    candidates is judged on them only), then same symbol and name key; one candidate, claimed by no
    other coin at the rule, or nothing."""
    out = Identity(universe=set(data.coins) | set(data.details))
    cmc_contracts: set[tuple[int, int, str]] = set()  # (cmc id, chain's CMC id, address)
    for cmc_id, rec in data.cmc_info.items():
        for contract in rec.get("contract_address") or []:
            cmc_contracts.add((cmc_id, int(contract["platform"]["coin"]["id"]),
                               address(contract["contract_address"])))
    for cmc_id, rec in [*data.cmc_map.items(), *data.cmc_info.items()]:
        if rec.get("platform") and address(rec["platform"].get("token_address")):
            cmc_contracts.add((cmc_id, int(rec["platform"]["id"]), address(rec["platform"]["token_address"])))
    by_chain_address = defaultdict(set)
    for cmc_id, chain, addr in cmc_contracts:
        by_chain_address[(chain, addr)].add(cmc_id)

    def platforms_of(asset: str) -> dict:
        rec = data.coins.get(asset) or data.details.get(asset) or {}
        return {k: v for k, v in (rec.get("platforms") or {}).items() if k}

    contract = {}
    for asset in out.universe:
        found = set()
        for platform, addr in platforms_of(asset).items():
            if platform.lower() in CHAIN and address(addr):
                found |= by_chain_address.get((CHAIN[platform.lower()], address(addr)), set())
        if found:
            contract[asset] = found
    claimed = defaultdict(set)
    for asset, found in contract.items():
        for cmc_id in found:
            claimed[cmc_id].add(asset)
    for asset, found in contract.items():
        for cmc_id in found:
            if len(found) == 1 and len(claimed[cmc_id]) == 1:
                out.matched[asset] = (cmc_id, "contract")
            else:
                out.ambiguous.add((asset, cmc_id, "contract", "ambiguous"))

    cmc_names = {}
    for cmc_id in set(data.cmc_map) | set(data.cmc_info):
        rec = data.cmc_map.get(cmc_id) or data.cmc_info[cmc_id]
        cmc_names[cmc_id] = (rec["symbol"].strip().lower(), name_key(rec["name"]))
    taken = set(claimed)
    by_name = {}
    for asset in out.universe - set(contract):
        rec = data.coins.get(asset) or data.details[asset]
        key = (rec["symbol"].strip().lower(), name_key(rec["name"]))
        by_name[asset] = {cmc_id for cmc_id, k in cmc_names.items() if k == key}
    claimed_by_name = defaultdict(set)
    for asset, found in by_name.items():
        for cmc_id in found - taken:
            claimed_by_name[cmc_id].add(asset)
    for asset, found in by_name.items():
        free = found - taken
        if len(free) == 1 and len(claimed_by_name[next(iter(free))]) == 1:
            out.matched[asset] = (next(iter(free)), "symbol_name")
            continue
        for cmc_id in found:
            out.ambiguous.add((asset, cmc_id, "symbol_name", "taken" if cmc_id in taken else "ambiguous"))
    return out


# -------------------------------------------------------------------------------------- landing

def connections(sandbox, cmc_plan: str = "basic") -> dict[str, str]:
    return {f"AIRFLOW_CONN_{api.upper()}": json.dumps({
        "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
        "extra": {"plan": plan}}) for api, plan in (("coingecko", "demo"), ("cmc", cmc_plan))}


def land(names: tuple[str, ...], run_after: datetime, run_id: str) -> None:
    for name in names:
        if name in ("coingecko_coins", "cmc_info"):
            for batch in plan_batches(name, interval_start=None, interval_end=None, run_after=run_after,
                                      run_id=run_id):
                land_batch(name, batch, run_id=run_id)
        else:
            land_dataset(name, interval_start=None, interval_end=None, run_after=run_after, run_id=run_id)


def insert_crafted(conn, table: str, endpoint: str, body: Any, fetched_at: datetime) -> None:
    """A raw row as a landing writes it, holding a body the test wrote."""
    text = json.dumps(body)
    conn.execute(
        f"INSERT INTO raw.{table} (source, endpoint, request_key, request_params, page, interval_start, "
        "interval_end, http_status, fetched_at, run_id, body, body_sha256) "
        "VALUES (%s, %s, 'crafted-by-test', '{}'::jsonb, 1, %s, %s, 200, %s, 'crafted', %s, 'crafted')",
        (table.partition("__")[0], endpoint, fetched_at - timedelta(hours=1), fetched_at, fetched_at, text))


def craft_ambiguity(conn) -> tuple[str, int]:
    """The two crafted rows (fetched before r1's, so no real record is superseded); returns the token
    whose contract the decoy lists and its real CMC id."""
    data = Landings.read(conn)
    info_contracts = {(int(c["platform"]["coin"]["id"]), address(c["contract_address"])): cmc_id
                      for cmc_id, rec in data.cmc_info.items() for c in rec.get("contract_address") or []}
    token, cmc_id, chain, addr = next(
        (asset, info_contracts[(CHAIN["ethereum"], address(rec["platforms"]["ethereum"]))], CHAIN["ethereum"],
         address(rec["platforms"]["ethereum"]))
        for asset, rec in sorted(data.coins.items())
        if (rec.get("platforms") or {}).get("ethereum")
        and (CHAIN["ethereum"], address(rec["platforms"]["ethereum"])) in info_contracts)
    decoy = {"id": DECOY_CMC_ID, "name": "Decoy", "symbol": "DCY", "slug": "decoy", "category": "token",
             "tags": [], "platform": None, "contract_address": [
                 {"contract_address": addr, "platform": {"name": "Ethereum", "coin": {
                     "id": str(chain), "name": "Ethereum", "symbol": "ETH", "slug": "ethereum"}}}]}
    insert_crafted(conn, "cmc__cryptocurrency_info", "cryptocurrency_info",
                   {"status": {"error_code": 0}, "data": {str(DECOY_CMC_ID): decoy}}, R1 - timedelta(hours=2))
    clone = {"id": CLONE, "symbol": "btc", "name": "Bitcoin", "platforms": {}}
    insert_crafted(conn, "coingecko__coins_list", "coins_list", [clone], R1 - timedelta(hours=2))
    return token, cmc_id


# ----------------------------------------------------------------------------------------- fixture

@dataclass
class Run:
    token: str = ""
    token_cmc_id: int = 0
    dims: dict[str, dict[str, dict]] = field(default_factory=dict)  # round -> asset -> dim_assets row
    snapshots: dict[str, list[dict]] = field(default_factory=dict)  # round -> snap_assets rows
    exchanges_r2: dict[str, Decimal] = field(default_factory=dict)  # r2's own BTC volumes, replaced later
    builds: dict[str, dict] = field(default_factory=dict)
    incremental_fact: list[tuple] = field(default_factory=list)
    incremental_dim: list[tuple] = field(default_factory=list)


def rows(conn, query: str) -> list[dict]:
    with conn.cursor(row_factory=dict_row) as cur:
        return cur.execute(query).fetchall()


def build(conn, run: Run, name: str, exclude: tuple[str, ...] | list[str] = ()) -> None:
    started = datetime.now(UTC)
    result = run_dbt(["build", *SELECTION, *exclude])
    result["wall_seconds"] = (datetime.now(UTC) - started).total_seconds()
    assert result["failed"] == [], result
    run.builds[name] = result
    run.dims[name] = {r["asset_id"]: r for r in rows(conn, "SELECT * FROM marts.dim_assets")}
    run.snapshots[name] = rows(conn, "SELECT * FROM snapshots.snap_assets")


@pytest.fixture(scope="module")
def run(sandbox, warehouse_dsn) -> Iterator[Run]:
    conn = psycopg.connect(warehouse_dsn, autocommit=True)
    views_before = views(conn)
    done = Run()
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name, value in {**SETTINGS, **connections(sandbox)}.items():
                patch.setenv(name, value)
            reset_controls(warehouse_dsn)
            sandbox.reset()
            sandbox.set_limits(enforce=False)
            for table in RAW_TABLES:
                if conn.execute("SELECT to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]:
                    conn.execute(f"TRUNCATE raw.{table}")
            for relation in BUILT:
                conn.execute(f"DROP TABLE IF EXISTS {relation}")
            try:
                sandbox.set_clock(R1)
                land(("coingecko_coins_list", "coingecko_markets", "coingecko_coins", "coingecko_exchanges",
                      "cmc_map", "cmc_listings", "cmc_info"), R1, "r1")
                done.token, done.token_cmc_id = craft_ambiguity(conn)
                build(conn, done, "r1", EARLY)

                sandbox.set_clock(R2)
                land(("coingecko_markets", "coingecko_exchanges", "cmc_listings"), R2, "r2")
                build(conn, done, "r2", MIDDLE)
                done.exchanges_r2 = {r["exchange_id"]: r["volume_24h_btc"] for r in rows(
                    conn, "SELECT * FROM marts.fct_exchange_volume_daily "
                          f"WHERE volume_date = '{DAY1.date()}'")}

                sandbox.set_clock(R2_AGAIN)  # the same intervals (run_after r2), values 25 minutes on
                land(("coingecko_markets", "coingecko_exchanges"), R2, "r2-again")
                build(conn, done, "r2-again", MIDDLE)

                sandbox.set_clock(R3)
                land(("coingecko_coins_list", "coingecko_markets", "coingecko_coins", "coingecko_exchanges",
                      "cmc_map", "cmc_listings", "cmc_info"), R3, "r3")
                patch.setenv("AIRFLOW_CONN_CMC", connections(sandbox, "growth")["AIRFLOW_CONN_CMC"])
                land(("cmc_exchange_listings",), R3, "r3")
            finally:
                sandbox.reset()
            build(conn, done, "r3")

            done.incremental_fact = fact_rows(conn)
            done.incremental_dim = dim_rows(conn)
            full = run_dbt(["build", "--full-refresh", "--select", "fct_exchange_volume_daily", "dim_assets",
                            *SELECTION[3:]])
            assert full["failed"] == [], full
            versions = len(run_snapshot(conn))
            assert len(done.snapshots["r3"]) == versions, "a snapshot with nothing changed adds no version"
        yield done
    finally:
        # leave no crafted rows, and no views of ours on the raw tables (a later test drops those)
        for table in ("cmc__cryptocurrency_info", "coingecko__coins_list"):
            conn.execute(f"DELETE FROM raw.{table} WHERE run_id = 'crafted'")
        for schema, name in sorted(views(conn) - views_before):
            conn.execute(f'DROP VIEW IF EXISTS {schema}."{name}" CASCADE')
        conn.close()


def run_snapshot(conn) -> list[dict]:
    result = run_dbt(["snapshot", "--select", "snap_assets"])
    assert result["failed"] == [], result
    return rows(conn, "SELECT * FROM snapshots.snap_assets")


def views(conn) -> set[tuple[str, str]]:
    return set(conn.execute(
        "SELECT table_schema, table_name FROM information_schema.views "
        "WHERE table_schema IN ('staging', 'intermediate')").fetchall())


def fact_rows(conn) -> list[tuple]:
    return conn.execute(
        "SELECT exchange_id, volume_date, cmc_exchange_id, volume_24h_btc, volume_24h_btc_normalized, "
        "btc_observations, volume_24h_usd, usd_observations, btc_observed_at, usd_observed_at "
        "FROM marts.fct_exchange_volume_daily ORDER BY exchange_id, volume_date").fetchall()


def dim_rows(conn) -> list[tuple]:
    return conn.execute("SELECT * FROM marts.dim_assets ORDER BY asset_id").fetchall()


@pytest.fixture(scope="module")
def data(run, warehouse_dsn) -> Landings:
    with psycopg.connect(warehouse_dsn) as conn:
        return Landings.read(conn)


@pytest.fixture(scope="module")
def identity(data) -> Identity:
    return expected_identity(data)


# ------------------------------------------------------------------------------------------- tests

def test_every_build_passes_in_time(run):
    for name, result in run.builds.items():
        print(f"dbt build {name}: {result['counts']} in {result['wall_seconds']:.1f} s")
        assert result["counts"].get("success", 0) >= 5 and result["counts"].get("pass", 0) >= 40, name


def test_identity_equals_the_matching_computed_from_the_bodies(run, identity, warehouse_dsn):
    with psycopg.connect(warehouse_dsn) as conn:
        got = {r[0]: r[1:] for r in conn.execute(
            "SELECT asset_id, cmc_id, match_rule FROM intermediate.int_asset_identity").fetchall()}
    assert set(got) == identity.universe
    assert {a: tuple(v) for a, v in got.items() if v[0] is not None} == identity.matched
    rules = {rule for _, rule in identity.matched.values()}
    assert rules == {"contract", "symbol_name"}, "both rules are exercised"
    # no matching is a guess: every pair the models matched is the same coin in the sandbox's universe
    truth = {c.cg_id: c.cmc_id for c in Universe.default().coins}
    assert all(truth.get(asset) == cmc_id for asset, (cmc_id, _) in identity.matched.items())


def test_ambiguous_model_holds_the_ambiguous_candidates(run, identity, warehouse_dsn):
    with psycopg.connect(warehouse_dsn) as conn:
        got = conn.execute("SELECT asset_id, candidate_cmc_id, match_rule, status, reason "
                           "FROM intermediate.int_asset_identity_ambiguous").fetchall()
    assert {r[:4] for r in got} == identity.ambiguous
    reasons = {(r[0], r[1]): r[4] for r in got}
    # the crafted cases: a token with two contract candidates, a CMC id two coins claim by symbol and name
    assert reasons[(run.token, run.token_cmc_id)] == "several_cmc_candidates"
    assert reasons[(run.token, DECOY_CMC_ID)] == "several_cmc_candidates"
    assert reasons[("bitcoin", 1)] == reasons[(CLONE, 1)] == "cmc_id_claimed_by_several_assets"
    dims = run.dims["r3"]
    assert dims[run.token]["cmc_id"] is None and dims["bitcoin"]["cmc_id"] is None


def test_dim_assets_values(run, data, identity):
    dims = run.dims["r3"]
    assert set(dims) == identity.universe
    for asset, row in dims.items():
        listed, details, market = data.coins.get(asset), data.details.get(asset), data.markets.get(asset)
        cmc_id, rule = identity.matched.get(asset, (None, None))
        assert (row["cmc_id"], row["cmc_match_rule"]) == (cmc_id, rule), asset
        rec = listed or details
        assert (row["name"], row["symbol"]) == (rec["name"].strip(), rec["symbol"].strip().lower()), asset
        platforms = {k.lower(): address(v) for k, v in (rec.get("platforms") or {}).items() if k}
        assert row["platforms"] == platforms, asset
        # rank and supplies: the later of the markets snapshot and /coins/{id} (markets on a tie)
        observed = market
        if details and (market is None or details["_fetched_at"] > market["_fetched_at"]):
            observed = {"market_cap_rank": details["market_cap_rank"], **details["market_data"]}
        if observed is None:
            assert row["market_cap_rank"] is None and row["circulating_supply"] is None, asset
        else:
            assert row["market_cap_rank"] == observed["market_cap_rank"], asset
            for supply in ("circulating_supply", "total_supply", "max_supply"):
                value = observed.get(supply)
                assert row[supply] == (None if value is None else Decimal(str(value))), (asset, supply)
        if details:
            assert row["categories"] == details["categories"], asset
            assert row["homepage_url"] == ((details["links"]["homepage"] or [""])[0].strip() or None), asset
            genesis = details.get("genesis_date")
            assert row["genesis_date"] == (date.fromisoformat(genesis) if genesis else None), asset
        else:
            assert row["categories"] is None, asset
        info = data.cmc_info.get(cmc_id) if cmc_id else None
        assert row["cmc_tags"] == (info["tags"] if info else None), asset
        assert row["cmc_category"] == (info["category"] if info else None), asset
    assert sum(1 for row in dims.values() if row["categories"]) >= 3
    # first seen: the earliest fetch that named the coin, kept from build to build
    first = run.dims["r1"]
    for asset, row in dims.items():
        if asset in first:
            assert row["first_seen_at"] == first[asset]["first_seen_at"], asset
    assert dims["bitcoin"]["first_seen_at"] == R1 and dims["bitcoin"]["last_seen_at"] == R3


def test_snapshot_gains_a_version_where_a_rank_changed(run):
    before, after = run.dims["r2-again"], run.dims["r3"]
    changed = {a for a in after if a in before and before[a]["market_cap_rank"] is not None
               and after[a]["market_cap_rank"] != before[a]["market_cap_rank"]}
    assert changed, "the clock moved far enough for some rank to change"
    versions = defaultdict(list)
    for row in run.snapshots["r3"]:
        versions[row["asset_id"]].append(row)
    kept = {row["asset_id"]: row for row in run.snapshots["r2-again"] if row["dbt_valid_to"] is None}
    for asset in changed:
        current = [v for v in versions[asset] if v["dbt_valid_to"] is None]
        assert len(current) == 1 and current[0]["market_cap_rank"] == after[asset]["market_cap_rank"], asset
        closed = [v for v in versions[asset] if v["dbt_valid_from"] == kept[asset]["dbt_valid_from"]]
        assert closed[0]["dbt_valid_to"] is not None, asset
        assert closed[0]["market_cap_rank"] == before[asset]["market_cap_rank"], asset
    # a coin never in the top 50 (no rank, no supplies) never changes: one version
    still = [a for a in after if all(a in dims and dims[a]["market_cap_rank"] is None
                                     for dims in run.dims.values())]
    assert still and all(len(versions[a]) == 1 for a in still)


def expected_exchange_days(warehouse_dsn: str) -> dict[tuple[str, date], dict]:
    """(exchange id, UTC day) -> the day's last observations, computed from the landed bodies."""
    with psycopg.connect(warehouse_dsn) as conn:
        coingecko = landed(conn, "coingecko__exchanges")
        cmc = landed(conn, "cmc__exchange_listings_latest")
    observed = {}  # (id, fetched_at) -> record, the later landing's
    for row in sorted(coingecko, key=lambda r: r["landing_id"]):
        for rec in row["body"]:
            observed[(rec["id"].strip().lower(), row["fetched_at"])] = rec
    names = defaultdict(set)
    for (exchange, _), rec in observed.items():
        names[re.sub(r"[\W_]+", "", rec["name"].strip().lower())].add(exchange)
    cmc_obs = {}
    for row in sorted(cmc, key=lambda r: (r["fetched_at"], r["landing_id"])):
        for rec in row["body"]["data"]:
            cmc_obs[(int(rec["id"]), rec["last_updated"])] = rec
    cmc_names = defaultdict(set)
    for (cmc_id, _), rec in cmc_obs.items():
        cmc_names[re.sub(r"[\W_]+", "", rec["name"].strip().lower())].add(cmc_id)
    mapping = {next(iter(cmc_ids)): next(iter(names[key])) for key, cmc_ids in cmc_names.items()
               if len(cmc_ids) == 1 and len(names.get(key, ())) == 1}
    days: dict[tuple[str, date], dict] = defaultdict(lambda: {"btc_observations": 0, "usd_observations": 0})
    for (exchange, fetched_at), rec in sorted(observed.items(), key=lambda kv: kv[0][1]):
        day = days[(exchange, utc_day(fetched_at))]
        day["btc_observations"] += 1
        day.update(volume_24h_btc=rec["trade_volume_24h_btc"], btc_observed_at=fetched_at)
    for (cmc_id, stamp), rec in sorted(cmc_obs.items(), key=lambda kv: kv[0][1]):
        if cmc_id not in mapping:
            continue
        at = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        day = days[(mapping[cmc_id], utc_day(at))]
        day["usd_observations"] += 1
        day.update(volume_24h_usd=rec["quote"]["USD"]["volume_24h"], usd_observed_at=at,
                   cmc_exchange_id=cmc_id)
    return days


def test_exchange_daily_volume_is_the_last_observation_of_each_day(run, warehouse_dsn):
    expected = expected_exchange_days(warehouse_dsn)
    got = {(r[0], r[1]): r for r in run.incremental_fact}
    assert set(got) == set(expected)
    for key, want in expected.items():
        (_, _, cmc_id, btc, _, btc_n, usd, usd_n, btc_at, usd_at) = got[key]
        want_btc = want.get("volume_24h_btc")
        assert btc == (None if want_btc is None else Decimal(str(want_btc))), key
        assert btc_at == want.get("btc_observed_at"), key
        assert (btc_n, usd_n) == (want["btc_observations"], want["usd_observations"]), key
        assert cmc_id == want.get("cmc_exchange_id") and usd_at == want.get("usd_observed_at"), key
        want_usd = want.get("volume_24h_usd")
        assert usd == (None if want_usd is None else Decimal(str(want_usd))), key
    day1 = [row for row in run.incremental_fact if row[1] == DAY1.date()]
    assert day1 and all(row[5] == 2 and row[8] == R2_AGAIN for row in day1), "r1 and r2-again; r2 replaced"
    # the re-landed interval corrected r2's values (the clock had moved 25 minutes)
    assert any(run.exchanges_r2[row[0]] != row[3] for row in day1)
    day3 = [row for row in run.incremental_fact if row[1] == (R3 - timedelta(hours=1)).date()]
    assert day3 and any(row[6] is not None for row in day3), "CMC volumes once exchange listings landed"
    assert all(row[6] is None for row in day1), "no CMC volume on the Basic plan's days"


def test_incremental_equals_a_full_refresh(run, warehouse_dsn):
    with psycopg.connect(warehouse_dsn) as conn:
        assert fact_rows(conn) == run.incremental_fact
        assert dim_rows(conn) == run.incremental_dim


def test_dim_exchanges_maps_cmc_by_name(run, warehouse_dsn):
    with psycopg.connect(warehouse_dsn, row_factory=dict_row) as conn:
        dims = conn.execute("SELECT * FROM marts.dim_exchanges").fetchall()
    mapped = [d for d in dims if d["cmc_exchange_id"] is not None]
    assert mapped and len({d["cmc_exchange_id"] for d in mapped}) == len(mapped)
    universe = {e.cg_id: e for e in Universe.default().exchanges}
    assert all(universe[d["exchange_id"]].cmc_id == d["cmc_exchange_id"] for d in mapped)
    binance = next(d for d in dims if d["exchange_id"] == "binance")
    assert (binance["exchange_name"], binance["country"], binance["year_established"]) == \
        ("Binance", "Cayman Islands", 2017)
