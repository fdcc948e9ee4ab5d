"""CMC ``/v3/fear-and-greed/historical``: the fear-and-greed index, one value a day at 00:00 UTC, over the
past. The endpoint has no time parameters: it pages newest first (500 a call, one credit a call), so a
run walks from the newest value back past its interval's start; staging keeps each run's own days.

History fills ``fct_fear_greed_daily`` beside the live ``cmc_fear_and_greed`` readings.

Settings (``cryptoflow.yaml``): ``history.cmc_fear_and_greed_history`` (on/off, ``window_days``,
``start_days_ago``, ``max_active_runs``).
"""

from __future__ import annotations

from cryptoflow.dagfactory import history_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_fear_and_greed_history = history_dag("cmc_fear_and_greed_history", doc=__doc__)
