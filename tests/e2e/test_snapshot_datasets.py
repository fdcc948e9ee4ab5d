"""Every snapshot dataset built by :mod:`cryptoflow.dagfactory`, end to end on real parts: the API sandbox
→ ``airflow dags test <dataset>`` → its raw table in Postgres, checked byte for byte against what the
sandbox serves for the same requests, at the fewest calls; and the plan-gated one (CMC exchange listings
on a Basic key) skipped with the reason, before any call.

(``coingecko_markets``, the first of them, has its own slice test with dbt: ``test_coingecko_markets_slice``.)
"""

from __future__ import annotations

import json
import os
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
import pytest

from cryptoflow.apis import get_api
from cryptoflow.config import load_config
from tests.conftest import reset_controls
from tests.helpers import airflow_cli, lasting_intervals
from tests.helpers import sandbox_pages as fetch_pages

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# `dags test <logical date>` files a run under the interval of the DAG's cron that ends at the last tick
# at or before that date; the current hour's date keeps that interval current (a snapshot DAG lands only
# its current interval) for every cadence here. The sandbox's clock is frozen inside the interval, so
# "now" answers are the same bytes on every call.
# (set when the module's tests start, not at import: a full run may collect it more than an hour before)
LOGICAL_DATE: datetime
MARGIN = timedelta(minutes=8)  # how long the module's runs may take: their intervals stay current that long
TOP_N = 300
PLANS = {"coingecko": "demo", "cmc": "basic", "cmc_dex": "basic"}  # the conftest's connections


@dataclass(frozen=True)
class Case:
    dag_id: str
    api: str
    endpoint: str
    params: dict[str, Any] = field(default_factory=dict)  # what the DAG sends over the endpoint's defaults
    wanted: int | None = None

    def __str__(self) -> str:
        return self.dag_id


CASES = [
    Case("coingecko_global", "coingecko", "global"),
    Case("coingecko_trending", "coingecko", "search_trending"),
    Case("coingecko_exchanges", "coingecko", "exchanges"),
    Case("coingecko_coins_list", "coingecko", "coins_list"),
    Case("cmc_listings", "cmc", "cryptocurrency_listings_latest", {"convert": "USD"}, wanted=TOP_N),
    Case("cmc_map", "cmc", "cryptocurrency_map"),
    Case("cmc_fear_and_greed", "cmc", "fear_and_greed_latest"),
    Case("cmc_global_metrics", "cmc", "global_metrics_quotes_latest"),
    Case("cmc_dex_networks", "cmc_dex", "networks_list"),
]


def sandbox_pages(sandbox, case: Case) -> tuple[list[str], int]:
    """The bodies the sandbox serves for the dataset's request, page by page, fetched directly; and how
    many records they hold."""
    pages, records = fetch_pages(sandbox, case.api, PLANS[case.api], case.endpoint, case.params,
                                 wanted=case.wanted)
    return pages, len(records)


def calls_to(accounting: dict, api: str, endpoint_name: str) -> int:
    """Calls the sandbox counted for ``api``'s endpoint ``endpoint_name`` (any key)."""
    keys = accounting["apis"].get(api, {}).get("keys", {})
    return sum(key["endpoints"].get(endpoint_name, {}).get("calls", 0) for key in keys.values())


def interval_of(dag_id: str) -> tuple[datetime, datetime]:
    """The data interval ``dags test`` gives ``dag_id`` at ``LOGICAL_DATE``."""
    from croniter import croniter

    dataset = load_config().dataset(dag_id)
    end = croniter(dataset.schedule, LOGICAL_DATE + timedelta(seconds=1)).get_prev(datetime)
    return end - dataset.cadence, end


def task_state(airflow_db: str, dag_id: str) -> str | None:
    with psycopg.connect(airflow_db) as meta:
        row = meta.execute(
            "SELECT ti.state FROM task_instance ti "
            "JOIN dag_run r ON r.run_id = ti.run_id AND r.dag_id = ti.dag_id "
            "WHERE ti.dag_id = %s AND r.data_interval_start = %s", (dag_id, interval_of(dag_id)[0])
        ).fetchone()
    return row and row[0]


@dataclass
class Run:
    output: str  # everything `airflow dags test` printed
    calls: int  # calls the sandbox counted for the endpoint during the run
    pages: list[str]  # what the sandbox serves for the same requests, fetched afterwards
    records: int


GATED = Case("cmc_exchange_listings", "cmc", "exchange_listings_latest")


