"""CoinMarketCap ``/v1/exchange/listings/latest``: exchanges ranked by 24 h volume, every 2 hours by default.

Growth plan and up: on a connection whose extra ``plan`` (default ``basic``) may not call it, every run
ends skipped, before any call, with a reason that names the plan and the plans that may
(``cryptoflow.plans``). The DAG exists anyway so that the reason is visible. All pages, at the largest
page size.

Settings (``cryptoflow.yaml``): ``datasets.cmc_exchange_listings`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_exchange_listings = snapshot_dag("cmc_exchange_listings", doc=__doc__)
