"""``make backfill DAG=... FROM=... TO=...``: the plan of a backfill (runs, calls, credits, time at the
configured limits), printed before ``airflow backfill create`` starts it.

The runs are the ones Airflow's backfill creates: the DAG's timetable between the dates (both inclusive,
on the logical date, which is the interval's start); for a history DAG (:mod:`cryptoflow.timetables`)
that is whole windows from ``FROM``, the last cut after the day of ``TO``. A history run costs one call
per coin per window (:mod:`cryptoflow.windows`); the same dates for the naive plan (one call per coin
per day) are printed beside it. Intervals older than the connection's plan reaches are skipped by the
DAG, with no call, and counted as such here.

A snapshot DAG answers only for now: a backfill of it creates runs that end skipped, landing nothing
(see :mod:`cryptoflow.snapshots`); the plan says so and points at the history DAGs.

Pure but for the configuration: no database, no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptoflow import windows
from cryptoflow.apis import get_api
from cryptoflow.config import Config, load_config


@dataclass(frozen=True)
class Plan:
    dag_id: str
    runs: list[tuple[datetime, datetime]]
    coins: int
    calls: int
    naive_calls: int
    skipped_runs: int  # older than the plan reaches: skipped by the DAG, no call
    calls_per_minute: float
    credits_per_call: int
    plan_name: str

    @property
    def minutes(self) -> float:
        """The floor the rate limit sets: every call at the configured rate."""
        return self.calls / self.calls_per_minute

    @property
    def credits(self) -> int:
        return self.calls * self.credits_per_call


class NotAHistoryDag(ValueError):
    """The DAG has no history to backfill (a snapshot, dbt, or unknown DAG); the message says why."""


def history_runs(window_days: int, start: datetime, end: datetime, *, now: datetime
                 ) -> list[tuple[datetime, datetime]]:
    """The runs ``airflow backfill create`` makes for a history DAG between ``start`` and ``end``
    (inclusive, logical dates): the timetable's intervals that have ended by ``now``."""
    from airflow.timetables.base import TimeRestriction

    from cryptoflow.timetables import HistoryWindows

    table, out, last = HistoryWindows(window_days), [], None
    restriction = TimeRestriction(start, end, True)
    while True:
        info = table.next_dagrun_info(last_automated_data_interval=last, restriction=restriction, now=now)
        if info is None or info.data_interval.end >= now:
            return out
        last = info.data_interval
        out.append((_plain(last.start), _plain(last.end)))


def _plain(moment: datetime) -> datetime:
    return datetime.fromtimestamp(moment.timestamp(), UTC)


def plan_backfill(dag_id: str, start: datetime, end: datetime, *, plan_name: str | None = None,
                  config: Config | None = None, now: datetime | None = None) -> Plan:
    """The plan of backfilling ``dag_id`` from ``start`` to ``end`` (see the module)."""
    from cryptoflow.catalog import HISTORY_SPECS, SPECS

    config = config or load_config()
    now = now or datetime.now(UTC)
    if dag_id not in HISTORY_SPECS:
        if dag_id in SPECS:
            raise NotAHistoryDag(
                f"{dag_id} is a snapshot DAG: its endpoint answers only for now, so a backfilled run ends "
                f"skipped and lands nothing. History comes from the history DAGs: "
                f"{', '.join(sorted(HISTORY_SPECS))}.")
        raise NotAHistoryDag(f"{dag_id}: not a history DAG; history DAGs: {', '.join(sorted(HISTORY_SPECS))}")
    spec, dataset = HISTORY_SPECS[dag_id], config.history_dataset(dag_id)
    api = get_api(spec.api)
    endpoint = api.endpoint(spec.endpoint)
    plan_name = plan_name or api.default_plan
    depth = endpoint.history_limit(plan_name)
    coins = dataset.coins(config.universe)
    calls = naive = skipped = 0
    runs = history_runs(dataset.window_days, start, end, now=now)
    for run_start, run_end in runs:
        reach = windows.clamp_to_history(run_start, run_end, now=now, history_days=depth)
        if reach is None:
            skipped += 1
            continue
        calls += coins * len(windows.windows_for(*reach))
        naive += windows.naive_calls_for(coins, (reach[1] - reach[0]) / timedelta(days=1))
    return Plan(dag_id, runs, coins, calls, naive, skipped, config.api(spec.api).calls_per_minute,
                endpoint.credits.per_call, plan_name)


def describe(plan: Plan) -> str:
    if not plan.runs:
        return (f"backfill {plan.dag_id}: no run (no interval in that range has ended yet; the newest run "
                "ends at the last UTC midnight)")
    first, last = plan.runs[0][0], plan.runs[-1][1]
    lines = [
        f"backfill {plan.dag_id}: {len(plan.runs)} run(s) covering [{first:%Y-%m-%d}, {last:%Y-%m-%d}) "
        f"(UTC days), {plan.coins} coins",
        f"  calls    {plan.calls:,} (the fewest: one per coin per window of at most 90 days); the naive "
        f"plan (one per coin per day) would spend {plan.naive_calls:,}",
        f"  credits  {plan.credits:,} on plan {plan.plan_name}",
        f"  time     at least {plan.minutes:.1f} min at {plan.calls_per_minute:g} calls/min (the shared "
        "limiter's rate, for live and history DAGs together)",
    ]
    if plan.skipped_runs:
        lines.append(f"  skipped  {plan.skipped_runs} run(s) older than plan {plan.plan_name} reaches "
                     "(no call; a plan with more history reaches them)")
    for run_start, run_end in plan.runs[:3]:
        lines.append(f"  run      [{run_start:%Y-%m-%d}, {run_end:%Y-%m-%d})")
    if len(plan.runs) > 3:
        lines.append(f"  ...      and {len(plan.runs) - 3} more")
    return "\n".join(lines)
