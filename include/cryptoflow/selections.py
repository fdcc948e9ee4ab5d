"""Which ids a per-id dataset asks for: read from the latest landing of a listing in the warehouse.

``coingecko_coins`` calls ``/coins/{id}`` for the top N coins that ``coingecko_markets`` last landed (in
its rank order), ``cmc_info`` the top N of ``cmc_listings``, the DEX pair datasets the top pairs (by 24 h
volume, the listing's own order) of each network that ``cmc_dex_spot_pairs`` last landed. Reading what
landed costs no call. A listing that never landed is landed first, for its own current interval (what its
own DAG would land), so a per-id DAG switched on first still runs.

This module reads SQL and never talks HTTP.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from psycopg import sql

from cryptoflow.apis import get_api
from cryptoflow.catalog import FromListing, spec


def listing_table(listing: FromListing) -> str:
    source = spec(listing.dataset)
    return get_api(source.api).raw_table(source.endpoint)


def latest_ids(conn, listing: FromListing, *, match: Mapping[str, Any], limit: int) -> list[str] | None:
    """The first ``limit`` ids of the latest landing of ``listing`` whose request had ``match`` among its
    parameters, in listed order; ``None`` when no such landing exists (or its table does not)."""
    source = spec(listing.dataset)
    table = listing_table(listing)
    items_path = get_api(source.api).endpoint(source.endpoint).body.items_path
    with conn.transaction(), conn.cursor() as cur:  # its own transaction: it sees what landed since
        cur.execute("SELECT to_regclass(%s)", (table,))
        if cur.fetchone()[0] is None:
            return None
        schema, name = table.split(".", 1)
        ident = sql.Identifier(schema, name)
        match_json = sql.Literal(_jsonb(match))
        items = sql.SQL("body_json")
        for key in items_path:
            items = sql.SQL("{} -> {}").format(items, sql.Literal(key))
        cur.execute(sql.SQL("""
            WITH latest AS (
                SELECT request_key, interval_start, interval_end FROM {table}
                WHERE request_params @> {match}::jsonb
                ORDER BY interval_end DESC, landed_at DESC LIMIT 1
            )
            SELECT r.record ->> {field}
            FROM {table} t JOIN latest USING (request_key, interval_start, interval_end),
                 jsonb_array_elements({items}) WITH ORDINALITY AS r(record, n)
            WHERE r.record ->> {field} IS NOT NULL
            ORDER BY t.page, r.n
            LIMIT {limit}""").format(table=ident, match=match_json, field=sql.Literal(listing.field),
                                       items=items, limit=sql.Literal(limit)))
        rows = cur.fetchall()
    if not rows:
        return None
    return list(dict.fromkeys(row[0] for row in rows))  # in order, each id once


def groups_of(listing: FromListing, networks: Sequence[str]) -> list[tuple[str | None, dict[str, Any]]]:
    """The groups a listing is read in: one per DEX network (with its ``network_slug``) or one."""
    if listing.per_network:
        return [(slug, {"network_slug": slug}) for slug in networks]
    return [(None, {})]


def _jsonb(value: Mapping[str, Any]) -> str:
    import orjson

    return orjson.dumps({k: str(v) for k, v in value.items()}).decode()
