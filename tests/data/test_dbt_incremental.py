"""dbt on real Postgres: the incremental prices mart equals a full rebuild after several landings and
a re-run, and ``dbt build`` (models + tests) passes on the sandbox's data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.dbt import run_dbt
from cryptoflow.ingest import land_request
from tests.helpers import empty_warehouse

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
    # Start from nothing: no raw rows, no models (other tests of the session may have landed some: the
    # build below tests every model, DEX networks too).
    empty_warehouse(warehouse)

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


def test_a_landing_builds_what_is_downstream_of_it_and_what_that_reads_only_while_missing(
        sandbox, api_connections, monkeypatch, warehouse):
    """dbt_marts' build for one landing (build_for_events): on an empty warehouse the models its
    descendants read from other APIs are built too (the consolidated prices read CMC's hourly fact);
    once they are there, the next landing builds its source's descendants and tests only."""
    from cryptoflow.dbt import build_for_events

    for name, value in api_connections.items():
        monkeypatch.setenv(name, value)
    sandbox.reset()
    empty_warehouse(warehouse)
    event = {"raw.coingecko__coins_markets": []}

    land_hour(sandbox, 9, 40, "e1")
    first = build_for_events(event)
    assert first["failed"] == [], first
    assert first["selection"][0] == "source:coingecko.coins_markets+"
    assert {"fct_cmc_price_hourly", "int_asset_identity", "stg_cmc__coins"} <= set(first["selection"][1:])
    assert warehouse.execute("SELECT count(*) FROM marts.fct_price_consolidated_hourly").fetchone()[0] > 0
    # every other model too, empty where nothing landed (an endpoint the plan may never call: CMC's
    # OHLCV on Basic), so that `dbt test` from a shell finds every relation
    assert "stg_cmc__ohlcv_history" in first["selection"]
    assert warehouse.execute("SELECT count(*) FROM staging.stg_cmc__ohlcv_history").fetchone()[0] == 0

    land_hour(sandbox, 10, 30, "e2")
    second = build_for_events(event)
    assert second["failed"] == [] and second["selection"] == ["source:coingecko.coins_markets+"], second
    ran = set(second["seconds"])
    assert {"model.cryptoflow.fct_price_hourly", "model.cryptoflow.fct_price_consolidated_hourly"} <= ran
    # nothing of CMC's was built or tested again
    assert not [node for node in ran if "stg_cmc" in node or "fct_cmc_price_hourly" in node], sorted(ran)
    assert ran < set(first["seconds"]), (len(ran), len(first["seconds"]))  # 139 of the first's 275 here
    hours = warehouse.execute("SELECT count(DISTINCT price_hour) FROM marts.fct_price_hourly").fetchone()[0]
    assert hours >= 2

    # a landing whose tests point at another API's models (the DEX networks: every DEX staging view and
    # dimension has a relationships test to them), none of which is built yet
    empty_warehouse(warehouse)
    networks = build_for_events({"raw.cmc_dex__networks_list": []})
    assert networks["failed"] == [], networks
    assert {"stg_cmc_dex__pair_ohlcv", "dim_dex_pairs"} <= set(networks["selection"][1:]), networks
