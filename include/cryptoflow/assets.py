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


def dbt_source(asset_name: str) -> str:
    """``raw.coingecko__coins_markets`` → ``coingecko.coins_markets``: the dbt source of a raw table."""
    if not asset_name.startswith(ASSET_PREFIX) or "__" not in asset_name:
        raise ValueError(f"not a raw-table asset: {asset_name!r}")
    api, endpoint = asset_name[len(ASSET_PREFIX):].split("__", 1)
    return f"{api}.{endpoint}"


def dbt_selector(asset_name: str) -> str:
    """``raw.coingecko__coins_markets`` → ``source:coingecko.coins_markets+``: the source and everything
    downstream of it (models, snapshots and their tests), nothing of the other sources: what the models
    read from elsewhere is read as it stands (built when it is not there yet, see
    :func:`cryptoflow.dbt.unbuilt_parents`)."""
    return f"source:{dbt_source(asset_name)}+"


def dbt_selection(asset_names: Iterable[str]) -> list[str]:
    """The sorted, de-duplicated dbt selectors for the raw tables named."""
    return sorted({dbt_selector(name) for name in asset_names})
