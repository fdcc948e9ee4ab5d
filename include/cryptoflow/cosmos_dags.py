"""The daily dbt DAGs, one per mart area, rendered by astronomer-cosmos: each model and its tests as tasks.

The hourly transform is ``dbt_marts`` (one ``dbt build`` of what just landed, tests on recent rows). These
DAGs are the daily (or on-demand) full-history path: ``dbt_<area>_daily`` runs every model the area's
marts are built from (``+tag:<area>``, tags set per folder in ``dbt_project.yml``), each model a task
followed by a task for its tests (``TestBehavior.AFTER_EACH``), with ``test_since`` at ``'-infinity'`` so
that the tests read all of history. Areas are separate DAGs, so a failing source of one API fails only
the areas built from it.

Rendering reads the manifest the project builds ahead (``make manifest``: ``dbt parse``, no database):
parsing a DAG file runs no dbt. The tasks run dbt in-process (``InvocationMode.DBT_RUNNER``) against the
warehouse of the Airflow connection ``warehouse``, the one the landing tasks and ``dbt_marts`` use.
Everything here is configuration; the DAG files pick an area.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from cryptoflow.airflow_defaults import DEFAULT_ARGS
from cryptoflow.dbt import PROJECT_DIR

# The mart areas: dbt_project/models/marts/<area>/, each folder tagged <area> in dbt_project.yml.
AREAS = ("prices", "metadata", "sentiment", "dex", "exchanges", "breadth")

# Written by `make manifest` and ensure_manifest (dbt parse), not by the dbt runs of the stack and the
# tests (they write under DBT_TARGET_PATH), so a dag-processor rarely meets it half-written.
MANIFEST = Path(os.environ.get("CRYPTOFLOW_DBT_MANIFEST", PROJECT_DIR / "target" / "manifest.json"))

# Tests over facts read rows since var('test_since') (recent rows, hourly); here: all of history.
FULL_HISTORY_VARS = {"test_since": "'-infinity'"}

# the dbt pool (airflow_settings.yaml, one slot): one dbt task at a time, this and dbt_marts alike, as they
# write the same incremental models
DBT_POOL = "dbt"
DEFAULT_ARGS_DBT = {**DEFAULT_ARGS, "retries": 1, "retry_delay": timedelta(minutes=5), "pool": DBT_POOL}


class ManifestMissing(FileNotFoundError):
    """The dbt manifest the Cosmos DAGs are rendered from has not been built."""


def dag_id(area: str) -> str:
    """``dbt_<area>_daily``."""
    return f"dbt_{area}_daily"


def daily_schedule(area: str):
    """Once a day after midnight UTC, the areas ten minutes apart (two cores: not all at once)."""
    from airflow.sdk import CronDataIntervalTimetable

    return CronDataIntervalTimetable(f"{10 * AREAS.index(area)} 1 * * *", timezone="UTC")


def manifest_path() -> Path:
    """The built manifest; a clear error naming the fix when it is not there (a fresh clone)."""
    if not MANIFEST.is_file():
        raise ManifestMissing(
            f"dbt manifest not found at {MANIFEST}: the dbt_<area>_daily DAGs are rendered from it without "
            "running dbt. Build it with `make manifest` (dbt parse, no database needed; `make demo` and "
            "`make test` build it when missing or stale), or point CRYPTOFLOW_DBT_MANIFEST at one.")
    return MANIFEST


def ensure_manifest() -> Path:
    """Build the manifest (``dbt parse``, about 8 s) when it is missing or older than a file of the dbt
    project; for ``make`` and the tests, never at DAG parsing."""
    from cryptoflow.dbt import build_manifest

    sources = [p for pattern in ("*.sql", "*.yml") for p in PROJECT_DIR.rglob(pattern)
               if not {"target", "logs", "dbt_packages"} & set(p.relative_to(PROJECT_DIR).parts)
               and not p.name.startswith(".")]  # dbt writes .user.yml on every run
    if not MANIFEST.is_file() or MANIFEST.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        build_manifest(PROJECT_DIR, MANIFEST.parent)
    return MANIFEST


def project_config():
    """The dbt project and its prebuilt manifest; ``test_since`` for all of history."""
    from cosmos import ProjectConfig

    return ProjectConfig(
        dbt_project_path=PROJECT_DIR,
        manifest_path=manifest_path(),
        install_dbt_deps=False,  # no packages: the project's own generic tests replace them
        dbt_vars=FULL_HISTORY_VARS,
        # the tasks' dbt writes its target and logs in Cosmos' temporary copy of the project, not in the
        # stack's shared DBT_TARGET_PATH (which `dbt_marts` uses)
        env_vars={"DBT_TARGET_PATH": "target", "DBT_LOG_PATH": "logs",
                  "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_USE_COLORS": "false"},
    )


def profile_config(conn_id: str = "warehouse"):
    """dbt's profile from the Airflow connection (read when a task runs, as ``cryptoflow.dbt.warehouse_env``
    does for ``dbt_marts``), with the settings ``profiles.yml`` gives the same target (output schema,
    threads, connect timeout)."""
    import yaml
    from cosmos import ProfileConfig
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    class WarehouseProfileMapping(PostgresUserPasswordProfileMapping):
        """Cosmos' Postgres mapping, where a connection without a password (a local server trusting its
        users, as the dev stack's and the tests') gives an empty one instead of failing the task."""

        def get_dbt_value(self, name: str) -> Any:
            value = super().get_dbt_value(name)
            return "" if value is None and name == "password" else value

    output = yaml.safe_load((PROJECT_DIR / "profiles.yml").read_text())["cryptoflow"]["outputs"]["warehouse"]
    return ProfileConfig(
        profile_name="cryptoflow",
        target_name="warehouse",
        profile_mapping=WarehouseProfileMapping(
            conn_id=conn_id,
            profile_args={key: output[key] for key in ("schema", "threads", "connect_timeout")},
        ),
    )


def execution_config():
    """dbt in the task's own process (``dbtRunner``): no interpreter start and no imports per task."""
    from cosmos import ExecutionConfig, ExecutionMode, InvocationMode

    return ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER)


