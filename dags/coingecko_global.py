"""CoinGecko ``/global``: whole-market totals (market cap and volume per currency, dominance, active coins),
every hour by default.

The market's size and BTC/ETH dominance at each hour, for market-share marts; one call per run.

Each run lands the answer, unchanged, in ``raw.coingecko__global`` for its data interval (a re-run
replaces its own rows) and emits that table's Asset. The endpoint answers only for now: catchup is off, a
run for a past interval is skipped with the reason and touches nothing, and a run triggered by hand lands
the interval that ends at its run time.

Settings (``cryptoflow.yaml``): ``datasets.coingecko_global`` (on/off, cron).
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_global = snapshot_dag(
    "coingecko_global",
    endpoint="global",
    doc=__doc__,
)
