"""make backfill's plan (cryptoflow.backfill): the runs Airflow's backfill makes, their calls and time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.backfill import NotAHistoryDag, describe, history_runs, plan_backfill
from cryptoflow.config import load_config

NOW = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
DAY = timedelta(days=1)


def test_a_year_of_300_coins_is_1500_calls_against_109k_naive():
    plan = plan_backfill("coingecko_price_history", datetime(2025, 12, 3, tzinfo=UTC),
                         datetime(2026, 12, 1, tzinfo=UTC), config=load_config(environ={}), now=NOW)
    assert [(b - a).days for a, b in plan.runs] == [90, 90, 90, 90, 4]
    assert (plan.coins, plan.calls, plan.naive_calls, plan.skipped_runs) == (300, 1500, 364 * 300, 0)
    assert plan.minutes == pytest.approx(100.0)  # 1,500 calls at 15 a minute
    text = describe(plan)
    assert "5 run(s) covering [2025-12-03, 2026-12-02)" in text and "1,500" in text and "109,200" in text


def test_runs_older_than_the_plan_reaches_are_counted_as_skipped_and_cost_nothing():
    config = load_config(environ={"CRYPTOFLOW__UNIVERSE__TOP_N": "10"})
    plan = plan_backfill("coingecko_price_history", datetime(2024, 6, 1, tzinfo=UTC),
                         datetime(2024, 12, 31, tzinfo=UTC), config=config, now=NOW)
    assert plan.runs and plan.skipped_runs == len(plan.runs) and plan.calls == 0
    assert "older than plan demo reaches" in describe(plan)
    unlimited = plan_backfill("coingecko_price_history", datetime(2024, 6, 1, tzinfo=UTC),
                              datetime(2024, 12, 31, tzinfo=UTC), config=config, now=NOW,
                              plan_name="analyst")
    assert unlimited.skipped_runs == 0 and unlimited.calls == 10 * len(unlimited.runs)


def test_the_runs_end_before_now_as_airflows_backfill_keeps_them():
    runs = history_runs(7, NOW - 10 * DAY, NOW, now=NOW)
    assert runs[-1][1] <= NOW.replace(hour=0, minute=0)
    assert history_runs(7, NOW, NOW, now=NOW) == []  # today has not ended


def test_a_snapshot_dag_is_refused_with_where_history_comes_from():
    with pytest.raises(NotAHistoryDag, match=r"coingecko_markets is a snapshot DAG.*coingecko_price_history"):
        plan_backfill("coingecko_markets", NOW - 30 * DAY, NOW - DAY, now=NOW)
    with pytest.raises(NotAHistoryDag, match="not a history DAG"):
        plan_backfill("dbt_marts", NOW - 30 * DAY, NOW - DAY, now=NOW)
