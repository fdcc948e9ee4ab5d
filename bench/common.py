"""What every benchmark shares: printing its figures and keeping them as JSON under ``.local/bench/``; a
warehouse of its own and sandbox connections; spawned processes that start at one instant; arithmetic on
per-second logs."""

from __future__ import annotations

import json
import math
import os
import platform
import threading
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = Path(os.environ.get("CRYPTOFLOW_BENCH_DIR", REPO_ROOT / ".local" / "bench"))


def report(name: str, figures: list[tuple[str, float, str]]) -> Path:
    """Print ``<figure> <value> <unit>``, one line per figure, and write them as JSON to ``<name>.json``.

    Returns the path of ``.local/bench/<name>.json``.
    """
    for figure, value, unit in figures:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{figure} {shown} {unit}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "name": name,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "figures": [{"figure": f, "value": v, "unit": u} for f, v, u in figures],
            },
            indent=2,
        )
        + "\n"
    )
    return path


# -- shared set-up -------------------------------------------------------------------------------------


def bench_stack(name: str):
    """A fresh warehouse database of its own (``cryptoflow_<name>_warehouse``) on the local Postgres, and
    the stack's environment (``AIRFLOW_CONN_WAREHOUSE``, ...) in ``os.environ``; returns the server and
    profile (its ``sandbox_port`` is free)."""
    from cryptoflow.devstack import environment
    from cryptoflow.devstack.postgres import drop_database, ensure_database, ensure_server, free_port

    server = ensure_server(environment.LOCAL_DIR / "postgres")
    profile = environment.Profile(name, airflow_port=free_port(), sandbox_port=free_port())
    drop_database(server, profile.warehouse_db)
    ensure_database(server, profile.warehouse_db, environment.WAREHOUSE_SCHEMAS)
    os.environ.update(environment.stack_env(profile, server))
    return server, profile


def api_connection(sandbox, api: str, plan: str) -> dict[str, str]:
    """The ``AIRFLOW_CONN_<API>`` variable that points ``api``'s connection at the sandbox on ``plan``."""
    return {f"AIRFLOW_CONN_{api.upper()}": json.dumps({
        "conn_type": "http", "host": sandbox.base_url(api, plan), "password": sandbox.key(api, plan),
        "extra": {"plan": plan}})}


def lift_limits(sandbox, api: str, plan: str) -> None:
    """Limits far above what one process sends, on both sides: the sandbox's plan, and cryptoflow's own
    shared limiter and credit budgets (``CRYPTOFLOW__APIS__*``). For benchmarks of our side, not of a
    limit."""
    sandbox.set_limits({api: {plan: {"calls_per_minute": 1_000_000, "monthly_credits": 1_000_000_000,
                                     "daily_credits": None}}})
    for name, value in (("CALLS_PER_MINUTE", "1000000"), ("DAILY_CREDITS", "1000000000"),
                        ("MONTHLY_CREDITS", "1000000000")):
        os.environ[f"CRYPTOFLOW__APIS__{api.upper()}__{name}"] = value


# -- processes that start together ----------------------------------------------------------------------


class Gate:
    """Lets spawned workers warm up (imports, connections), then start at one instant the parent picks.

    A worker calls :meth:`wait` when it is ready and gets the UNIX time to start at."""

    def __init__(self, ctx, parties: int) -> None:
        self.ready = ctx.Barrier(parties + 1)
        self.go = ctx.Event()
        self.start = ctx.Value("d", 0.0)

    def wait(self, timeout: float = 300.0) -> float:
        self.ready.wait(timeout)
        self.go.wait(timeout)
        start = self.start.value
        time.sleep(max(0.0, start - time.time()))
        return start


def _run_job(target, gate: Gate, results, index: int, args: tuple) -> None:
    try:
        results.put((index, target(gate, *args), None))
    except BaseException as exc:  # the parent reports it; a broken barrier must not hang the others
        gate.ready.abort()
        results.put((index, None, f"{type(exc).__name__}: {exc}"))
        raise


def run_together(target, jobs: list[tuple], *, start_at=None, timeout: float = 1800.0) -> tuple[float, list]:
    """Run ``target(gate, *args)`` for each ``args`` of ``jobs`` in its own spawned OS process, all starting
    at once (``start_at(now)`` may pick a later instant, e.g. a minute boundary); returns the start (UNIX
    seconds) and the results in the order of ``jobs``. ``target`` must be a module-level function."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    gate = Gate(ctx, len(jobs))
    results = ctx.Queue()
    procs = [ctx.Process(target=_run_job, args=(target, gate, results, i, args), daemon=True)
             for i, args in enumerate(jobs)]
    for proc in procs:
        proc.start()
    try:
        try:
            gate.ready.wait(300)
        except threading.BrokenBarrierError:
            index, _, error = results.get(timeout=30)
            raise RuntimeError(f"worker {index} failed while warming up: {error}") from None
        start = time.time() + 0.2
        if start_at is not None:
            start = start_at(start)
        gate.start.value = start
        gate.go.set()
        out: list = [None] * len(jobs)
        for _ in jobs:
            index, result, error = results.get(timeout=timeout)
            if error:
                raise RuntimeError(f"worker {index} failed: {error}")
            out[index] = result
    finally:
        for proc in procs:
            proc.join(30)
            if proc.is_alive():
                proc.terminate()
    return start, out


# -- arithmetic on logs ----------------------------------------------------------------------------------


def window_max(counts: dict[int, int], window: int = 60) -> int:
    """The highest total of ``counts`` (per whole second) over any ``window`` consecutive seconds."""
    if not counts:
        return 0
    best = total = 0
    first, last = min(counts), max(counts)
    for second in range(first, last + 1):
        total += counts.get(second, 0) - counts.get(second - window, 0)
        best = max(best, total)
    return best


def percentile(values: list[float], q: float) -> float:
    """The ``q``-th percentile (0-100) of ``values``, nearest rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
