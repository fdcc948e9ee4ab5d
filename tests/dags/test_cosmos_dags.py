"""The daily dbt DAGs (``dags/dbt_<area>_daily.py``, rendered by Cosmos): one per mart area, each model of
the area a task followed by its tests, rendered from the prebuilt manifest without running dbt; and one
area run end to end by ``airflow dags test`` against the warehouse."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import psycopg
import pytest

from cryptoflow import cosmos_dags
from cryptoflow.cosmos_dags import AREAS, dag_id
from cryptoflow.dbt import run_dbt
from tests.conftest import reset_controls
from tests.helpers import airflow_cli

DAGS_DIR = Path(__file__).resolve().parents[2] / "dags"


def bag_of(*areas: str) -> SimpleNamespace:
    """The DAGs and import errors of the areas' files, each parsed as the dag-processor does (safe mode:
    a file that does not name Airflow and a DAG is skipped)."""
    from airflow.dag_processing.dagbag import DagBag

    dags, errors = {}, {}
    for area in areas:
        bag = DagBag(dag_folder=str(DAGS_DIR / f"{dag_id(area)}.py"), safe_mode=True)
        dags.update(bag.dags)
        errors.update(bag.import_errors)
    return SimpleNamespace(dags=dags, import_errors=errors)


@pytest.fixture(scope="module")
def bag():
    return bag_of(*AREAS)


def area_models(manifest: dict, area: str) -> set[str]:
    """Names of the models ``+tag:<area>`` selects: the area's models and every model they read."""
    nodes = manifest["nodes"]
    todo = [uid for uid, node in nodes.items() if area in node["tags"] and node["resource_type"] == "model"]
    seen: set[str] = set()
    while todo:
        uid = todo.pop()
        if uid in seen:
            continue
        seen.add(uid)
        todo.extend(p for p in manifest["parent_map"][uid] if p.startswith("model."))
    return {nodes[uid]["name"] for uid in seen}


def test_one_daily_dag_per_mart_area_with_each_model_then_its_tests(bag, dbt_manifest):
    from airflow.sdk import CronDataIntervalTimetable
    from cosmos.constants import InvocationMode

    manifest = json.loads(Path(dbt_manifest).read_text())
    marts_dir = cosmos_dags.PROJECT_DIR / "models" / "marts"
    assert set(AREAS) == {p.name for p in marts_dir.iterdir() if p.is_dir()}
    assert bag.import_errors == {}
    for area in AREAS:
        dag = bag.dags[dag_id(area)]
        assert isinstance(dag.timetable, CronDataIntervalTimetable) and dag.catchup is False, area
        assert {"dbt", "daily", area} <= set(dag.tags), area
        tasks = {task.task_id: task for task in dag.tasks}
        models = area_models(manifest, area)
        marts = {n["name"] for n in manifest["nodes"].values()
                 if area in n["tags"] and n["resource_type"] == "model"}
        assert marts <= models and models == {t.removesuffix(".run") for t in tasks if t.endswith(".run")}
        for model in models:
            run, test = tasks[f"{model}.run"], tasks.get(f"{model}.test")
            assert test is not None, f"{area}: {model} has no test task"
            assert test.upstream_task_ids == {run.task_id}, (area, model)
            assert test.vars == {"test_since": "'-infinity'"}, (area, model)  # tests read all of history
            assert run.invocation_mode == InvocationMode.DBT_RUNNER, (area, model)


def test_rendering_runs_no_dbt_and_no_subprocess(monkeypatch):
    """The DAGs come from the manifest alone: parsing them with every subprocess and dbt invocation
    refused still gives every DAG (Cosmos' default, ``dbt ls``, would take about 10 s here)."""
    import subprocess

    from dbt.cli.main import dbtRunner

    def refuse(*args, **kwargs):
        raise AssertionError("dbt or a subprocess ran while the DAG files were parsed")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setattr(dbtRunner, "invoke", refuse)
    started = time.perf_counter()
    bag = bag_of(*AREAS)
    seconds = time.perf_counter() - started
    assert bag.import_errors == {}
    assert set(bag.dags) == {dag_id(area) for area in AREAS}
    print(f"{len(AREAS)} Cosmos DAGs, {sum(len(d.tasks) for d in bag.dags.values())} tasks, parsed in "
          f"{seconds:.2f} s")


def test_a_missing_manifest_fails_parsing_and_says_how_to_build_it(monkeypatch, tmp_path):
    monkeypatch.setattr(cosmos_dags, "MANIFEST", tmp_path / "manifest.json")
    bag = bag_of("exchanges")
    assert dag_id("exchanges") not in bag.dags
    [error] = bag.import_errors.values()
    assert "dbt manifest not found" in error and "make manifest" in error


# ------------------------------------------------------------------------------------------ end to end

