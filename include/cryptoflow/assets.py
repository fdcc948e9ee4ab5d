"""Airflow Assets of the raw landing tables, and the dbt selection each one triggers.

An ingest task emits the Asset of the raw table it landed; the dbt DAG is scheduled on those Assets
and builds only the models downstream of the sources whose Assets changed.
"""

from __future__ import annotations

from collections.abc import Iterable

from airflow.sdk import Asset

from cryptoflow.apis import get_api

ASSET_PREFIX = "raw."


def raw_asset(api: str, endpoint: str) -> Asset:
    """The Asset of ``raw.<api>__<endpoint>``; its name is the table's name.

    The URI names the warehouse logically (the ``warehouse`` connection), not a host: the same DAGs run
    against any warehouse.
    """
    table = get_api(api).raw_table(endpoint)
    return Asset(name=table, uri=f"postgres://warehouse:5432/warehouse/{table.replace('.', '/')}")


def dbt_selector(asset_name: str) -> str:
    """``raw.coingecko__coins_markets`` → ``@source:coingecko.coins_markets``: the source, everything
    downstream of it, and every model those read (a mart that joins another API's staging view must find
    it built, even before that API's first landing triggered a run)."""
    if not asset_name.startswith(ASSET_PREFIX) or "__" not in asset_name:
        raise ValueError(f"not a raw-table asset: {asset_name!r}")
    api, endpoint = asset_name[len(ASSET_PREFIX):].split("__", 1)
    return f"@source:{api}.{endpoint}"


def dbt_selection(asset_names: Iterable[str]) -> list[str]:
    """The sorted, de-duplicated dbt selectors for the raw tables named."""
    return sorted({dbt_selector(name) for name in asset_names})
