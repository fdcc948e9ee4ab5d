"""Every DAG imports cleanly and follows the house rules (owner, tags, retries, pools, timetables)."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from cryptoflow.airflow_defaults import OWNER
from cryptoflow.apis import APIS

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        bag = DagBag(dag_folder=str(DAGS_DIR), safe_mode=False)
    bag.caught_warnings = [w for w in caught if "cryptoflow" in str(w.filename) or "dags" in str(w.filename)]
    return bag


def test_every_dag_file_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert len(dagbag.dags) == len(list(DAGS_DIR.glob("*.py"))), "one DAG per file"


def test_no_warnings_from_our_dag_files(dagbag):
    assert [str(w.message) for w in dagbag.caught_warnings] == []


def test_every_dag_has_owner_tags_retries_and_docs(dagbag):
    for dag_id, dag in dagbag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        if "snapshot" in dag.tags:  # answers only for now: nothing to catch up on (cryptoflow.snapshots)
            assert dag.catchup is False, dag_id
        for task in dag.tasks:
            assert task.owner == OWNER, (dag_id, task.task_id)
            assert task.retries >= 1, (dag_id, task.task_id)


def test_every_api_task_runs_in_its_apis_pool(dagbag):
    api_tasks = 0
    for dag_id, dag in dagbag.dags.items():
        if "ingest" not in dag.tags:
            continue
        api = next(tag for tag in dag.tags if tag in APIS)
        for task in dag.tasks:
            api_tasks += 1
            assert task.pool == api, (dag_id, task.task_id, task.pool)
    assert api_tasks >= 1


def test_scheduled_dags_have_non_zero_data_intervals(dagbag):
    from airflow.sdk import CronDataIntervalTimetable

    from cryptoflow.timetables import HistoryWindows

    for dag_id, dag in dagbag.dags.items():
        if "snapshot" in dag.tags:
            assert isinstance(dag.timetable, CronDataIntervalTimetable), dag_id
        elif "history" in dag.tags:
            assert isinstance(dag.timetable, HistoryWindows), dag_id


def test_every_history_dataset_is_a_catchup_dag_of_its_windows(dagbag):
    """Each history dataset is ``dags/<name>.py``: catchup on from its start, one window per run, its
    ``plan`` task before the mapped landing that emits the raw table's Asset."""
    from datetime import UTC, datetime, timedelta

    from cryptoflow.catalog import history_spec
    from cryptoflow.config import HISTORY_DATASETS, load_config

    config = load_config()
    history = {dag_id: dag for dag_id, dag in dagbag.dags.items() if "history" in dag.tags}
    assert set(history) == set(HISTORY_DATASETS)
    for name, (api, *_) in HISTORY_DATASETS.items():
        dag, settings = history[name], config.history_dataset(name)
        assert Path(dag.fileloc) == DAGS_DIR / f"{name}.py", name
        assert api in dag.tags and dag.catchup is True, name
        assert dag.timetable.window == timedelta(days=settings.window_days), name
        assert dag.max_active_runs == settings.max_active_runs, name
        age = datetime.now(UTC) - dag.start_date
        assert timedelta(days=settings.start_days_ago) <= age < timedelta(days=settings.start_days_ago + 1)
        land = dag.get_task(f"land_{history_spec(name).endpoint}")
        assert land.upstream_task_ids == {"plan"}, name
        assert [o.name for o in land.outlets] == [history_spec(name).raw_table], name


def dbt_source_tables() -> set[str]:
    """``raw.<table>`` of every dbt source table (what dbt reads)."""
    import yaml

    tables = set()
    for path in (DAGS_DIR.parent / "dbt_project" / "models").rglob("_*__sources.yml"):
        for source in yaml.safe_load(path.read_text())["sources"]:
            for table in source["tables"]:
                tables.add(f"{source['schema']}.{table.get('identifier', table['name'])}")
    return tables


