"""A test DAG that calls all three APIs as hard as it may, through the project's own client and its
shared controls: two tasks per API, each fetching a cheap endpoint in a loop for a fixed time. Run on
two Celery workers, the sandbox's per-second log then shows whether the configured limits held across
processes (tests/devstack/test_celery_saturation.py)."""

from __future__ import annotations

import os

import pendulum
from airflow.sdk import CronDataIntervalTimetable, dag, task

SECONDS = float(os.environ.get("CRYPTOFLOW_SATURATE_SECONDS", "130"))
CHEAP = {"coingecko": "ping", "cmc": "cryptocurrency_map", "cmc_dex": "networks_list"}


# Daily without catchup: one run, of the latest day, as soon as the DAG is unpaused (make demo waits for
# the first run of every time-scheduled DAG).
@dag(dag_id="saturate_apis", schedule=CronDataIntervalTimetable("0 0 * * *", timezone="UTC"),
     start_date=pendulum.datetime(2026, 1, 1, tz="UTC"), catchup=False, tags=["test"])
def saturate_apis():
    for api, endpoint in CHEAP.items():
        for n in (1, 2):
            @task(task_id=f"{api}_{n}", pool=api)
            def hammer(api: str = api, endpoint: str = endpoint) -> dict:
                import socket
                import time

                from cryptoflow.client import ApiHook

                hook = ApiHook(api)
                deadline = time.monotonic() + SECONDS
                calls = 0
                try:
                    while time.monotonic() < deadline:
                        hook.fetch(endpoint)
                        calls += 1
                finally:
                    hook.close()
                return {"calls": calls, "host": socket.gethostname(), "pid": os.getpid()}

            hammer()


saturate_apis()