@pytest.fixture(scope="module", autouse=True)
def clock_now() -> None:
    global LOGICAL_DATE  # noqa: PLW0603 (read by every test here)
    intervals = lasting_intervals([case.dag_id for case in [*CASES, GATED]], MARGIN)
    LOGICAL_DATE = max(end for _, end in intervals.values())  # the last tick: the hourly DAGs'


@pytest.fixture(scope="module")
def runs(sandbox, airflow_db, clock_now) -> dict[str, Run]:
    """``airflow dags test`` of every dataset, once. The datasets whose runs share a data interval run
    together, with the control layer
    and the sandbox at rest and its clock frozen inside that interval; then the sandbox's accounting is
    read and its bodies for the same requests fetched. The datasets' raw tables are emptied first: the
    rows they hold afterwards are these runs' (other tests of the session land some of them too)."""
    with psycopg.connect(os.environ["CRYPTOFLOW_WAREHOUSE_DSN"], autocommit=True) as conn:
        for case in [*CASES, GATED]:
            table = get_api(case.api).raw_table(case.endpoint)
            if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0]:
                conn.execute(f"TRUNCATE {table}")
    env = {"CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N)}
    for api, plan in PLANS.items():
        env[f"AIRFLOW_CONN_{api.upper()}"] = json.dumps({
            "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
            "extra": {"plan": plan}})
    by_interval = defaultdict(list)
    for case in [*CASES, GATED]:
        by_interval[interval_of(case.dag_id)].append(case)
    out = {}
    for (start, _), cases in by_interval.items():
        reset_controls(os.environ["CRYPTOFLOW_WAREHOUSE_DSN"])
        sandbox.reset()
        sandbox.set_clock(start + timedelta(minutes=17, seconds=23))
        def dags_test(case: Case):
            return airflow_cli("dags", "test", case.dag_id, LOGICAL_DATE.isoformat(), env=env, check=False)

        # One after another: concurrent `dags test` processes write the same DAG and Asset rows of the
        # metadata database and can collide on its unique keys (seen as a rare failure).
        procs = [dags_test(case) for case in cases]
        accounting = sandbox.accounting()
        for case, proc in zip(cases, procs, strict=True):
            calls = calls_to(accounting, case.api, case.endpoint)
            pages, records = sandbox_pages(sandbox, case) if case is not GATED else ([], 0)
            out[case.dag_id] = Run(proc.stdout + proc.stderr, calls, pages, records)
    return out


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_snapshot_dataset_lands_the_sandboxs_bodies_at_the_fewest_calls(case, runs, airflow_db,
                                                                          warehouse):
    api = get_api(case.api)
    endpoint = api.endpoint(case.endpoint)
    run = runs[case.dag_id]

    assert task_state(airflow_db, case.dag_id) == "success", run.output[-3000:]
    # The fewest calls: as many as the paginator needs for the records there are (or are wanted).
    assert run.calls == len(run.pages) == endpoint.paginator.calls_for(case.wanted or run.records)

    raw = warehouse.execute(
        f"SELECT page, body, interval_start, interval_end, http_status, source, endpoint, run_id "
        f"FROM {api.raw_table(case.endpoint)} ORDER BY page").fetchall()
    assert [r[0] for r in raw] == list(range(1, len(run.pages) + 1)), "one row per page"
    assert [r[1] for r in raw] == run.pages, "unchanged, byte for byte"
    assert {(r[2], r[3]) for r in raw} == {interval_of(case.dag_id)}
    assert {(r[4], r[5], r[6]) for r in raw} == {(200, case.api, endpoint.path)}
    assert len({r[7] for r in raw}) == 1


def test_a_plan_gated_dataset_is_skipped_with_the_reason_and_calls_nothing(runs, airflow_db, warehouse):
    """CMC ``exchange/listings/latest`` is Growth and up; the connection is Basic: the run ends skipped,
    saying why, and the API is never called (it would answer 1006)."""
    run = runs[GATED.dag_id]

    assert task_state(airflow_db, GATED.dag_id) == "skipped", run.output[-3000:]
    assert ("CoinMarketCap /v1/exchange/listings/latest (endpoint exchange_listings_latest): skipped, the "
            "connection cmc is on plan basic, which may not call this endpoint; plans that may: growth, "
            "professional, enterprise") in run.output, run.output[-3000:]
    assert run.calls == 0
    # its raw table exists, as every dataset's does from the first landing of any (dbt's sources), empty
    assert warehouse.execute("SELECT count(*) FROM raw.cmc__exchange_listings_latest").fetchone()[0] == 0
