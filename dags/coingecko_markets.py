"""CoinGecko ``/coins/markets``: a snapshot of the top N coins by market cap, every hour by default.

Each run lands every page of the listing, unchanged, in ``raw.coingecko__coins_markets`` for its data
interval (a re-run replaces its own rows) and emits that table's Asset, which triggers ``dbt_marts``.
``/coins/markets`` answers only for "now", so there is no past to catch up on: catchup is off, a run for
a past interval (cleared, backfilled) is skipped with the reason and lands and deletes nothing, and a run
triggered by hand lands the interval that ends at its run time. The prices mart files each price under
the hour of the data's own ``last_updated``.

Settings (``cryptoflow.yaml``): ``datasets.coingecko_markets`` (on/off, cron), ``universe.top_n`` and
``universe.currency``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import TOP_N, snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
coingecko_markets = snapshot_dag(
    "coingecko_markets",
    endpoint="coins_markets",
    doc=__doc__,
    params=lambda universe: {"vs_currency": universe.currency},
    wanted=TOP_N,
    history="the history endpoints (/coins/{id}/market_chart/range), not from this snapshot",
)
