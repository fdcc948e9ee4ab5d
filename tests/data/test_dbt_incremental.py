"""dbt on real Postgres: the incremental prices mart equals a full rebuild after several landings and
a re-run, and ``dbt build`` (models + tests) passes on the sandbox's data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_request

pytestmark = pytest.mark.slow

DAY = datetime(2026, 7, 14, tzinfo=UTC)


def land_hour(sandbox, hour: int, minute: int, run_id: str) -> None:
    """Land the markets snapshot the sandbox gives at ``hour:minute`` for the interval of that hour."""
    sandbox.set_clock(DAY + timedelta(hours=hour, minutes=minute))
    land_request("coingecko", "coins_markets", interval_start=DAY + timedelta(hours=hour),
                 interval_end=DAY + timedelta(hours=hour + 1), run_id=run_id, wanted=250)


def mart_rows(warehouse) -> list[tuple]:
    return warehouse.execute(
        "SELECT asset_id, price_hour, price_usd, market_cap_usd, volume_24h_usd, observed_at "
        "FROM marts.fct_price_hourly ORDER BY asset_id, price_hour").fetchall()


def test_incremental_mart_equals_a_full_rebuild(sandbox, api_connections, monkeypatch, warehouse):
    for name, value in api_connections.items():
        monkeypatch.setenv(name, value)
    sandbox.reset()
    # Start from nothing: no raw rows, no mart (other tests of the session may have landed some).
    if warehouse.execute("SELECT to_regclass('raw.coingecko__coins_markets')").fetchone()[0]:
        warehouse.execute("TRUNCATE raw.coingecko__coins_markets")
    warehouse.execute("DROP TABLE IF EXISTS marts.fct_price_hourly")

    land_hour(sandbox, 9, 40, "r1")
    first = run_dbt(["build"])
    assert first["failed"] == [] and first["counts"].get("success", 0) >= 2

    land_hour(sandbox, 10, 2, "r2")   # early in the hour: some coins' last_updated still in hour 9
    land_hour(sandbox, 11, 30, "r3")
    land_hour(sandbox, 10, 2, "r2-again")  # a re-run of an interval replaces its rows
    run_dbt(["build", "--select", "source:coingecko.coins_markets+"])
    incremental = mart_rows(warehouse)
    assert {row[1] for row in incremental} >= {DAY + timedelta(hours=h) for h in (9, 10, 11)}

    run_dbt(["build", "--full-refresh", "--select", "fct_price_hourly"])
    assert mart_rows(warehouse) == incremental
    assert warehouse.execute(
        "SELECT count(*) FROM (SELECT asset_id, price_hour FROM marts.fct_price_hourly "
        "GROUP BY 1, 2 HAVING count(*) > 1) dupes").fetchone()[0] == 0


def test_dbt_unit_tests_pass():
    result = run_dbt(["test", "--select", "test_type:unit"])
    assert result["failed"] == [] and result["counts"].get("pass", 0) >= 1
