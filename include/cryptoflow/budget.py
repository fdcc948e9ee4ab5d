"""``make budget``: the calls and credits each API needs, from the cadences, the universe and the DEX
settings, against the configured limits and the plans: within budget by design, not by luck.

For each dataset (:mod:`cryptoflow.catalog`), one cycle is what its spec sends, counted with the endpoint
descriptions alone (:mod:`cryptoflow.apis`: the paginator's ``calls_for``/``size_for``, the bundled
``max_ids``, ``Credits.cost``), so the figures are the call-minimum the pipeline actually meets: the
largest pages, the ids bundled as far as the endpoint allows. A listing taken whole counts
``Spec.expected_records`` (an estimate of the real API's size) unless measured ``sizes`` are given.

How often a cycle comes is counted, not assumed: the ticks of each dataset's cron over a fixed window of
30 days (``WINDOW_START``, UTC), by day and by hour. Per API that gives calls and credits per day and per
30-day month, the busiest hour and day, and the largest cycle, checked against

- ``apis.<api>.calls_per_minute`` and the plan's own per-minute limit (a cycle must end within its
  cadence; the busiest hour's calls must fit in 60 minutes of the configured rate);
- ``apis.<api>.daily_credits`` / ``monthly_credits`` if set, else the plan's (``None``: unlimited).

The plan of each API is the ``plan`` in its connection's ``conn_extra`` in ``airflow_settings.yaml`` (else
the API's default plan); a dataset whose endpoint the plan may not call counts nothing (its runs end
skipped, :mod:`cryptoflow.plans`). Each misfit names the setting to change and by how much, found by
recomputing the budget with the setting changed (the largest top N that fits, the most frequent
schedule that fits, the plan that would), never canned.

``python -m cryptoflow.budget [--plan coingecko=analyst] [--size cmc_map=9000]`` prints the table and
exits 1 when something does not fit. ``make demo`` calls :func:`preflight` before it starts anything.
Pure arithmetic apart from reading the two settings files; no network, no database, no Airflow.
"""

from __future__ import annotations

import argparse
import itertools
import math
import os
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from cryptoflow import catalog
from cryptoflow.apis import APIS, get_api
from cryptoflow.apis.base import Api, Plan, converts_in
from cryptoflow.config import DEFAULT_FILE, Config, ConfigError, load_config

# The window the crons are counted over: 30 days, a "month" of the credit budgets.
WINDOW_START = datetime(2026, 1, 1, tzinfo=UTC)
WINDOW_DAYS = 30
SETTINGS_FILE = DEFAULT_FILE.parent / "airflow_settings.yaml"
# Schedules the advice may propose instead of a dataset's own, when a slower one would fit.
SCHEDULES = (
    ("every 5 minutes", "*/5 * * * *"),
    ("every 10 minutes", "*/10 * * * *"),
    ("every 15 minutes", "*/15 * * * *"),
    ("every 30 minutes", "*/30 * * * *"),
    ("hourly", "0 * * * *"),
    ("every 2 hours", "0 */2 * * *"),
    ("every 3 hours", "0 */3 * * *"),
    ("every 6 hours", "0 */6 * * *"),
    ("every 12 hours", "0 */12 * * *"),
    ("daily", "0 0 * * *"),
    ("every other day", "0 0 */2 * *"),
    ("twice a week", "0 0 * * 1,4"),
    ("weekly", "0 0 * * 1"),
    ("monthly", "0 0 1 * *"),
)
# Of the datasets that take most of a limit, how many the advice tries before giving up on them.
ADVICE_DATASETS = 3

Sizes = Mapping[str, "int | Mapping[str, int]"]


class BudgetError(ValueError):
    """The configuration does not fit its APIs' limits (or its budget cannot be computed); the message
    lists every problem."""


# --------------------------------------------------------------------------------------------------
# Cron ticks over the window
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ticks:
    """When a cron fires within the window: how often, by UTC hour and day, and the shortest gap
    between two runs (its cadence at its tightest)."""

    schedule: str
    count: int
    per_hour: Mapping[datetime, int]
    per_day: Mapping[date, int]
    shortest_gap: timedelta


@lru_cache(maxsize=256)
def ticks(schedule: str) -> Ticks:
    """The ticks of ``schedule`` in the 30 days from :data:`WINDOW_START`, counted with croniter."""
    from croniter import croniter

    end = WINDOW_START + timedelta(days=WINDOW_DAYS)
    at = croniter(schedule, WINDOW_START - timedelta(seconds=1))
    seen: list[datetime] = []
    while (tick := at.get_next(datetime)) < end:
        seen.append(tick)
    following = [*seen, tick]  # the first tick after the window bounds the last gap
    gaps = [b - a for a, b in itertools.pairwise(following)]
    if not gaps:  # fires less than once in the window: the gap to the next run after it
        first = at.get_next(datetime)
        gaps = [first - tick]
    return Ticks(schedule, len(seen), Counter(t.replace(minute=0, second=0) for t in seen),
                 Counter(t.date() for t in seen), min(gaps))


