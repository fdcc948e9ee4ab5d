"""The incremental prices mart under concurrent landings: a landing that commits after a dbt run began,
under an earlier stamp, is still picked up by the next run (the watermark follows commit order).

Two landings overlap: A (hour 10) starts first and commits last; B (hour 11) starts after A and
commits before a dbt run. That run sees B, not A. A watermark on ``landed_at`` (A's stamp is older than
B's) would skip A for ever; the snapshot-xmin watermark of ``commit_watermark`` reads it on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cryptoflow.apis import get_api
from cryptoflow.dbt import run_dbt
from cryptoflow.landing import Request, _replace, ensure_raw_table, request_key
from cryptoflow.warehouse import migrate
from tests.helpers import sandbox_pages

pytestmark = pytest.mark.slow

DAY = datetime(2026, 8, 3, tzinfo=UTC)
TABLE = "raw.coingecko__coins_markets"
MARKETS = get_api("coingecko").endpoint("coins_markets")
PARAMS = {"vs_currency": "usd"}
TOP = 50


@dataclass
class Page:
    params: dict
    status: int
    text: str
    records: int
    fetched_at: datetime


def pages_at(sandbox, at: datetime) -> list[Page]:
    sandbox.set_clock(at)
    texts, records = sandbox_pages(sandbox, "coingecko", "demo", "coins_markets", PARAMS, wanted=TOP)
    sent = MARKETS.paginator.first({**MARKETS.params, **PARAMS}, TOP)
    return [Page(dict(sent), 200, text, len(records), at) for text in texts]


def begin_landing(dsn: str, hour: int, pages: list[Page]) -> psycopg.Connection:
    """Land ``pages`` for hour ``hour`` in a transaction left open (the caller commits)."""
    conn = psycopg.connect(dsn)
    cur = conn.cursor()
    key = request_key(MARKETS.path, {**MARKETS.params, **PARAMS}, ("page", "per_page"))
    ensure_raw_table(cur, TABLE)
    _replace(cur, raw_table=TABLE, source="coingecko", request=Request(MARKETS.path, key, pages),
             interval_start=DAY + timedelta(hours=hour), interval_end=DAY + timedelta(hours=hour + 1),
             run_id=f"overlap-{hour}")
    return conn


def hours(warehouse) -> dict[datetime, int]:
    return dict(warehouse.execute(
        "SELECT price_hour, count(*) FROM marts.fct_price_hourly WHERE price_hour >= %s GROUP BY 1",
        (DAY,)).fetchall())


def rows(warehouse) -> list[tuple]:
    return warehouse.execute(
        "SELECT asset_id, price_hour, price_usd, market_cap_usd, observed_at FROM marts.fct_price_hourly "
        "ORDER BY 1, 2").fetchall()


def test_a_landing_that_commits_during_a_run_is_read_by_the_next(sandbox, warehouse, warehouse_dsn):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        migrate(conn)
    warehouse.execute(f"TRUNCATE {TABLE}")
    warehouse.execute("DROP TABLE IF EXISTS marts.fct_price_hourly")
    sandbox.reset()
    hour_10 = pages_at(sandbox, DAY + timedelta(hours=10, minutes=40))
    hour_11 = pages_at(sandbox, DAY + timedelta(hours=11, minutes=40))
    # the staging view and the mart exist (the mart empty): the next runs are incremental
    run_dbt(["build", "--select", "+fct_price_hourly"])

    a = begin_landing(warehouse_dsn, 10, hour_10)  # A: stamped first, still open
    b = begin_landing(warehouse_dsn, 11, hour_11)  # B: stamped after A
    b.commit()
    a_xid, a_stamp = a.execute(f"SELECT landed_xid, max(landed_at) FROM {TABLE} WHERE run_id = 'overlap-10' "
                               "GROUP BY 1").fetchone()
    b_xid, b_stamp = warehouse.execute(f"SELECT landed_xid, max(landed_at) FROM {TABLE} "
                                       "WHERE run_id = 'overlap-11' GROUP BY 1").fetchone()
    assert a_stamp < b_stamp and int(str(a_xid)) < int(str(b_xid)), "A landed first and commits last"

    # A dbt run while A is open: it reads B only (its stamp is the newest in the mart afterwards).
    run_dbt(["run", "--select", "fct_price_hourly"])
    seen = hours(warehouse)
    assert DAY + timedelta(hours=11) in seen and DAY + timedelta(hours=10) not in seen, seen
    a.commit()
    a.close()
    b.close()

    # The next run reads A: its rows were committed after the previous run's snapshot.
    run_dbt(["build", "--select", "fct_price_hourly"])
    seen = hours(warehouse)
    assert seen.get(DAY + timedelta(hours=10), 0) > 0, seen
    incremental = rows(warehouse)
    run_dbt(["run", "--full-refresh", "--select", "fct_price_hourly"])
    assert rows(warehouse) == incremental, "incremental runs equal a full rebuild"


def test_the_reconciliation_judges_only_what_the_marts_last_build_could_see(sandbox, warehouse,
                                                                            warehouse_dsn):
    """A landing that commits between a build of the mart and its tests (a live DAG or a catchup in a
    running stack) is not judged against a mart that could not have seen it; every hour before it is,
    and a point missing there still fails the test."""
    from cryptoflow.dbt import DbtError

    every_hour = ["--vars", "{test_since: \"'-infinity'\"}"]
    test = ["test", "--select", "assert_prices_hourly_points_match_raw", *every_hour]
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        migrate(conn)
    warehouse.execute(f"TRUNCATE {TABLE}")
    warehouse.execute("DROP TABLE IF EXISTS marts.fct_price_hourly")
    sandbox.reset()
    begin_landing(warehouse_dsn, 10, pages_at(sandbox, DAY + timedelta(hours=10, minutes=40))).commit()
    run_dbt(["build", "--select", "+fct_price_hourly", *every_hour])
    assert set(hours(warehouse)) == {DAY + timedelta(hours=10)}

    # hour 11 lands after the build: the mart lacks it, and the test judges hour 10 only
    begin_landing(warehouse_dsn, 11, pages_at(sandbox, DAY + timedelta(hours=11, minutes=40))).commit()
    assert run_dbt(test)["failed"] == []

    # not a test that cannot fail: a point of hour 10 gone from the mart is found
    warehouse.execute("DELETE FROM marts.fct_price_hourly WHERE ctid = (SELECT min(ctid) FROM "
                      "marts.fct_price_hourly)")
    with pytest.raises(DbtError, match="assert_prices_hourly_points_match_raw"):
        run_dbt(test)

    # once a build has seen hour 11, it is judged too (a full rebuild restores hour 10's point)
    run_dbt(["run", "--full-refresh", "--select", "fct_price_hourly"])
    assert run_dbt(test)["failed"] == []
    assert set(hours(warehouse)) == {DAY + timedelta(hours=10), DAY + timedelta(hours=11)}
