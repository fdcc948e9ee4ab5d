"""The history DAGs' timetable (cryptoflow.timetables.HistoryWindows): catchup, its tail, backfill ranges."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from airflow.timetables.base import DataInterval, TimeRestriction

from cryptoflow.timetables import HistoryWindows

D = timedelta(days=1)
START = datetime(2025, 12, 3, tzinfo=UTC)
NOW = datetime(2026, 12, 2, 14, 5, tzinfo=UTC)


def runs(table: HistoryWindows, earliest, latest=None, *, now=NOW, catchup=True, last=None, limit=50):
    """The intervals the scheduler (latest None) or a backfill (latest set) would create, in order:
    those whose run_after has come (the scheduler creates a run only then)."""
    out, restriction = [], TimeRestriction(earliest, latest, catchup)
    while len(out) < limit:
        info = table.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=now)
        if info is None or info.run_after > now:
            break
        out.append((info.data_interval.start, info.data_interval.end))
        last = DataInterval(*out[-1])
    return out


def test_catchup_is_whole_windows_then_a_tail_to_the_last_midnight():
    intervals = runs(HistoryWindows(90), START)
    assert [(b - a).days for a, b in intervals] == [90, 90, 90, 90, 4]
    assert intervals[0][0] == START and intervals[-1][1] == datetime(2026, 12, 2, tzinfo=UTC)
    assert all(a[1] == b[0] for a, b in itertools.pairwise(intervals))  # back to back


def test_once_caught_up_the_next_run_waits_for_a_whole_window():
    table = HistoryWindows(90)
    last = DataInterval(datetime(2026, 11, 28, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))
    info = table.next_dagrun_info(last_automated_data_interval=last,
                                  restriction=TimeRestriction(START, None, True), now=NOW)
    assert (info.data_interval.start, info.data_interval.end) == (last.end, last.end + 90 * D)
    assert info.run_after == last.end + 90 * D


def test_a_backfill_covers_exactly_the_days_asked_and_the_same_range_gives_the_same_runs():
    table = HistoryWindows(90)
    asked = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 7, 15, tzinfo=UTC))
    first = runs(table, *asked)
    assert first == [(asked[0], asked[0] + 90 * D), (asked[0] + 90 * D, datetime(2026, 7, 16, tzinfo=UTC))]
    assert runs(table, *asked, now=NOW + 3 * D) == first
    # a short range close to today: one run of the days asked, not a window reaching into the future
    recent = runs(table, datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 21, tzinfo=UTC))
    assert recent == [(datetime(2026, 11, 20, tzinfo=UTC), datetime(2026, 11, 22, tzinfo=UTC))]


def test_a_backfill_date_with_a_time_starts_at_its_midnight():
    table = HistoryWindows(7)
    got = runs(table, datetime(2026, 11, 1, 13, 30, tzinfo=UTC), datetime(2026, 11, 3, tzinfo=UTC))
    assert got == [(datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 4, tzinfo=UTC))]


def test_catchup_off_takes_only_the_newest_window():
    got = runs(HistoryWindows(7), START, catchup=False)
    assert got == [(datetime(2026, 11, 25, tzinfo=UTC), datetime(2026, 12, 2, tzinfo=UTC))]


def test_a_hand_triggered_run_gets_the_window_ending_at_the_last_midnight():
    interval = HistoryWindows(7).infer_manual_data_interval(run_after=NOW)
    assert (interval.start, interval.end) == (datetime(2026, 11, 25, tzinfo=UTC),
                                              datetime(2026, 12, 2, tzinfo=UTC))


def test_it_serializes_and_is_registered_by_the_plugin(monkeypatch):
    from pathlib import Path

    table = HistoryWindows(30, 2)
    assert HistoryWindows.deserialize(table.serialize()) == table
    assert table.summary == "30-day windows"
    with pytest.raises(ValueError, match="min_days <= window_days"):
        HistoryWindows(3, 5)

    from airflow import plugins_manager

    plugins = Path(__file__).resolve().parents[2] / "plugins"
    monkeypatch.setenv("AIRFLOW__CORE__PLUGINS_FOLDER", str(plugins))
    plugins_manager.get_timetables_plugins.cache_clear()  # read the folder now, not what another test saw
    registered = plugins_manager.get_timetables_plugins()
    assert registered.get("cryptoflow.timetables.HistoryWindows") is HistoryWindows