SETTINGS = {
    "CRYPTOFLOW__UNIVERSE__TOP_N": "10",
    "CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE": "600",
    "CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "600",
}
RAW_TABLES = ("coingecko__exchanges", "cmc__exchange_listings_latest")
MARTS = ("dim_exchanges", "fct_exchange_volume_daily")


def connections(sandbox) -> dict[str, str]:
    # CMC's exchange listings need a paid plan (Basic is refused before any call)
    return {f"AIRFLOW_CONN_{api.upper()}": json.dumps({
        "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
        "extra": {"plan": plan}}) for api, plan in (("coingecko", "demo"), ("cmc", "growth"))}


@pytest.fixture
def exchanges_landed(sandbox, warehouse, warehouse_dsn, monkeypatch):
    """Both exchange listings landed now (from the sandbox), no exchange mart built yet; the marts and
    the staging views the test made are dropped and the raw tables emptied afterwards."""
    from cryptoflow.ingest import land_dataset

    def views() -> set[str]:
        return {row[0] for row in warehouse.execute(
            "SELECT table_name FROM information_schema.views WHERE table_schema = 'staging'").fetchall()}

    def clean() -> None:
        for mart in MARTS:
            warehouse.execute(f"DROP TABLE IF EXISTS marts.{mart}")
        for table in RAW_TABLES:
            if warehouse.execute("SELECT to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]:
                warehouse.execute(f"TRUNCATE raw.{table}")

    before = views()
    for name, value in {**SETTINGS, **connections(sandbox)}.items():
        monkeypatch.setenv(name, value)
    reset_controls(warehouse_dsn)
    sandbox.reset()
    sandbox.set_limits(enforce=False)
    clean()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        sandbox.set_clock(now)
        for name in ("coingecko_exchanges", "cmc_exchange_listings"):
            land_dataset(name, interval_start=None, interval_end=None, run_after=now, run_id=f"cosmos-{name}")
        yield
    finally:
        sandbox.reset()
        clean()
        for name in sorted(views() - before):
            warehouse.execute(f'DROP VIEW IF EXISTS staging."{name}" CASCADE')


@pytest.mark.e2e
@pytest.mark.slow
def test_the_exchanges_area_runs_each_model_and_its_tests_as_tasks(exchanges_landed, airflow_db, warehouse,
                                                                    tmp_path):
    """``airflow dags test dbt_exchanges_daily``: every model's run task and test task succeeds, in
    dependency order, and the marts hold the landed exchanges."""
    dag = dag_id("exchanges")
    logical = (datetime.now(UTC) - timedelta(days=1)).replace(hour=12, minute=0, second=0, microsecond=0)
    started = time.perf_counter()
    # a failed task would wait for its retry (5 min): the timeout ends the test first
    airflow_cli("dags", "test", dag, logical.isoformat(), timeout=240)
    wall = time.perf_counter() - started
    with psycopg.connect(airflow_db) as meta:
        rows = meta.execute("SELECT task_id, state, start_date, end_date FROM task_instance "
                            "WHERE dag_id = %s", (dag,)).fetchall()
    states = {task_id: state for task_id, state, _, _ in rows}
    # the test that reads both marts (each volume's exchange is in the dimension) is a task of its own
    both = "relationships_fct_exchange_volume_daily_exchange_id__exchange_id__ref_dim_exchanges__test"
    expected = {f"{model}.{kind}" for model in ("stg_coingecko__exchanges", "stg_cmc__exchanges", *MARTS)
                for kind in ("run", "test")} | {both}
    assert states == dict.fromkeys(expected, "success")
    ends = {task_id: (start, end) for task_id, _, start, end in rows}
    for model in MARTS:
        assert ends[f"{model}.run"][1] <= ends[f"{model}.test"][0], f"{model}: tests ran before the model"
        assert ends[f"{model}.run"][1] <= ends[both][0], f"{both} ran before {model}"
    assert ends["dim_exchanges.test"][1] <= ends["fct_exchange_volume_daily.run"][0]
    for mart in MARTS:
        assert warehouse.execute(f"SELECT count(*) FROM marts.{mart}").fetchone()[0] > 0, mart
    seconds = {task_id: round((end - start).total_seconds(), 1) for task_id, (start, end) in ends.items()}
    # for scale (a figure, not a check): the same selection as one `dbt build`, as dbt_marts runs it
    started = time.perf_counter()
    run_dbt(["build", "--select", "+tag:exchanges", "--vars", "{test_since: \"'-infinity'\"}"],
            env={"DBT_TARGET_PATH": str(tmp_path), "DBT_LOG_PATH": str(tmp_path)})
    print(f"{dag}: {len(rows)} tasks in {wall:.1f} s (airflow dags test, CLI start included); per task: "
          f"{seconds}; one dbt build of the same: {time.perf_counter() - started:.1f} s")


def test_the_demo_leaves_the_daily_dags_paused():
    from cryptoflow.devstack.stack import DAILY_DBT_DAGS

    assert {dag_id(area) for area in AREAS} == DAILY_DBT_DAGS
