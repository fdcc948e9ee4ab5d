"""Helpers shared by the test layers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def airflow_cli(*args: str, env: dict[str, str] | None = None, check: bool = True,
                timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run ``airflow <args>`` with the session's environment; on failure show its output."""
    exe = str(Path(sys.executable).with_name("airflow"))
    proc = subprocess.run([exe, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} exited {proc.returncode}\n"
                             f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return proc


def sandbox_pages(sandbox, api_name: str, plan: str, endpoint_name: str, params=None, *,
                  path_values=None, wanted: int | None = None) -> tuple[list[str], list]:
    """What the sandbox serves for one request (the endpoint's defaults under ``params``), every page as
    the endpoint's paginator walks them, fetched directly: the bodies, and the records they hold."""
    import json

    import requests

    from cryptoflow.apis import get_api
    from cryptoflow.validation import records_of

    api = get_api(api_name)
    endpoint = api.endpoint(endpoint_name)
    auth = api.plan(plan).auth_header
    url = sandbox.base_url(api_name, plan) + endpoint.render_path(**(path_values or {}))
    sent = endpoint.paginator.first({**endpoint.params, **(params or {})}, wanted)
    pages, records = [], []
    while sent is not None:
        response = requests.get(url, params=sent, headers={auth: sandbox.key(api_name, plan)}, timeout=60)
        response.raise_for_status()
        pages.append(response.text)
        body = json.loads(response.text)
        items = records_of(body, endpoint.body)
        records.extend(items)
        sent = endpoint.paginator.next(sent, items, body, wanted)
    return pages, records


def lasting_intervals(dag_ids, margin) -> dict:
    """Each DAG's current interval (what ``dags test`` of its latest tick runs), all of them staying
    current (a snapshot run lands only that: ``end >= now - cadence``) for ``margin`` more; when one
    would stop sooner, wait for the tick that starts its next. A test that runs an interval twice, or
    many DAGs one after another, asks for as long as it takes: the first run near the end of an hour
    and the second past it would be skipped (rightly) as past."""
    import time
    from datetime import UTC, datetime

    from cryptoflow.config import load_config
    from cryptoflow.snapshots import current_interval

    datasets = [load_config().dataset(dag_id) for dag_id in dag_ids]
    if any(ds.cadence <= margin for ds in datasets):
        raise ValueError(f"no interval of {dag_ids} stays current for {margin}")
    while True:
        now = datetime.now(UTC)
        intervals = {ds.name: current_interval(ds.schedule, now) for ds in datasets}
        left = min(intervals[ds.name][1] + ds.cadence - now for ds in datasets)
        if left >= margin:
            return intervals
        time.sleep(left.total_seconds() + 1)


def lasting_interval(dag_id: str, margin) -> tuple:
    """:func:`lasting_intervals` of one DAG."""
    return lasting_intervals([dag_id], margin)[dag_id]


def empty_warehouse(conn) -> None:
    """Every raw table emptied and every dbt-built schema dropped (raw and ops stay, as migrated): a test
    that runs ``dbt_marts`` by hand builds the whole project, so it must not read what other tests of the
    session landed under their own clocks (stale for the recency tests, networks another test never
    landed)."""
    conn.execute("""DO $$ DECLARE t record; BEGIN
        FOR t IN SELECT schemaname, tablename FROM pg_tables WHERE schemaname = 'raw' LOOP
            EXECUTE format('TRUNCATE %I.%I', t.schemaname, t.tablename);
        END LOOP;
    END $$""")
    for schema in ("staging", "intermediate", "marts", "snapshots"):
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    conn.execute("CREATE SCHEMA IF NOT EXISTS marts")


def last_audit_id(warehouse) -> int:
    if warehouse.execute("SELECT to_regclass('ops.landing_audit')").fetchone()[0] is None:
        return 0
    return warehouse.execute("SELECT coalesce(max(audit_id), 0) FROM ops.landing_audit").fetchone()[0]


def audits_since(warehouse, audit_id: int, table: str) -> list[tuple[str, int, int]]:
    """(request_key, pages, rows_replaced) of the landings of ``table`` audited after ``audit_id``."""
    return warehouse.execute(
        "SELECT request_key, pages, rows_replaced FROM ops.landing_audit "
        "WHERE audit_id > %s AND raw_table = %s ORDER BY audit_id", (audit_id, table)).fetchall()


SANDBOX_PLANS = (("coingecko", "demo"), ("cmc", "basic"), ("cmc_dex", "basic"))


def sandbox_connections(sandbox, plans=SANDBOX_PLANS) -> dict[str, str]:
    """``AIRFLOW_CONN_*`` variables that point each API's connection at the sandbox, on its plan."""
    import json

    return {f"AIRFLOW_CONN_{api.upper()}": json.dumps({
        "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
        "extra": {"plan": plan}}) for api, plan in plans}


def kill_history_try(name: str, batch: dict, *, dag_id: str, run_id: str, env: dict[str, str], landed,
                     after: int) -> None:
    """A worker lost mid-run: land ``batch`` of history dataset ``name`` in a child process and kill it
    once ``landed()`` (the try's landed progress rows) reaches ``after`` and its next call is in the
    sandbox's hands (the caller holds that call with a ``slow`` fault)."""
    import json
    import time

    code = ("import json, sys; from cryptoflow.history import land_history_batch; "
            f"land_history_batch({name!r}, json.loads(sys.argv[1]), dag_id={dag_id!r}, run_id={run_id!r})")
    child = subprocess.Popen([sys.executable, "-c", code, json.dumps(batch)], env={**os.environ, **env})
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and landed() < after:
            time.sleep(0.2)
        time.sleep(1.0)  # the next call is held by the sandbox now
    finally:
        child.kill()
        child.wait()
