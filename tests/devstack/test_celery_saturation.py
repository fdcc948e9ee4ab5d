"""The defining promise, on real parts: two Celery workers and the scheduler run a DAG that calls all
three APIs as hard as it may (two tasks per API, through the project's client and its shared controls)
for over two minutes, and the sandbox, which counts every call it receives per second, shows no 60-second
window above the configured limit, no 429, and at least 90% of each limit used."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from cryptoflow.config import load_config
from tests.devstack.conftest import CLI_PROFILE, run_cli
from tests.devstack.test_stack import _celery_runs_here

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DAGS = Path(__file__).parent / "dags_saturate"
SECONDS = 130


def windows(per_second: list[list[int]], width: int = 60) -> list[int]:
    """Calls in every run of ``width`` consecutive seconds (seconds without calls count as 0)."""
    counts = {second: calls for second, calls, _ in per_second}
    first, last = min(counts), max(counts)
    return [sum(counts.get(s, 0) for s in range(start, start + width))
            for start in range(first - width + 1, last + 1)]


def steady_rate(per_second: list[list[int]], trim: int = 10) -> float:
    """Calls per minute between the first and last call, less ``trim`` seconds at each end."""
    seconds = sorted(s for s, calls, _ in per_second if calls)
    start, end = seconds[0] + trim, seconds[-1] - trim
    calls = sum(c for s, c, _ in per_second if start <= s < end)
    return calls * 60 / (end - start)


@pytest.mark.skipif(not _celery_runs_here(), reason="the installed Celery cannot run the Celery provider "
                    "(test_celery.py::test_the_installed_celery_runs_the_installed_celery_provider says why)")
def test_two_celery_workers_hold_every_apis_limit_under_saturation(celery_cli_env, cli_local_dir,
                                                                    fresh_cli_databases):
    env = {**celery_cli_env, "CRYPTOFLOW_DAGS_FOLDER": str(DAGS), "CRYPTOFLOW_SATURATE_SECONDS": str(SECONDS)}
    limits = {name: api.calls_per_minute for name, api in load_config(environ=env).apis.items()}
    try:
        demo = run_cli("demo", "--timeout", "480", env=env, timeout=660)
        assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
        assert "saturate_apis succeeded" in demo.stdout
        sandbox = f"http://127.0.0.1:{env['CRYPTOFLOW_SANDBOX_PORT']}"
        accounting = requests.get(f"{sandbox}/__admin/accounting", timeout=10).json()["apis"]
        status = run_cli("status", env=env).stdout
    finally:
        run_cli("down", env=env)

    for api, limit in limits.items():
        (key,) = accounting[api]["keys"].values()
        per_second = key["per_second"]
        busiest = max(windows(per_second))
        rate = steady_rate(per_second)
        assert busiest <= limit, f"{api}: {busiest} calls in one 60-second window, limit {limit:g}"
        assert accounting[api]["rate_limited"] == 0, f"{api}: the API answered 429"
        assert rate >= 0.9 * limit, f"{api}: {rate:.1f} calls/min in the steady state, limit {limit:g}"
        assert sum(c for _, c, _ in per_second) >= 0.9 * limit * SECONDS / 60
        line = rf"^{api} +limiter [0-9.]+/{limit:g} per min, \d+ permits, 0 x 429 \| breaker closed"
        assert re.search(line, status, re.M), status
    # Both workers took part (4 processes each, 6 tasks at once): each one's log shows tasks succeeding.
    for n in (1, 2):
        log = (cli_local_dir / CLI_PROFILE / "logs" / f"celery-worker{n}.log").read_text()
        assert re.search(r"Task execute_workload\[[0-9a-f-]+\] succeeded", log), f"worker {n} ran nothing"
