"""History planning (cryptoflow.windows): the fewest hourly windows, boundaries, plan depth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.config import ConfigError, load_config
from cryptoflow.windows import (
    HOURLY_MAX,
    Window,
    WindowError,
    calls_for,
    clamp_to_history,
    manual_interval,
    naive_calls_for,
    start_of_history,
    windows_for,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_a_window_of_90_days_is_one_call_and_a_second_more_is_two():
    assert windows_for(T0, T0 + HOURLY_MAX) == [Window(T0, T0 + HOURLY_MAX)]
    cut = windows_for(T0, T0 + HOURLY_MAX + timedelta(seconds=1))
    assert len(cut) == 2
    assert all(timedelta(days=2) <= w.end - w.start <= HOURLY_MAX for w in cut)


def test_windows_are_back_to_back_and_a_short_tail_is_widened_backwards():
    end = T0 + timedelta(days=181)  # 90 + 90 + a 1-day tail
    cut = windows_for(T0, end)
    assert [w.end for w in cut] == [T0 + HOURLY_MAX, T0 + 2 * HOURLY_MAX, end]
    assert cut[0].start == T0 and cut[1].start == cut[0].end
    # the 1-day tail would be answered 5-minutely when it ends now: asked as 2 days, its first day is
    # the previous window's (points belong to [start, end) of the interval, not of the call)
    assert cut[2].start == end - timedelta(days=2)


def test_a_boundary_point_belongs_to_the_later_window_only():
    first, second = windows_for(T0, T0 + timedelta(days=6), longest=timedelta(days=3))
    boundary = T0 + timedelta(days=3)
    assert (first.holds(boundary), second.holds(boundary)) == (False, True)
    assert first.holds(boundary - timedelta(seconds=1))
    assert first.params == {"from": int(T0.timestamp()), "to": int(boundary.timestamp())}


def test_call_counts_against_the_naive_plan():
    assert calls_for(300, 365) == 300 * 5 == 1500
    assert calls_for(1, 90) == 1 and calls_for(1, 90.01) == 2
    assert naive_calls_for(300, 365) == 109_500
    assert calls_for(10_000, 5 * 365) == 10_000 * 21


def test_the_plans_history_depth_cuts_or_skips():
    now = T0 + timedelta(days=400)
    inside = clamp_to_history(T0 + timedelta(days=100), T0 + timedelta(days=190), now=now, history_days=365)
    assert inside == (T0 + timedelta(days=100), T0 + timedelta(days=190))
    cut = clamp_to_history(T0, T0 + timedelta(days=90), now=now, history_days=365)
    assert cut[0] == now - timedelta(days=365) + timedelta(minutes=1) and cut[1] == T0 + timedelta(days=90)
    assert clamp_to_history(T0, T0 + timedelta(days=30), now=now, history_days=365) is None
    assert clamp_to_history(T0, T0 + timedelta(days=30), now=now, history_days=None) == (
        T0, T0 + timedelta(days=30))


def test_history_starts_at_the_midnight_days_ago():
    now = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
    assert start_of_history(now, 365) == datetime(2025, 12, 2, tzinfo=UTC)
    assert start_of_history(now, 7) == datetime(2026, 11, 25, tzinfo=UTC)
    # a Demo key reaches 365 days back: that first run lands from the limit on
    first = clamp_to_history(start_of_history(now, 365), datetime(2026, 3, 2, tzinfo=UTC), now=now,
                             history_days=365)
    assert first[0] == now - timedelta(days=365) + timedelta(minutes=1)


def test_a_hand_triggered_run_takes_the_latest_complete_days():
    run_after = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)
    assert manual_interval(run_after, timedelta(days=7)) == (datetime(2026, 11, 25, tzinfo=UTC),
                                                             datetime(2026, 12, 2, tzinfo=UTC))


def test_history_settings_are_read_and_checked():
    config = load_config(environ={"CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOW_DAYS": "7",
                                  "CRYPTOFLOW__HISTORY__START_DAYS_AGO": "30"})
    history = config.history_dataset("coingecko_price_history")
    assert (history.window_days, history.start_days_ago, history.enabled) == (7, 30, True)
    with pytest.raises(ConfigError, match=r"window_days must be 2 to 90 days .* got 91"):
        load_config(environ={"CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOW_DAYS": "91"})
    with pytest.raises(ConfigError, match="unknown key"):
        load_config(environ={"CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOWS": "7"})
    off = load_config(environ={"CRYPTOFLOW__APIS__COINGECKO__ENABLED": "false"})
    assert off.history_dataset("coingecko_price_history").enabled is False


def test_an_empty_interval_is_refused():
    with pytest.raises(WindowError, match="empty interval"):
        windows_for(T0, T0)