# --------------------------------------------------------------------------------------------------
# One cycle of one dataset
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DatasetBudget:
    """One dataset's figures: per cycle, and how many cycles the window holds."""

    name: str
    api: str
    schedule: str
    status: str  # "on", "off" (switched off), "skipped" (the plan may not call its endpoint)
    note: str  # what a cycle covers (top N, ids, records), or why it counts nothing
    requests: int = 0  # per cycle: requests (each with all its pages)
    calls: int = 0  # per cycle: HTTP calls
    credits: int = 0  # per cycle
    cycles: int = 0  # in the 30-day window
    shortest_gap: timedelta = timedelta(days=1)

    @property
    def cycles_per_day(self) -> float:
        return self.cycles / WINDOW_DAYS

    @property
    def calls_per_month(self) -> int:
        return self.calls * self.cycles

    @property
    def credits_per_month(self) -> int:
        return self.credits * self.cycles

    @property
    def calls_per_day(self) -> float:
        return self.calls_per_month / WINDOW_DAYS

    @property
    def credits_per_day(self) -> float:
        return self.credits_per_month / WINDOW_DAYS


def _pages(paginator, records: int, wanted: int | None) -> list[int]:
    """Records on each page of a request for ``records`` records: the fewest calls the paginator allows
    (``calls_for``), each as large as it allows for ``wanted`` (``size_for``)."""
    # a top N: the fewest pages that hold it; a whole listing: as its paging ends (maybe an empty page)
    calls = paginator.calls_for(records) if wanted is not None else paginator.calls_for_all(records)
    size = paginator.size_for(wanted) if hasattr(paginator, "size_for") else max(records, 1)
    return [max(0, min(size, records - i * size)) for i in range(calls)]


def _ids_in(call: catalog.Call, spec: catalog.Spec) -> int:
    if call.path_values:
        return 1
    return len(str(call.params.get(spec.id_param) or "").split(","))


def _size(sizes: Sizes | None, name: str, group: str | None) -> int | None:
    value = (sizes or {}).get(name)
    if isinstance(value, Mapping):
        value = value.get(group) if group else None
    return None if value is None else int(value)


def cycle(spec: catalog.Spec, config: Config, sizes: Sizes | None = None) -> tuple[int, int, int, str]:
    """``(requests, calls, credits, what)`` of one cycle of ``spec`` under ``config``.

    A listing request counts its pages (top N, else the measured size in ``sizes`` or the spec's
    ``expected_records``; one page when nothing tells its size), each page's credits ``Credits.cost``
    of its records and ``convert`` currencies. A per-id dataset counts the calls
    :func:`cryptoflow.catalog.requests_for` makes of ``id_count`` ids per group (per network for DEX
    pairs), each call's credits from the ids it carries (times ``count`` periods for an endpoint that
    charges per data point). For a per-id dataset, ``sizes[name]`` caps the ids of each group (a listing
    that lists fewer)."""
    endpoint = get_api(spec.api).endpoint(spec.endpoint)
    cadence = config.dataset(spec.name).cadence
    if spec.per == "id":
        groups = list(config.dex.networks) if spec.ids and spec.ids.per_network else [None]
        ids: dict[str | None, list[str]] = {}
        for group in groups:
            count = spec.id_count(config)
            cap = _size(sizes, spec.name, group)
            ids[group] = [f"id{i}" for i in range(count if cap is None else min(count, cap))]
        calls = catalog.requests_for(spec, config, cadence, ids)
        credits = 0
        for call in calls:
            params = {**endpoint.params, **call.params}
            counted = endpoint.max_count and str(params.get("count", "")).isdigit()
            periods = int(params["count"]) if counted else 1
            credits += endpoint.credits.cost(_ids_in(call, spec) * periods, converts_in(params))
        per_group = len(next(iter(ids.values()), []))
        what = f"{per_group:,} ids" + (f" x {len(groups)} networks" if len(groups) > 1 or groups[0] else "")
        return len(calls), len(calls), credits, f"{what}, {spec.per_call()} per call"
    wanted = spec.wanted_for(config)
    requests = catalog.requests_for(spec, config, cadence)
    calls = credits = 0
    measured = False
    listed = []
    for request in requests:
        params = {**endpoint.params, **request.params}
        size = _size(sizes, spec.name, params.get("network_slug"))
        measured |= size is not None
        records = wanted or (size if size is not None else spec.expected_records) or 1
        listed.append(records)
        pages = _pages(endpoint.paginator, records, wanted)
        calls += len(pages)
        credits += sum(endpoint.credits.cost(n, converts_in(params)) for n in pages)
    if wanted:
        what = f"top {wanted:,}"
    elif spec.expected_records is None and not measured:
        what = "one answer"
    elif len(set(listed)) > 1:
        what = f"{' + '.join(f'{n:,}' for n in listed)} records ({'measured' if measured else 'estimate'})"
    else:
        what = f"{listed[0]:,} records ({'measured' if measured else 'estimate'})"
    if spec.per == "network" and len(set(listed)) <= 1:
        what += f" x {len(requests)} networks"
    return len(requests), calls, credits, what


def dataset_budget(name: str, config: Config, plan: str, sizes: Sizes | None = None) -> DatasetBudget:
    """One dataset's figures under ``config`` with its API on ``plan``."""
    spec = catalog.spec(name)
    dataset = config.dataset(name)
    api = get_api(spec.api)
    endpoint = api.endpoint(spec.endpoint)
    t = ticks(dataset.schedule)
    base = DatasetBudget(name, spec.api, dataset.schedule, "on", "", cycles=t.count,
                         shortest_gap=t.shortest_gap)
    if not dataset.enabled:
        return replace(base, status="off", note="off", cycles=0)
    if not endpoint.allowed_on(plan):
        allowed = ", ".join(p for p in api.plans if p in endpoint.plans)
        return replace(base, status="skipped", note=f"skipped on plan {plan} (plans that may: {allowed})",
                       cycles=0)
    requests, calls, credits, what = cycle(spec, config, sizes)
    return replace(base, note=what, requests=requests, calls=calls, credits=credits)


