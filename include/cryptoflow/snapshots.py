"""Which interval a run of a snapshot DAG may land, decided before any call.

Snapshot endpoints (``/coins/markets``, ``listings/latest``, ...) answer only for "now". So:

- a **scheduled** run lands only while its interval is current (it ended at most one cadence ago): a
  cleared past run, a backfill or a catchup run would file today's listing under a past interval and
  replace what that interval landed, so it lands nothing, deletes nothing and ends **skipped** with a
  reason that says where history comes from;
- a run **triggered by hand** (the UI's Trigger button, ``airflow dags trigger``) has no logical date and
  no data interval in Airflow 3: it lands a snapshot for the interval of one cadence that ends at its run
  time (``run_after``).

Pure functions: no I/O, no clock of their own (``now`` is passed in).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk.exceptions import AirflowSkipException


class PastSnapshot(AirflowSkipException):
    """A snapshot run for a past interval: nothing is fetched, landed or deleted."""


def snapshot_interval(
    start: datetime | None,
    end: datetime | None,
    *,
    run_after: datetime | None,
    now: datetime,
    cadence: timedelta,
    what: str,
    history: str,
) -> tuple[datetime, datetime]:
    """The interval this run lands, or :class:`PastSnapshot` (a skip) when its interval is past.

    ``what`` names the snapshot (``CoinGecko /coins/markets``); ``history`` says where the past comes
    from instead (a history DAG).
    """
    if start is None or end is None:  # triggered by hand: the interval that ends now
        until = run_after or now
        return until - cadence, until
    if end < now - cadence:
        raise PastSnapshot(
            f"{what}: skipped, interval [{start.isoformat()}, {end.isoformat()}) is past. This endpoint "
            f"answers only for now, so fetching it would file today's data under a past interval; nothing "
            f"was fetched, landed or deleted. History comes from {history}.")
    return start, end


def current_interval(schedule: str, now: datetime) -> tuple[datetime, datetime]:
    """The interval of cron ``schedule`` that ended last at or before ``now`` (what its scheduled run
    for the latest tick lands)."""
    from croniter import croniter

    ticks = croniter(schedule, now + timedelta(microseconds=1))  # a tick at now itself ends an interval
    end = ticks.get_prev(datetime).replace(fold=0)
    return ticks.get_prev(datetime).replace(fold=0), end
