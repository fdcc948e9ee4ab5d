"""The DAG tests parse every DAG file: the daily Cosmos DAGs need the dbt manifest built ahead (as
``make test`` and ``make demo`` do), so a bare ``pytest tests/dags`` on a fresh clone builds it first."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session", autouse=True)
def dbt_manifest():
    from cryptoflow.cosmos_dags import ensure_manifest

    return ensure_manifest()
