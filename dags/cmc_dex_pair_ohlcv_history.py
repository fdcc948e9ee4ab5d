"""CMC DEX ``/v4/dex/pairs/ohlcv/historical``: hourly candles of the top pairs of each configured network
(the latest ``cmc_dex_spot_pairs`` landing), one pair a call, up to 500 candles a call.

History fills ``fct_dex_pair_ohlcv_hourly`` beside the live ``cmc_dex_pair_ohlcv`` DAG, in the same raw
table; each candle is filed under the run whose interval holds its opening time.

Settings (``cryptoflow.yaml``): ``history.cmc_dex_pair_ohlcv_history`` (on/off, ``window_days``,
``start_days_ago``, ``top_n`` pairs per network, ``max_active_runs``), ``dex.networks``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import history_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_dex_pair_ohlcv_history = history_dag("cmc_dex_pair_ohlcv_history", doc=__doc__)
