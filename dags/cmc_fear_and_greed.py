"""CoinMarketCap ``/v3/fear-and-greed/latest``: today's fear-and-greed index (0-100), every hour by default.

The market's sentiment as CMC publishes it; one call per run.

Settings (``cryptoflow.yaml``): ``datasets.cmc_fear_and_greed`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_fear_and_greed = snapshot_dag("cmc_fear_and_greed", doc=__doc__)
