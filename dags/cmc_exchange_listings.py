"""CoinMarketCap ``/v1/exchange/listings/latest``: exchanges ranked by 24 h volume, every 2 hours by default.

Growth plan and up: on a connection whose extra ``plan`` (default ``basic``) may not call it, every run
ends skipped, before any call, with a reason that names the plan and the plans that may
(``cryptoflow.plans``). The DAG exists anyway so that the reason is visible. All pages, at the largest
page size.

Each run lands the answer, unchanged, in ``raw.cmc__exchange_listings_latest`` for its data interval (a
re-run replaces its own rows) and emits that table's Asset. The endpoint answers only for now: catchup is
off, a run for a past interval is skipped with the reason and touches nothing, and a run triggered by hand
lands the interval that ends at its run time.

Settings (``cryptoflow.yaml``): ``datasets.cmc_exchange_listings`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_exchange_listings = snapshot_dag(
    "cmc_exchange_listings",
    endpoint="exchange_listings_latest",
    doc=__doc__,
)
