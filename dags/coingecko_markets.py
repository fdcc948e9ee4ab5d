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

from airflow.sdk import CronDataIntervalTimetable, dag, task

from cryptoflow.airflow_defaults import DEFAULT_ARGS, SNAPSHOT_START
from cryptoflow.assets import raw_asset
from cryptoflow.config import load_config

DATASET = load_config().dataset("coingecko_markets")
HISTORY = "the history endpoints (/coins/{id}/market_chart/range), not from this snapshot"


@dag(
    dag_id=DATASET.name,
    schedule=CronDataIntervalTimetable(DATASET.schedule, timezone="UTC"),
    start_date=SNAPSHOT_START,
    catchup=False,
    max_active_runs=1,
    default_args=DEFAULT_ARGS,
    tags=["coingecko", "ingest", "snapshot"],
    doc_md=__doc__,
)
def coingecko_markets():
    @task(pool="coingecko", outlets=[raw_asset("coingecko", "coins_markets")])
    def land_coins_markets(data_interval_start=None, data_interval_end=None, dag_run=None, run_id=None
                           ) -> dict:
        """Fetch the top N coins (all pages) and replace this interval's raw rows."""
        from cryptoflow.ingest import land_snapshot

        universe = load_config().universe
        return land_snapshot("coingecko", "coins_markets", interval_start=data_interval_start,
                             interval_end=data_interval_end, run_after=dag_run.run_after, run_id=run_id,
                             cadence=DATASET.cadence, history=HISTORY, wanted=universe.top_n,
                             params={"vs_currency": universe.currency})

    land_coins_markets()


if DATASET.enabled:
    coingecko_markets()
