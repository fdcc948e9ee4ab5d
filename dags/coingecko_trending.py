"""CoinGecko ``/search/trending``: the trending coins, NFTs and categories, every hour by default.

What people search for on CoinGecko, hour by hour (the endpoint is cached upstream for 10 minutes); one
call per run.

Settings (``cryptoflow.yaml``): ``datasets.coingecko_trending`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_trending = snapshot_dag("coingecko_trending", doc=__doc__)
