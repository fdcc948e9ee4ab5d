"""dbt: ``dbt source freshness`` on every raw table of the datasets switched on, every hour.

Each source's thresholds (``warn_after``, ``error_after``) are in ``dbt_project/models/staging/<api>/
_<api>__sources.yml``, set from the dataset's default cadence. A source past ``warn_after`` is logged as
a warning; one past ``error_after`` (or one dbt cannot check) fails the task, naming it, so an ingest
that stopped landing shows red here even when its own DAG is paused or its API is down. Datasets switched
off in ``cryptoflow.yaml`` are not checked. The task's XCom lists the sources per status.

From a shell: ``eval "$(make -s env)" && cd dbt_project && dbt source freshness``.
"""

from __future__ import annotations

from airflow.sdk import CronTriggerTimetable, dag, task

from cryptoflow.airflow_defaults import DEFAULT_ARGS, SNAPSHOT_START


@dag(
    dag_id="dbt_source_freshness",
    schedule=CronTriggerTimetable("45 * * * *", timezone="UTC"),
    start_date=SNAPSHOT_START,
    catchup=False,
    max_active_runs=1,
    default_args={**DEFAULT_ARGS, "retries": 1},
    tags=["dbt", "freshness"],
    doc_md=__doc__,
)
def dbt_source_freshness():
    @task
    def source_freshness() -> dict:
        """``dbt source freshness`` on the enabled datasets' sources; fails when one is past error_after."""
        from cryptoflow.freshness import check_freshness

        return check_freshness()

    source_freshness()


dbt_source_freshness()
