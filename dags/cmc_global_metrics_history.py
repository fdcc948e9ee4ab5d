"""CMC ``/v1/global-metrics/quotes/historical``: hourly whole-market totals (market cap, volume, BTC and
ETH dominance) over the past, one series, up to 10,000 hours a call.

History fills ``fct_global_market_hourly`` (CMC's rows) beside the live ``cmc_global_metrics`` snapshots.
The Basic plan's intraday history reaches 30 days back (older runs end skipped with the plan's reason).

Settings (``cryptoflow.yaml``): ``history.cmc_global_metrics_history`` (on/off, ``window_days``,
``start_days_ago``, ``max_active_runs``).
"""

from __future__ import annotations

from cryptoflow.dagfactory import history_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_global_metrics_history = history_dag("cmc_global_metrics_history", doc=__doc__)