def render_config(area: str):
    """What is rendered for ``area``: its marts and every model they are built from, from the manifest,
    each model followed by its tests."""
    from cosmos import LoadMode, RenderConfig, TestBehavior

    if area not in AREAS:
        raise ValueError(f"unknown mart area {area!r}; the areas are {', '.join(AREAS)}")
    return RenderConfig(
        load_method=LoadMode.DBT_MANIFEST,
        select=[f"+tag:{area}"],
        test_behavior=TestBehavior.AFTER_EACH,
        # a test that reads two models (relationships, reconciliations) runs once both are built, in a
        # task of its own: in either model's test task it could run before the other exists
        should_detach_multiple_parents_tests=True,
        emit_datasets=False,  # the marts are read by reports, not by other DAGs
        enable_owner_inheritance=False,  # every task's owner is the project's (tests/dags)
    )


def dag_kwargs(area: str, doc_md: str) -> dict[str, Any]:
    """The Airflow side of ``dbt_<area>_daily``: schedule, catchup, defaults, tags, docs."""
    from cryptoflow.airflow_defaults import SNAPSHOT_START

    return {
        "dag_id": dag_id(area),
        "schedule": daily_schedule(area),
        "start_date": SNAPSHOT_START,
        "catchup": False,  # a run tests all of history: only the latest day needs one
        "max_active_runs": 1,
        "default_args": DEFAULT_ARGS_DBT,
        "tags": ["dbt", "transform", "daily", area],
        "doc_md": doc_md,
    }


if __name__ == "__main__":
    print(f"dbt manifest: {ensure_manifest()}")
