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

from cryptoflow.assets import dbt_selection, dbt_source

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
    """``dbt build`` on what is downstream of the triggering raw tables (everything on a manual run).

    Each raw table selects ``source:<api>.<endpoint>+``: its models and their tests, and none of another
    source's, so the cost follows what landed. What those models read from elsewhere is read as it
    stands, and built first only where it is not in the warehouse yet (:func:`unbuilt_parents`). Any
    other model not in the warehouse yet is built too (:func:`unbuilt_models`): a fresh warehouse's
    first run builds every model, empty where nothing landed, so ``dbt test`` from a shell finds every
    relation even where a source never lands (an endpoint the plan may not call).
    """
    names = [name for name in event_asset_names(triggering_asset_events) if name.startswith("raw.")]
    selection = dbt_selection(names)
    if names:
        from cryptoflow.warehouse import connect

        with connect(conn_id) as conn:
            built = relations_in(conn)
        manifest = current_manifest()
        parents = unbuilt_parents([dbt_source(name) for name in names], manifest, built)
        selection += sorted(set(parents) | set(unbuilt_models(manifest, built)))
    # cautious: a test that came in with a model added above runs only when all it reads is selected
    args = ["build", *(["--select", *selection, "--indirect-selection", "cautious"] if selection else [])]
    return {"selection": selection, **run_dbt(args, env=warehouse_env(conn_id))}


def selection_for(asset_names: Iterable[str]) -> list[str]:
    """dbt selectors for the raw tables named; assets that are not raw tables are ignored."""
    return dbt_selection(name for name in asset_names if name.startswith("raw."))


def unbuilt_parents(sources: Iterable[str], manifest: Mapping[str, Any], built: set[str]) -> list[str]:
    """The models and snapshots read by what is downstream of ``sources`` (``api.endpoint``) or by its
    tests, that are neither downstream themselves nor in the warehouse (``built``: ``schema.relation``
    names): a fresh warehouse, or a model added since. Built with the selection so that nothing reads a
    missing relation; once there they are read as they stand. Sorted names."""
    nodes, children, parents = manifest["nodes"], manifest["child_map"], manifest["parent_map"]

    def walk(start: Iterable[str], graph: Mapping[str, list[str]]) -> set[str]:
        seen: set[str] = set()
        todo = list(start)
        while todo:
            for node in graph.get(todo.pop(), []):
                if node not in seen and nodes.get(node, {}).get("resource_type") in ("model", "snapshot"):
                    seen.add(node)
                    todo.append(node)
        return seen

    project = manifest["metadata"].get("project_name", "cryptoflow")
    starts = [f"source.{project}.{source}" for source in sources]
    downstream = walk(starts, children)
    # the selection's tests too: a relationships test reads the model it points to
    tests = {child for node in (*starts, *downstream) for child in children.get(node, [])
             if nodes.get(child, {}).get("resource_type") == "test"}
    wanted = walk([*downstream, *tests], parents) - downstream
    missing = {nodes[n]["name"] for n in wanted if nodes[n]["config"].get("materialized") != "ephemeral"
               and _relation(nodes[n]) not in built}
    return sorted(missing)


def unbuilt_models(manifest: Mapping[str, Any], built: set[str]) -> list[str]:
    """Every model and snapshot of the project that is not in the warehouse (``built``: ``schema.relation``
    names), ephemeral ones aside. Sorted names."""
    return sorted(node["name"] for node in manifest["nodes"].values()
                  if node.get("resource_type") in ("model", "snapshot")
                  and node["config"].get("materialized") != "ephemeral"
                  and _relation(node) not in built)


def _relation(node: Mapping[str, Any]) -> str:
    return f"{node['schema']}.{node.get('alias') or node['name']}".lower()


def relations_in(conn) -> set[str]:
    """Every table and view in the warehouse, as ``schema.name``."""
    with conn.cursor() as cur:
        cur.execute("SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relkind IN ('r', 'v', 'm', 'p')")
        return {row[0].lower() for row in cur.fetchall()}


def current_manifest(project_dir: Path = PROJECT_DIR) -> dict[str, Any]:
    """The manifest of the last dbt run (``$DBT_TARGET_PATH`` or the project's ``target``), parsed again
    when a file of the project is newer than it (a deploy since) or there is none."""
    target = Path(os.environ.get("DBT_TARGET_PATH", project_dir / "target"))
    manifest = target / "manifest.json"
    sources = [p for pattern in ("*.sql", "*.yml") for p in project_dir.rglob(pattern)
               if not {"target", "logs"} & set(p.relative_to(project_dir).parts)]
    if not manifest.exists() or manifest.stat().st_mtime < max(p.stat().st_mtime for p in sources):
        build_manifest(project_dir, target)
    return json.loads(manifest.read_text())


def build_manifest(project_dir: Path = PROJECT_DIR, target: Path | None = None) -> Path:
    """``dbt parse`` into ``target`` (``<project>/target``): the project's manifest, built without a
    database."""
    target = target or project_dir / "target"
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
