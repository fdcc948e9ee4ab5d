"""The one shape of every snapshot DAG, built from a dataset's name and its endpoint.

A snapshot endpoint answers only for "now" (``/coins/markets``, ``/global``, ``listings/latest``,
``/coins/{id}``, ...). Each such dataset is one DAG, ``dags/<dataset>.py``, that calls :func:`snapshot_dag`
and nothing else; what it calls is its spec in :mod:`cryptoflow.catalog`. So every snapshot DAG is
scheduled, pooled, retried and documented the same way, and lands through :mod:`cryptoflow.ingest` (a
past interval is skipped, a connection whose plan may not call the endpoint is skipped, both before any
call).

What the DAG's shape needs (its id, cron, switch, cadence) is read from ``cryptoflow.yaml`` at parse
time, without I/O; the universe (top N, currency) is read inside the task, when it runs.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from airflow.sdk import CronDataIntervalTimetable, dag, task

from cryptoflow.airflow_defaults import DEFAULT_ARGS, SNAPSHOT_START
from cryptoflow.assets import raw_asset
from cryptoflow.catalog import BATCH_CALLS
from cryptoflow.catalog import spec as dataset_spec
from cryptoflow.config import load_config

if TYPE_CHECKING:
    from airflow.sdk import DAG

# What every snapshot DAG does, appended to each DAG's own docs (shown in the UI).
SNAPSHOT_DOC = """
Each run lands the answer, unchanged, in ``{table}`` for its data interval (a re-run replaces its own
rows) and emits that table's Asset. The endpoint answers only for now: catchup is off, a run for a past
interval is skipped with the reason and touches nothing, and a run triggered by hand lands the interval
that ends at its run time.
"""

PER_ID_DOC = """
``select_ids`` reads the ids from the latest landing of ``{listing}`` (no call; the listing is landed
first if it never was) and bundles them as the endpoint allows; ``land_{endpoint}`` is mapped over
batches of at most {batch} calls, each batch landed in one transaction.
"""


def snapshot_dag(dataset_name: str, *, doc: str) -> DAG | None:
    """The DAG of snapshot dataset ``dataset_name``, or ``None`` when it (or its API) is switched off.

    What it calls is the dataset's :class:`cryptoflow.catalog.Spec`; ``doc`` (the DAG file's docstring)
    heads its docs in the UI. A dataset over ids gets two tasks, ``select_ids`` and a mapped
    ``land_<endpoint>``; any other dataset one task, ``land_<endpoint>``.
    """
    dataset = load_config().dataset(dataset_name)
    if not dataset.enabled:
        return None
    spec = dataset_spec(dataset_name)
    api, endpoint = spec.api, spec.endpoint
    asset = raw_asset(api, endpoint)
    doc_md = doc + SNAPSHOT_DOC.format(table=asset.name)
    if spec.ids is not None:
        doc_md += PER_ID_DOC.format(listing=dataset_spec(spec.ids.dataset).name, endpoint=endpoint,
                                    batch=BATCH_CALLS)

    @dag(
        dag_id=dataset.name,
        schedule=CronDataIntervalTimetable(dataset.schedule, timezone="UTC"),
        start_date=SNAPSHOT_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=[api, "ingest", "snapshot"],
        doc_md=doc_md,
    )
    def snapshot():
        if spec.ids is None:
            @task(task_id=f"land_{endpoint}", pool=api, outlets=[asset])
            def land(data_interval_start=None, data_interval_end=None, dag_run=None, run_id=None) -> dict:
                """Fetch every request of the dataset (all pages) and replace this interval's raw rows."""
                from cryptoflow.ingest import land_dataset

                return land_dataset(dataset_name, interval_start=data_interval_start,
                                    interval_end=data_interval_end, run_after=dag_run.run_after,
                                    run_id=run_id)

            land()
            return

        @task(task_id="select_ids", pool=api)  # it may land the listing first: a call
        def select(data_interval_start=None, data_interval_end=None, dag_run=None, run_id=None) -> list:
            """The ids of this cycle, from the latest landing of the listing, in batches."""
            from cryptoflow.ingest import plan_batches

            return plan_batches(dataset_name, interval_start=data_interval_start,
                                interval_end=data_interval_end, run_after=dag_run.run_after, run_id=run_id)

        @task(task_id=f"land_{endpoint}", pool=api, outlets=[asset], map_index_template="{{ batch_label }}")
        def land_batch(batch: dict, run_id=None) -> dict:
            """Fetch one batch of requests and replace their raw rows for the interval, in one transaction."""
            from airflow.sdk import get_current_context

            from cryptoflow.ingest import land_batch as land

            first, last = batch["calls"][0], batch["calls"][-1]
            get_current_context()["batch_label"] = f"{_label(first)} .. {_label(last)}"
            return land(dataset_name, batch, run_id=run_id)

        land_batch.expand(batch=select())

    return snapshot()


