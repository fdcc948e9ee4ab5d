"""CoinMarketCap ``/v1/global-metrics/quotes/latest``: whole-market totals (market cap, volume, dominance),
every hour by default.

CMC's side of the whole-market totals, to reconcile with CoinGecko's ``/global``; one call per run.

Each run lands the answer, unchanged, in ``raw.cmc__global_metrics_quotes_latest`` for its data interval
(a re-run replaces its own rows) and emits that table's Asset. The endpoint answers only for now: catchup
is off, a run for a past interval is skipped with the reason and touches nothing, and a run triggered by
hand lands the interval that ends at its run time.

Settings (``cryptoflow.yaml``): ``datasets.cmc_global_metrics`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_global_metrics = snapshot_dag(
    "cmc_global_metrics",
    endpoint="global_metrics_quotes_latest",
    doc=__doc__,
    history="the history endpoint (/v1/global-metrics/quotes/historical), not from this snapshot",
)
