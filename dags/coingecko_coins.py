"""CoinGecko ``/coins/{id}``: each coin of the top N, daily by default: its metadata (categories,
platforms, links, genesis), market data and community sentiment (``sentiment_votes_up_percentage``).

One call per coin (the API takes one id per call), so ``datasets.coingecko_coins.top_n`` (default 100)
sets the cost: 100 calls a day fit the Demo plan's monthly credits (``make budget``). The coins are the
first N of the latest ``coingecko_markets`` landing, in rank order; a coin gone since (HTTP 404) is left
out and named in the task's summary.

Settings (``cryptoflow.yaml``): ``datasets.coingecko_coins`` (on/off, cron, top_n).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_coins = snapshot_dag("coingecko_coins", doc=__doc__)
