"""One API down, the others unaffected, on real parts: the API sandbox answers HTTP 500 to every
CoinMarketCap call (not to CMC DEX, a separate API behind the same host), and ``airflow dags test`` runs,
one after another, one DAG of each API.

- ``cmc_listings`` fails after its client's retries, saying which API, endpoint and interval, and its
  run ends failed; nothing lands; CMC's circuit breaker is open;
- ``cmc_listings`` again, while the breaker is open: skipped with the breaker's reason, no call made;
- ``coingecko_global`` and ``cmc_dex_networks`` succeed and land the sandbox's bodies; their breakers
  stay closed;
- the fault cleared and the (short) cool-down passed: ``cmc_listings`` probes (half-open), lands and the
  breaker closes.

Settings: CMC's breaker opens after ``RetryPolicy().max_attempts`` consecutive failures (the attempts of
one call within a try; the client's retry policy has no setting), with a short cool-down (see
``COOLDOWN_S``); CMC's limit is raised so the attempts are not paced 4 s apart. The failing run also
waits for Airflow's own retry of its task (``retries`` 3, ``retry_delay`` 1 min with exponential
backoff: 60-119 s before the second try), which is most of this module's time.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest

from cryptoflow.apis import get_api
from cryptoflow.client import RetryPolicy
from tests.conftest import reset_controls
from tests.helpers import airflow_cli, lasting_intervals, sandbox_pages

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PLANS = {"coingecko": "demo", "cmc": "basic", "cmc_dex": "basic"}
TOP_N = 300
ATTEMPTS = RetryPolicy().max_attempts  # the client's attempts of one call within a task
# CMC's cool-down: shorter than Airflow's shortest first retry delay (60 s: retry_delay 1 min with
# exponential backoff waits 60-119 s), so the failing run's second try always probes and opens the breaker
# again as it ends; as long as that allows, so that the next run (whose start took up to 45 s on a busy
# machine) still meets the breaker open.
COOLDOWN_S = 55
SETTINGS = {"CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N),
            "CRYPTOFLOW__APIS__CMC__BREAKER__FAILURES": str(ATTEMPTS),
            "CRYPTOFLOW__APIS__CMC__BREAKER__COOLDOWN_S": str(COOLDOWN_S),
            "CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "60"}
FAULT = {"api": "cmc", "kind": "error", "status": 500}
CMC = ("cmc_listings", "cmc", "cryptocurrency_listings_latest", {"convert": "USD"}, TOP_N)
COINGECKO = ("coingecko_global", "coingecko", "global", {}, None)
DEX = ("cmc_dex_networks", "cmc_dex", "networks_list", {}, None)
DATASETS = (CMC, COINGECKO, DEX)
MARGIN = timedelta(minutes=6)  # how long the module may take: its intervals stay current that long


@dataclass
class Run:
    dag_id: str
    output: str
    state: str  # the DAG run's
    tasks: dict[str, str]  # task id -> state
    calls: dict[str, int]  # calls the sandbox counted per API during the run
    api_calls: int  # attempts the control layer recorded (ops.api_call) during the run
    seconds: float


@dataclass
class Outage:
    interval: dict[str, tuple[datetime, datetime]]
    raw_before: dict[str, tuple]
    failed: Run
    breaker_after_failure: tuple
    raw_after_failure: tuple
    audits_after_failure: int
    skipped: Run
    skip_started: datetime
    raw_after_skip: tuple
    others: dict[str, Run]
    breakers: dict[str, tuple]  # api -> (state, failures, open_until, last_error), after the others ran
    recovered: Run
    breaker_after_recovery: tuple
    pages: dict[str, list[str]] = field(default_factory=dict)  # what the sandbox serves, fetched directly


def calls_by_api(sandbox) -> dict[str, int]:
    apis = sandbox.accounting(log=False)["apis"]
    return {api: apis.get(api, {}).get("calls", 0) for api in PLANS}


def raw_state(conn, table: str) -> tuple[int, int]:
    """(rows, last landing id) of a raw table; (0, 0) when absent (the warehouse's migrations create
    every raw table empty)."""
    if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is None:
        return (0, 0)
    return tuple(conn.execute(f"SELECT count(*), coalesce(max(landing_id), 0) FROM {table}").fetchone())


def breaker(conn, api: str) -> tuple | None:
    return conn.execute("SELECT state, failures, open_until, last_error FROM ops.circuit_breaker "
                        "WHERE api = %s", (api,)).fetchone()


def api_call_count(conn) -> int:
    if conn.execute("SELECT to_regclass('ops.api_call')").fetchone()[0] is None:
        return 0
    return conn.execute("SELECT count(*) FROM ops.api_call").fetchone()[0]


def audit_count(conn, table: str) -> int:
    if conn.execute("SELECT to_regclass('ops.landing_audit')").fetchone()[0] is None:
        return 0
    return conn.execute("SELECT count(*) FROM ops.landing_audit WHERE raw_table = %s", (table,)).fetchone()[0]


def dags_test(sandbox, airflow_db: str, conn, dag_id: str, *, end: datetime, env: dict[str, str]) -> Run:
    before, attempts = calls_by_api(sandbox), api_call_count(conn)
    began = time.monotonic()
    proc = airflow_cli("dags", "test", dag_id, end.isoformat(), env=env, check=False, timeout=400)
    seconds = time.monotonic() - began
    output = proc.stdout + proc.stderr
    if os.environ.get("CRYPTOFLOW_TEST_OUTPUT_DIR"):
        Path(os.environ["CRYPTOFLOW_TEST_OUTPUT_DIR"], f"{dag_id}-{int(time.time())}.log").write_text(output)
    after = calls_by_api(sandbox)
    with psycopg.connect(airflow_db) as meta:
        # `dags test` files a new run (its id from its start) under the interval each time: the latest.
        run_id, state = meta.execute(
            "SELECT run_id, state FROM dag_run WHERE dag_id = %s AND data_interval_end = %s "
            "ORDER BY id DESC LIMIT 1", (dag_id, end)).fetchone()
        tasks = dict(meta.execute(
            "SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s",
            (dag_id, run_id)).fetchall())
    return Run(dag_id, output, state, tasks, {api: after[api] - before[api] for api in PLANS},
               api_call_count(conn) - attempts, seconds)


@pytest.fixture(scope="module")
def outage(sandbox, airflow_db, warehouse_dsn) -> Iterator[Outage]:
    """The whole story, once; everything the tests check is read here (each test starts by resetting the
    control layer)."""
    env = dict(SETTINGS)
    for api, plan in PLANS.items():
        env[f"AIRFLOW_CONN_{api.upper()}"] = json.dumps({
            "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
            "extra": {"plan": plan}})
    tables = {dag_id: get_api(api).raw_table(endpoint) for dag_id, api, endpoint, *_ in DATASETS}
    intervals = lasting_intervals([dag_id for dag_id, *_ in DATASETS], MARGIN)
    cmc_table = tables["cmc_listings"]
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        raw_before = {dag_id: raw_state(conn, table) for dag_id, table in tables.items()}
        reset_controls(warehouse_dsn)
        sandbox.reset()
        sandbox.set_clock(intervals["cmc_listings"][0] + timedelta(minutes=17, seconds=23))
        audits = audit_count(conn, cmc_table)
        try:
            sandbox.set_faults(FAULT)

            def run(dag_id: str) -> Run:
                return dags_test(sandbox, airflow_db, conn, dag_id, end=intervals[dag_id][1], env=env)

            failed = run("cmc_listings")
            breaker_after_failure = breaker(conn, "cmc")
            raw_after_failure = raw_state(conn, cmc_table)
            audits_after_failure = audit_count(conn, cmc_table) - audits
            skip_started = datetime.now(UTC)
            skipped = run("cmc_listings")
            raw_after_skip = raw_state(conn, cmc_table)
            others = {dag_id: run(dag_id) for dag_id in ("coingecko_global", "cmc_dex_networks")}
            breakers = {api: breaker(conn, api) for api in PLANS}

            sandbox.clear_faults()
            open_until = breakers["cmc"][2] if breakers["cmc"] else datetime.now(UTC)
            time.sleep(max(0.0, (open_until - datetime.now(UTC)).total_seconds()) + 1)
            recovered = run("cmc_listings")
            breaker_after_recovery = breaker(conn, "cmc")
            pages = {dag_id: sandbox_pages(sandbox, api, PLANS[api], endpoint, params, wanted=wanted)[0]
                     for dag_id, api, endpoint, params, wanted in DATASETS}
            yield Outage(intervals, raw_before, failed, breaker_after_failure, raw_after_failure,
                         audits_after_failure, skipped, skip_started, raw_after_skip, others, breakers,
                         recovered, breaker_after_recovery, pages)
        finally:
            sandbox.clear_faults()
            # What this module landed goes, so that later modules see only their own rows.
            for dag_id, table in tables.items():
                if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone()[0] is not None:
                    conn.execute(f"DELETE FROM {table} WHERE landing_id > %s", (raw_before[dag_id][1],))


def interval_text(dag_id: str, outage: Outage) -> str:
    """How the client names the run's interval in its messages."""
    start, end = outage.interval[dag_id]
    return f"interval=[{start.isoformat()}, {end.isoformat()})"


