"""Which interval a snapshot run may land: current ones as scheduled, hand-triggered ones ending at their
run time, and past ones skipped with the reason (nothing fetched, landed or deleted)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowSkipException

from cryptoflow.snapshots import PastSnapshot, snapshot_interval

HOUR = timedelta(hours=1)
NOW = datetime(2026, 12, 1, 15, 0, 42, tzinfo=UTC)
ARGS = {"now": NOW, "cadence": HOUR, "what": "CoinGecko /coins/markets", "history": "the history DAGs"}


def test_a_scheduled_run_of_the_interval_that_just_ended_lands_it():
    start, end = NOW.replace(minute=0, second=0) - HOUR, NOW.replace(minute=0, second=0)
    assert snapshot_interval(start, end, run_after=end, **ARGS) == (start, end)
    late = end - timedelta(minutes=50)  # queued for a while: still the current snapshot
    assert snapshot_interval(late - HOUR, late, run_after=late, **ARGS) == (late - HOUR, late)


def test_a_run_triggered_by_hand_lands_the_interval_that_ends_at_its_run_time():
    run_after = NOW - timedelta(seconds=3)
    assert snapshot_interval(None, None, run_after=run_after, **ARGS) == (run_after - HOUR, run_after)
    assert snapshot_interval(None, None, run_after=None, **ARGS) == (NOW - HOUR, NOW)


def test_a_past_interval_is_skipped_with_the_reason():
    start = datetime(2026, 11, 20, 10, tzinfo=UTC)
    with pytest.raises(PastSnapshot) as caught:
        snapshot_interval(start, start + HOUR, run_after=NOW, **ARGS)
    assert isinstance(caught.value, AirflowSkipException)
    message = str(caught.value)
    assert message.startswith("CoinGecko /coins/markets: skipped, interval [2026-11-20T10:00:00+00:00, "
                              "2026-11-20T11:00:00+00:00) is past")
    assert "nothing was fetched, landed or deleted" in message and "the history DAGs" in message
