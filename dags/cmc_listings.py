"""CoinMarketCap ``/v1/cryptocurrency/listings/latest``: the top N coins by market cap, quoted in the
universe's currency, every hour by default.

CMC's side of the hourly price snapshot, to reconcile with CoinGecko's ``coins_markets``. ``limit`` is
``universe.top_n`` and ``convert`` the universe's currency in upper case, so the top 300 cost one call (2
credits).

Settings (``cryptoflow.yaml``): ``datasets.cmc_listings`` (on/off, cron), ``universe.top_n`` and
``universe.currency``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_listings = snapshot_dag("cmc_listings", doc=__doc__)
