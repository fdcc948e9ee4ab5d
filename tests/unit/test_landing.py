"""Landing against real Postgres: unchanged bodies, replace-not-add, all-or-nothing, audit rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import psycopg
import pytest

from cryptoflow.client import Page
from cryptoflow.landing import land, request_key
from cryptoflow.warehouse import migrate

START = datetime(2026, 3, 1, 10, tzinfo=UTC)
END = START + timedelta(hours=1)
TABLE = "raw.test__landing"


def page(n: int, text: str | None = None) -> Page:
    body = text if text is not None else json.dumps([{"id": f"coin-{n}", "price": n}], indent=1)
    return Page({"page": n, "per_page": 1}, 200, body, 1, START + timedelta(minutes=n), elapsed_ms=5)


def land_pages(conn, pages, run_id="run-1", start=START, end=END):
    params = {"vs_currency": "usd", "page": 1, "per_page": 1}
    key = request_key("/coins/markets", params, ("page", "per_page"))
    return land(conn, raw_table=TABLE, source="test", endpoint="/coins/markets", request_key=key,
                interval_start=start, interval_end=end, run_id=run_id, pages=pages)


@pytest.fixture
def conn(warehouse):
    migrate(warehouse)
    warehouse.execute(f"DROP TABLE IF EXISTS {TABLE}")
    warehouse.commit()
    return warehouse


def rows(conn):
    return conn.execute(f"SELECT page, body, run_id FROM {TABLE} ORDER BY page").fetchall()


def test_request_key_ignores_paging_and_parameter_order():
    a = request_key("/x", {"b": 1, "a": 2, "page": 3}, ("page",))
    b = request_key("/x", {"a": 2, "b": 1, "page": 9}, ("page",))
    assert a == b == '/x?{"a":2,"b":1}'


def test_bodies_land_unchanged_with_their_interval(conn):
    pages = [page(1), page(2)]
    result = land_pages(conn, pages)
    assert result.pages == 2 and result.rows_replaced == 0
    got = rows(conn)
    assert [r[1] for r in got] == [p.text for p in pages]  # byte for byte, whitespace included
    start, end, params = conn.execute(
        f"SELECT interval_start, interval_end, request_params FROM {TABLE} WHERE page = 2").fetchone()
    assert (start, end) == (START, END)
    assert params == {"page": 2, "per_page": 1}


def test_rerun_of_an_interval_replaces_its_rows(conn):
    land_pages(conn, [page(1), page(2), page(3)], run_id="run-1")
    result = land_pages(conn, [page(1), page(2)], run_id="run-2")
    assert result.rows_replaced == 3
    assert [(r[0], r[2]) for r in rows(conn)] == [(1, "run-2"), (2, "run-2")]


def test_other_intervals_are_untouched(conn):
    land_pages(conn, [page(1)])
    land_pages(conn, [page(1)], start=END, end=END + timedelta(hours=1))
    land_pages(conn, [page(1)], run_id="again")
    assert conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0] == 2


def test_a_failed_landing_leaves_the_previous_rows(conn):
    land_pages(conn, [page(1), page(2)], run_id="good")
    with pytest.raises(psycopg.errors.InvalidTextRepresentation):
        land_pages(conn, [page(1), page(2, text='[{"id": "broken"')], run_id="bad")
    assert [r[2] for r in rows(conn)] == ["good", "good"]


def test_each_landing_writes_an_audit_row(conn):
    conn.execute("DELETE FROM ops.landing_audit WHERE raw_table = %s", (TABLE,))
    conn.commit()
    land_pages(conn, [page(1), page(2)], run_id="a")
    land_pages(conn, [page(1)], run_id="b")
    audit = conn.execute("SELECT run_id, pages, records, rows_replaced FROM ops.landing_audit "
                         "WHERE raw_table = %s ORDER BY audit_id", (TABLE,)).fetchall()
    assert audit == [("a", 2, 2, 0), ("b", 1, 1, 2)]


def test_migrations_apply_once(conn):
    assert migrate(conn) == []
    ids = [r[0] for r in conn.execute("SELECT id FROM ops.schema_migrations ORDER BY id").fetchall()]
    assert ids == ["0001_schemas", "0002_landing_audit", "0003_control_layer", "0004_history"]
