"""CoinGecko ``/coins/markets``: a snapshot of the top N coins by market cap, every hour by default.

Its Asset triggers ``dbt_marts``; the prices mart files each price under the hour of the data's own
``last_updated``.

Settings (``cryptoflow.yaml``): ``datasets.coingecko_markets`` (on/off, cron), ``universe.top_n`` and
``universe.currency``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_markets = snapshot_dag("coingecko_markets", doc=__doc__)