@dataclass(frozen=True)
class HistoryBudget:
    """One history DAG's figures: its catchup (one-off: every window from ``start_days_ago`` to today,
    cut to the plan's history depth), and what it spends once caught up (a run every ``window_days``)."""

    name: str
    api: str
    status: str  # "on", "off", "skipped" (the plan may not call the endpoint)
    coins: int = 0  # ids a run asks for (1 for a series)
    days: int = 0  # the catchup's depth: start_days_ago, cut to the plan's reach
    window_days: int = 0
    catchup_calls: int = 0
    catchup_credits: int = 0
    run_calls: int = 0  # one run of window_days once caught up
    unit: str = "coins"  # what the ids are (HistorySpec.unit): top_n counts coins only
    lane_per_minute: float = 0.0  # history's own lane of the limiter: (1 - history.live_share) x the limit
    note: str = ""

    @property
    def catchup_minutes(self) -> float:
        return self.catchup_calls / self.lane_per_minute if self.lane_per_minute else math.inf

    @property
    def calls_per_month(self) -> int:
        """Once caught up: a run of one window each ``window_days``."""
        return math.ceil(self.run_calls * WINDOW_DAYS / self.window_days) if self.status == "on" else 0


def history_budget(name: str, config: Config, plan: str) -> HistoryBudget:
    """One history DAG's figures under ``config`` with its API on ``plan``: the calls each run makes and
    the credits they cost by the endpoint's rule (:meth:`cryptoflow.catalog.HistorySpec.cost`)."""
    from cryptoflow.catalog import history_spec

    spec, dataset = history_spec(name), config.history_dataset(name)
    if not dataset.enabled or not config.api(spec.api).enabled:
        return HistoryBudget(name, spec.api, "off", note=f"off (history.{name}.enabled)")
    endpoint = get_api(spec.api).endpoint(spec.endpoint)
    if not endpoint.allowed_on(plan):
        allowed = ", ".join(p for p in get_api(spec.api).plans if p in endpoint.plans)
        return HistoryBudget(name, spec.api, "skipped",
                             note=f"skipped on plan {plan} (plans that may: {allowed})")
    depth = spec.history_limit(plan)
    days = dataset.start_days_ago if depth is None else min(dataset.start_days_ago, depth)
    ids = spec.id_count(config)
    calls, credits = spec.catchup_cost(ids, days, dataset.window_days)
    run_calls, _ = spec.catchup_cost(ids, dataset.window_days, dataset.window_days)
    cut = f", cut to plan {plan}'s {depth}" if depth is not None and depth < dataset.start_days_ago else ""
    lane = config.api(spec.api).calls_per_minute * (1 - config.history_live_share)
    what = spec.unit if spec.series else f"{ids} {spec.unit}"
    return HistoryBudget(name, spec.api, "on", coins=ids, days=days, window_days=dataset.window_days,
                         catchup_calls=calls, catchup_credits=credits, run_calls=run_calls,
                         lane_per_minute=lane, unit=spec.unit, note=f"{days} days{cut} x {what}")


def _catchup_credits(name: str, ids: int, days: int, window_days: int) -> int:
    from cryptoflow.catalog import history_spec

    return history_spec(name).catchup_cost(ids, days, window_days)[1]


