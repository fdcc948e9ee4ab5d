"""CoinMarketCap ``/v2/cryptocurrency/info``: static metadata of the top N coins (category, tags,
platform and contract address, urls, launch date), daily by default.

The ids are the top N of the latest ``cmc_listings`` landing, bundled 100 per call (``skip_invalid=true``,
so a coin delisted since is left out instead of failing the call): the top 300 cost 3 calls, 3 credits.

Settings (``cryptoflow.yaml``): ``datasets.cmc_info`` (on/off, cron), ``universe.top_n``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_info = snapshot_dag("cmc_info", doc=__doc__)
