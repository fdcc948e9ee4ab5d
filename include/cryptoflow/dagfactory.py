"""The one shape of every snapshot DAG, built from a dataset's name and its endpoint.

A snapshot endpoint answers only for "now" and needs no per-coin ids (``/coins/markets``, ``/global``,
``listings/latest``, ...). Each such dataset is one DAG, ``dags/<dataset>.py``, that calls
:func:`snapshot_dag` and nothing else; so every snapshot DAG is scheduled, pooled, retried and documented
the same way, and lands through :func:`cryptoflow.ingest.land_snapshot` (a past interval is skipped, a
connection whose plan may not call the endpoint is skipped, both before any call).

What the DAG's shape needs (its id, cron, switch, cadence) is read from ``cryptoflow.yaml`` at parse
time, without I/O; the universe (top N, currency) is read inside the task, when it runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, Literal

from airflow.sdk import CronDataIntervalTimetable, dag, task

from cryptoflow.airflow_defaults import DEFAULT_ARGS, SNAPSHOT_START
from cryptoflow.assets import raw_asset
from cryptoflow.config import Universe, load_config

if TYPE_CHECKING:
    from airflow.sdk import DAG

# ``wanted=TOP_N``: the listing is capped at ``universe.top_n`` records (the largest page size, the
# fewest calls); ``wanted=None``: every page.
TOP_N = "top_n"
NO_HISTORY = ("nowhere: the API keeps no past of this listing, so a past interval keeps what it landed "
              "then")

# What every snapshot DAG does, appended to each DAG's own docs (shown in the UI).
SNAPSHOT_DOC = """
Each run lands the answer, unchanged, in ``{table}`` for its data interval (a re-run replaces its own
rows) and emits that table's Asset. The endpoint answers only for now: catchup is off, a run for a past
interval is skipped with the reason and touches nothing, and a run triggered by hand lands the interval
that ends at its run time.
"""

Params = Mapping[str, Any] | Callable[[Universe], Mapping[str, Any]]


def snapshot_dag(
    dataset_name: str,
    *,
    endpoint: str,
    doc: str,
    params: Params | None = None,
    wanted: Literal["top_n"] | None = None,
    history: str = NO_HISTORY,
) -> DAG | None:
    """The DAG of snapshot dataset ``dataset_name``, or ``None`` when it (or its API) is switched off.

    ``endpoint`` is the endpoint's name in :mod:`cryptoflow.apis` (it names the task, ``land_<endpoint>``,
    and the raw table, ``raw.<api>__<endpoint>``). ``params`` go over the endpoint's defaults: a mapping,
    or a function of the :class:`~cryptoflow.config.Universe` in force when the task runs (the currency).
    ``history`` says where a past interval's data comes from instead (in the skip reason).
    """
    dataset = load_config().dataset(dataset_name)
    if not dataset.enabled:
        return None
    api = dataset.api
    if wanted not in (None, TOP_N):
        raise ValueError(f"{dataset_name}: wanted must be None or {TOP_N!r}, got {wanted!r}")

    @dag(
        dag_id=dataset.name,
        schedule=CronDataIntervalTimetable(dataset.schedule, timezone="UTC"),
        start_date=SNAPSHOT_START,
        catchup=False,
        max_active_runs=1,
        default_args=DEFAULT_ARGS,
        tags=[api, "ingest", "snapshot"],
        doc_md=doc + SNAPSHOT_DOC.format(table=raw_asset(api, endpoint).name),
    )
    def snapshot():
        @task(task_id=f"land_{endpoint}", pool=api, outlets=[raw_asset(api, endpoint)])
        def land(data_interval_start=None, data_interval_end=None, dag_run=None, run_id=None) -> dict:
            """Fetch the endpoint (its pages) and replace this interval's raw rows."""
            from cryptoflow.ingest import land_snapshot

            universe = load_config().universe
            request = params(universe) if callable(params) else params
            return land_snapshot(api, endpoint, interval_start=data_interval_start,
                                 interval_end=data_interval_end, run_after=dag_run.run_after, run_id=run_id,
                                 cadence=dataset.cadence, history=history,
                                 wanted=universe.top_n if wanted == TOP_N else None,
                                 params=dict(request) if request else None)

        land()

    return snapshot()
