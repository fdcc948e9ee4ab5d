"""Benchmark of one full cycle of every dataset, per API: what it spends against the fewest the API
allows, how fast it lands, and what ``make budget`` says it spends.

For each API (the three at once, each in its own OS process, as independent as they are), every enabled
dataset of that API runs once through the code its DAG runs: :func:`cryptoflow.ingest.land_dataset` for
a dataset without ids, :func:`~cryptoflow.ingest.plan_batches` then :func:`~cryptoflow.ingest.land_batch`
for each batch of a dataset over ids; the listings go first, so the per-id datasets read what they
landed. The sandbox runs on the default plans (CoinGecko Demo, CMC Basic, CMC DEX Basic) with the
configuration in force (``cryptoflow.yaml``), limits lifted on both sides (:func:`bench.common.lift_limits`)
and its clock frozen (every walk of a listing sees the same listing).

Per API and dataset:

- **calls** and **credits**: the sandbox's own accounting;
- **fewest** calls and credits the API allows, worked out here from the endpoint descriptions
  (largest page, ids bundled per call, ``Credits.cost``) and the sizes the sandbox lists, walked
  directly afterwards: a whole listing ``ceil(records / largest page)`` calls, a top N
  ``ceil(N / largest page)``, a per-id dataset ``ceil(ids / ids per call)`` per group (DEX network);
  credits are each of those pages' or calls' cost, pages filled to the largest size;
- **ratios** calls ÷ fewest and credits ÷ fewest (goal 1.00);
- **responses** (pages) and **bytes landed** per second, from the landings' summaries;
- the **budget**'s calls and credits per cycle (:func:`cryptoflow.budget.dataset_budget`, with the
  measured listing sizes as ``sizes``) beside the measured ones.

A dataset whose endpoint the plan may not call (``cmc_exchange_listings`` on Basic) is "skipped" with
0 calls. Figures print as a table and land in ``.local/bench/bench_cycle.json`` (with a row per dataset).
:func:`run_cycle` is the whole measurement; ``tests/data/test_bench_cycle.py`` runs it on a small
configuration.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from bench.common import api_connection, bench_stack, lift_limits, report, run_together

APIS = ("coingecko", "cmc", "cmc_dex")
PLANS = {"coingecko": "demo", "cmc": "basic", "cmc_dex": "basic"}
CONTROL_TABLES = "ops.rate_limiter, ops.circuit_breaker, ops.credit_budget, ops.api_call"

Figures = list[tuple[str, float, str]]


# -- the fewest calls and credits, from the endpoint descriptions alone ---------------------------------


def largest_page(paginator) -> int | None:
    """The most records one page may hold (``None``: the endpoint answers everything in one page)."""
    for name in ("max_size", "max_limit"):
        if getattr(paginator, name, None):
            return int(getattr(paginator, name))
    return None


def filled_pages(records: int, largest: int | None) -> list[int]:
    """Records on each page of the fewest pages that hold ``records``, each as full as allowed (an empty
    listing still takes one call)."""
    if largest is None:
        return [records]
    count = max(1, math.ceil(records / largest))
    return [max(0, min(largest, records - i * largest)) for i in range(count)]


def fewest_listing(endpoint, records: list[int], converts: int) -> tuple[int, int]:
    """``(calls, credits)``: the fewest to list ``records[i]`` records for each request ``i``."""
    pages = [n for wanted in records for n in filled_pages(wanted, largest_page(endpoint.paginator))]
    return len(pages), sum(endpoint.credits.cost(n, converts) for n in pages)


def fewest_ids(endpoint, id_param: str, ids: list[int], converts: int, periods: int = 1) -> tuple[int, int]:
    """``(calls, credits)``: the fewest to ask for ``ids[g]`` ids of each group ``g``: one call per id when
    the id is part of the path, else ``max_ids`` bundled per call."""
    per_call = 1 if "{" + id_param + "}" in endpoint.path else (endpoint.max_ids or 1)
    calls = credits = 0
    for count in ids:
        for at in range(0, count, per_call):
            carried = min(per_call, count - at)
            calls += 1
            credits += endpoint.credits.cost(carried * periods, converts)
    return calls, credits


# -- what the sandbox lists, walked directly ------------------------------------------------------------


def listed(sandbox, api_name: str, plan: str, endpoint_name: str, params: Mapping[str, Any], *,
           cap: int | None = None) -> int:
    """How many records the sandbox lists for one request (at most ``cap``), walked here page by page at
    the largest page size until a short page: not by the client's paginator, whose stop rule is part of
    what is measured."""
    import requests

    from cryptoflow.apis import get_api
    from cryptoflow.validation import records_of

    api = get_api(api_name)
    endpoint = api.endpoint(endpoint_name)
    paginator = endpoint.paginator
    size = largest_page(paginator)
    url = sandbox.base_url(api_name, plan) + endpoint.path
    headers = {api.plan(plan).auth_header: sandbox.key(api_name, plan)}
    sent = {**endpoint.params, **params}
    if paginator.kind == "page":
        sent.update({paginator.page_param: paginator.start, paginator.size_param: size})
    elif paginator.kind == "offset":
        sent.update({paginator.start_param: paginator.start, paginator.limit_param: size})
    elif paginator.kind == "cursor":
        sent[paginator.limit_param] = size
    seen = 0
    while True:
        response = requests.get(url, params=sent, headers=headers, timeout=120)
        response.raise_for_status()
        items = records_of(response.json(), endpoint.body)
        seen += len(items)
        if cap is not None and seen >= cap:
            return cap
        if size is None or len(items) < size:
            return seen
        if paginator.kind == "page":
            sent[paginator.page_param] += 1
        elif paginator.kind == "offset":
            sent[paginator.start_param] += len(items)
        else:
            cursor = items[-1].get(paginator.item_cursor_field)
            if not cursor:
                return seen
            sent[paginator.cursor_param] = cursor


def measure_sizes(sandbox, config, plans: Mapping[str, str], names: list[str]) -> dict[str, dict]:
    """Per dataset of ``names`` that lists records (a top N or a whole listing), the records the sandbox
    lists for each of its requests: ``{group: records}`` (group: the DEX network, or ``None``)."""
    from cryptoflow import catalog

    out: dict[str, dict] = {}
    for name in names:
        spec = catalog.spec(name)
        if spec.per == "id":
            continue
        cadence = config.dataset(name).cadence
        sizes = {}
        for call in catalog.requests_for(spec, config, cadence):
            sizes[call.params.get("network_slug")] = listed(
                sandbox, spec.api, plans[spec.api], spec.endpoint, call.params, cap=spec.wanted_for(config))
        out[name] = sizes
    return out


# -- one API's cycle (a spawned process) ----------------------------------------------------------------


def cycle_order(api: str, config) -> list[str]:
    """The enabled datasets of ``api``: those without ids (the listings) first, then those over ids."""
    from cryptoflow import catalog

    names = [n for n, s in catalog.SPECS.items() if s.api == api and config.dataset(n).enabled
             and config.api(api).enabled]
    return sorted(names, key=lambda n: catalog.spec(n).ids is not None)  # stable: catalog order within


def ids_in(call: Mapping[str, Any], id_param: str) -> int:
    if call.get("path_values"):
        return 1
    return len(str((call.get("params") or {}).get(id_param) or "").split(","))


def warm_up(api: str) -> None:
    """What any task of the API pays once per process, before the clock starts: the warehouse's
    migrations, the API's connection and its shared controls (bucket, breaker, budget rows)."""
    from cryptoflow.client import ApiHook
    from cryptoflow.warehouse import connect, migrate

    conn = connect()
    try:
        migrate(conn)
    finally:
        conn.close()
    hook = ApiHook(api)
    try:
        _ = hook.session
        _ = hook.controls
    finally:
        hook.close()