HISTORY_DOC = """
Each run covers one data interval of up to {window} days (whole UTC days; the newest one ends at the last
midnight, a backfill's last one after its last day): ``plan`` resolves the run's {what} (stored with the
run on its first try, so any re-run fetches the same ones) and ``land_{endpoint}`` is mapped over
batches of them, in the fewest calls the endpoint allows ({calls}), paced by the shared limiter. Raw rows
land in ``{table}`` under the run's interval and the table's Asset triggers ``dbt_marts``.

- **Catchup** is on: switched on, the DAG runs every window from {start_days_ago} days before today,
  {max_active_runs} at a time. ``airflow backfill create`` (or ``make backfill``) re-runs any range.
- **Restart**: a retried run fetches only the windows its progress (``ops.history_progress``) lacks; a
  finished run that is cleared or reprocessed fetches again and lands the same rows.
- **Trigger** (no data interval): lands the {window} days that end at the last UTC midnight.
- Windows older than the connection's plan reaches back, or an endpoint the plan may not call, are
  skipped with the plan's reason, no call.
"""


def _history_what(spec, count: int) -> tuple[str, str]:
    """What a history run asks for, and how its calls are cut, for the DAG's docs."""
    span = spec.span
    reach = (f"{span.longest.days} days" if span.longest.days and not span.longest % timedelta(days=1)
             else f"{span.longest / timedelta(hours=1):.0f} hours")
    if spec.series:
        return "one series", f"one call per {reach}" + (", newest first" if span.style == "offset" else "")
    if spec.ids.per_network:
        return (f"{count} pairs (the top pairs of each DEX network in the latest "
                f"``{spec.ids.dataset}`` landing)", f"one call per pair per {reach}")
    return (f"{count} coins (the top N of the latest ``{spec.ids.dataset}`` landing)",
            f"{spec.per_call} coin(s) per call, one call per {reach}")


def history_dag(name: str, *, doc: str) -> DAG | None:
    """The history DAG ``name`` (a :class:`cryptoflow.catalog.HistorySpec`), or ``None`` when it (or its
    API) is switched off: ``plan`` then ``land_<endpoint>`` mapped over batches of coins."""
    from cryptoflow.catalog import history_spec
    from cryptoflow.timetables import HistoryWindows
    from cryptoflow.windows import start_of_history

    config = load_config()
    dataset = config.history_dataset(name)
    if not dataset.enabled:
        return None
    spec = history_spec(name)
    asset = raw_asset(spec.api, spec.endpoint)
    what, calls = _history_what(spec, spec.id_count(config))
    doc_md = doc + HISTORY_DOC.format(window=dataset.window_days, what=what, calls=calls,
                                      endpoint=spec.endpoint, table=asset.name,
                                      start_days_ago=dataset.start_days_ago,
                                      max_active_runs=dataset.max_active_runs)

    @dag(
        dag_id=name,
        schedule=HistoryWindows(dataset.window_days),
        start_date=start_of_history(datetime.now(UTC), dataset.start_days_ago),
        catchup=True,
        max_active_runs=dataset.max_active_runs,
        default_args=DEFAULT_ARGS,
        tags=[spec.api, "ingest", "history"],
        doc_md=doc_md,
    )
    def history():
        @task(task_id="plan", pool=spec.api)  # it may land the listing first: a call
        def plan(data_interval_start=None, data_interval_end=None, dag_run=None, run_id=None) -> list:
            """The run's ids (resolved once, stored with the run) in batches, for the run's interval."""
            from cryptoflow.history import plan_history

            return plan_history(name, interval_start=data_interval_start, interval_end=data_interval_end,
                                run_after=dag_run.run_after, dag_id=dag_run.dag_id, run_id=run_id)

        @task(task_id=f"land_{spec.endpoint}", pool=spec.api, outlets=[asset],
              map_index_template="{{ batch_label }}")
        def land(batch: dict, dag_run=None, run_id=None) -> dict:
            """The batch's calls, window by window, each landed with its progress."""
            from airflow.sdk import get_current_context

            from cryptoflow.history import land_history_batch

            coins = batch["coins"]
            get_current_context()["batch_label"] = f"{coins[0]} .. {coins[-1]} ({len(coins)})"
            return land_history_batch(name, batch, dag_id=dag_run.dag_id, run_id=run_id)

        land.expand(batch=plan())

    return history()


def _label(call: dict) -> str:
    """A short name for one request of a batch (its id, or its first bundled id), for the UI."""
    values = call.get("path_values") or {}
    if values:
        return ",".join(str(v) for v in values.values())
    params = call.get("params") or {}
    for name in ("id", "contract_address"):
        if params.get(name):
            head = str(params[name]).split(",")
            return head[0][:12] + (f" +{len(head) - 1}" if len(head) > 1 else "")
    return "-"
