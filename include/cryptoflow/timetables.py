"""The history DAGs' timetable: whole UTC days in windows of up to ``window_days``, cut at the last
midnight and at a backfill's last day.

Runs are data intervals ``[start, end)`` on UTC midnights. Each is as long as one call per coin may
reach (``window_days``, 90 for CoinGecko's hourly range) so the fewest calls cover history, but never
longer than what is asked or what exists:

- **catchup** (switched on in the UI): from the DAG's start date, back-to-back windows; the last one
  ends at the last UTC midnight when at least ``min_days`` of it have passed (a year is four 90-day
  runs and one of the remaining days, not a wait of up to 90 days for the newest history). Once caught
  up, the next run waits for a whole window (the live snapshot DAGs land the present meanwhile);
- **backfill** (``airflow backfill create``, the UI's form): the same windows from ``--from-date``, the
  last cut after the day of ``--to-date``: a backfill covers exactly the days asked, and the same range
  asked again gives the same runs (so ``--reprocess-behavior completed`` re-runs them in place);
- **trigger** (no data interval in Airflow 3; the task falls back to the same rule): the ``window_days``
  that end at the last UTC midnight.

Registered by ``plugins/cryptoflow_plugin.py`` (Airflow loads custom timetables from plugins, in the
scheduler, the dag-processor and the API server alike).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pendulum
from airflow.timetables.base import DagRunInfo, DataInterval, TimeRestriction, Timetable

DAY = timedelta(days=1)


def midnight(moment: datetime) -> datetime:
    """The UTC midnight at or before ``moment``."""
    return moment.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)


def _pendulum(moment: datetime) -> pendulum.DateTime:
    return pendulum.instance(moment.astimezone(UTC))


class HistoryWindows(Timetable):
    """Back-to-back windows of whole UTC days, ``window_days`` long at most (see the module)."""

    def __init__(self, window_days: int, min_days: int = 1) -> None:
        if not 1 <= min_days <= window_days:
            raise ValueError(f"HistoryWindows: need 1 <= min_days <= window_days, got {min_days}, "
                             f"{window_days}")
        self.window_days = window_days
        self.min_days = min_days
        self.description = f"windows of up to {window_days} days, cut at the last UTC midnight"

    @property
    def window(self) -> timedelta:
        return timedelta(days=self.window_days)

    @property
    def summary(self) -> str:
        return f"{self.window_days}-day windows"

    def serialize(self) -> dict[str, Any]:
        return {"window_days": self.window_days, "min_days": self.min_days}

    @classmethod
    def deserialize(cls, data: dict[str, Any]) -> HistoryWindows:
        return cls(int(data["window_days"]), int(data.get("min_days", 1)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HistoryWindows) and self.serialize() == other.serialize()

    def __hash__(self) -> int:
        return hash((self.window_days, self.min_days))

    def infer_manual_data_interval(self, *, run_after: datetime) -> DataInterval:
        end = midnight(run_after)
        return DataInterval(start=_pendulum(end - self.window), end=_pendulum(end))

    def next_dagrun_info(self, *, last_automated_data_interval: DataInterval | None,
                         restriction: TimeRestriction, now: datetime | None = None) -> DagRunInfo | None:
        cut = midnight(now or datetime.now(UTC))
        if last_automated_data_interval is not None:
            start = midnight(last_automated_data_interval.end)
            if restriction.earliest is not None and not restriction.catchup:
                start = max(start, midnight(restriction.earliest))
        elif restriction.earliest is None:
            return None
        else:
            start = midnight(restriction.earliest)
        if not restriction.catchup:  # catchup off: only the newest window
            start = max(start, cut - self.window)
        if restriction.latest is not None and start > restriction.latest:
            return None
        end = start + self.window
        if start + timedelta(days=self.min_days) <= cut:  # history: never past the last midnight
            end = min(end, cut)
        if restriction.latest is not None:  # a backfill: never past the last day asked
            end = min(end, midnight(restriction.latest) + DAY)
        return DagRunInfo.interval(start=_pendulum(start), end=_pendulum(end))
