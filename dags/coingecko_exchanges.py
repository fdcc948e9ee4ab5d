"""CoinGecko ``/exchanges``: every exchange ranked by trust score, every 2 hours by default.

Exchange volumes and trust scores change slowly, so every 2 hours is enough. All pages are landed, at the
largest page size (250), so the fewest calls are spent.

Settings (``cryptoflow.yaml``): ``datasets.coingecko_exchanges`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_exchanges = snapshot_dag("coingecko_exchanges", doc=__doc__)