def test_the_failing_apis_task_fails_after_the_clients_retries_saying_where_and_lands_nothing(outage):
    run = outage.failed
    # Every attempt of the call was made (and answered 500) before the task's first try gave up.
    assert run.calls["cmc"] >= ATTEMPTS and run.calls["coingecko"] == run.calls["cmc_dex"] == 0
    endpoint = get_api("cmc").endpoint("cryptocurrency_listings_latest")
    sent = endpoint.paginator.first({**endpoint.params, "convert": "USD"}, TOP_N)  # what the DAG asks
    message = (f"CoinMarketCap {endpoint.path} params={sent} {interval_text('cmc_listings', outage)}: "
               f"HTTP 500 after {ATTEMPTS} attempts: ")
    assert message in run.output, run.output[-4000:]
    assert outage.raw_after_failure == outage.raw_before["cmc_listings"], "nothing landed for CMC"
    assert outage.audits_after_failure == 0


def test_the_failing_apis_dag_run_ends_failed(outage):
    """The run of the interval CMC failed ends failed (Airflow's task retries included), so the outage is
    seen as a failure of that interval, not as a run that succeeded."""
    run = outage.failed
    assert (run.state, run.tasks) == ("failed", {"land_cryptocurrency_listings_latest": "failed"}), \
        (f"cmc_listings ended {run.state} with tasks {run.tasks} after {run.seconds:.0f} s\n"
         f"{run.output[-3000:]}")


