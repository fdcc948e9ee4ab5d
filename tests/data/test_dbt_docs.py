"""The dbt project documents itself: every model, snapshot, source and column has a description (checked
against the columns the relations really have, from ``dbt docs generate``'s catalog), and every mart
names its consumers in an exposure."""

from __future__ import annotations

import json

import psycopg
import pytest

from cryptoflow.dbt import build_manifest, run_dbt
from cryptoflow.devstack.environment import WAREHOUSE_SCHEMAS
from cryptoflow.devstack.postgres import ensure_database
from cryptoflow.warehouse import ensure_raw_tables, migrate

pytestmark = pytest.mark.slow

DOCUMENTED = ("model", "snapshot")


@pytest.fixture(scope="module")
def manifest() -> dict:
    return json.loads(build_manifest().read_text())


def test_every_node_and_declared_column_has_a_description(manifest):
    missing = []
    for uid, node in [*manifest["nodes"].items(), *manifest["sources"].items()]:
        if node["resource_type"] not in (*DOCUMENTED, "source"):
            continue
        if not node.get("description", "").strip():
            missing.append(uid)
        missing += [f"{uid}.{name}" for name, col in node["columns"].items()
                    if not col.get("description", "").strip()]
    assert missing == []


def test_every_mart_is_read_by_an_exposure(manifest):
    marts = {uid for uid, node in manifest["nodes"].items()
             if node["resource_type"] == "model" and node["fqn"][1] == "marts"}
    assert len(marts) >= 17
    exposed = set()
    for uid, exposure in manifest["exposures"].items():
        assert exposure["description"].strip() and exposure["owner"].get("name"), uid
        exposed |= set(exposure["depends_on"]["nodes"])
    assert marts - exposed == set()


@pytest.fixture(scope="module")
def docs(pg_server, profile, tmp_path_factory) -> tuple[dict, dict]:
    """``dbt run`` and ``dbt snapshot`` over empty raw tables (every relation, no rows), then ``dbt docs
    generate``, in a database of its own (the other tests' warehouse keeps its state); returns (manifest,
    catalog). (``--empty`` cannot be used: it wraps each ref in a subquery that an aliased ref breaks.)"""
    name = f"{profile.warehouse_db}_docs"
    dsn = ensure_database(pg_server, name, WAREHOUSE_SCHEMAS)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn)
        ensure_raw_tables(conn)
    target = tmp_path_factory.mktemp("dbt_docs")
    env = {"CRYPTOFLOW_WH_DBNAME": name, "DBT_TARGET_PATH": str(target)}
    run_dbt(["run"], env=env)
    run_dbt(["snapshot"], env=env)
    run_dbt(["docs", "generate"], env=env)
    assert (target / "index.html").exists()
    return tuple(json.loads((target / name).read_text()) for name in ("manifest.json", "catalog.json"))


def test_docs_generate_describes_every_column_the_relations_have(docs):
    manifest, catalog = docs
    built = {uid for uid, node in manifest["nodes"].items() if node["resource_type"] in DOCUMENTED}
    assert built - set(catalog["nodes"]) == set(), "every model and snapshot is in the catalog"
    undocumented = []
    for uid in sorted(built):
        declared = manifest["nodes"][uid]["columns"]
        for column in catalog["nodes"][uid]["columns"]:
            if not declared.get(column, {}).get("description", "").strip():
                undocumented.append(f"{uid.split('.')[-1]}.{column}")
    assert undocumented == [], " ".join(undocumented)
    for uid, source in catalog["sources"].items():
        assert source["columns"], uid
