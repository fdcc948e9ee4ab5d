"""CMC ``/v2/cryptocurrency/quotes/historical``: hourly price, market cap, volume and supply history of the
top N coins of the latest ``cmc_listings`` landing, 100 coins a call, filed under the timestamps CMC
gives (the quote closest to each hour).

History fills ``fct_cmc_price_hourly`` (and the daily and consolidated marts built on it). CMC counts one
credit per 100 points: a year of 300 coins is 26,280 credits, more than the Basic plan's month, whose
intraday history reaches 30 days back anyway (older runs end skipped with the plan's reason).

Settings (``cryptoflow.yaml``): ``history.cmc_price_history`` (on/off, ``window_days``,
``start_days_ago``, ``top_n``, ``max_active_runs``), ``universe.top_n`` and ``universe.currency``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import history_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_price_history = history_dag("cmc_price_history", doc=__doc__)