def test_the_failing_apis_breaker_opens(outage):
    state, failures, _, last_error = outage.breaker_after_failure
    assert state == "open" and failures >= ATTEMPTS
    assert last_error.startswith("error_code 500"), last_error


def test_while_the_breaker_is_open_a_run_is_skipped_with_the_reason_and_calls_nothing(outage):
    run = outage.skipped
    assert run.tasks == {"land_cryptocurrency_listings_latest": "skipped"}, run.output[-3000:]
    assert ("CoinMarketCap /v1/cryptocurrency/listings/latest params=" in run.output
            and "skipped, CoinMarketCap circuit breaker open since" in run.output
            and "consecutive failed calls" in run.output), run.output[-3000:]
    ahead = (outage.breaker_after_failure[2] - outage.skip_started).total_seconds()
    assert run.calls == {api: 0 for api in PLANS}, \
        (f"no call reached the sandbox (the run started {ahead:.0f} s before the breaker's cool-down ended "
         f"and took {run.seconds:.0f} s)")
    assert run.api_calls == 0, "no attempt was made"
    assert outage.raw_after_skip == outage.raw_before["cmc_listings"], "nothing landed or was deleted"


@pytest.mark.parametrize("dag_id", ["coingecko_global", "cmc_dex_networks"])
def test_the_other_apis_dags_succeed_and_land(dag_id, outage, warehouse):
    run = outage.others[dag_id]
    _, api, endpoint, *_ = next(d for d in DATASETS if d[0] == dag_id)
    assert run.state == "success" and set(run.tasks.values()) == {"success"}, run.output[-3000:]
    assert run.calls[api] == len(outage.pages[dag_id]) and run.calls["cmc"] == 0
    rows = warehouse.execute(
        f"SELECT body FROM {get_api(api).raw_table(endpoint)} "
        "WHERE interval_start = %s AND interval_end = %s ORDER BY page", outage.interval[dag_id]).fetchall()
    assert [r[0] for r in rows] == outage.pages[dag_id], "the sandbox's bodies, unchanged"


def test_only_the_failing_apis_breaker_is_open(outage):
    states = {api: row[0] if row else None for api, row in outage.breakers.items()}
    assert states == {"cmc": "open", "coingecko": "closed", "cmc_dex": "closed"}
    assert outage.breakers["coingecko"][1] == outage.breakers["cmc_dex"][1] == 0


def test_after_the_cooldown_a_probe_closes_the_breaker_and_the_run_lands(outage, warehouse):
    run = outage.recovered
    assert run.state == "success" and run.tasks == {"land_cryptocurrency_listings_latest": "success"}, \
        run.output[-3000:]
    assert "circuit breaker half-open; this call probes whether the API is back" in run.output
    assert run.calls["cmc"] == len(outage.pages["cmc_listings"]) == 1
    state, failures, _, _ = outage.breaker_after_recovery
    assert (state, failures) == ("closed", 0)
    rows = warehouse.execute(
        "SELECT body FROM raw.cmc__cryptocurrency_listings_latest WHERE interval_start = %s AND "
        "interval_end = %s ORDER BY page", outage.interval["cmc_listings"]).fetchall()
    assert [r[0] for r in rows] == outage.pages["cmc_listings"]
