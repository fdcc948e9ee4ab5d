"""The history specs' arithmetic (cryptoflow.catalog.HistorySpec): how each window is said to its API, and
the calls and credits a range costs, against figures worked out by hand from the APIs' rules (API_FACTS):
CMC bundles 100 ids a call and counts 1 credit per 100 points, global metrics answer up to 10,000 points
a call, fear and greed pages newest first 500 at a time, CMC DEX answers 500 candles of one pair a call.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow import budget
from cryptoflow.backfill import describe, plan_backfill
from cryptoflow.catalog import HISTORY_SPECS, history_spec
from cryptoflow.config import load_config

T0 = datetime(2026, 3, 1, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def test_cmc_windows_send_the_end_one_second_short_and_count_their_hours():
    spec = history_spec("cmc_price_history")
    [window] = spec.windows(T0, T0 + 3 * DAY)
    params, path_values, wanted = spec.call(["1", "1027"], window, now=T0 + 10 * DAY)
    assert params == {"interval": "hourly", "time_start": "2026-03-01T00:00:00Z",
                      "time_end": "2026-03-03T23:59:59Z", "count": "72", "id": "1,1027"}
    assert path_values is None and wanted is None


def test_coingecko_windows_are_unix_seconds_on_the_path():
    spec = history_spec("coingecko_price_history")
    [window] = spec.windows(T0, T0 + 3 * DAY)
    params, path_values, _ = spec.call(["bitcoin"], window, now=T0 + 10 * DAY)
    assert params == {"from": 1772323200, "to": 1772582400} and path_values == {"id": "bitcoin"}


def test_dex_pairs_carry_their_network_and_address():
    spec = history_spec("cmc_dex_pair_ohlcv_history")
    [window] = spec.windows(T0, T0 + DAY)
    params, _, _ = spec.call(["solana:AbC123"], window, now=T0 + 10 * DAY)
    assert (params["network_slug"], params["contract_address"], params["count"]) == ("solana", "AbC123", "24")


def test_fear_and_greed_asks_from_the_newest_value_back_past_the_window():
    spec = history_spec("cmc_fear_and_greed_history")
    [window] = spec.windows(T0, T0 + 7 * DAY)
    params, _, wanted = spec.call(["all"], window, now=T0 + 20 * DAY + 5 * HOUR)
    assert params == {} and wanted == 21 + 2  # 20 days and 5 hours back, a step of slack either side


@pytest.mark.parametrize(("coins", "credits"), [(300, 3 * 720), (250, 720 + 720 + 360), (20, 144)])
def test_cmc_quotes_cost_one_call_per_100_coins_and_a_credit_per_100_points(coins, credits):
    # 30 days are 720 hourly points per coin
    assert history_spec("cmc_price_history").cost(T0, T0 + 30 * DAY, coins) == (-(-coins // 100), credits)


def test_global_metrics_answer_10000_hours_a_call():
    spec = history_spec("cmc_global_metrics_history")
    assert spec.cost(T0, T0 + 416 * DAY, 1) == (1, 100)  # 9,984 points
    assert spec.cost(T0, T0 + 417 * DAY, 1) == (2, 100 + 1)  # 10,000 then 8 points


def test_dex_pairs_need_a_call_per_500_candles():
    spec = history_spec("cmc_dex_pair_ohlcv_history")
    assert spec.cost(T0, T0 + 62 * DAY, 4) == (4 * 3, 4 * 3)  # 1,488 hours: 500 + 500 + 488
    assert spec.cost(T0, T0 + 20 * DAY, 4) == (4, 4)  # 480 hours


def test_fear_and_greed_costs_a_call_per_500_days_back_from_now():
    spec = history_spec("cmc_fear_and_greed_history")
    assert spec.cost(T0, T0 + 365 * DAY, 1, now=T0 + 365 * DAY) == (1, 1)
    assert spec.cost(T0, T0 + 30 * DAY, 1, now=T0 + 600 * DAY) == (2, 2)  # 602 values back


def test_every_history_spec_describes_an_endpoint_its_api_has():
    for spec in HISTORY_SPECS.values():
        assert spec.endpoint_obj.name == spec.endpoint
        assert spec.raw_table == f"raw.{spec.api}__{spec.endpoint}"


def test_backfill_of_a_gated_endpoint_says_every_run_is_skipped_with_no_call():
    plan = plan_backfill("cmc_ohlcv_history", T0, T0 + 13 * DAY, config=load_config(),
                         now=T0 + 20 * DAY)
    assert plan.calls == 0 and plan.skipped_runs == len(plan.runs) == 2
    assert "skipped  every run: plan basic may not call this endpoint" in describe(plan)


def test_backfill_of_cmc_prices_counts_credits_by_points():
    config = load_config(environ={"CRYPTOFLOW__HISTORY__CMC_PRICE_HISTORY__TOP_N": "150"})
    plan = plan_backfill("cmc_price_history", T0, T0 + 6 * DAY, config=config, now=T0 + 10 * DAY)
    # one 7-day run: 150 coins in two calls of 100 and 50, 168 points each
    assert (plan.calls, plan.credits) == (2, 168 + 84)
    assert "150 coins" in describe(plan)


def test_a_catchup_the_days_credits_cannot_carry_is_refused_with_the_top_n_that_fits():
    config = load_config(environ={"CRYPTOFLOW__HISTORY__CMC_PRICE_HISTORY__TOP_N": "300",
                                  "CRYPTOFLOW__HISTORY__CMC_PRICE_HISTORY__WINDOW_DAYS": "30"})
    cmc = budget.evaluate(config).apis["cmc"]
    [problem] = [p for p in cmc.problems if "cmc_price_history" in p]
    # 300 coins x 720 hours = 2,160 credits; Basic allows 333 a day, the live datasets use 99, and the
    # other catchups (global metrics 8, fear and greed 1) leave 225: 31 coins (31 x 7.2 = 223.2) fit
    assert problem.startswith("cmc: the catchup of cmc_price_history needs 2,160 credits beside the live "
                              "datasets' 99 in the day it runs, over 333 (plan basic)")
    assert "lower history.cmc_price_history.top_n to 31 (from 300)" in problem
    assert not cmc.fits
