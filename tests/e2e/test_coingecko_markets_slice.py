"""The thin slice end to end, on real parts: the API sandbox → ``airflow dags test coingecko_markets``
→ raw table in Postgres → ``airflow dags test dbt_marts`` (dbt build with tests) → ``fct_price_hourly``,
checked value for value against the sandbox's own answers; then the same interval again, which must
leave every count and value as it was.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
import requests

from cryptoflow.apis import get_api
from tests.helpers import airflow_cli, audits_since, empty_warehouse, last_audit_id, lasting_interval

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

# The last full hour: a snapshot DAG lands only its current interval (a past one is skipped), so the
# test's two runs must both start before the next hour ends it; when fewer than MARGIN are left, the
# module waits for the next tick. The sandbox's clock is frozen inside it, so "now" answers are the
# same on every call. Set when the module's tests start (clock_now), not at import: collection may
# precede them by more than an hour in a full run, and the interval would then be past (skipped).
INTERVAL: tuple[datetime, datetime]
SANDBOX_NOW: datetime
LOGICAL_DATE: str  # `dags test` files a manual run under the interval that ends at its logical date
PAST_INTERVAL: tuple[datetime, datetime]
TOP_N = 300
MARGIN = timedelta(minutes=8)  # how long the module may take: its interval stays current that long


@pytest.fixture(scope="module", autouse=True)
def clock_now() -> None:
    global INTERVAL, SANDBOX_NOW, LOGICAL_DATE, PAST_INTERVAL  # noqa: PLW0603 (read by every test here)
    INTERVAL = lasting_interval("coingecko_markets", MARGIN)
    SANDBOX_NOW = INTERVAL[0] + timedelta(minutes=17, seconds=23)
    LOGICAL_DATE = INTERVAL[1].isoformat()
    PAST_INTERVAL = (INTERVAL[0] - timedelta(days=3), INTERVAL[1] - timedelta(days=3))


MARKETS = get_api("coingecko").endpoint("coins_markets")


def sandbox_pages(sandbox) -> list[str]:
    """The bodies the sandbox serves for the DAG's request, fetched directly."""
    pages = []
    size = MARKETS.paginator.size_for(TOP_N)
    for page in range(1, MARKETS.paginator.calls_for(TOP_N) + 1):
        response = requests.get(
            sandbox.base_url("coingecko", "demo") + MARKETS.path,
            params={**MARKETS.params, "page": page, "per_page": size},
            headers={"x-cg-demo-api-key": sandbox.key("coingecko", "demo")},
            timeout=30,
        )
        response.raise_for_status()
        pages.append(response.text)
    return pages


def mart(warehouse) -> dict[tuple[str, datetime], tuple]:
    """The mart's rows for the hours this test's interval can fill (other tests fill other days)."""
    rows = warehouse.execute(
        "SELECT asset_id, price_hour, price_usd, market_cap_usd, volume_24h_usd, market_cap_rank, "
        "observed_at FROM marts.fct_price_hourly WHERE price_hour BETWEEN %s AND %s",
        (INTERVAL[0] - timedelta(hours=1), INTERVAL[1])).fetchall()
    return {(r[0], r[1]): r[2:] for r in rows}


def as_decimal(value) -> Decimal | None:
    return None if value is None else Decimal(str(value))


def expected_mart(pages: list[str]) -> dict[tuple[str, datetime], tuple]:
    out = {}
    for page in pages:
        for coin in json.loads(page):
            observed = datetime.fromisoformat(coin["last_updated"].replace("Z", "+00:00"))
            hour = observed.replace(minute=0, second=0, microsecond=0)
            out[(coin["id"], hour)] = (as_decimal(coin["current_price"]), as_decimal(coin["market_cap"]),
                                       as_decimal(coin["total_volume"]), coin["market_cap_rank"], observed)
    return out


def run_slice(env: dict[str, str]) -> str:
    """Both DAGs, as ``airflow dags test`` runs them; returns everything they printed."""
    ingest = airflow_cli("dags", "test", "coingecko_markets", LOGICAL_DATE, env=env)
    dbt = airflow_cli("dags", "test", "dbt_marts", LOGICAL_DATE, env=env)
    return ingest.stdout + ingest.stderr + dbt.stdout + dbt.stderr


