"""History planning: which windows cover an interval in the fewest calls, and which point belongs where.

A history DAG's run covers one data interval of ``window_days`` days (a ``DeltaDataIntervalTimetable``,
see :func:`cryptoflow.dagfactory.history_dag`). For CoinGecko ``/coins/{id}/market_chart/range`` one call
returns one coin's hourly points over a window of at most 90 days (90 days + 1 s is answered daily, a
window of 1 day or less ending now 5-minutely), so a run of a 90-day interval costs one call per coin:
a year of 300 coins is 300 x ceil(365 / 90) = 1,500 calls, the fewest the API allows, against 109,500 for
one call per coin per day.

Edges: the API's window is inclusive at both ends, so two back-to-back windows both return the point at
their shared boundary. A point belongs to the one interval with ``start <= t < end`` (the later one at a
boundary); staging keeps it there and nowhere else. Hourly points come a few seconds after the hour
(jitter), never before it, so no point of an interval falls outside its window.

Pure functions: no I/O, no clock of their own (``now`` is passed in).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

HOURLY_MAX = timedelta(days=90)  # the longest window CoinGecko answers hourly (exactly 90 days is hourly)
HOURLY_MIN = timedelta(days=2)  # shorter windows may be 5-minutely (a day or less ending now)
DAY = timedelta(days=1)


class WindowError(ValueError):
    """A window the API would not answer hourly, or a setting that would ask for one."""


@dataclass(frozen=True)
class Window:
    """One call's range: ``[start, end]`` as the API's ``from``/``to`` (UNIX seconds, inclusive), of
    which the points with ``start <= t < end`` belong to the interval."""

    start: datetime
    end: datetime

    @property
    def params(self) -> dict[str, int]:
        return {"from": int(self.start.timestamp()), "to": int(self.end.timestamp())}

    def holds(self, t: datetime) -> bool:
        return self.start <= t < self.end

    @property
    def label(self) -> str:
        return f"[{self.start.isoformat()}, {self.end.isoformat()})"


def windows_for(start: datetime, end: datetime, *, longest: timedelta = HOURLY_MAX,
                shortest: timedelta = HOURLY_MIN) -> list[Window]:
    """The fewest windows that cover ``[start, end)`` at hourly granularity: cut at ``longest`` from
    ``start``; a tail shorter than ``shortest`` is widened backwards to ``shortest``, so no call is
    answered 5-minutely (its points before the interval are outside its span and dropped by staging)."""
    if end <= start:
        raise WindowError(f"empty interval [{start.isoformat()}, {end.isoformat()})")
    out = []
    at = start
    while at < end:
        stop = min(at + longest, end)
        out.append(Window(min(at, stop - shortest), stop))
        at = stop
    return out


def calls_for(coins: int, days: float, *, longest: timedelta = HOURLY_MAX) -> int:
    """The fewest calls for ``coins`` coins over ``days`` days of hourly points (one coin per call)."""
    return coins * max(1, math.ceil(timedelta(days=days) / longest - 1e-12))


def naive_calls_for(coins: int, days: float) -> int:
    """The naive plan: one call per coin per day."""
    return coins * max(1, math.ceil(days))


def clamp_to_history(start: datetime, end: datetime, *, now: datetime, history_days: int | None
                     ) -> tuple[datetime, datetime] | None:
    """The part of ``[start, end)`` a plan with ``history_days`` of history may ask for (None: all),
    or ``None`` when none of it is inside (the caller skips with the plan's reason)."""
    if history_days is None:
        return start, end
    # a whole minute inside the limit: the call is sent a little after this is computed
    floor = now - timedelta(days=history_days) + timedelta(minutes=1)
    if end <= floor:
        return None
    return max(start, floor), end


def start_of_history(now: datetime, days_ago: int) -> datetime:
    """The UTC midnight ``days_ago`` days before today (a plan reaching exactly that far back lands its
    first run from the limit on: see :func:`clamp_to_history`)."""
    today = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return today - timedelta(days=days_ago)


def manual_interval(run_after: datetime, window: timedelta) -> tuple[datetime, datetime]:
    """A run triggered by hand (no data interval): the ``window`` that ends at the last UTC midnight
    before it, the latest complete days, however the scheduled windows fall."""
    end = run_after.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return end - window, end
