"""Benchmark of the control layer (:mod:`cryptoflow.limits`): how close the shared Postgres limiter runs to
an API's limit without passing it, how it follows an allowance that drifts, and what a permit costs.

1. **Saturation**: for 1, 2 and 4 workers per API, the three APIs at once, each worker an OS process that
   calls ``ApiHook(api).fetch(<cheap endpoint>)`` in a loop with the real shared controls. Limits are the
   defaults x ``SCALE`` (the ratios hold at any limit) and the sandbox enforces exactly the configured
   limit, so any overshoot shows as 429s. From the sandbox's per-second log: steady-state calls/min ÷ limit
   (goal >= 0.95), the most calls in any 60 consecutive seconds ÷ limit (must be <= 1.00), and 429s (0).
2. **Drifting allowance**: CoinGecko at 600/min, the sandbox's allowance walking between 50 % and 100 %
   of it; successful calls ÷ the allowance of the run's full minutes (goal >= 0.90), and the share of
   calls answered 429 (goal <= 1 %).
3. **Limiter cost**: p50/p99 of one ``Controls.take_permit`` (a limit so high that no permit waits) from 1
   and from 4 processes at once, and SQL statements per HTTP call for a few endpoints and budgets.

Figures are printed and kept in ``.local/bench/limits.json``; nothing is asserted.
``CRYPTOFLOW_BENCH_LIMITS_SECONDS`` sets each saturation run (default 75),
``CRYPTOFLOW_BENCH_LIMITS_DRIFT_SECONDS`` the drift run (default 240), ``CRYPTOFLOW_BENCH_LIMITS_PARTS``
which parts run (``saturation,drift,cost``).
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import Counter

from bench.common import api_connection, bench_stack, percentile, report, run_together, window_max

SECONDS = float(os.environ.get("CRYPTOFLOW_BENCH_LIMITS_SECONDS", "75"))
DRIFT_SECONDS = float(os.environ.get("CRYPTOFLOW_BENCH_LIMITS_DRIFT_SECONDS", "240"))
# Which parts run (all by default): CRYPTOFLOW_BENCH_LIMITS_PARTS=drift runs only the drifting allowance.
PARTS = set(os.environ.get("CRYPTOFLOW_BENCH_LIMITS_PARTS", "saturation,drift,cost").split(","))
SCALE = 20  # limits = the project's defaults x SCALE: CoinGecko 300/min, CMC 300/min, DEX 1000/min
WORKER_COUNTS = (1, 2, 4)
EDGE_S = 5  # seconds left out at each end of a saturation run (start-up, the last calls in flight)

APIS = ("coingecko", "cmc", "cmc_dex")
PLANS = {"coingecko": "demo", "cmc": "basic", "cmc_dex": "basic"}
# Cheap endpoints: (name, fetch keywords). CMC's map costs 0 credits; one record keeps the body small.
CHEAP = {"coingecko": ("ping", {}), "cmc": ("cryptocurrency_map", {"wanted": 1}),
         "cmc_dex": ("networks_list", {})}
NO_CAP = 1_000_000_000  # a client credit budget no run reaches (null in the config means the plan's own)

DRIFT_LIMIT = 600
DRIFT = {"low": 0.5, "high": 1.0, "step": 0.1, "seed": 7}
DRIFT_WORKERS = 2

PERMITS = 2000  # timed permits per process
PERMIT_WARMUP = 50
HUGE_RATE = 1_000_000_000  # calls/min: a permit's spacing rounds to 0 µs, so no permit ever waits
STATEMENT_CALLS = 100
# name: (api, plan, endpoint, fetch keywords); what the controls' statements depend on (budget, credits)
STATEMENT_CASES = {
    "coingecko_enterprise_ping_no_budget": ("coingecko", "enterprise", "ping", {}),
    "coingecko_demo_ping_budget_1_credit": ("coingecko", "demo", "ping", {}),
    "cmc_map_budget_0_credits": ("cmc", "basic", "cryptocurrency_map", {"wanted": 1}),
    "cmc_listings_budget_1_credit": ("cmc", "basic", "cryptocurrency_listings_latest", {"wanted": 1}),
    "cmc_dex_networks_budget_1_credit": ("cmc_dex", "basic", "networks_list", {}),
}
CONTROL_TABLES = "ops.rate_limiter, ops.circuit_breaker, ops.credit_budget, ops.api_call"

Figures = list[tuple[str, float, str]]


# -- set-up ------------------------------------------------------------------------------------------------


def client_env(limits: dict[str, float], *, uncapped: bool = True) -> dict[str, str]:
    """``CRYPTOFLOW__*`` overrides: each API's configured limit, and (``uncapped``) credit budgets so large
    that no run meets them (CMC DEX Basic's plan has 333 credits a day)."""
    env = {}
    for api, limit in limits.items():
        prefix = f"CRYPTOFLOW__APIS__{api.upper()}__"
        env[prefix + "CALLS_PER_MINUTE"] = str(limit)
        if uncapped:
            env[prefix + "DAILY_CREDITS"] = env[prefix + "MONTHLY_CREDITS"] = str(NO_CAP)
    return env


def sandbox_limits(sandbox, limits: dict[str, int], drift: dict | None = None) -> None:
    """The sandbox enforces exactly ``limits`` per minute on each API's plan, with no credit caps."""
    sandbox.set_limits({
        api: {PLANS[api]: {"calls_per_minute": limit, "daily_credits": None, "monthly_credits": None,
                           "drift": drift}}
        for api, limit in limits.items()})


def reset(sandbox, dsn: str) -> None:
    """Forget the previous run: the warehouse's control tables, the sandbox's accounting and usage."""
    import psycopg

    from cryptoflow.warehouse import migrate

    with psycopg.connect(dsn) as conn:
        migrate(conn)
        conn.execute(f"TRUNCATE {CONTROL_TABLES}")
    sandbox.set_limits(reset_usage=True)
    sandbox.reset_accounting()


def quiet() -> None:
    """Workers log errors only: 429s and waits are counted from the sandbox and the call log."""
    logging.disable(logging.WARNING)


# -- workers (spawned processes) ---------------------------------------------------------------------------


def hammer(gate, env: dict[str, str], api: str, seconds: float) -> dict:
    """Fetch ``api``'s cheap endpoint in a loop for ``seconds`` with the default (shared) controls."""
    os.environ.update(env)
    quiet()
    from cryptoflow.client import ApiHook

    hook = ApiHook(api)
    _ = hook.controls  # connect and create the bucket before the start
    endpoint, kwargs = CHEAP[api]
    deadline = gate.wait() + seconds
    fetched, errors = 0, Counter()
    while time.time() < deadline:
        try:
            hook.fetch(endpoint, **kwargs)
            fetched += 1
        except Exception as exc:  # counted; a benchmark keeps going
            errors[type(exc).__name__] += 1
            time.sleep(0.5)
    hook.close()
    return {"api": api, "fetched": fetched, "attempts": hook.calls, "errors": dict(errors)}


def time_permits(gate, env: dict[str, str], n: int) -> list[float]:
    """Seconds each of ``n`` ``take_permit`` calls took, on one bucket shared by every process."""
    os.environ.update(env)
    quiet()
    from cryptoflow.apis import get_api
    from cryptoflow.limits import Controls

    api = get_api("coingecko")
    controls = Controls.open(api, "bench-permit-key", api.plan("demo"))
    for _ in range(PERMIT_WARMUP):
        controls.take_permit("bench", time.sleep)
    gate.wait()
    took = []
    for _ in range(n):
        began = time.perf_counter()
        controls.take_permit("bench", time.sleep)
        took.append(time.perf_counter() - began)
    controls.close()
    return took


def count_statements(gate, env: dict[str, str], case: tuple[str, str, dict], n: int) -> dict:
    """The controls' SQL statements over ``n`` real fetches of ``case`` (api, endpoint, fetch keywords),
    and those of opening the controls."""
    api, endpoint, kwargs = case
    os.environ.update(env)
    quiet()
    from cryptoflow.client import ApiHook

    hook = ApiHook(api)
    controls = hook.controls
    setup = controls.statements
    gate.wait()
    for _ in range(n):
        hook.fetch(endpoint, **kwargs)
    result = {"setup": setup, "statements": controls.statements, "calls": hook.calls,
              "budgeted": controls.budgeted}
    hook.close()
    return result


# -- reading the sandbox's accounting ----------------------------------------------------------------------


def key_log(accounting: dict, api: str, key: str) -> dict[int, tuple[int, int]]:
    """``{unix_second: (calls, 429s)}`` of one key from the accounting's per-second log."""
    entry = accounting["apis"].get(api, {}).get("keys", {}).get(key, {})
    return {second: (calls, limited) for second, calls, limited in entry.get("per_second", [])}


def ok_in(log: dict[int, tuple[int, int]], seconds: range) -> int:
    return sum(log.get(s, (0, 0))[0] - log.get(s, (0, 0))[1] for s in seconds)


# -- 1. saturation -----------------------------------------------------------------------------------------


def saturation(sandbox, dsn: str, connections: dict[str, str]) -> Figures:
    from cryptoflow.apis import get_api
    from cryptoflow.config import load_config

    limits = {api: get_api(api).default_calls_per_minute * SCALE for api in APIS}
    env = {**connections, **client_env(limits)}
    margin = load_config().control.safety_margin_s
    ceiling = 60 / (60 + margin)  # permits are spaced (60 + margin) / limit apart: the most one can reach
    print(f"saturation: pacing ceiling 60 / (60 + {margin:g} s margin) = {ceiling:.4f} of the limit",
          flush=True)
    figures: Figures = [("saturation_pacing_ceiling_ratio", ceiling, "x limit")]
    for workers in WORKER_COUNTS:
        sandbox_limits(sandbox, limits)
        reset(sandbox, dsn)
        jobs = [(env, api, SECONDS) for api in APIS for _ in range(workers)]
        start, results = run_together(hammer, jobs)
        accounting = sandbox.accounting()
        for api in APIS:
            fig = saturation_figures(accounting, api, sandbox.key(api, PLANS[api]), start, limits[api])
            errors = Counter()
            for r in results:
                if r["api"] == api:
                    errors.update(r["errors"])
            print(f"saturation W={workers} {api:<9} limit {limits[api]}/min: achieved "
                  f"{fig['per_min']:.1f}/min = {fig['achieved']:.3f} of the limit (goal >= 0.95); "
                  f"most in 60 s {fig['max60']} = {fig['max60_ratio']:.3f} (<= 1.00); "
                  f"429s {fig['429s']} (goal 0); "
                  f"client errors {dict(errors) or 0}", flush=True)
            name = f"saturation_w{workers}_{api}"
            figures += [(f"{name}_achieved_ratio", fig["achieved"], "x limit"),
                        (f"{name}_max60_ratio", fig["max60_ratio"], "x limit"),
                        (f"{name}_429s", fig["429s"], "calls"),
                        (f"{name}_client_errors", sum(errors.values()), "fetches")]
    return figures


def saturation_figures(accounting: dict, api: str, key: str, start: float, limit: float) -> dict:
    log = key_log(accounting, api, key)
    edge = EDGE_S if SECONDS > 4 * EDGE_S else 0  # a very short run (a smoke test) keeps its ends
    steady = range(math.ceil(start) + edge, math.floor(start + SECONDS) - edge)
    per_min = ok_in(log, steady) / max(1, len(steady)) * 60
    max60 = window_max({s: calls for s, (calls, _) in log.items()}, 60)  # every call sent counts
    return {"per_min": per_min, "achieved": per_min / limit, "max60": max60, "max60_ratio": max60 / limit,
            "429s": sum(limited for _, limited in log.values())}


# -- 2. drifting allowance ---------------------------------------------------------------------------------


def next_minute(t: float) -> float:
    """The first wall-clock minute boundary at least 5 s after ``t`` (the run then has whole minutes)."""
    return (math.floor((t + 5) / 60) + 1) * 60.0


def drifting(sandbox, dsn: str, connections: dict[str, str]) -> Figures:
    from cryptoflow.sandbox.limits import drift_allowance

    env = {**connections, **client_env({"coingecko": DRIFT_LIMIT})}
    sandbox_limits(sandbox, {"coingecko": DRIFT_LIMIT}, drift=DRIFT)  # the walk starts this minute
    reset(sandbox, dsn)
    m0 = sandbox.limits()["coingecko"][PLANS["coingecko"]]["drift"]["m0"]
    jobs = [(env, "coingecko", DRIFT_SECONDS)] * DRIFT_WORKERS
    start, results = run_together(hammer, jobs, start_at=next_minute)
    end = start + DRIFT_SECONDS
    accounting = sandbox.accounting()
    entry = accounting["apis"]["coingecko"]["keys"][sandbox.key("coingecko", PLANS["coingecko"])]
    log = key_log(accounting, "coingecko", sandbox.key("coingecko", PLANS["coingecko"]))
    allowance = {start_s // 60: n for start_s, n in entry.get("allowance_per_minute", [])}
    full = range(math.ceil(start / 60), math.floor(end / 60))
    ok_total = allowed_total = 0
    for minute in full:
        allowed = allowance.get(minute, drift_allowance(DRIFT_LIMIT, DRIFT, m0, minute))
        seconds = range(minute * 60, minute * 60 + 60)
        ok = ok_in(log, seconds)
        limited = sum(log.get(s, (0, 0))[1] for s in seconds)
        ok_total += ok
        allowed_total += allowed
        print(f"drift minute {time.strftime('%H:%M', time.gmtime(minute * 60))}Z: allowance {allowed}, "
              f"ok {ok} ({ok / allowed:.3f}), 429s {limited}", flush=True)
    calls = max(1, sum(c for c, _ in log.values()))
    limited = sum(n for _, n in log.values())
    share = ok_total / allowed_total if allowed_total else float("nan")  # no full minute: no figure
    errors = Counter()
    for r in results:
        errors.update(r["errors"])
    print(f"drift: {len(full)} full minutes, ok {ok_total} of allowance {allowed_total} = "
          f"{share:.3f} (goal >= 0.90); 429s {limited} of {calls} calls = "
          f"{limited / calls:.2%} (goal <= 1%); client errors {dict(errors) or 0}; "
          f"limiter {limiter_state(dsn)}", flush=True)
    return [("drift_full_minutes", len(full), "minutes"),
            ("drift_ok_over_allowance", share, "x allowance"),
            ("drift_429_share", limited / calls, "of calls"),
            ("drift_429s", limited, "calls"),
            ("drift_client_errors", sum(errors.values()), "fetches")]


def limiter_state(dsn: str) -> str:
    import psycopg

    with psycopg.connect(dsn) as conn:
        row = conn.execute("SELECT cap_per_min, rate_per_min, cut_at IS NOT NULL, permits, rate_limited "
                           "FROM ops.rate_limiter WHERE api = 'coingecko'").fetchone()
    if row is None:
        return "no bucket"
    cap, rate, cut, permits, limited = row
    return (f"cap {cap:g}/min, rate {rate:.1f}/min{' (cut, recovering)' if cut else ''}, {permits} permits, "
            f"{limited} x 429")


# -- 3. limiter cost ---------------------------------------------------------------------------------------


def permit_cost(sandbox, dsn: str) -> Figures:
    env = client_env({"coingecko": HUGE_RATE})
    figures: Figures = []
    for processes in (1, 4):
        reset(sandbox, dsn)
        _, results = run_together(time_permits, [(env, PERMITS)] * processes)
        took = [t * 1000 for r in results for t in r]
        p50, p99 = percentile(took, 50), percentile(took, 99)
        print(f"take_permit from {processes} process(es): p50 {p50:.2f} ms, p99 {p99:.2f} ms "
              f"({len(took)} permits)", flush=True)
        figures += [(f"permit_{processes}proc_p50_ms", p50, "ms"),
                    (f"permit_{processes}proc_p99_ms", p99, "ms")]
    return figures


def statements(sandbox, dsn: str) -> Figures:
    sandbox.set_limits({api: {"*": {"calls_per_minute": 1_000_000, "daily_credits": None,
                                    "monthly_credits": None, "drift": None}} for api in APIS})
    figures: Figures = []
    for name, (api, plan, endpoint, kwargs) in STATEMENT_CASES.items():
        reset(sandbox, dsn)
        # a limit that never waits; the credit budgets are the plans' own (CoinGecko Enterprise has none)
        env = {**api_connection(sandbox, api, plan), **client_env({api: 1_000_000}, uncapped=False)}
        _, [r] = run_together(count_statements, [(env, (api, endpoint, kwargs), STATEMENT_CALLS)])
        per_call = (r["statements"] - r["setup"]) / r["calls"]
        print(f"statements {name}: {per_call:.2f} per HTTP call ({r['calls']} calls, budgeted "
              f"{r['budgeted']}), {r['setup']} to open the controls; with them "
              f"{r['statements'] / r['calls']:.2f} per call", flush=True)
        figures += [(f"statements_per_call_{name}", per_call, "statements"),
                    (f"statements_per_call_{name}_with_open", r["statements"] / r["calls"], "statements")]
    return figures


# -- the whole benchmark -----------------------------------------------------------------------------------


def main() -> None:
    server, profile = bench_stack("bench_limits")
    dsn = os.environ["CRYPTOFLOW_WAREHOUSE_DSN"]

    from cryptoflow.devstack.postgres import drop_database
    from cryptoflow.sandbox import SandboxServer

    figures: Figures = [("saturation_seconds", SECONDS, "s"), ("drift_seconds", DRIFT_SECONDS, "s"),
                        ("scale", SCALE, "x default limits")]
    with SandboxServer(port=profile.sandbox_port) as sandbox:
        connections = {}
        for api in APIS:
            connections.update(api_connection(sandbox, api, PLANS[api]))
        if "saturation" in PARTS:
            figures += saturation(sandbox, dsn, connections)
        if "drift" in PARTS:
            figures += drifting(sandbox, dsn, connections)
        if "cost" in PARTS:
            figures += permit_cost(sandbox, dsn)
            figures += statements(sandbox, dsn)
    report("limits", figures)
    if not os.environ.get("BENCH_KEEP_DB"):
        drop_database(server, profile.warehouse_db)


if __name__ == "__main__":
    main()
