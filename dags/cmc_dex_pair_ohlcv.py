"""CoinMarketCap DEX ``/v4/dex/pairs/ohlcv/historical``: the latest hourly candles (open, high, low,
close, volume) of the top pairs of each configured network, every 6 hours by default.

One pair per call (the API takes one); each call asks for the candles of one cadence plus one of
overlap (``count``), so consecutive runs leave no gap and the marts keep one row per candle. A past run
is skipped: DEX history comes from the history DAGs.

Settings (``cryptoflow.yaml``): ``datasets.cmc_dex_pair_ohlcv`` (on/off, cron), ``dex.networks``,
``dex.pairs_per_network``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_dex_pair_ohlcv = snapshot_dag("cmc_dex_pair_ohlcv", doc=__doc__)
