"""dbt: builds (and tests) the models downstream of whichever raw tables just landed.

Scheduled on the raw tables' Assets: each landing task's event triggers a run that selects
``source:<api>.<endpoint>+`` for every table in its triggering events and runs ``dbt build`` (models,
snapshots and their tests) on that selection, so a mart is never published without its tests.
"""

from __future__ import annotations

from airflow.sdk import AssetAny, dag, task

from cryptoflow.airflow_defaults import DEFAULT_ARGS, SNAPSHOT_START
from cryptoflow.assets import raw_asset

RAW_ASSETS = [raw_asset("coingecko", "coins_markets")]


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
    @task
    def dbt_build(triggering_asset_events=None) -> dict:
        """``dbt build`` on the models downstream of the raw tables in this run's asset events."""
        from cryptoflow.dbt import build_for_events

        return build_for_events(triggering_asset_events)

    dbt_build()


dbt_marts()
