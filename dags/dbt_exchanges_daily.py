"""dbt, daily: the exchanges marts, each model they are built from a task and its tests the task after it.

The marts: dim_exchanges and the daily exchange volume.
An Airflow DAG rendered by Cosmos from the prebuilt dbt manifest (``+tag:exchanges``, no dbt at parse time);
the tests read all of history (``test_since`` '-infinity').
The hourly transform is ``dbt_marts``; what the daily DAGs share is in ``cryptoflow.cosmos_dags``.
"""

from __future__ import annotations

from cosmos import DbtDag

from cryptoflow import cosmos_dags as cfg

AREA = "exchanges"

dbt_exchanges_daily = DbtDag(
    project_config=cfg.project_config(),
    profile_config=cfg.profile_config(),
    execution_config=cfg.execution_config(),
    render_config=cfg.render_config(AREA),
    **cfg.dag_kwargs(AREA, doc_md=__doc__),
)
