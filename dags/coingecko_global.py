"""CoinGecko ``/global``: whole-market totals (market cap and volume per currency, dominance, active coins),
every hour by default.

The market's size and BTC/ETH dominance at each hour, for market-share marts; one call per run.

Settings (``cryptoflow.yaml``): ``datasets.coingecko_global`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_global = snapshot_dag("coingecko_global", doc=__doc__)
