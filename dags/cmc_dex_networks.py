"""CoinMarketCap DEX ``/v4/dex/networks/list``: the DEX networks (chains) with their native and wrapped
tokens, daily by default.

The networks the DEX pairs are listed under; they change rarely; all pages at the largest page size.

Settings (``cryptoflow.yaml``): ``datasets.cmc_dex_networks`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_dex_networks = snapshot_dag("cmc_dex_networks", doc=__doc__)
