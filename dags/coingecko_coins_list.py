"""CoinGecko ``/coins/list?include_platform=true``: every coin id with symbol, name and contract addresses
per platform, daily by default.

The id map that ties CoinGecko coins to CMC's (symbol + name + contract); it changes a few times a day at
most; one call per run (``include_platform=true`` is the endpoint's default parameter).

Settings (``cryptoflow.yaml``): ``datasets.coingecko_coins_list`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_coins_list = snapshot_dag("coingecko_coins_list", doc=__doc__)
