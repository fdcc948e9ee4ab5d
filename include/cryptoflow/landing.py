"""Raw landing tables: every response stored unchanged, keyed on its request and data interval.

One table per endpoint, ``raw.<api>__<endpoint>``, one row per response page. A landing replaces
exactly the rows of its own (request, interval) in one transaction, under an advisory lock, and writes an
audit row to ``ops.landing_audit`` (created by :mod:`cryptoflow.warehouse`'s migrations): a re-run of an
interval replaces, never adds, and a failed landing leaves the previous rows as they were. This module
writes SQL and never talks HTTP.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import orjson
from psycopg import sql

RAW_TABLE_DDL = """
CREATE TABLE IF NOT EXISTS {table} (
    landing_id      bigserial   PRIMARY KEY,
    source          text        NOT NULL,
    endpoint        text        NOT NULL,
    request_key     text        NOT NULL,
    request_params  jsonb       NOT NULL,
    page            integer     NOT NULL,
    interval_start  timestamptz NOT NULL,
    interval_end    timestamptz NOT NULL,
    http_status     integer     NOT NULL,
    fetched_at      timestamptz NOT NULL,
    run_id          text        NOT NULL,
    body            text        NOT NULL,
    body_json       jsonb       GENERATED ALWAYS AS (body::jsonb) STORED,
    body_sha256     text        NOT NULL,
    landed_at       timestamptz NOT NULL DEFAULT clock_timestamp(),
    -- the landing transaction's id: rows become visible in commit order, not landed_at order, so an
    -- incremental reader keeps a snapshot's xmin as its watermark (see dbt macro commit_watermark)
    landed_xid      xid8        NOT NULL DEFAULT pg_current_xact_id(),
    CONSTRAINT {unique} UNIQUE (request_key, interval_start, interval_end, page),
    CONSTRAINT {interval_check} CHECK (interval_end >= interval_start)
);
CREATE INDEX IF NOT EXISTS {landed_index} ON {table} (landed_at);
CREATE INDEX IF NOT EXISTS {xid_index} ON {table} (landed_xid);
CREATE INDEX IF NOT EXISTS {fetched_index} ON {table} (fetched_at);
-- one path's fetches in fetch order: a per-id endpoint's staging finds the later fetches of a window
CREATE INDEX IF NOT EXISTS {endpoint_index} ON {table} (endpoint, fetched_at);
"""


class LandingPage(Protocol):
    """What landing needs of one response page (:class:`cryptoflow.client.Page` is one)."""

    params: dict[str, Any]
    status: int
    text: str
    records: int
    fetched_at: datetime


@dataclass(frozen=True)
class Landed:
    """What a landing did; small enough for XCom (no bodies, no keys)."""

    raw_table: str
    request_key: str
    interval_start: str
    interval_end: str
    pages: int
    records: int
    bytes: int
    rows_replaced: int

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def request_key(endpoint_path: str, params: dict[str, Any], paging_params: Sequence[str] = ()) -> str:
    """A canonical text key of a request without its paging: the same request gives the same key."""
    stable = {k: v for k, v in sorted(params.items()) if k not in set(paging_params)}
    return endpoint_path + "?" + orjson.dumps(stable, option=orjson.OPT_SORT_KEYS).decode()


def ensure_raw_table(cur, raw_table: str) -> None:
    """Create ``raw_table`` (``raw.<api>__<endpoint>``) if it does not exist.

    Two first landings racing on ``CREATE TABLE IF NOT EXISTS`` can collide in the catalog, so creation
    happens under an advisory lock on the table's name (taken only while the table is missing).
    """
    cur.execute("""SELECT to_regclass(%s) IS NOT NULL,
                          EXISTS (SELECT FROM pg_attribute WHERE attrelid = to_regclass(%s)
                                  AND attname = 'landed_xid' AND NOT attisdropped)""", (raw_table, raw_table))
    exists, has_xid = cur.fetchone()
    if exists and has_xid:
        return
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (f"ddl|{raw_table}",))
    schema, name = raw_table.split(".", 1)
    if exists:  # a table landed before landed_xid existed: rows it holds get the upgrade's id
        cur.execute(sql.SQL("ALTER TABLE {} ADD COLUMN IF NOT EXISTS landed_xid xid8 NOT NULL "
                            "DEFAULT pg_current_xact_id()").format(sql.Identifier(schema, name)))
    cur.execute(sql.SQL(RAW_TABLE_DDL).format(
        table=sql.Identifier(schema, name),
        unique=sql.Identifier(f"{name}_request_interval_page"),
        interval_check=sql.Identifier(f"{name}_interval_order"),
        landed_index=sql.Identifier(f"{name}_landed_at"),
        fetched_index=sql.Identifier(f"{name}_fetched_at"),
        endpoint_index=sql.Identifier(f"{name}_endpoint_fetched_at"),
        xid_index=sql.Identifier(f"{name}_landed_xid"),
    ))


@dataclass(frozen=True)
class Request:
    """One request's response pages, to land under one key (see :func:`land_many`)."""

    endpoint: str  # the concrete path, such as /coins/bitcoin
    request_key: str
    pages: Sequence[LandingPage]


