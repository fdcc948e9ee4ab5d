"""CoinGecko ``/coins/{id}/market_chart/range``: hourly price, market cap and volume history of the top N
coins, one window of 90 days per run by default, filed under the timestamps CoinGecko gives.

History fills ``fct_price_hourly`` (and the daily and breadth marts built on it) beside the live
``coingecko_markets`` snapshots.

Settings (``cryptoflow.yaml``): ``history.coingecko_price_history`` (on/off, ``window_days``,
``start_days_ago``, ``top_n``, ``max_active_runs``), ``universe.top_n`` and ``universe.currency``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import history_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_price_history = history_dag("coingecko_price_history", doc=__doc__)