def cycle_worker(gate, env: dict[str, str], api: str) -> dict:
    """Land one cycle of every enabled dataset of ``api``, in :func:`cycle_order`; per dataset what it
    landed (from the summaries) and how long it took."""
    os.environ.update(env)
    logging.disable(logging.INFO)  # warnings (an id gone, HTTP 404) still show
    from airflow.sdk.exceptions import AirflowSkipException

    from cryptoflow import catalog, ingest
    from cryptoflow.config import load_config
    from cryptoflow.snapshots import current_interval

    config = load_config()
    names = cycle_order(api, config)
    warm_up(api)
    start = gate.wait()
    began = time.perf_counter()
    out = {}
    for name in names:
        spec = catalog.spec(name)
        run_id = f"bench_cycle__{name}"
        interval_start, interval_end = current_interval(config.dataset(name).schedule, datetime.now(UTC))
        row: dict[str, Any] = {"status": "landed", "reason": "", "requests": 0, "pages": 0, "records": 0,
                               "bytes": 0, "client_calls": 0, "batches": 0, "ids": [], "missing": [],
                               "records_per_request": []}
        t0 = time.perf_counter()
        try:
            if spec.ids is None:
                summary = ingest.land_dataset(name, interval_start=interval_start, interval_end=interval_end,
                                              run_after=None, run_id=run_id, config=config)
                row["records_per_request"] = [x["records"] for x in summary["landed"]]
                summaries = [summary]
            else:
                batches = ingest.plan_batches(name, interval_start=interval_start, interval_end=interval_end,
                                              run_after=None, run_id=run_id, config=config)
                row["batches"] = len(batches)
                groups: dict[str | None, int] = {}
                for batch in batches:
                    for call in batch["calls"]:
                        group = (call.get("params") or {}).get("network_slug")
                        groups[group] = groups.get(group, 0) + ids_in(call, spec.id_param)
                row["ids"] = list(groups.items())
                summaries = [ingest.land_batch(name, batch, run_id=run_id) for batch in batches]
        except AirflowSkipException as exc:
            row.update(status="skipped", reason=str(exc).split(". ")[0])
            summaries = []
        for summary in summaries:
            for field in ("requests", "pages", "records", "bytes"):
                row[field] += summary[field]
            row["client_calls"] += summary["calls"]
            row["missing"] += summary.get("missing", [])
        row["seconds"] = time.perf_counter() - t0
        out[name] = row
    return {"api": api, "start": start, "seconds": time.perf_counter() - began, "datasets": out}


