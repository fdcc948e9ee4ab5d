"""The datasets over ids (:mod:`cryptoflow.catalog`), end to end on real parts: the API sandbox →
``airflow dags test <dataset>`` → raw tables in Postgres.

Each starts with its listing never landed (the tables are emptied), so each lands its listing first, as
a per-id DAG switched on before its listing's DAG does: ``coingecko_coins`` lands ``coingecko_markets``
then calls ``/coins/{id}`` for the first N coins; ``cmc_info`` lands ``cmc_listings`` then bundles 100 ids
per call; ``cmc_dex_pair_quotes`` lands ``cmc_dex_spot_pairs`` (every page of each network) then bundles
each network's top pairs into one call; ``cmc_dex_pair_ohlcv`` reads those pairs and calls once per pair.
The requests the test expects are worked out here from what the sandbox lists, fetched directly; the
rows must be the sandbox's bodies for exactly those requests, byte for byte, at the fewest calls.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cryptoflow.apis import get_api
from cryptoflow.config import load_config
from cryptoflow.snapshots import current_interval
from tests.conftest import reset_controls
from tests.helpers import airflow_cli, sandbox_pages

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLANS = {"coingecko": "demo", "cmc": "basic", "cmc_dex": "basic"}
TOP_N = 300
COINS = 5  # coingecko_coins' top N here (one call per coin)
PAIRS = 3  # dex.pairs_per_network here
NETWORKS = ("ethereum", "solana")
LIQUIDITY_MIN = "100000"
EMPTIED = ("raw.coingecko__coins_markets", "raw.coingecko__coin", "raw.cmc__cryptocurrency_listings_latest",
           "raw.cmc__cryptocurrency_info", "raw.cmc_dex__spot_pairs_latest",
           "raw.cmc_dex__pairs_quotes_latest", "raw.cmc_dex__pairs_ohlcv_historical")


def calls_to(accounting: dict, api: str, endpoint_name: str) -> int:
    keys = accounting["apis"].get(api, {}).get("keys", {})
    return sum(key["endpoints"].get(endpoint_name, {}).get("calls", 0) for key in keys.values())


def bodies(warehouse, table: str) -> list[str]:
    return sorted(r[0] for r in warehouse.execute(f"SELECT body FROM {table}").fetchall())


def states(airflow_db: str, dag_id: str) -> dict[str, list[str]]:
    import psycopg

    with psycopg.connect(airflow_db) as meta:
        rows = meta.execute("SELECT task_id, state FROM task_instance WHERE dag_id = %s ORDER BY map_index",
                            (dag_id,)).fetchall()
    out: dict[str, list[str]] = {}
    for task_id, state in rows:
        out.setdefault(task_id, []).append(state)
    return out


@pytest.fixture(scope="module")
def runs(sandbox, airflow_db, warehouse_dsn):
    """Empty the listings, freeze the sandbox inside the current hour, run the per-id DAGs one after
    another with nothing landed before; return each run's output and the sandbox's call counts."""
    import psycopg

    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        for table in EMPTIED:
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]:
                conn.execute(f"TRUNCATE {table}")  # dbt's staging views may read it: emptied, not dropped
    env = {"CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N),
           "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": str(COINS),
           "CRYPTOFLOW__DEX__PAIRS_PER_NETWORK": str(PAIRS),
           "CRYPTOFLOW__DEX__NETWORKS": json.dumps(NETWORKS),
           "CRYPTOFLOW__DEX__MIN_LIQUIDITY_USD": LIQUIDITY_MIN}
    for api, plan in PLANS.items():
        env[f"AIRFLOW_CONN_{api.upper()}"] = json.dumps({
            "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
            "extra": {"plan": plan}})
    reset_controls(warehouse_dsn)
    sandbox.reset()
    sandbox.set_clock(datetime.now(UTC) - timedelta(seconds=1))  # frozen: the same bytes on every call
    out = {}
    for dag_id in ("coingecko_coins", "cmc_info", "cmc_dex_pair_quotes", "cmc_dex_pair_ohlcv"):
        # `dags test <date>` runs the interval that ends at the last tick at or before the date: the
        # current one (a snapshot DAG lands only that).
        _, logical_date = current_interval(load_config().dataset(dag_id).schedule, datetime.now(UTC))
        before = sandbox.accounting(log=False)
        try:
            proc = airflow_cli("dags", "test", dag_id, logical_date.isoformat(), env=env, check=False,
                               timeout=240)
            output = proc.stdout + proc.stderr
        except subprocess.TimeoutExpired as exc:
            output = f"timed out after {exc.timeout} s\n{exc.stdout}\n{exc.stderr}"
        after = sandbox.accounting(log=False)
        if os.environ.get("CRYPTOFLOW_TEST_OUTPUT_DIR"):
            Path(os.environ["CRYPTOFLOW_TEST_OUTPUT_DIR"], f"{dag_id}.log").write_text(output)
        out[dag_id] = {"output": output, "calls": {
            (api, name): calls_to(after, api, name) - calls_to(before, api, name)
            for api in PLANS for name in get_api(api).endpoints}}
    return out


def spent(run: dict) -> dict[tuple[str, str], int]:
    return {k: v for k, v in run["calls"].items() if v}


def test_coingecko_coins_lands_its_listing_then_one_call_per_coin_of_the_top_n(runs, sandbox, airflow_db,
                                                                                  warehouse):
    run = runs["coingecko_coins"]
    assert states(airflow_db, "coingecko_coins") == {"select_ids": ["success"], "land_coin": ["success"]}, \
        run["output"][-3000:]
    listing, coins = sandbox_pages(sandbox, "coingecko", "demo", "coins_markets", {"vs_currency": "usd"},
                                   wanted=TOP_N)
    ids = [coin["id"] for coin in coins[:COINS]]
    markets = get_api("coingecko").endpoint("coins_markets").paginator.calls_for(TOP_N)
    assert spent(run) == {("coingecko", "coins_markets"): markets, ("coingecko", "coin"): COINS}
    assert bodies(warehouse, "raw.coingecko__coins_markets") == sorted(listing)
    expected = [sandbox_pages(sandbox, "coingecko", "demo", "coin", path_values={"id": i})[0][0] for i in ids]
    assert bodies(warehouse, "raw.coingecko__coin") == sorted(expected)
    paths = warehouse.execute("SELECT endpoint FROM raw.coingecko__coin").fetchall()
    assert sorted(p[0] for p in paths) == sorted(f"/coins/{i}" for i in ids)


def test_cmc_info_bundles_a_hundred_ids_per_call(runs, sandbox, airflow_db, warehouse):
    run = runs["cmc_info"]
    assert states(airflow_db, "cmc_info") == {"select_ids": ["success"],
                                              "land_cryptocurrency_info": ["success"]}, run["output"][-3000:]
    _, listed = sandbox_pages(sandbox, "cmc", "basic", "cryptocurrency_listings_latest", {"convert": "USD"},
                              wanted=TOP_N)
    ids = [str(coin["id"]) for coin in listed[:TOP_N]]
    assert spent(run) == {("cmc", "cryptocurrency_listings_latest"): 1,
                          ("cmc", "cryptocurrency_info"): math.ceil(TOP_N / 100)}
    expected = [sandbox_pages(sandbox, "cmc", "basic", "cryptocurrency_info",
                              {"id": ",".join(ids[at:at + 100]), "skip_invalid": "true"})[0][0]
                for at in range(0, TOP_N, 100)]
    assert bodies(warehouse, "raw.cmc__cryptocurrency_info") == sorted(expected)


def spot_pairs(sandbox) -> dict[str, tuple[list[str], list[str]]]:
    """Per network: the sandbox's spot-pair pages, and the pairs' addresses in listed order."""
    out = {}
    for slug in NETWORKS:
        pages, pairs = sandbox_pages(sandbox, "cmc_dex", "basic", "spot_pairs_latest",
                                     {"network_slug": slug, "liquidity_min": LIQUIDITY_MIN})
        out[slug] = (pages, [p["contract_address"] for p in pairs])
    return out


def test_dex_pair_quotes_land_every_spot_pair_page_then_one_bundled_call_per_network(
        runs, sandbox, airflow_db, warehouse):
    run = runs["cmc_dex_pair_quotes"]
    assert states(airflow_db, "cmc_dex_pair_quotes") == {"select_ids": ["success"],
                                                         "land_pairs_quotes_latest": ["success"]}, \
        run["output"][-3000:]
    listed = spot_pairs(sandbox)
    pages = sum(len(p) for p, _ in listed.values())
    assert pages > len(NETWORKS), "the scroll_id cursor is walked over more than one page"
    assert spent(run) == {("cmc_dex", "spot_pairs_latest"): pages,
                          ("cmc_dex", "pairs_quotes_latest"): len(NETWORKS)}
    assert bodies(warehouse, "raw.cmc_dex__spot_pairs_latest") == sorted(
        body for pages_of_network, _ in listed.values() for body in pages_of_network)
    expected = [sandbox_pages(sandbox, "cmc_dex", "basic", "pairs_quotes_latest",
                              {"network_slug": slug,
                               "contract_address": ",".join(pairs[:PAIRS])})[0][0]
                for slug, (_, pairs) in listed.items()]
    assert bodies(warehouse, "raw.cmc_dex__pairs_quotes_latest") == sorted(expected)


def test_dex_pair_ohlcv_one_call_per_top_pair_from_the_landed_spot_pairs(runs, sandbox, airflow_db,
                                                                           warehouse):
    run = runs["cmc_dex_pair_ohlcv"]
    assert states(airflow_db, "cmc_dex_pair_ohlcv") == {"select_ids": ["success"],
                                                        "land_pairs_ohlcv_historical": ["success"]}, \
        run["output"][-3000:]
    # The spot pairs landed by the previous DAG are read, not fetched again.
    assert spent(run) == {("cmc_dex", "pairs_ohlcv_historical"): PAIRS * len(NETWORKS)}
    expected = [sandbox_pages(sandbox, "cmc_dex", "basic", "pairs_ohlcv_historical",
                              {"network_slug": slug, "contract_address": pair, "count": str(6 + 2)})[0][0]
                for slug, (_, pairs) in spot_pairs(sandbox).items() for pair in pairs[:PAIRS]]
    assert bodies(warehouse, "raw.cmc_dex__pairs_ohlcv_historical") == sorted(expected)
    candles = warehouse.execute(
        "SELECT count(*) FROM raw.cmc_dex__pairs_ohlcv_historical, "
        "jsonb_array_elements(body_json -> 'data') d, jsonb_array_elements(d -> 'quotes') q").fetchone()[0]
    assert candles >= 6 * PAIRS * len(NETWORKS), "each call covers the 6 hours of the cadence"
