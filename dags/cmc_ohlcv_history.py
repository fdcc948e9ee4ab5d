"""CMC ``/v2/cryptocurrency/ohlcv/historical``: hourly OHLCV candles of the top N coins of the latest
``cmc_listings`` landing, 100 coins a call, one credit per 100 candles.

The endpoint needs CMC's Startup plan or higher: on Basic (the default connection) every run ends
skipped with the plan's reason and makes no call. Lands ``raw.cmc__cryptocurrency_ohlcv_historical``.

Settings (``cryptoflow.yaml``): ``history.cmc_ohlcv_history`` (on/off, ``window_days``,
``start_days_ago``, ``top_n``, ``max_active_runs``), ``universe.top_n`` and ``universe.currency``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import history_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_ohlcv_history = history_dag("cmc_ohlcv_history", doc=__doc__)