# --------------------------------------------------------------------------------------------------
# One API
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ApiBudget:
    """One API's figures and limits, and what does not fit (each problem with its remedy)."""

    api: str
    title: str
    plan: str
    enabled: bool
    calls_per_minute: float  # apis.<api>.calls_per_minute
    plan_calls_per_minute: int
    daily_limit: int | None  # None: unlimited
    daily_source: str  # "apis.<api>.daily_credits" or "plan <plan>"
    monthly_limit: int | None
    monthly_source: str
    datasets: tuple[DatasetBudget, ...]
    problems: tuple[str, ...] = ()
    history: tuple[HistoryBudget, ...] = ()

    @property
    def catchup_month_credits(self) -> int:
        """Credits of the month a catchup runs in: the live datasets' month and every catchup."""
        return self.credits_per_month + sum(h.catchup_credits for h in self.history)

    @property
    def calls_per_month(self) -> int:
        return sum(d.calls_per_month for d in self.datasets)

    @property
    def credits_per_month(self) -> int:
        return sum(d.credits_per_month for d in self.datasets)

    @property
    def calls_per_day(self) -> float:
        return self.calls_per_month / WINDOW_DAYS

    @property
    def credits_per_day(self) -> float:
        return self.credits_per_month / WINDOW_DAYS

    @property
    def average_calls_per_minute(self) -> float:
        return self.calls_per_day / (24 * 60)

    def _by(self, bucket: str, amount: str) -> dict[str, Counter]:
        """Per dataset that counts: ``amount`` per cycle times its runs in each hour or day."""
        out = {}
        for d in self.datasets:
            if d.status == "on" and getattr(d, amount):
                runs = getattr(ticks(d.schedule), bucket)
                out[d.name] = Counter({when: n * getattr(d, amount) for when, n in runs.items()})
        return out

    def busiest(self, bucket: str, amount: str) -> tuple[datetime | date | None, int, dict[str, int]]:
        """The busiest hour (``bucket="per_hour"``) or day (``"per_day"``) for ``amount`` (``"calls"`` or
        ``"credits"``): when, how much, and how much of it each dataset needs."""
        by = self._by(bucket, amount)
        total: Counter = Counter()
        for counts in by.values():
            total.update(counts)
        if not total:
            return None, 0, {}
        when = min(total, key=lambda k: (-total[k], k))
        shares = {name: counts[when] for name, counts in by.items() if counts[when]}
        return when, total[when], dict(sorted(shares.items(), key=lambda kv: -kv[1]))

    @property
    def busiest_hour(self) -> tuple:
        """``(hour, calls, calls by dataset)`` of the busiest UTC hour of the window."""
        return self.busiest("per_hour", "calls")

    @property
    def busiest_day_credits(self) -> tuple:
        """``(day, credits, credits by dataset)`` of the day of the window that spends the most."""
        return self.busiest("per_day", "credits")

    def largest_cycle(self) -> DatasetBudget | None:
        on = [d for d in self.datasets if d.status == "on" and d.calls]
        return max(on, key=lambda d: (d.calls, d.name)) if on else None

    def minutes(self, dataset: DatasetBudget) -> float:
        """Minutes one cycle of ``dataset`` takes at the configured rate."""
        return dataset.calls / self.calls_per_minute

    @property
    def fits(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class Budget:
    """Every API's budget under one configuration."""

    source: str
    apis: Mapping[str, ApiBudget]

    @property
    def problems(self) -> list[str]:
        return [p for api in self.apis.values() for p in api.problems]

    @property
    def fits(self) -> bool:
        return not self.problems


def resolve_plans(plans: Mapping[str, str | None] | None) -> dict[str, str]:
    """Every API's plan: ``plans[api]``, else the API's default; an unknown plan is a :class:`BudgetError`."""
    out = {}
    for name, api in APIS.items():
        plan = (plans or {}).get(name) or api.default_plan
        if plan not in api.plans:
            raise BudgetError(f"{name}: no plan {plan!r}; {api.title}'s plans: {', '.join(api.plans)}")
        out[name] = plan
    return out


def _figures(config: Config, plans: Mapping[str, str], sizes: Sizes | None) -> dict[str, ApiBudget]:
    out = {}
    for name, api in APIS.items():
        settings = config.api(name)
        plan = api.plan(plans[name])
        daily, monthly = settings.daily_credits, settings.monthly_credits
        out[name] = ApiBudget(
            api=name, title=api.title, plan=plan.name, enabled=settings.enabled,
            calls_per_minute=settings.calls_per_minute, plan_calls_per_minute=plan.calls_per_minute,
            daily_limit=plan.daily_credits if daily is None else daily,
            daily_source=f"plan {plan.name}" if daily is None else f"apis.{name}.daily_credits",
            monthly_limit=plan.monthly_credits if monthly is None else monthly,
            monthly_source=f"plan {plan.name}" if monthly is None else f"apis.{name}.monthly_credits",
            datasets=tuple(dataset_budget(ds, config, plan.name, sizes)
                           for ds, spec in catalog.SPECS.items() if spec.api == name),
            history=tuple(history_budget(h, config, plan.name) for h in _history_names(name)),
        )
    return out


def _history_names(api: str) -> list[str]:
    from cryptoflow.catalog import HISTORY_SPECS

    return [name for name, spec in HISTORY_SPECS.items() if spec.api == api]


def history_problems(b: ApiBudget) -> list[str]:
    """A month, or a day, that cannot carry the live datasets and a catchup, with the largest history
    settings that fit. A catchup's runs follow each other as fast as the limiter lets them, so its
    credits come in the day it starts; a call past the daily or monthly credits fails its task
    (:class:`cryptoflow.limits.BudgetExhausted`). Said only when the live datasets fit on their own
    (else their remedy comes first)."""
    if not b.enabled:
        return []
    out = []
    caps = (("month", b.monthly_limit, b.monthly_source, b.credits_per_month),
            ("day", b.daily_limit, b.daily_source, b.busiest_day_credits[1]))
    for period, limit, source, live in caps:
        if limit is None or live > limit:
            continue
        catchups = sum(h.catchup_credits for h in b.history if h.status == "on")
        if live + catchups <= limit:
            continue
        excess = live + catchups - limit
        named = [h for h in b.history if h.status == "on" and h.catchup_credits >= excess]
        for h in named or sorted((h for h in b.history if h.status == "on"),
                                 key=lambda h: -h.catchup_credits)[:1]:
            room = limit - live - catchups + h.catchup_credits  # what this catchup may use
            fixes = []
            coins = _largest(h.coins, lambda n, h=h, room=room: _catchup_credits(h.name, n, h.days,
                                                                                 h.window_days) <= room)
            if coins is not None and h.unit == "coins":
                fixes.append(f"lower history.{h.name}.top_n to {coins:,} (from {h.coins:,})")
            days = _largest(h.days, lambda d, h=h, room=room: _catchup_credits(h.name, h.coins, d,
                                                                               h.window_days) <= room)
            if days is not None:
                fixes.append(f"lower history.{h.name}.start_days_ago to {days:,} (from {h.days:,})")
            out.append(f"{b.api}: the catchup of {h.name} needs {h.catchup_credits:,} credits beside the "
                       f"live datasets' {live:,} in the {period} it runs, over {limit:,} ({source}): "
                       + (" or ".join(fixes) or "switch it off"))
        break  # the month's advice covers the day's
    return out


def evaluate(config: Config, plans: Mapping[str, str | None] | None = None,
             sizes: Sizes | None = None) -> Budget:
    """The budget of ``config`` with each API on ``plans[api]`` (else its default plan), each misfit
    with its remedy. ``sizes``: measured records of whole listings by dataset (an int per request, or
    by network slug), instead of the specs' estimates."""
    resolved = resolve_plans(plans)
    figures = _figures(config, resolved, sizes)
    advisor = _Advisor(config, resolved, sizes)
    return Budget(config.source, {name: replace(b, problems=(*advisor.problems(b), *history_problems(b)))
                                  for name, b in figures.items()})


def check(config: Config, plans: Mapping[str, str | None] | None = None,
          sizes: Sizes | None = None) -> list[str]:
    """What does not fit (each naming the setting to change and by how much); empty when all fits."""
    return evaluate(config, plans, sizes).problems


def require_fit(config: Config, plans: Mapping[str, str | None] | None = None,
                sizes: Sizes | None = None) -> Budget:
    """The budget, or :class:`BudgetError` listing every problem when something does not fit."""
    budget = evaluate(config, plans, sizes)
    if budget.problems:
        raise BudgetError(f"{budget.source} does not fit its APIs' limits "
                          f"({len(budget.problems)} problem{'s' if len(budget.problems) > 1 else ''}):\n"
                          + "\n".join(f"  - {p}" for p in budget.problems))
    return budget


# --------------------------------------------------------------------------------------------------
# What does not fit, and what would
# --------------------------------------------------------------------------------------------------


def _with_dataset(config: Config, name: str, **changes) -> Config:
    datasets = dict(config.datasets)
    datasets[name] = replace(datasets[name], **changes)
    return replace(config, datasets=datasets)


def _largest(current: int, fits: Callable[[int], bool]) -> int | None:
    """The largest ``k`` below ``current`` (and at least 1) for which ``fits(k)``; ``None`` if none
    (the figures grow with ``k``)."""
    if current <= 1 or not fits(1):
        return None
    low, high = 1, current - 1
    while low < high:
        mid = (low + high + 1) // 2
        if fits(mid):
            low = mid
        else:
            high = mid - 1
    return low


def _knobs(name: str, config: Config) -> list[tuple[str, int, Callable[[int], Config]]]:
    """The size settings of dataset ``name``: ``(setting, current value, config with value k)``."""
    spec = catalog.spec(name)
    out: list[tuple[str, int, Callable[[int], Config]]] = []
    if spec.per == "id" and spec.ids and not spec.ids.per_network:
        out.append((f"datasets.{name}.top_n", spec.id_count(config),
                    lambda k: _with_dataset(config, name, top_n=k)))
    if spec.per == "id" and spec.ids and spec.ids.per_network:
        out.append(("dex.pairs_per_network", config.dex.pairs_per_network,
                    lambda k: replace(config, dex=replace(config.dex, pairs_per_network=k))))
    if spec.wanted == "top_n":
        out.append(("universe.top_n", config.universe.top_n,
                    lambda k: replace(config, universe=replace(config.universe, top_n=k))))
    if spec.per == "network" or (spec.ids and spec.ids.per_network):
        out.append(("dex.networks", len(config.dex.networks),
                    lambda k: replace(config, dex=replace(config.dex, networks=config.dex.networks[:k]))))
    return out


def _larger_plan(api: Api, current: str, good: Callable[[Plan], bool]) -> Plan | None:
    """The smallest plan of ``api`` (by monthly credits, then rate) other than ``current`` for which
    ``good``."""
    def size(plan: Plan) -> tuple[float, int]:
        return (math.inf if plan.monthly_credits is None else plan.monthly_credits, plan.calls_per_minute)

    fitting = [p for p in api.plans.values() if p.name != current and good(p)]
    return min(fitting, key=size) if fitting else None


def _n(value: float | None) -> str:
    if value is None:
        return "unlimited"
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.2f}".rstrip("0").rstrip(".") if abs(value) >= 0.01 else f"{value:.2g}"


