"""``dbt source freshness`` over the raw tables of the datasets switched on, read back per source.

A source is stale when its newest ``landed_at`` is older than the thresholds its ``_<api>__sources.yml``
sets (from the dataset's default cadence). ``warn`` is reported and passes; ``error`` (or a source dbt
could not check) fails, so a stalled ingest shows red in the Airflow UI. Datasets switched off in
``cryptoflow.yaml`` are not checked: they are meant to go stale.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptoflow.assets import dbt_source, raw_asset
from cryptoflow.catalog import SPECS
from cryptoflow.config import Config, load_config
from cryptoflow.dbt import PROJECT_DIR, DbtError, run_dbt, warehouse_env

log = logging.getLogger(__name__)

FAILING = ("error", "runtime error")


class StaleSources(RuntimeError):
    """One or more sources are past their ``error_after`` threshold (or could not be checked)."""


def freshness_selection(config: Config) -> list[str]:
    """``source:<api>.<table>`` for every dataset switched on (its API on too), sorted."""
    selectors = {
        "source:" + dbt_source(raw_asset(spec.api, spec.endpoint).name)
        for name, spec in SPECS.items() if config.dataset(name).enabled
    }
    return sorted(selectors)


def read_results(sources_json: Path) -> list[dict[str, Any]]:
    """One row per checked source: ``source`` (``api.table``), ``status``, ``age_s``, ``max_loaded_at``."""
    doc = json.loads(sources_json.read_text())
    rows = []
    for result in doc.get("results", []):
        unique_id = result["unique_id"]  # source.<project>.<api>.<table>
        age = result.get("max_loaded_at_time_ago_in_s")
        rows.append({"source": ".".join(unique_id.split(".")[2:]), "status": result["status"],
                     "age_s": None if age is None else round(float(age)),
                     "max_loaded_at": result.get("max_loaded_at"),
                     "error": result.get("error") or result.get("message")})
    return sorted(rows, key=lambda row: row["source"])


def check_freshness(config: Config | None = None, conn_id: str = "warehouse",
                    env: Mapping[str, str] | None = None, target_dir: Path | None = None) -> dict[str, Any]:
    """Run ``dbt source freshness`` on the enabled datasets' sources; log each; raise on any error.

    Returns ``{"checked": n, "pass": [...], "warn": [...], "error": [...]}`` (source names).
    """
    config = config or load_config()
    selection = freshness_selection(config)
    if not selection:
        return {"checked": 0, "pass": [], "warn": [], "error": []}
    target = target_dir or PROJECT_DIR / "target"
    output = target / "sources.json"
    output.unlink(missing_ok=True)
    run_env = {**(warehouse_env(conn_id) if env is None else env), "DBT_TARGET_PATH": str(target)}
    try:
        run_dbt(["source", "freshness", "--select", *selection, "--output", str(output)], env=run_env)
    except DbtError:
        if not output.exists():  # dbt did not get as far as checking (bad profile, unreachable database)
            raise
    summary: dict[str, Any] = {"checked": 0, "pass": [], "warn": [], "error": []}
    for row in read_results(output):
        summary["checked"] += 1
        bucket = "error" if row["status"] in FAILING else row["status"]
        summary.setdefault(bucket, []).append(row["source"])
        age = "never landed" if row["age_s"] is None else f"last landed {row['age_s']} s ago"
        level = logging.INFO if bucket == "pass" else logging.WARNING
        log.log(level, "freshness %-5s %s (%s)%s", bucket, row["source"], age,
                f": {row['error']}" if row["error"] and bucket == "error" else "")
    if summary["error"]:
        stale, warned = ", ".join(summary["error"]), ", ".join(summary["warn"]) or "none"
        raise StaleSources(f"stale sources (past error_after, or never landed): {stale}; warn only: {warned}")
    return summary
