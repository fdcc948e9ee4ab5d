"""CoinGecko ``/coins/markets``: an hourly snapshot of the top N coins by market cap.

Each run lands every page of the listing, unchanged, in ``raw.coingecko__coins_markets`` for its data
interval (a re-run replaces its own rows) and emits that table's Asset, which triggers ``dbt_marts``.
``/coins/markets`` answers only for "now", so there is no past to catch up on: catchup is off, a run for
a past interval (cleared, backfilled) is skipped with the reason and lands and deletes nothing, and a run
triggered by hand lands the hour that ends at its run time. The prices mart files each price under the
hour of the data's own ``last_updated``.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import CronDataIntervalTimetable, Variable, dag, task

from cryptoflow.airflow_defaults import DEFAULT_ARGS, SNAPSHOT_START
from cryptoflow.assets import raw_asset

TOP_N_VARIABLE = "cryptoflow_coingecko_markets_top_n"
CADENCE = timedelta(hours=1)
HISTORY = "the history endpoints (/coins/{id}/market_chart/range), not from this snapshot"


@dag(
    dag_id="coingecko_markets",
    schedule=CronDataIntervalTimetable("0 * * * *", timezone="UTC"),
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

        top_n = int(Variable.get(TOP_N_VARIABLE, default=500))
        return land_snapshot("coingecko", "coins_markets", interval_start=data_interval_start,
                             interval_end=data_interval_end, run_after=dag_run.run_after, run_id=run_id,
                             cadence=CADENCE, history=HISTORY, wanted=top_n)

    land_coins_markets()


coingecko_markets()
