"""CoinMarketCap ``/v1/cryptocurrency/map``: every active CMC id with symbol, slug and platform, daily by
default.

CMC's id map (the other half of the CoinGecko-to-CMC mapping); 0 credits, all pages at the largest page
size (5,000).

Settings (``cryptoflow.yaml``): ``datasets.cmc_map`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_map = snapshot_dag("cmc_map", doc=__doc__)
