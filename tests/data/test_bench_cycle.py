"""The cycle benchmark's core (:func:`bench.bench_cycle.run_cycle`) on a small configuration, against the
session's sandbox and warehouse: one cycle of every dataset of the three APIs, run as their DAGs run
them, spends exactly the fewest calls (and credits) the API allows, worked out from the endpoint
descriptions and the sizes the sandbox lists, and exactly what the budget predicts given those sizes. The
plan-gated dataset (``cmc_exchange_listings`` on Basic) makes no call and is skipped.
"""

from __future__ import annotations

import pytest

from bench.bench_cycle import APIS, render, run_cycle
from tests.helpers import empty_warehouse

pytestmark = pytest.mark.slow

SMALL = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": "20",
    "CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": "3",
    "CRYPTOFLOW__DEX__NETWORKS": '["ethereum"]',
    "CRYPTOFLOW__DEX__PAIRS_PER_NETWORK": "2",
}
GATED = "cmc_exchange_listings"


@pytest.fixture
def cycle(sandbox, warehouse, warehouse_dsn, monkeypatch):
    # run_cycle drops the raw tables it lands: no dbt model of an earlier test may still read them
    empty_warehouse(warehouse)
    # run_cycle lifts our side's limits in os.environ (bench.common.lift_limits): set here first, so that
    # they are removed again after the test
    for api in APIS:
        for name in ("CALLS_PER_MINUTE", "DAILY_CREDITS", "MONTHLY_CREDITS"):
            monkeypatch.setenv(f"CRYPTOFLOW__APIS__{api.upper()}__{name}", "1000000")
    try:
        yield run_cycle(sandbox, warehouse_dsn, SMALL)
    finally:
        sandbox.reset()  # limits, clock and accounting as the other tests expect them


def test_every_dataset_spends_the_fewest_calls_and_what_the_budget_predicts(cycle):
    shown = render(cycle)
    assert cycle["config"]["coingecko_coins_top_n"] == 3 and cycle["config"]["networks"] == ["ethereum"]
    for api in APIS:
        rows = cycle["apis"][api]["datasets"]
        for name, row in rows.items():
            if name == GATED:
                assert (row["status"], row["calls"], row["credits"], row["budget_status"]) == \
                    ("skipped", 0, 0, "skipped"), shown
                continue
            assert row["status"] == "landed", shown
            assert row["calls"] > 0, shown
            assert row["calls"] == row["fewest_calls"], f"{name}: calls x{row['calls_ratio']}\n{shown}"
            assert row["credits"] == row["fewest_credits"], f"{name}: credits\n{shown}"
            assert (row["calls"], row["credits"]) == (row["budget_calls"], row["budget_credits"]), \
                f"{name}: the budget given the measured sizes\n{shown}"
            assert row["pages"] == row["calls"] and row["bytes"] > 0, shown
        totals = cycle["apis"][api]
        assert totals["calls"] == totals["fewest_calls"] == totals["budget_calls"] == totals["sandbox_calls"]
        assert totals["calls_ratio"] == 1.0 and totals["credits_ratio"] == 1.0, shown
    # the small configuration is what ran: 3 coins one call each, 20 CMC ids in one call, 2 pairs of one
    # network bundled in one quotes call and one OHLCV call each
    calls = {name: row["calls"] for api in APIS for name, row in cycle["apis"][api]["datasets"].items()}
    assert (calls["coingecko_coins"], calls["coingecko_markets"], calls["cmc_info"]) == (3, 1, 1), shown
    assert (calls["cmc_dex_pair_quotes"], calls["cmc_dex_pair_ohlcv"]) == (1, 2), shown
