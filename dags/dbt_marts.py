"""dbt: builds (and tests) the models downstream of whichever raw tables just landed.

Scheduled on the raw tables' Assets: each landing task's event triggers a run that selects
``source:<api>.<endpoint>+`` (the source and what is downstream of it) for every table in its triggering
events and runs ``dbt build`` (models, snapshots and their tests) on that selection, so a mart is never
published without its tests and a run costs what landed. A model those read from another source is built
too only while it is missing from the warehouse (``cryptoflow.dbt.unbuilt_parents``).
"""

from __future__ import annotations

from airflow.sdk import AssetAny, dag, task

from cryptoflow.airflow_defaults import DEFAULT_ARGS, SNAPSHOT_START
from cryptoflow.assets import raw_asset
from cryptoflow.catalog import HISTORY_SPECS, SPECS

# Every dataset's and history dataset's raw table: each has a dbt source (tests/dags checks it).
RAW_ASSETS = sorted({raw_asset(spec.api, spec.endpoint)
                     for spec in (*SPECS.values(), *HISTORY_SPECS.values())}, key=lambda a: a.name)


@dag(
    dag_id="dbt_marts",
    schedule=AssetAny(*RAW_ASSETS),
    start_date=SNAPSHOT_START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=["dbt", "transform"],
    doc_md=__doc__,
)
def dbt_marts():
    @task(pool="dbt")  # one dbt task at a time (the daily dbt_<area>_daily DAGs write the same models)
    def dbt_build(triggering_asset_events=None) -> dict:
        """``dbt build`` on the models downstream of the raw tables in this run's asset events."""
        from cryptoflow.dbt import build_for_events

        return build_for_events(triggering_asset_events)

    dbt_build()


dbt_marts()