# -- the whole cycle ------------------------------------------------------------------------------------


def reset_warehouse(dsn: str) -> None:
    """The control layer at rest, and no raw table of any dataset: each listing lands afresh and is the
    latest its per-id datasets read."""
    import psycopg

    from cryptoflow import catalog
    from cryptoflow.apis import get_api
    from cryptoflow.warehouse import migrate

    with psycopg.connect(dsn) as conn:
        migrate(conn)
        conn.execute(f"TRUNCATE {CONTROL_TABLES}")
        for spec in catalog.SPECS.values():
            conn.execute(f"DROP TABLE IF EXISTS {get_api(spec.api).raw_table(spec.endpoint)}")


def endpoint_counts(accounting: dict, api: str, endpoint: str) -> tuple[int, int]:
    """``(calls, credits)`` the sandbox counted for one endpoint of ``api``, every key together."""
    keys = accounting["apis"].get(api, {}).get("keys", {})
    rows = [key["endpoints"].get(endpoint, {}) for key in keys.values()]
    return sum(r.get("calls", 0) for r in rows), sum(r.get("credits", 0) for r in rows)


def by_group(counts: Mapping[str | None, int]) -> str:
    """``ethereum 534 + solana 111`` (or ``300`` for one group)."""
    return " + ".join(f"{g} {n:,}" if g else f"{n:,}" for g, n in counts.items())


def ratio(spent: int, fewest: int) -> float | None:
    """``spent / fewest``; ``None`` when both are 0 (nothing to spend, nothing spent)."""
    if fewest == 0:
        return None if spent == 0 else math.inf
    return spent / fewest


