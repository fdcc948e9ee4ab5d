"""Re-runs of an interval on real parts, with data that changed in between (the UI's "clear"): the API
sandbox → ``airflow dags test <dag> <logical date>`` twice for the same interval → raw tables in Postgres
(and, for ``coingecko_markets``, ``dbt_marts`` → ``fct_price_hourly``).

The first run lands with the sandbox's clock frozen at T1, the second with it frozen at T2, a few minutes
later inside the same interval, so the sandbox answers other prices and volumes: a re-run that added
rows, kept some of the first run's, or left the mart on T1's values fails here (byte-identical bodies
could not tell). Each dataset shape once: a snapshot (``coingecko_markets``, 2 pages), a per-id dataset
(``coingecko_coins``, one call per coin) and a cursor-paged one (``cmc_dex_spot_pairs`` of one network).
For ``coingecko_markets`` T2 is a minute at which some coin of T1's top N has left the top N, as
happens between any two snapshots: the mart must then hold no row of that coin's T1 observation either.

Both runs are of the DAG's current interval (a snapshot DAG lands only that; a past one is skipped):
``dags test`` files its run under the interval that ends at the latest tick, and a test that would not
finish before the next tick makes that interval past waits for the tick first.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from tests.helpers import (
    airflow_cli,
    audits_since,
    empty_warehouse,
    last_audit_id,
    lasting_interval,
    sandbox_pages,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TOP_N = 300
COINS = 3  # coingecko_coins' top N here (one call per coin)
NETWORK = "solana"
LIQUIDITY_MIN = "100000"
SETTINGS = {"CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N),
            "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": str(COINS),
            "CRYPTOFLOW__DEX__NETWORKS": f"[{NETWORK}]",
            "CRYPTOFLOW__DEX__MIN_LIQUIDITY_USD": LIQUIDITY_MIN}
# How long a test's two runs may take at most: its interval must stay current that long.
MARGIN = timedelta(minutes=3)
T1_OFFSET = timedelta(minutes=17, seconds=23)  # from the interval's start
GAP = timedelta(minutes=5)  # T2 - T1 unless a better T2 is found (markets)


# ------------------------------------------------------------------------------------------ helpers


def dags_test(dag_id: str, end: datetime, env: dict[str, str]) -> str:
    """``airflow dags test dag_id <end>`` (the run of the interval that ends at ``end``); its output."""
    try:
        proc = airflow_cli("dags", "test", dag_id, end.isoformat(), env=env, check=False, timeout=600)
        output = proc.stdout + proc.stderr
    except subprocess.TimeoutExpired as exc:
        output = f"timed out after {exc.timeout} s\n{exc.stdout}\n{exc.stderr}"
    if os.environ.get("CRYPTOFLOW_TEST_OUTPUT_DIR"):
        Path(os.environ["CRYPTOFLOW_TEST_OUTPUT_DIR"], f"{dag_id}-{time.time_ns()}.log").write_text(output)
    return output


def states(airflow_db: str, dag_id: str, end: datetime) -> tuple[str, dict[str, list[str]]]:
    """The state of ``dag_id``'s run for the interval ending at ``end``, and its tasks' states."""
    with psycopg.connect(airflow_db) as meta:
        run = meta.execute("SELECT run_id, state FROM dag_run WHERE dag_id = %s AND data_interval_end = %s "
                           "ORDER BY id DESC LIMIT 1", (dag_id, end)).fetchone()
        rows = meta.execute("SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s "
                            "ORDER BY task_id, map_index", (dag_id, run[0])).fetchall()
    tasks: dict[str, list[str]] = {}
    for task_id, state in rows:
        tasks.setdefault(task_id, []).append(state)
    return run[1], tasks


def assert_succeeded(airflow_db: str, dag_id: str, end: datetime, output: str) -> None:
    state, tasks = states(airflow_db, dag_id, end)
    assert state == "success" and all(s == "success" for ss in tasks.values() for s in ss), \
        f"{dag_id}: run {state}, tasks {tasks}\n{output[-4000:]}"


@dataclass(frozen=True)
class Row:
    landing_id: int
    request_key: str
    endpoint: str
    page: int
    body: str
    body_sha256: str
    run_id: str
    fetched_at: datetime


def raw_rows(warehouse, table: str, interval: tuple[datetime, datetime]) -> list[Row]:
    """The rows of ``table`` filed under ``interval``, by request and page."""
    rows = warehouse.execute(
        f"SELECT landing_id, request_key, endpoint, page, body, body_sha256, run_id, fetched_at FROM {table} "
        "WHERE interval_start = %s AND interval_end = %s ORDER BY request_key, page", interval).fetchall()
    return [Row(*r) for r in rows]


def clear_interval(warehouse, table: str, interval: tuple[datetime, datetime]) -> None:
    """Forget what other tests of this session landed in ``table`` for ``interval``."""
    if warehouse.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
        warehouse.execute(f"DELETE FROM {table} WHERE interval_start = %s AND interval_end = %s", interval)


def by_request(rows: list[Row]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.endpoint + " " + row.request_key, []).append(row.body)
    return out


def assert_replaced(first: list[Row], second: list[Row], audits: list[tuple[str, int, int]],
                    t1: datetime, t2: datetime) -> None:
    """The re-run's rows replaced the first run's: as many, none of the first left, audited as such."""
    assert first and second
    assert {r.fetched_at for r in first} == {t1}, "the first run landed what the sandbox served at T1"
    assert {r.fetched_at for r in second} == {t2}, "the re-run landed what the sandbox served at T2"
    assert len(second) == len(first), "replaced, not added"
    assert [(r.request_key, r.page) for r in second] == [(r.request_key, r.page) for r in first]
    assert not {r.body_sha256 for r in first} & {r.body_sha256 for r in second}, \
        "no body of the first run is left (and none was the same)"
    assert min(r.landing_id for r in second) > max(r.landing_id for r in first), "every row is new"
    assert len({r.run_id for r in second}) == 1
    assert not {r.run_id for r in first} & {r.run_id for r in second}, "no row of the first run is left"
    replaced: dict[str, int] = {}
    for key, _, rows_replaced in audits:
        replaced[key] = replaced.get(key, 0) + rows_replaced
    first_per_key: dict[str, int] = {}
    for r in first:
        first_per_key[r.request_key] = first_per_key.get(r.request_key, 0) + 1
    assert replaced == first_per_key, "the audit says each request replaced the first run's rows"
    assert sum(rows_replaced for *_, rows_replaced in audits) == len(first)


# ------------------------------------------------------------------------------------ coingecko_markets


def changed_top(t1: datetime, end: datetime) -> tuple[datetime, bool]:
    """A T2 in the interval, a few minutes after T1, at which some coin of T1's top N has left the top N
    (the re-run must drop it everywhere), and True; (T1 + GAP, False) when no such minute comes before
    the hour ends. Worked out from the sandbox's universe, which serves the listing."""
    from cryptoflow.sandbox.universe import Universe

    universe = Universe.default()

    def top(at: datetime) -> set[str]:
        return {coin.cg_id for coin, _ in universe.cg_ranking(int(at.timestamp()) // 60 * 60)[:TOP_N]}

    before = top(t1)
    at = t1 + timedelta(minutes=3)
    while at < end - timedelta(minutes=3):
        if before - top(at):
            return at, True
        at += timedelta(minutes=1)
    return t1 + GAP, False


def as_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def expected_mart(pages: list[str]) -> dict[tuple[str, datetime], tuple]:
    """``fct_price_hourly``'s rows worked out from ``/coins/markets`` bodies: per coin and hour of its
    ``last_updated``, the latest observation."""
    out: dict[tuple[str, datetime], tuple] = {}
    for page in pages:
        for coin in json.loads(page):
            observed = datetime.fromisoformat(coin["last_updated"].replace("Z", "+00:00"))
            hour = observed.replace(minute=0, second=0, microsecond=0)
            row = (as_decimal(coin["current_price"]), as_decimal(coin["market_cap"]),
                   as_decimal(coin["total_volume"]), coin["market_cap_rank"], observed)
            if (coin["id"], hour) not in out or out[(coin["id"], hour)][-1] < observed:
                out[(coin["id"], hour)] = row
    return out


def mart(warehouse, hours: set[datetime]) -> list[tuple]:
    return warehouse.execute(
        "SELECT asset_id, price_hour, price_usd, market_cap_usd, volume_24h_usd, market_cap_rank, "
        "observed_at FROM marts.fct_price_hourly WHERE price_hour = ANY(%s) ORDER BY asset_id, price_hour",
        (sorted(hours),)).fetchall()


def as_map(rows: list[tuple]) -> dict[tuple[str, datetime], tuple]:
    return {(r[0], r[1]): tuple(r[2:]) for r in rows}


def records(pages: list[str]) -> dict[str, dict]:
    return {coin["id"]: coin for page in pages for coin in json.loads(page)}


def test_a_markets_rerun_replaces_raw_rows_and_mart_values_with_the_new_data(
        sandbox, api_connections, airflow_db, warehouse):
    table = "raw.coingecko__coins_markets"
    interval = lasting_interval("coingecko_markets", MARGIN)
    end = interval[1]
    t1 = interval[0] + T1_OFFSET
    t2, top_changes = changed_top(t1, end)
    env = {**api_connections, **SETTINGS}
    params = {"vs_currency": "usd"}
    empty_warehouse(warehouse)  # a manual dbt_marts run builds (and tests) everything landed
    sandbox.reset()

    sandbox.set_clock(t1)
    output = dags_test("coingecko_markets", end, env)
    assert_succeeded(airflow_db, "coingecko_markets", end, output)
    output = dags_test("dbt_marts", end, env)
    assert_succeeded(airflow_db, "dbt_marts", end, output)
    first = raw_rows(warehouse, table, interval)
    pages_t1, _ = sandbox_pages(sandbox, "coingecko", "demo", "coins_markets", params, wanted=TOP_N)
    assert [r.body for r in first] == pages_t1, "the first run landed T1's bodies"
    hours_t1 = {hour for _, hour in expected_mart(pages_t1)}
    assert as_map(mart(warehouse, hours_t1)) == expected_mart(pages_t1), "the mart holds T1's values"
    audited = last_audit_id(warehouse)

    sandbox.set_clock(t2)
    output = dags_test("coingecko_markets", end, env)
    assert_succeeded(airflow_db, "coingecko_markets", end, output)
    second = raw_rows(warehouse, table, interval)
    pages_t2, _ = sandbox_pages(sandbox, "coingecko", "demo", "coins_markets", params, wanted=TOP_N)
    output = dags_test("dbt_marts", end, env)
    assert_succeeded(airflow_db, "dbt_marts", end, output)

    # The data changed between the runs (else this test proves nothing): prices and volumes.
    old, new = records(pages_t1), records(pages_t2)
    both = old.keys() & new.keys()
    assert sum(old[i]["current_price"] != new[i]["current_price"] for i in both) > len(both) // 2
    assert sum(old[i]["total_volume"] != new[i]["total_volume"] for i in both) > len(both) // 2

    # Raw: exactly T2's bodies, byte for byte, in place of T1's.
    assert [r.body for r in second] == pages_t2, "the re-run landed T2's bodies, unchanged"
    assert_replaced(first, second, audits_since(warehouse, audited, table), t1, t2)

    # Mart: the hours either run observed hold T2's values, once per coin and hour, nothing of T1's.
    expected = expected_mart(pages_t2)
    hours = hours_t1 | {hour for _, hour in expected}
    rows = mart(warehouse, hours)
    assert len(rows) == len({(r[0], r[1]) for r in rows}), "no duplicates"
    got = as_map(rows)
    assert {key: row for key, row in got.items() if key in expected} == expected, \
        "every coin of T2 with T2's values"
    assert any(row[0] != as_decimal(old[coin]["current_price"])
               for (coin, _), row in got.items() if coin in both), "prices the mart holds differ from T1's"
    left = sorted(old.keys() - new.keys())  # coins of T1's top N that are not in T2's
    # what the sandbox served agrees with the universe's ranking T2 was picked from (either way)
    assert bool(left) == top_changes, (left, top_changes)
    stale = sorted(key for key in got if key not in expected)
    assert not stale, (f"fct_price_hourly keeps {len(stale)} rows of T1 that the re-run's raw rows do "
                       f"not hold (coins that left the top {TOP_N} between T1 and T2: {left}): {stale[:5]}")


# ------------------------------------------------------------------------------------- coingecko_coins


def test_a_per_id_rerun_replaces_every_coins_row_with_the_new_data(sandbox, api_connections, airflow_db,
                                                                    warehouse):
    table = "raw.coingecko__coin"
    interval = lasting_interval("coingecko_coins", MARGIN)
    end = interval[1]
    t1 = interval[0] + T1_OFFSET
    t2 = t1 + GAP
    env = {**api_connections, **SETTINGS}
    clear_interval(warehouse, table, interval)
    sandbox.reset()

    sandbox.set_clock(t1)
    output = dags_test("coingecko_coins", end, env)
    assert_succeeded(airflow_db, "coingecko_coins", end, output)
    first = raw_rows(warehouse, table, interval)
    paths = sorted(r.endpoint for r in first)
    assert len(paths) == COINS, paths
    ids = [path.removeprefix("/coins/") for path in paths]
    pages_t1 = {i: sandbox_pages(sandbox, "coingecko", "demo", "coin", path_values={"id": i})[0] for i in ids}
    assert {r.endpoint: [r.body] for r in first} == {f"/coins/{i}": pages for i, pages in pages_t1.items()}
    audited = last_audit_id(warehouse)

    sandbox.set_clock(t2)
    output = dags_test("coingecko_coins", end, env)
    assert_succeeded(airflow_db, "coingecko_coins", end, output)
    second = raw_rows(warehouse, table, interval)
    pages_t2 = {i: sandbox_pages(sandbox, "coingecko", "demo", "coin", path_values={"id": i})[0] for i in ids}

    # The data changed between the runs: every coin's price and volume.
    for i in ids:
        old, new = (json.loads(pages[i][0])["market_data"] for pages in (pages_t1, pages_t2))
        assert old["current_price"]["usd"] != new["current_price"]["usd"], i
        assert old["total_volume"]["usd"] != new["total_volume"]["usd"], i

    # The same coins (the listing they come from did not change), each with T2's body only.
    assert {r.endpoint: [r.body] for r in second} == {f"/coins/{i}": pages for i, pages in pages_t2.items()}
    assert_replaced(first, second, audits_since(warehouse, audited, table), t1, t2)


# ---------------------------------------------------------------------------------- cmc_dex_spot_pairs


def test_a_paged_rerun_replaces_every_page_with_the_new_data(sandbox, api_connections, airflow_db,
                                                             warehouse):
    table = "raw.cmc_dex__spot_pairs_latest"
    interval = lasting_interval("cmc_dex_spot_pairs", MARGIN)
    end = interval[1]
    t1 = interval[0] + T1_OFFSET
    t2 = t1 + GAP
    env = {**api_connections, **SETTINGS}
    params = {"network_slug": NETWORK, "liquidity_min": LIQUIDITY_MIN}
    clear_interval(warehouse, table, interval)
    sandbox.reset()

    sandbox.set_clock(t1)
    output = dags_test("cmc_dex_spot_pairs", end, env)
    assert_succeeded(airflow_db, "cmc_dex_spot_pairs", end, output)
    first = raw_rows(warehouse, table, interval)
    pages_t1, pairs_t1 = sandbox_pages(sandbox, "cmc_dex", "basic", "spot_pairs_latest", params)
    assert len(pages_t1) > 1, "the scroll_id cursor is walked over more than one page"
    assert [r.body for r in first] == pages_t1
    audited = last_audit_id(warehouse)

    sandbox.set_clock(t2)
    output = dags_test("cmc_dex_spot_pairs", end, env)
    assert_succeeded(airflow_db, "cmc_dex_spot_pairs", end, output)
    second = raw_rows(warehouse, table, interval)
    pages_t2, pairs_t2 = sandbox_pages(sandbox, "cmc_dex", "basic", "spot_pairs_latest", params)

    # The data changed between the runs: pair prices and volumes (not only the bodies' timestamps).
    old = {p["contract_address"]: p["quote"][0] for p in pairs_t1}
    new = {p["contract_address"]: p["quote"][0] for p in pairs_t2}
    both = old.keys() & new.keys()
    assert sum(old[a]["price"] != new[a]["price"] for a in both) > len(both) // 2
    assert sum(old[a]["volume_24h"] != new[a]["volume_24h"] for a in both) > len(both) // 2
    assert len(pages_t2) == len(pages_t1), "as many pages at T2 (else pick another T2)"

    assert [r.body for r in second] == pages_t2, "every page of T2, unchanged, in order"
    assert_replaced(first, second, audits_since(warehouse, audited, table), t1, t2)