def _span(delta: timedelta) -> str:
    minutes = delta.total_seconds() / 60
    for unit, size in (("day", 1440), ("h", 60)):
        if minutes >= size and minutes % size == 0:
            count = int(minutes // size)
            return f"{count} {unit}{'s' if unit == 'day' and count > 1 else ''}"
    return f"{_n(minutes)} min"


def _connection(api: str, plan: str) -> str:
    return f"set plan: {plan} in the conn_extra of connection {api} in {SETTINGS_FILE.name}"


def _hour(b: ApiBudget, hour: datetime) -> str:
    """The busiest hour, and its day when the other days of the window are not as busy then."""
    by = b._by("per_hour", "calls")
    def load(at: datetime) -> int:
        return sum(counts[at] for counts in by.values())
    first = hour.replace(day=WINDOW_START.day, month=WINDOW_START.month, year=WINDOW_START.year)
    daily = all(load(first + timedelta(days=k)) == load(hour) for k in range(WINDOW_DAYS))
    span = f"{hour:%H:%M}-{hour + timedelta(hours=1):%H:%M} UTC"
    return span if daily else f"{span} on {hour:%a %Y-%m-%d} of the window"


class _Advisor:
    """Finds the problems of one API's figures and, for each, the settings that would fix it, by
    recomputing the figures with each setting changed."""

    def __init__(self, config: Config, plans: Mapping[str, str], sizes: Sizes | None) -> None:
        self.config, self.plans, self.sizes = config, plans, sizes

    def _holds(self, config: Config, api: str, holds: Callable[[ApiBudget], bool]) -> bool:
        return holds(_figures(config, self.plans, self.sizes)[api])

    def dataset_fixes(self, api: str, contributors: Sequence[str], holds: Callable[[ApiBudget], bool]
                      ) -> list[str]:
        """For the first of ``contributors`` that can fix it alone: the largest size that would hold, the
        most frequent slower schedule that would, else switching it off."""
        for name in contributors[:ADVICE_DATASETS]:
            fixes = []
            for setting, current, apply in _knobs(name, self.config):
                best = _largest(current, lambda k, apply=apply: self._holds(apply(k), api, holds))
                if best is not None:
                    fixes.append(f"keep {best} of the {current} {setting}" if setting == "dex.networks"
                                 else f"lower {setting} to {best:,} (from {current:,})")
            own = ticks(self.config.dataset(name).schedule).count
            for label, cron in sorted(SCHEDULES, key=lambda s: -ticks(s[1]).count):
                if ticks(cron).count < own and self._holds(_with_dataset(self.config, name, schedule=cron),
                                                          api, holds):
                    fixes.append(f"set datasets.{name}.schedule to {label} ('{cron}')")
                    break
            if fixes:
                return fixes
        for name in contributors[:1]:
            if self._holds(_with_dataset(self.config, name, enabled=False), api, holds):
                return [f"switch {name} off (datasets.{name}.enabled: false)"]
        return []

    def credit_fix(self, b: ApiBudget, period: str, need: int) -> str | None:
        """The API-level remedy for ``need`` credits a ``period`` ("day" or "month")."""
        api = get_api(b.api)
        attr = "daily_credits" if period == "day" else "monthly_credits"
        setting = f"apis.{b.api}.{attr}"
        configured = getattr(self.config.api(b.api), attr)
        plan_limit = getattr(api.plan(b.plan), attr)
        if configured is not None and (plan_limit is None or plan_limit >= need):
            return f"raise {setting} to {need:,} (plan {b.plan} allows {_n(plan_limit)})"
        bigger = _larger_plan(api, b.plan, lambda p: (getattr(p, attr) is None or getattr(p, attr) >= need)
                              and p.calls_per_minute >= b.calls_per_minute)
        if bigger is None:
            return None
        then = f", then raise {setting} to {need:,} or null" if configured is not None else ""
        return (f"move to plan {bigger.name} ({_n(getattr(bigger, attr))} credits/{period}: "
                f"{_connection(b.api, bigger.name)}){then}")

    def rate_fix(self, b: ApiBudget, need: int) -> str | None:
        setting = f"apis.{b.api}.calls_per_minute"
        if need <= b.plan_calls_per_minute:
            return f"raise {setting} to {need:,} (plan {b.plan} allows {b.plan_calls_per_minute:,}/min)"
        bigger = _larger_plan(get_api(b.api), b.plan, lambda p: p.calls_per_minute >= need)
        if bigger is None:
            return None
        return (f"move to plan {bigger.name} ({bigger.calls_per_minute:,}/min: "
                f"{_connection(b.api, bigger.name)}) and raise {setting} to {need:,}")

    @staticmethod
    def _join(fixes: Sequence[str | None]) -> str:
        fixes = [f for f in fixes if f]
        if not fixes:
            return "no single setting fixes it; switch datasets off or move to a larger plan"
        return ", or ".join(fixes)

    def problems(self, b: ApiBudget) -> list[str]:
        if not b.enabled:
            return []
        out = []
        api, cpm = b.api, b.calls_per_minute
        if cpm > b.plan_calls_per_minute:
            bigger = _larger_plan(get_api(api), b.plan, lambda p: p.calls_per_minute >= cpm)
            move = (f", or move to plan {bigger.name} ({bigger.calls_per_minute:,}/min: "
                    f"{_connection(api, bigger.name)})" if bigger else "")
            out.append(f"{api}: configured calls_per_minute {_n(cpm)} > plan {b.plan}'s "
                       f"{b.plan_calls_per_minute:,}: lower apis.{api}.calls_per_minute to "
                       f"{b.plan_calls_per_minute:,}{move}")
        plan = get_api(api).plan(b.plan)
        for attr, period in (("daily_credits", "day"), ("monthly_credits", "month")):
            configured, allowed = getattr(self.config.api(api), attr), getattr(plan, attr)
            if configured is not None and allowed is not None and configured > allowed:
                out.append(f"{api}: apis.{api}.{attr} {configured:,} > plan {b.plan}'s {allowed:,} a "
                           f"{period} (the API stops at {allowed:,}): lower apis.{api}.{attr} to "
                           f"{allowed:,}, or null for the plan's own")
        for d in b.datasets:
            if d.status != "on" or not d.calls:
                continue
            cadence = d.shortest_gap.total_seconds() / 60
            if b.minutes(d) > cadence:
                def holds(x: ApiBudget, name=d.name, schedule=d.schedule) -> bool:
                    mine = next(e for e in x.datasets if e.name == name)
                    return mine.status != "on" or x.minutes(mine) <= mine.shortest_gap.total_seconds() / 60
                need = math.ceil(d.calls / cadence)
                out.append(f"{api}: a cycle of {d.name} takes {_n(round(b.minutes(d), 1))} min "
                           f"({d.calls:,} calls at {_n(cpm)}/min) > its {_span(d.shortest_gap)} cadence "
                           f"('{d.schedule}'): "
                           + self._join([self.rate_fix(b, need), *self.dataset_fixes(api, [d.name], holds)]))
        hour, calls, shares = b.busiest_hour
        capacity = cpm * 60
        if hour is not None and calls > capacity:
            out.append(f"{api}: the busiest hour ({_hour(b, hour)}) needs {calls:,} calls > "
                       f"{_n(capacity)} ({_n(cpm)}/min x 60): "
                       + self._join([self.rate_fix(b, math.ceil(calls / 60)),
                                     *self.dataset_fixes(api, list(shares),
                                                         lambda x: x.busiest_hour[1] <= capacity)]))
        day, credits, shares = b.busiest_day_credits
        if day is not None and b.daily_limit is not None and credits > b.daily_limit:
            limit = b.daily_limit
            out.append(f"{api}: credits/day {credits:,} on the busiest day > {limit:,} ({b.daily_source}): "
                       + self._join([*self.dataset_fixes(api, list(shares),
                                                         lambda x: x.busiest_day_credits[1] <= limit),
                                     self.credit_fix(b, "day", credits)]))
        if b.monthly_limit is not None and b.credits_per_month > b.monthly_limit:
            limit = b.monthly_limit
            ranked = sorted((d for d in b.datasets if d.credits_per_month),
                            key=lambda d: -d.credits_per_month)
            out.append(f"{api}: credits/month {b.credits_per_month:,} > {limit:,} ({b.monthly_source}): "
                       + self._join([*self.dataset_fixes(api, [d.name for d in ranked],
                                                         lambda x: x.credits_per_month <= limit),
                                     self.credit_fix(b, "month", b.credits_per_month)]))
        return out


# --------------------------------------------------------------------------------------------------
# Printing, the settings files, the command line
# --------------------------------------------------------------------------------------------------


def plans_from_settings(path: str | os.PathLike | None = None) -> dict[str, str]:
    """Each API's plan from its connection's ``conn_extra`` ``plan`` in ``airflow_settings.yaml`` (else
    the API's default plan)."""
    from cryptoflow.settings import load_settings

    settings = load_settings(Path(path or SETTINGS_FILE))
    out = {}
    for name, api in APIS.items():
        conn = next((c for c in settings.connections if c.conn_id == api.conn_id), None)
        out[name] = (conn.plan if conn else None) or api.default_plan
    return out


def render(budget: Budget) -> str:
    """The table ``make budget`` prints."""
    lines = [f"budget of {budget.source}: each cron's runs counted over {WINDOW_DAYS} days from "
             f"{WINDOW_START:%Y-%m-%d} UTC; a month is those {WINDOW_DAYS} days"]
    head = ("dataset", "schedule", "req", "calls", "credits", "cycles/day", "calls/day", "credits/day",
            "covers")
    for b in budget.apis.values():
        lines.append("")
        off = "" if b.enabled else f": off (apis.{b.api}.enabled)"
        lines.append(f"{b.api} ({b.title}), plan {b.plan}{off}")
        rows = [head]
        for d in b.datasets:
            counted = d.status == "on"
            per_cycle = (f"{v:,}" if counted else "-" for v in (d.requests, d.calls, d.credits))
            rows.append((d.name, d.schedule, *per_cycle, _n(d.cycles_per_day) if counted else "-",
                         _n(round(d.calls_per_day, 2)), _n(round(d.credits_per_day, 2)), d.note))
        rows.append(("total", "", "", "", "", "", _n(round(b.calls_per_day, 2)),
                     _n(round(b.credits_per_day, 2)), ""))
        widths = [max(len(r[i]) for r in rows) for i in range(len(head) - 1)]
        for row in rows:
            cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1]),
                     *(c.rjust(w) for c, w in zip(row[2:-1], widths[2:], strict=True)), row[-1]]
            lines.append("  " + "  ".join(cells).rstrip())
        if not b.enabled:
            continue
        lines.append(f"  rate     {_n(b.calls_per_minute)} calls/min configured "
                     f"(apis.{b.api}.calls_per_minute), plan {b.plan} allows {b.plan_calls_per_minute:,}; "
                     f"{_n(round(b.average_calls_per_minute, 2))} calls/min on average")
        largest = b.largest_cycle()
        if largest is not None:
            hour, calls, shares = b.busiest_hour
            top = ", ".join(f"{n} {c:,}" for n, c in list(shares.items())[:3])
            lines.append(f"  peak     largest cycle {largest.name}: {largest.calls:,} calls = "
                         f"{_n(round(b.minutes(largest), 1))} min at {_n(b.calls_per_minute)}/min (cadence "
                         f"{_span(largest.shortest_gap)}); busiest hour {_hour(b, hour)}: {calls:,} calls of "
                         f"{_n(b.calls_per_minute * 60)} ({top})")
        day_credits = b.busiest_day_credits[1]
        lines.append(f"  credits  {_n(round(b.credits_per_day, 2))}/day on average, {day_credits:,} on the "
                     f"busiest day, of {_n(b.daily_limit)} ({b.daily_source}); {b.credits_per_month:,} per "
                     f"{WINDOW_DAYS} days of {_n(b.monthly_limit)} ({b.monthly_source})")
        for h in b.history:
            if h.status != "on":
                lines.append(f"  history  {h.name}: {h.note}")
                continue
            lines.append(f"  history  {h.name}: catchup {h.note} = {h.catchup_calls:,} calls, "
                         f"{h.catchup_credits:,} credits, {_n(round(h.catchup_minutes, 1))} min at "
                         f"{_n(round(h.lane_per_minute, 2))}/min (history's lane); then "
                         f"{h.calls_per_month:,} calls per {WINDOW_DAYS} days (a run every {h.window_days} "
                         f"days); the month of a catchup: {b.catchup_month_credits:,} credits of "
                         f"{_n(b.monthly_limit)}")
        if b.fits:
            lines.append("  verdict  fits")
        else:
            lines.append("  verdict  DOES NOT FIT")
            lines.extend(f"    - {p.removeprefix(f'{b.api}: ')}" for p in b.problems)
    lines.append("")
    lines.append("fits" if budget.fits else f"DOES NOT FIT: {len(budget.problems)} problem(s) above")
    return "\n".join(lines)