def run_cycle(sandbox, dsn: str, overrides: Mapping[str, str] | None = None,
              plans: Mapping[str, str] = PLANS) -> dict:
    """One full cycle of every enabled dataset, the three APIs at once, against ``sandbox`` and the
    warehouse at ``dsn``; ``overrides``: ``CRYPTOFLOW__*`` settings over ``cryptoflow.yaml``.

    Sets the sandbox's limits and clock (and our side's limits in ``os.environ``, as
    :func:`bench.common.lift_limits` does). Returns ``{"config": ..., "apis": {api: {...totals,
    "datasets": {name: row}}}}``, each row with the measured, fewest and budgeted calls and credits."""
    from cryptoflow import catalog
    from cryptoflow.apis import get_api
    from cryptoflow.apis.base import converts_in
    from cryptoflow.budget import dataset_budget
    from cryptoflow.config import load_config

    env = dict(overrides or {})
    sandbox.reset()
    sandbox.set_clock(datetime.now(UTC), frozen=True)
    for api in APIS:
        lift_limits(sandbox, api, plans[api])
        env.update(api_connection(sandbox, api, plans[api]))
    env.update({k: v for k, v in os.environ.items() if k.startswith("CRYPTOFLOW__APIS__")})
    config = load_config(environ={**os.environ, **env})
    reset_warehouse(dsn)
    sandbox.reset_accounting()

    began = time.perf_counter()
    _, results = run_together(cycle_worker, [(env, api) for api in APIS])
    wall = time.perf_counter() - began
    accounting = sandbox.accounting(log=False)  # before the walks below, which call the sandbox too

    landed_names = [n for r in results for n, row in r["datasets"].items() if row["status"] == "landed"]
    sizes_by_group = measure_sizes(sandbox, config, plans, landed_names)

    def listing_size(name: str, group: str | None) -> int | None:
        return sizes_by_group.get(name, {}).get(group)

    # The budget's ``sizes``: a whole listing's measured records (by network when per network), a per-id
    # dataset's listed ids (what caps its ids).
    sizes: dict[str, Any] = {}
    for name, groups in sizes_by_group.items():
        spec = catalog.spec(name)
        if spec.expected_records is not None:  # a listing taken whole (the budget's estimate otherwise)
            sizes[name] = groups if spec.per == "network" else groups[None]
    for name, spec in catalog.SPECS.items():
        if spec.ids is None or spec.ids.dataset not in sizes_by_group:
            continue
        groups = sizes_by_group[spec.ids.dataset]
        sizes[name] = groups if spec.ids.per_network else groups[None]

    out_apis = {}
    for result in results:
        api = result["api"]
        rows = {}
        for name, spec in catalog.SPECS.items():
            if spec.api != api:
                continue
            endpoint = get_api(api).endpoint(spec.endpoint)
            dataset = config.dataset(name)
            worker = result["datasets"].get(name)
            calls, credits = endpoint_counts(accounting, api, spec.endpoint)
            planned = dataset_budget(name, config, plans[api], sizes)
            estimated = dataset_budget(name, config, plans[api])
            row: dict[str, Any] = {"dataset": name, "endpoint": spec.endpoint, "calls": calls,
                                   "credits": credits, "budget_calls": planned.calls,
                                   "budget_credits": planned.credits, "budget_status": planned.status,
                                   "budget_note": planned.note, "estimate_calls": estimated.calls,
                                   "estimate_credits": estimated.credits}
            if worker is None:  # switched off
                row.update(status="off", fewest_calls=0, fewest_credits=0, pages=0, bytes=0, records=0,
                           seconds=0.0, covers="off")
            elif worker["status"] == "skipped":
                row.update(status="skipped", reason=worker["reason"], fewest_calls=0, fewest_credits=0,
                           pages=0, bytes=0, records=0, seconds=worker["seconds"],
                           covers=f"skipped on plan {plans[api]}")
            else:
                params = {**endpoint.params, **spec.base_params(config, dataset.cadence)}
                converts = converts_in(params)
                if spec.per == "id":
                    groups = list(config.dex.networks) if spec.ids.per_network else [None]
                    ids = [min(spec.id_count(config), listing_size(spec.ids.dataset, g) or 0) for g in groups]
                    counted = endpoint.max_count and str(params.get("count", "")).isdigit()
                    periods = int(params["count"]) if counted and endpoint.credits.per_items else 1
                    fewest_calls, fewest_credits = fewest_ids(endpoint, spec.id_param, ids, converts, periods)
                    covers = f"{by_group(dict(zip(groups, ids, strict=True)))} ids of {spec.ids.dataset}"
                    row["ids_asked"] = worker["ids"]
                    row["ids_fewest"] = ids
                else:
                    records = list(sizes_by_group[name].values())
                    fewest_calls, fewest_credits = fewest_listing(endpoint, records, converts)
                    covers = by_group(sizes_by_group[name])
                    if spec.wanted:
                        covers = f"top {covers}"
                    elif largest_page(endpoint.paginator) is None:
                        covers = "one answer" + (f" of {covers} records" if records != [1] else "")
                    else:
                        covers += " records listed"
                    row["records_listed"] = records
                    row["records_per_request"] = worker["records_per_request"]
                row.update(status="landed", fewest_calls=fewest_calls, fewest_credits=fewest_credits,
                           pages=worker["pages"], bytes=worker["bytes"], records=worker["records"],
                           requests=worker["requests"], batches=worker["batches"],
                           client_calls=worker["client_calls"], missing=worker["missing"],
                           seconds=worker["seconds"], covers=covers)
            row["calls_ratio"] = ratio(row["calls"], row["fewest_calls"])
            row["credits_ratio"] = ratio(row["credits"], row["fewest_credits"])
            rows[name] = row
        totals = {k: sum(r[k] for r in rows.values())
                  for k in ("calls", "credits", "fewest_calls", "fewest_credits", "budget_calls",
                            "budget_credits", "estimate_calls", "estimate_credits", "pages", "bytes",
                            "records")}
        api_calls = accounting["apis"].get(api, {})
        seconds = result["seconds"]
        out_apis[api] = {
            **totals, "plan": plans[api], "seconds": seconds,
            "sandbox_calls": api_calls.get("calls", 0), "sandbox_credits": api_calls.get("credits", 0),
            "calls_ratio": ratio(totals["calls"], totals["fewest_calls"]),
            "credits_ratio": ratio(totals["credits"], totals["fewest_credits"]),
            "responses_per_second": totals["pages"] / seconds if seconds else 0.0,
            "bytes_per_second": totals["bytes"] / seconds if seconds else 0.0,
            "datasets": rows,
        }
    return {
        "config": {"source": config.source, "top_n": config.universe.top_n,
                   "coingecko_coins_top_n": config.dataset("coingecko_coins").coins(config.universe),
                   "networks": list(config.dex.networks), "pairs_per_network": config.dex.pairs_per_network,
                   "min_liquidity_usd": config.dex.min_liquidity_usd, "overrides": dict(overrides or {})},
        "plans": dict(plans), "wall_seconds": wall, "sizes": sizes, "apis": out_apis,
    }


