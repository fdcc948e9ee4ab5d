"""Applying ``airflow_settings.yaml`` to a real Airflow metadata database (the test profile's, in real
Postgres): created once, then left alone; changed values updated; passwords stored encrypted. Each test
works inside a transaction that is rolled back, so the database keeps nothing of it."""

from __future__ import annotations

from pathlib import Path

import pytest

from cryptoflow.settings import apply_settings, load_settings, parse_settings

REPO = Path(__file__).resolve().parents[2]


def _doc(slots: int = 4, top_n: object = 250, host: str = "http://127.0.0.1:8765/cmc", key: str = "k-1"):
    return {"airflow": {
        "connections": [
            {"conn_id": "devstack_test_api", "conn_type": "http", "conn_host": host, "conn_password": key,
             "conn_extra": {"plan": "basic"}},
            {"conn_id": "devstack_test_db", "conn_uri": "postgres://u:secret@db.example:5433/wh"},
        ],
        "pools": [{"pool_name": "devstack_test_pool", "pool_slot": slots, "pool_description": "test"}],
        "variables": [{"variable_name": "devstack_test_top_n", "variable_value": top_n}],
    }}


def test_apply_creates_then_changes_nothing(airflow_session):
    from airflow.models.connection import Connection
    from airflow.models.pool import Pool
    from airflow.models.variable import Variable
    from sqlalchemy import select

    settings = parse_settings(_doc())
    first = apply_settings(settings, session=airflow_session)
    assert first.created == {"connections": ["devstack_test_api", "devstack_test_db"],
                             "pools": ["devstack_test_pool"], "variables": ["devstack_test_top_n"]}
    second = apply_settings(settings, session=airflow_session)
    assert not second.changed
    assert second.summary() == "connections 2 unchanged; pools 1 unchanged; variables 1 unchanged"

    api = airflow_session.scalar(select(Connection).where(Connection.conn_id == "devstack_test_api"))
    assert (api.conn_type, api.host, api.password, api.extra_dejson) == (
        "http", "http://127.0.0.1:8765/cmc", "k-1", {"plan": "basic"})
    assert api.is_encrypted and "k-1" not in (api._password or ""), "the key is stored encrypted"
    db = airflow_session.scalar(select(Connection).where(Connection.conn_id == "devstack_test_db"))
    assert (db.conn_type, db.host, db.port, db.schema, db.login, db.password) == (
        "postgres", "db.example", 5433, "wh", "u", "secret")
    pool = airflow_session.scalar(select(Pool).where(Pool.pool == "devstack_test_pool"))
    assert (pool.slots, pool.description, pool.include_deferred) == (4, "test", False)
    var = airflow_session.scalar(select(Variable).where(Variable.key == "devstack_test_top_n"))
    assert var.val == "250"


def test_apply_updates_only_what_changed(airflow_session):
    apply_settings(parse_settings(_doc()), session=airflow_session)
    report = apply_settings(parse_settings(_doc(slots=9, key="k-2")), session=airflow_session)
    assert report.updated == {"connections": ["devstack_test_api"], "pools": ["devstack_test_pool"],
                              "variables": []}
    assert report.unchanged == {"connections": ["devstack_test_db"], "pools": [],
                                "variables": ["devstack_test_top_n"]}

    from airflow.models.connection import Connection
    from sqlalchemy import select

    api = airflow_session.scalar(select(Connection).where(Connection.conn_id == "devstack_test_api"))
    assert api.password == "k-2"


def test_apply_leaves_what_the_file_does_not_name(airflow_session):
    from airflow.models.pool import Pool
    from sqlalchemy import select

    apply_settings(parse_settings(_doc()), session=airflow_session)
    apply_settings(parse_settings({"airflow": {"pools": [{"pool_name": "devstack_other", "pool_slot": 1}]}}),
                   session=airflow_session)
    names = set(airflow_session.scalars(select(Pool.pool)))
    assert {"devstack_test_pool", "devstack_other", "default_pool"} <= names


def test_committed_file_applies_idempotently(airflow_session, profile, pg_server):
    """The real file, completed as make demo completes it (sandbox address and keys)."""
    from cryptoflow.devstack.airflow_db import resolve_settings, sandbox_keys
    from cryptoflow.devstack.environment import stack_env

    env = stack_env(profile, pg_server)
    resolved = resolve_settings(load_settings(REPO / "airflow_settings.yaml"), env, log=lambda _: None)
    for conn in resolved.connections:
        assert conn.host.startswith(env["CRYPTOFLOW_SANDBOX_URL"] + "/")
        if sandbox_keys():
            assert conn.password == sandbox_keys()[conn.conn_id][conn.plan]
    first = apply_settings(resolved, session=airflow_session)
    assert sum(len(v) for v in first.created.values()) + sum(len(v) for v in first.updated.values()) \
        + sum(len(v) for v in first.unchanged.values()) == 7  # 3 connections, 4 pools
    assert not apply_settings(resolved, session=airflow_session).changed


def test_refuses_an_airflow_configured_for_another_database(metadata_dsn):
    import airflow.settings  # noqa: F401  (this process's Airflow: the test profile's database)

    from cryptoflow.devstack.airflow_db import use_stack_env
    from cryptoflow.devstack.postgres import StackError

    with pytest.raises(StackError, match="set the stack's environment before anything imports airflow"):
        use_stack_env({"AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql+psycopg2://x@127.0.0.1:1/other"})


def test_a_connection_encrypted_with_another_key_is_replaced(airflow_session):
    """A metadata database that outlived .local/ (an external CRYPTOFLOW_PG_DSN, then make clean) holds
    passwords under a Fernet key that is gone: applying replaces them instead of failing."""
    from airflow.models.connection import Connection
    from cryptography.fernet import Fernet
    from sqlalchemy import select, text

    foreign = Fernet(Fernet.generate_key()).encrypt(b"old-key").decode()
    airflow_session.execute(text(
        "INSERT INTO connection (conn_id, conn_type, host, password, is_encrypted, is_extra_encrypted) "
        "VALUES ('devstack_test_api', 'http', 'h', :pw, true, false)"), {"pw": foreign})
    report = apply_settings(parse_settings(_doc()), session=airflow_session)
    assert report.updated["connections"] == ["devstack_test_api"]
    airflow_session.expire_all()
    api = airflow_session.scalar(select(Connection).where(Connection.conn_id == "devstack_test_api"))
    assert api.password == "k-1"
    assert not apply_settings(parse_settings(_doc()), session=airflow_session).changed