def summary(budget: Budget) -> list[str]:
    """One short line per API (what ``make demo`` logs)."""
    out = []
    for b in budget.apis.values():
        if not b.enabled:
            out.append(f"budget: {b.api} off")
            continue
        hour_calls = b.busiest_hour[1]
        out.append(f"budget: {b.api} on plan {b.plan}: {_n(round(b.calls_per_day, 1))} calls/day (busiest "
                   f"hour {hour_calls:,} of {_n(b.calls_per_minute * 60)}), credits "
                   f"{_n(round(b.credits_per_day, 1))}/day of {_n(b.daily_limit)}, "
                   f"{b.credits_per_month:,}/month of {_n(b.monthly_limit)}: "
                   + ("fits" if b.fits else "DOES NOT FIT"))
    return out


def preflight(settings_file: str | os.PathLike | None = None,
              environ: Mapping[str, str] | None = None) -> list[str]:
    """What ``make demo`` checks before it starts anything: the configuration in force (``environ``'s
    ``CRYPTOFLOW__*`` overrides, default this process's) on the plans of ``settings_file``'s
    connections. Returns the summary lines; raises :class:`BudgetError` listing every problem."""
    config = load_config(environ=os.environ if environ is None else environ)
    return summary(require_fit(config, plans_from_settings(settings_file)))


