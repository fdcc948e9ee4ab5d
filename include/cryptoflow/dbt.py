"""Runs dbt against the warehouse from inside an Airflow task.

dbt runs as a subprocess of the task (its own logging, no import clash with Airflow), with the
warehouse's coordinates taken from the Airflow connection ``warehouse`` so that dbt writes where the
landing tasks wrote. ``dbt build`` runs models and their tests together: a failing test fails the task.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from cryptoflow.assets import dbt_selection

PROJECT_DIR = Path(os.environ.get("DBT_PROJECT_DIR", Path(__file__).resolve().parents[2] / "dbt_project"))


class DbtError(RuntimeError):
    """dbt exited non-zero; the message holds the failing nodes."""


def warehouse_env(conn_id: str = "warehouse") -> dict[str, str]:
    """``CRYPTOFLOW_WH_*`` variables (read by ``profiles.yml``) from the Airflow connection."""
    from airflow.sdk import BaseHook

    conn = BaseHook.get_connection(conn_id)
    return {
        "CRYPTOFLOW_WH_HOST": conn.host or "127.0.0.1",
        "CRYPTOFLOW_WH_PORT": str(conn.port or 5432),
        "CRYPTOFLOW_WH_USER": conn.login or "postgres",
        "CRYPTOFLOW_WH_PASSWORD": conn.password or "",
        "CRYPTOFLOW_WH_DBNAME": conn.schema or "postgres",
    }


def dbt_executable() -> str:
    """The ``dbt`` beside this interpreter (the project's venv), else the one on PATH."""
    beside = Path(sys.executable).with_name("dbt")
    if beside.exists():
        return str(beside)
    found = shutil.which("dbt")
    if not found:
        raise DbtError("dbt is not installed in this environment (run `make setup`)")
    return found


def run_dbt(args: list[str], env: Mapping[str, str] | None = None, project_dir: Path = PROJECT_DIR
            ) -> dict[str, Any]:
    """Run ``dbt <args>`` in the project; stream its output; return a summary of run_results.json."""
    full_env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false",
                "DBT_USE_COLORS": "false", **(env or {})}
    full_env.setdefault("DBT_PROFILES_DIR", str(project_dir))
    target = Path(full_env.get("DBT_TARGET_PATH", project_dir / "target"))
    cmd = [dbt_executable(), *args, "--project-dir", str(project_dir)]
    proc = subprocess.run(cmd, env=full_env, cwd=project_dir, capture_output=True, text=True, check=False)
    sys.stdout.write(proc.stdout)
    sys.stderr.write(proc.stderr)
    summary = summarize(target / "run_results.json")
    if proc.returncode != 0:
        failed = ", ".join(summary.get("failed", [])) or proc.stdout.strip().splitlines()[-1:]
        raise DbtError(f"dbt {' '.join(args)} failed (exit {proc.returncode}): {failed}")
    return summary


def summarize(run_results: Path) -> dict[str, Any]:
    """Counts by status, the failing nodes and each node's execution seconds, from ``run_results.json``."""
    try:
        results = json.loads(run_results.read_text())["results"]
    except (OSError, ValueError, KeyError):
        return {}
    counts: dict[str, int] = {}
    failed = []
    seconds = {}
    for result in results:
        counts[result["status"]] = counts.get(result["status"], 0) + 1
        if result["status"] in ("error", "fail"):
            failed.append(result["unique_id"])
        seconds[result["unique_id"]] = round(float(result.get("execution_time") or 0.0), 3)
    return {"counts": counts, "failed": failed, "seconds": seconds}


def event_asset_names(triggering_asset_events: Mapping[Any, Any] | None) -> list[str]:
    """Names of the assets in a run's ``triggering_asset_events`` (keys may be Assets or names)."""
    names = []
    for key in (triggering_asset_events or {}):
        names.append(getattr(key, "name", None) or str(key))
    return names


def build_for_events(triggering_asset_events: Mapping[Any, Any] | None, conn_id: str = "warehouse"
                     ) -> dict[str, Any]:
    """``dbt build`` on what is downstream of the triggering raw tables (everything on a manual run)."""
    selection = selection_for(event_asset_names(triggering_asset_events))
    # cautious: a test runs only when every model it reads is in the selection (a relationships test
    # from a model downstream of another source would otherwise read a table not built yet)
    args = ["build", *(["--select", *selection, "--indirect-selection", "cautious"] if selection else [])]
    return {"selection": selection, **run_dbt(args, env=warehouse_env(conn_id))}


def selection_for(asset_names: Iterable[str]) -> list[str]:
    """dbt selectors for the raw tables named; assets that are not raw tables are ignored."""
    return dbt_selection(name for name in asset_names if name.startswith("raw."))


def build_manifest(project_dir: Path = PROJECT_DIR) -> Path:
    """``dbt parse`` into ``<project>/target``: the project's manifest, built without a database."""
    target = project_dir / "target"
    cmd = [dbt_executable(), "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
           "--target-path", str(target), "--quiet"]
    env = {**os.environ, "DBT_SEND_ANONYMOUS_USAGE_STATS": "false", "DBT_VERSION_CHECK": "false"}
    env.pop("DBT_TARGET_PATH", None)
    proc = subprocess.run(cmd, env=env, cwd=project_dir, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise DbtError(f"dbt parse failed (exit {proc.returncode}):\n{(proc.stdout + proc.stderr)[-3000:]}")
    return target / "manifest.json"


if __name__ == "__main__":
    if sys.argv[1:] != ["manifest"]:
        sys.exit("usage: python -m cryptoflow.dbt manifest")
    print(f"dbt manifest: {build_manifest()}")