def land(conn, *, raw_table: str, source: str, endpoint: str, request_key: str, interval_start: datetime,
         interval_end: datetime, run_id: str, pages: Sequence[LandingPage]) -> Landed:
    """Replace the rows of (``request_key``, interval) in ``raw_table`` with ``pages``, atomically.

    ``conn`` is a psycopg (3) connection, in autocommit or not: the work runs in one transaction block,
    committed on success and rolled back on any error, so either every page lands or none does.
    """
    return land_many(conn, raw_table=raw_table, source=source, interval_start=interval_start,
                     interval_end=interval_end, run_id=run_id,
                     requests=[Request(endpoint, request_key, pages)])[0]


def land_many(conn, *, raw_table: str, source: str, interval_start: datetime, interval_end: datetime,
              run_id: str, requests: Sequence[Request], also: Callable[[Any], None] | None = None
              ) -> list[Landed]:
    """:func:`land` for several requests of one interval (a batch of per-coin calls), in one
    transaction: every request's rows are replaced, or none are. ``also(cursor)`` writes what must
    commit with them (a history run's progress row)."""
    if not requests:
        raise ValueError(f"{raw_table}: no requests to land for [{interval_start}, {interval_end})")
    out = []
    try:
        with conn.transaction(), conn.cursor() as cur:
            ensure_raw_table(cur, raw_table)
            for request in requests:
                out.append(_replace(cur, raw_table=raw_table, source=source, request=request,
                                    interval_start=interval_start, interval_end=interval_end, run_id=run_id))
            if also is not None:
                also(cur)
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return out


def _replace(cur, *, raw_table: str, source: str, request: Request, interval_start: datetime,
             interval_end: datetime, run_id: str) -> Landed:
    pages, request_key, endpoint = request.pages, request.request_key, request.endpoint
    if not pages:
        raise ValueError(f"{raw_table}: nothing to land for {request_key} [{interval_start}, {interval_end})")
    schema, name = raw_table.split(".", 1)
    table = sql.Identifier(schema, name)
    lock_key = f"{raw_table}|{request_key}|{interval_start.isoformat()}|{interval_end.isoformat()}"
    cur.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
    cur.execute(
        sql.SQL("DELETE FROM {} WHERE request_key = %s AND interval_start = %s AND interval_end = %s")
        .format(table),
        (request_key, interval_start, interval_end),
    )
    replaced = cur.rowcount
    rows = [
        (source, endpoint, request_key, orjson.dumps(page.params).decode(), number, interval_start,
         interval_end, page.status, page.fetched_at, run_id, page.text,
         hashlib.sha256(page.text.encode()).hexdigest())
        for number, page in enumerate(pages, start=1)
    ]
    cur.executemany(
        sql.SQL("""INSERT INTO {} (source, endpoint, request_key, request_params, page,
                                   interval_start, interval_end, http_status, fetched_at, run_id,
                                   body, body_sha256)
                   VALUES (%s, %s, %s, %s::jsonb, %s, %s, %s, %s, %s, %s, %s, %s)""").format(table),
        rows,
    )
    n_bytes = sum(len(page.text.encode()) for page in pages)
    n_records = sum(page.records for page in pages)
    cur.execute(
        """INSERT INTO ops.landing_audit (raw_table, source, endpoint, request_key, interval_start,
                                          interval_end, run_id, pages, records, bytes, rows_replaced)
           VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
        (raw_table, source, endpoint, request_key, interval_start, interval_end, run_id, len(pages),
         n_records, n_bytes, replaced),
    )
    return Landed(raw_table, request_key, interval_start.isoformat(), interval_end.isoformat(), len(pages),
                  n_records, n_bytes, replaced)
