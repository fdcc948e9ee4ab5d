"""CoinMarketCap ``/v1/global-metrics/quotes/latest``: whole-market totals (market cap, volume, dominance),
every hour by default.

CMC's side of the whole-market totals, to reconcile with CoinGecko's ``/global``; one call per run.

Settings (``cryptoflow.yaml``): ``datasets.cmc_global_metrics`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_global_metrics = snapshot_dag("cmc_global_metrics", doc=__doc__)