# -- printing -------------------------------------------------------------------------------------------


def _x(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _rate(amount: float, seconds: float) -> str:
    return f"{amount / seconds:,.1f}" if seconds > 0 and amount else "-"


def render(result: dict) -> str:
    cfg = result["config"]
    lines = [f"one cycle of every dataset per API ({cfg['source']}: universe top {cfg['top_n']}, "
             f"coingecko_coins top {cfg['coingecko_coins_top_n']}, DEX {'+'.join(cfg['networks'])} with "
             f"{cfg['pairs_per_network']} pairs each, liquidity >= {cfg['min_liquidity_usd']:,}; limits "
             f"lifted; the three APIs at once, {result['wall_seconds']:.1f} s in all)"]
    head = ("dataset", "calls", "fewest", "x", "credits", "fewest", "x", "budget", "b.credits", "pages",
            "MB", "s", "resp/s", "MB/s", "covers")
    for api, a in result["apis"].items():
        lines += ["", f"{api} (plan {a['plan']}): {a['seconds']:.1f} s"]
        table = [head]
        for r in a["datasets"].values():
            status = r["status"]
            if status != "landed":
                table.append((r["dataset"], str(r["calls"]), "0", "-", str(r["credits"]), "0", "-",
                              "-" if r["budget_status"] != "on" else str(r["budget_calls"]),
                              "-" if r["budget_status"] != "on" else str(r["budget_credits"]),
                              "0", "0", f"{r['seconds']:.2f}", "-", "-", status))
                continue
            mark = "" if r["calls"] == r["budget_calls"] and r["credits"] == r["budget_credits"] else " (!)"
            table.append((r["dataset"], f"{r['calls']:,}", f"{r['fewest_calls']:,}", _x(r["calls_ratio"]),
                          f"{r['credits']:,}", f"{r['fewest_credits']:,}", _x(r["credits_ratio"]),
                          f"{r['budget_calls']:,}{mark}", f"{r['budget_credits']:,}", f"{r['pages']:,}",
                          f"{r['bytes'] / 1e6:.2f}", f"{r['seconds']:.2f}", _rate(r["pages"], r["seconds"]),
                          _rate(r["bytes"] / 1e6, r["seconds"]), r["covers"]))
        table.append(("total", f"{a['calls']:,}", f"{a['fewest_calls']:,}", _x(a["calls_ratio"]),
                      f"{a['credits']:,}", f"{a['fewest_credits']:,}", _x(a["credits_ratio"]),
                      f"{a['budget_calls']:,}", f"{a['budget_credits']:,}", f"{a['pages']:,}",
                      f"{a['bytes'] / 1e6:.2f}", f"{a['seconds']:.2f}", _rate(a["pages"], a["seconds"]),
                      _rate(a["bytes"] / 1e6, a["seconds"]), ""))
        widths = [max(len(row[i]) for row in table) for i in range(len(head) - 1)]
        for row in table:
            cells = [row[0].ljust(widths[0]),
                     *(c.rjust(w) for c, w in zip(row[1:-1], widths[1:], strict=True)), row[-1]]
            lines.append("  " + "  ".join(cells).rstrip())
        same = a["calls"] == a["budget_calls"] and a["credits"] == a["budget_credits"]
        verdict = "the budget matches" if same else "THE BUDGET DIFFERS"
        lines.append(f"  budget   predicts {a['budget_calls']:,} calls and {a['budget_credits']:,} credits "
                     f"per cycle; measured {a['calls']:,} calls and {a['credits']:,} credits: {verdict}")
        if (a["estimate_calls"], a["estimate_credits"]) != (a["budget_calls"], a["budget_credits"]):
            differ = ", ".join(f"{r['dataset']} {r['estimate_calls']:,}"
                               for r in a["datasets"].values() if r["estimate_calls"] != r["budget_calls"])
            lines.append(f"           with the specs' estimated listing sizes (make budget): "
                         f"{a['estimate_calls']:,} calls and {a['estimate_credits']:,} credits ({differ})")
        if a["sandbox_calls"] != a["calls"]:
            lines.append(f"  note     the sandbox counted {a['sandbox_calls']:,} calls in all, "
                         f"{a['sandbox_calls'] - a['calls']:,} to endpoints of no dataset")
        for r in a["datasets"].values():
            if r["status"] == "skipped":
                lines.append(f"  skipped  {r['dataset']}: {r['reason']}")
            if r["status"] != "landed":
                continue
            if r.get("client_calls", r["calls"]) != r["calls"]:
                lines.append(f"  note     {r['dataset']}: the client counted {r['client_calls']} calls, the "
                             f"sandbox {r['calls']}")
            if "records_listed" in r and r["records_per_request"] != r["records_listed"]:
                lines.append(f"  note     {r['dataset']}: landed {r['records_per_request']} records per "
                             f"request, the sandbox lists {r['records_listed']}")
            if r.get("missing"):
                lines.append(f"  note     {r['dataset']}: gone (HTTP 404) {', '.join(r['missing'])}")
    return "\n".join(lines)


def figures_of(result: dict) -> Figures:
    figures: Figures = [("wall_seconds", result["wall_seconds"], "s")]
    for api, a in result["apis"].items():
        figures += [
            (f"{api}_calls", a["calls"], "calls"),
            (f"{api}_calls_fewest_possible", a["fewest_calls"], "calls"),
            (f"{api}_calls_ratio_to_fewest", a["calls_ratio"] or 0.0, "x"),
            (f"{api}_credits", a["credits"], "credits"),
            (f"{api}_credits_fewest_possible", a["fewest_credits"], "credits"),
            (f"{api}_credits_ratio_to_fewest", a["credits_ratio"] or 0.0, "x"),
            (f"{api}_budget_calls", a["budget_calls"], "calls"),
            (f"{api}_budget_credits", a["budget_credits"], "credits"),
            (f"{api}_budget_estimated_sizes_calls", a["estimate_calls"], "calls"),
            (f"{api}_budget_estimated_sizes_credits", a["estimate_credits"], "credits"),
            (f"{api}_responses_per_second", a["responses_per_second"], "responses/s"),
            (f"{api}_megabytes_per_second", a["bytes_per_second"] / 1e6, "MB/s"),
            (f"{api}_megabytes_landed", a["bytes"] / 1e6, "MB"),
            (f"{api}_seconds", a["seconds"], "s"),
        ]
    return figures


def main() -> None:
    server, profile = bench_stack("bench_cycle")  # a bench profile: the shipped settings, not the demo's
    dsn = os.environ["CRYPTOFLOW_WAREHOUSE_DSN"]

    from cryptoflow.devstack.postgres import drop_database
    from cryptoflow.sandbox import SandboxServer

    with SandboxServer(port=profile.sandbox_port) as sandbox:
        result = run_cycle(sandbox, dsn)
    print(render(result), flush=True)
    path = report("bench_cycle", figures_of(result))
    saved = json.loads(path.read_text())
    saved.update(config=result["config"], plans=result["plans"], sizes=result["sizes"],
                 datasets=[{"api": api, **r}
                           for api, a in result["apis"].items() for r in a["datasets"].values()])
    path.write_text(json.dumps(saved, indent=2, default=str) + "\n")
    if not os.environ.get("BENCH_KEEP_DB"):
        drop_database(server, profile.warehouse_db)


if __name__ == "__main__":
    main()