def test_markets_slice_end_to_end_and_rerun(sandbox, api_connections, airflow_db, warehouse):
    empty_warehouse(warehouse)  # a manual dbt_marts run builds (and tests) everything landed
    sandbox.reset()
    sandbox.set_clock(SANDBOX_NOW)
    env = {**api_connections, "CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N)}
    audited = last_audit_id(warehouse)  # other tests of the session may have landed this interval

    output = run_slice(env)

    # The key is in no output, no raw row and no XCom.
    key = sandbox.key("coingecko", "demo")
    assert key not in output
    assert warehouse.execute("SELECT count(*) FROM raw.coingecko__coins_markets "
                             "WHERE body LIKE %s OR request_params::text LIKE %s",
                             (f"%{key}%", f"%{key}%")).fetchone()[0] == 0
    with psycopg.connect(airflow_db) as meta:
        xcoms = meta.execute(
            "SELECT key, value::text FROM xcom WHERE dag_id = 'coingecko_markets'").fetchall()
    assert xcoms and all(key not in value for _, value in xcoms)
    summary = json.loads(dict(xcoms)["return_value"])
    summary = json.loads(summary) if isinstance(summary, str) else summary  # stored as a JSON string
    assert summary["pages"] == MARKETS.paginator.calls_for(TOP_N)

    # Raw: one row per page, unchanged bodies, the run's interval, the fewest calls.
    raw = warehouse.execute(
        "SELECT page, body, interval_start, interval_end, http_status, source, endpoint, run_id "
        "FROM raw.coingecko__coins_markets WHERE interval_start = %s ORDER BY page", (INTERVAL[0],)
    ).fetchall()
    expected_calls = MARKETS.paginator.calls_for(TOP_N)
    assert len(raw) == expected_calls == 2
    assert {(r[2], r[3]) for r in raw} == {INTERVAL}
    assert {(r[4], r[5], r[6]) for r in raw} == {(200, "coingecko", "/coins/markets")}
    pages = sandbox_pages(sandbox)
    assert [r[1] for r in raw] == pages  # unchanged, byte for byte
    calls = sandbox.accounting()
    assert calls_to(calls, MARKETS.name) == expected_calls + len(pages)  # the DAG's, then ours

    # Mart: value for value against the sandbox's own data.
    first = mart(warehouse)
    expected = expected_mart(pages)
    assert first == expected
    assert {hour for _, hour in first} <= {INTERVAL[0], INTERVAL[0] - timedelta(hours=1)}

    # The same interval again: same rows, same values; raw rows replaced, not added.
    run_slice(env)
    assert warehouse.execute("SELECT count(*) FROM raw.coingecko__coins_markets WHERE interval_start = %s",
                             (INTERVAL[0],)).fetchone()[0] == len(raw)
    assert mart(warehouse) == first
    audits = audits_since(warehouse, audited, "raw.coingecko__coins_markets")
    assert [(pages_, replaced) for _, pages_, replaced in audits] == [(expected_calls, 0),
                                                                      (expected_calls, expected_calls)]


def calls_to(accounting: dict, endpoint_name: str) -> int:
    """Calls the sandbox counted for CoinGecko's endpoint ``endpoint_name`` (any key)."""
    keys = accounting["apis"].get("coingecko", {}).get("keys", {})
    return sum(key["endpoints"].get(endpoint_name, {}).get("calls", 0) for key in keys.values())


def test_a_past_snapshot_run_is_skipped_and_lands_and_deletes_nothing(
        sandbox, api_connections, airflow_db, warehouse, monkeypatch):
    """A cleared or backfilled past run of a snapshot DAG would file today's listing under a past
    interval and replace what that interval had: it must end skipped, with the reason, touching
    nothing."""
    from cryptoflow.ingest import land_request

    sandbox.reset()
    sandbox.set_clock(PAST_INTERVAL[0] + timedelta(minutes=5))
    for name, value in api_connections.items():
        monkeypatch.setenv(name, value)
    land_request("coingecko", "coins_markets", interval_start=PAST_INTERVAL[0],
                 interval_end=PAST_INTERVAL[1], run_id="landed-then", wanted=TOP_N)
    landed = ("SELECT count(*), min(run_id), min(body_sha256) FROM raw.coingecko__coins_markets "
              "WHERE interval_start = %s")
    before = warehouse.execute(landed, (PAST_INTERVAL[0],)).fetchone()
    sandbox.reset_accounting()
    env = {**api_connections, "CRYPTOFLOW__UNIVERSE__TOP_N": str(TOP_N)}
    run = airflow_cli("dags", "test", "coingecko_markets", PAST_INTERVAL[1].isoformat(), env=env)
    output = run.stdout + run.stderr
    assert "is past. This endpoint answers only for now" in output, output[-3000:]
    assert "History comes from the history endpoints" in output
    with psycopg.connect(airflow_db) as meta:
        state = meta.execute(
            "SELECT ti.state FROM task_instance ti "
            "JOIN dag_run r ON r.run_id = ti.run_id AND r.dag_id = ti.dag_id "
            "WHERE ti.dag_id = 'coingecko_markets' AND r.data_interval_start = %s", (PAST_INTERVAL[0],)
        ).fetchone()[0]
    assert state == "skipped"
    assert calls_to(sandbox.accounting(), MARKETS.name) == 0, "nothing was fetched"
    after = warehouse.execute(landed, (PAST_INTERVAL[0],)).fetchone()
    assert after == before and before[:2] == (2, "landed-then"), "nothing was deleted or replaced"