def _pairs(values: Sequence[str], what: str) -> dict[str, str]:
    out = {}
    for value in values:
        key, sep, rest = value.partition("=")
        if not sep or not key.strip() or not rest.strip():
            raise argparse.ArgumentTypeError(f"{what} must be NAME=VALUE, got {value!r}")
        out[key.strip()] = rest.strip()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cryptoflow.budget``: print the budget; exit 1 when it does not fit, 2 when it cannot
    be computed."""
    parser = argparse.ArgumentParser(prog="python -m cryptoflow.budget", description=__doc__.split("\n")[0])
    parser.add_argument("--plan", action="append", default=[], metavar="API=PLAN",
                        help="the plan of an API, over its connection's in airflow_settings.yaml "
                             "(e.g. coingecko=analyst); repeatable")
    parser.add_argument("--size", action="append", default=[], metavar="DATASET=RECORDS",
                        help="the measured records of a whole listing, over its estimate; repeatable")
    parser.add_argument("--settings", default=None,
                        help=f"the Airflow settings file (default {SETTINGS_FILE})")
    args = parser.parse_args(argv)
    from cryptoflow.settings import SettingsError

    try:
        plans = plans_from_settings(args.settings)
        override = _pairs(args.plan, "--plan")
        unknown = sorted(set(override) - set(APIS))
        if unknown:
            raise BudgetError(f"--plan: no API {', '.join(unknown)}; known: {', '.join(APIS)}")
        plans.update(override)
        sizes = {}
        for name, n in _pairs(args.size, "--size").items():
            if not n.isdigit():
                raise BudgetError(f"--size {name}: records must be a whole number, got {n!r}")
            sizes[name] = int(n)
        unknown = sorted(set(sizes) - set(catalog.SPECS))
        if unknown:
            raise BudgetError(f"--size: no dataset {', '.join(unknown)}")
        budget = evaluate(load_config(), plans, sizes)
    except (argparse.ArgumentTypeError, ValueError) as exc:  # ConfigError, SettingsError, BudgetError
        kind = "configuration" if isinstance(exc, ConfigError | SettingsError) else "budget"
        print(f"{kind}: {exc}", file=sys.stderr)
        return 2
    print(render(budget))
    return 0 if budget.fits else 1


if __name__ == "__main__":
    sys.exit(main())