def test_dbt_dag_is_scheduled_on_every_raw_asset_dbt_reads(dagbag):
    """dbt_marts runs when a raw table that dbt has a source for lands (a raw table no model reads yet
    triggers nothing), and only on raw tables some ingest DAG emits."""
    emitted = {outlet.name for dag in dagbag.dags.values() for task in dag.tasks for outlet in task.outlets}
    dbt = dagbag.dags["dbt_marts"]
    scheduled_on = {asset.name for asset in dbt.timetable.asset_condition.objects}
    assert scheduled_on and scheduled_on <= emitted
    assert emitted & dbt_source_tables() == scheduled_on


def test_every_dataset_has_exactly_one_dag_file(dagbag):
    """Each dataset of ``config.DATASETS`` is ``dags/<name>.py``, whose one DAG has the dataset's name
    and its API's tag; every snapshot DAG is a dataset."""
    from cryptoflow.catalog import spec
    from cryptoflow.config import DATASETS, load_config

    config = load_config()
    ingest = {dag_id: dag for dag_id, dag in dagbag.dags.items() if "snapshot" in dag.tags}
    assert set(ingest) == set(DATASETS)
    for name, (api, _) in DATASETS.items():
        dag = ingest[name]
        assert Path(dag.fileloc) == DAGS_DIR / f"{name}.py", name
        assert api in dag.tags, name
        assert dag.timetable.expression == config.dataset(name).schedule, name
        if "snapshot" in dag.tags:  # cryptoflow.dagfactory: one landing task, one run at a time
            assert dag.max_active_runs == 1, name
            land = [task for task in dag.tasks if task.task_id.startswith("land_")]
            assert len(land) == 1 and len(land[0].outlets) == 1, name
            if spec(name).ids is None:  # a dataset over ids selects them first, then lands mapped batches
                assert [task.task_id for task in dag.tasks] == [land[0].task_id], name
            else:
                assert sorted(task.task_id for task in dag.tasks) == sorted(["select_ids", land[0].task_id])
                assert land[0].upstream_task_ids == {"select_ids"}, name


NOWHERE = {
    "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://nobody@127.0.0.1:9/nowhere",
    "AIRFLOW_CONN_WAREHOUSE": "postgres://nobody@127.0.0.1:9/nowhere",
    "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
}

PARSE_WITHOUT_IO = r"""
import json, socket, sys

def refuse(*args, **kwargs):
    raise RuntimeError("network or database I/O while parsing DAG files")

socket.socket.connect = refuse
socket.socket.connect_ex = refuse
socket.create_connection = refuse
from airflow.dag_processing.dagbag import DagBag

bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
print(json.dumps({"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": sorted(bag.dags)}))
"""


def test_parsing_the_dags_does_no_network_or_database_io():
    """DAG files only declare: parsing them with every Python socket refused and the metadata database
    and warehouse pointing nowhere (libpq opens its own sockets) still gives every DAG."""
    import json
    import os
    import subprocess
    import sys

    proc = subprocess.run([sys.executable, "-c", PARSE_WITHOUT_IO, str(DAGS_DIR)], capture_output=True,
                          text=True, check=False, env={**os.environ, **NOWHERE})
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert set(result["dags"]) == {path.stem for path in DAGS_DIR.glob("*.py")}


def test_a_dataset_switched_off_defines_no_dag(monkeypatch):
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("CRYPTOFLOW__DATASETS__COINGECKO_MARKETS__ENABLED", "false")
    bag = DagBag(dag_folder=str(DAGS_DIR / "coingecko_markets.py"), safe_mode=False)
    assert bag.import_errors == {} and "coingecko_markets" not in bag.dags
    monkeypatch.setenv("CRYPTOFLOW__DATASETS__COINGECKO_MARKETS__ENABLED", "true")
    monkeypatch.setenv("CRYPTOFLOW__DATASETS__COINGECKO_MARKETS__SCHEDULE", "*/20 * * * *")
    bag = DagBag(dag_folder=str(DAGS_DIR / "coingecko_markets.py"), safe_mode=False)
    assert bag.dags["coingecko_markets"].timetable.expression == "*/20 * * * *"
