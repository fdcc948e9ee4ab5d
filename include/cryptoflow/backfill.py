"""``make backfill DAG=... FROM=... TO=...``: the plan of a backfill (runs, calls, credits, time at the
configured limits), printed before ``airflow backfill create`` starts it.

The runs are the ones Airflow's backfill creates: the DAG's timetable between the dates (both inclusive,
on the logical date, which is the interval's start); for a history DAG (:mod:`cryptoflow.timetables`)
that is whole windows from ``FROM``, the last cut after the day of ``TO``. A history run costs the fewest
calls its endpoint allows (:meth:`cryptoflow.catalog.HistorySpec.cost`: one call per coin per 90 days
for CoinGecko, 100 coins a call for CMC, one per pair per 500 candles for CMC DEX); the same dates for
the naive plan (one call per id per day) are printed beside it. Intervals older than the connection's
plan reaches are skipped by the DAG, with no call, and counted as such here.

A snapshot DAG answers only for now: a backfill of it creates runs that end skipped, landing nothing
(see :mod:`cryptoflow.snapshots`); the plan says so and points at the history DAGs.

Pure but for the configuration: no database, no network.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

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
    credits: int  # by the endpoint's rule for the points each call returns
    plan_name: str
    unit: str = "coins"  # what the ids are: coins, DEX pairs, or "one series"
    gated: bool = False  # the plan may not call the endpoint: every run ends skipped, no call

    @property
    def minutes(self) -> float:
        """The floor the rate limit sets: every call at the configured rate."""
        return self.calls / self.calls_per_minute


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
    runs = history_runs(dataset.window_days, start, end, now=now)
    ids = spec.id_count(config)
    if not endpoint.allowed_on(plan_name):  # every run ends skipped with the plan's reason, no call
        return Plan(dag_id, runs, ids, 0, 0, len(runs), config.api(spec.api).calls_per_minute, 0, plan_name,
                    unit=spec.unit, gated=True)
    depth = spec.history_limit(plan_name)
    calls = naive = credits = skipped = 0
    for run_start, run_end in runs:
        reach = windows.clamp_to_history(run_start, run_end, now=now, history_days=depth)
        if reach is None:
            skipped += 1
            continue
        c, k = spec.cost(*reach, ids, now=now)
        calls, credits = calls + c, credits + k
        naive += spec.naive_calls(*reach, ids)
    return Plan(dag_id, runs, ids, calls, naive, skipped, config.api(spec.api).calls_per_minute, credits,
                plan_name, unit=spec.unit)


def describe(plan: Plan) -> str:
    if not plan.runs:
        return (f"backfill {plan.dag_id}: no run (no interval in that range has ended yet; the newest run "
                "ends at the last UTC midnight)")
    first, last = plan.runs[0][0], plan.runs[-1][1]
    lines = [
        f"backfill {plan.dag_id}: {len(plan.runs)} run(s) covering [{first:%Y-%m-%d}, {last:%Y-%m-%d}) "
        f"(UTC days), {plan.unit if plan.unit == 'one series' else f'{plan.coins} {plan.unit}'}",
        f"  calls    {plan.calls:,} (the fewest the endpoint allows at its granularity); the naive plan "
        f"(one call per {'day' if plan.unit == 'one series' else plan.unit[:-1] + ' per day'}) would spend "
        f"{plan.naive_calls:,}",
        f"  credits  {plan.credits:,} on plan {plan.plan_name}",
        f"  time     at least {plan.minutes:.1f} min at {plan.calls_per_minute:g} calls/min (the shared "
        "limiter's rate, for live and history DAGs together)",
    ]
    if plan.gated:
        lines.append(f"  skipped  every run: plan {plan.plan_name} may not call this endpoint (no call; "
                     "the DAG's runs end skipped with the plan's reason)")
    elif plan.skipped_runs:
        lines.append(f"  skipped  {plan.skipped_runs} run(s) older than plan {plan.plan_name} reaches "
                     "(no call; a plan with more history reaches them)")
    for run_start, run_end in plan.runs[:3]:
        lines.append(f"  run      [{run_start:%Y-%m-%d}, {run_end:%Y-%m-%d})")
    if len(plan.runs) > 3:
        lines.append(f"  ...      and {len(plan.runs) - 3} more")
    return "\n".join(lines)
