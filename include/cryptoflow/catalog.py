"""Every dataset, described once: which endpoint it calls, with which parameters, for which ids.

A dataset is one ingest DAG (``dags/<name>.py``; its switch and cron are in ``cryptoflow.yaml``). Each
cycle it sends one or more requests to one endpoint of :mod:`cryptoflow.apis`:

- **one request** (``/coins/markets`` for the top N, ``/global``, ``listings/latest``, ...), all its pages;
- **one request per configured network** (DEX spot pairs of each network in ``dex.networks``);
- **requests over ids** taken from the latest landing of another dataset's listing
  (:class:`FromListing`): ``/coins/{id}`` once per coin of the top N, CMC ``info`` with 100 ids bundled
  per call, DEX pair quotes with 100 pair addresses bundled per call, DEX pair OHLCV one pair per call.

History datasets (:class:`HistorySpec`, one history DAG each: a past range per coin of another
dataset's listing) are described here too, so the budget can price them without importing Airflow.

The DAG factory, the budget (``make budget``) and the benchmarks read these specs, so what a dataset
sends and what it is said to cost cannot drift apart. Pure: no I/O (the ids are read by
:mod:`cryptoflow.selections`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from cryptoflow.apis import get_api
from cryptoflow.config import DATASETS, Config

Params = Callable[[Config], Mapping[str, Any]]
# Requests per mapped task of a per-id dataset: enough paced calls to outweigh a task's own cost (about
# 0.2 s of Airflow's time), few enough that a failed batch costs little to redo (a batch lands in one
# transaction).
BATCH_CALLS = 25
NO_HISTORY = ("nowhere: the API keeps no past of this listing, so a past interval keeps what it landed "
              "then")


def _none(config: Config) -> Mapping[str, Any]:
    return {}


@dataclass(frozen=True)
class FromListing:
    """Ids read from the latest landing of ``dataset``'s listing (landed first if it never was).

    ``field`` is the id field of each listed record; ``match`` picks the listing's request (its
    currency); ``per_network``: one id list per configured DEX network, read from that network's
    listing."""

    dataset: str
    field: str
    match: Params = _none
    per_network: bool = False


@dataclass(frozen=True)
class Spec:
    """One dataset: what each cycle sends.

    - ``params``: over the endpoint's defaults, a function of the settings in force (the currency);
    - ``wanted``: ``"top_n"`` caps a listing at the universe's top N (the fewest, largest pages);
      ``None`` takes every page;
    - ``per``: ``"once"``, ``"network"`` (one request per DEX network, with ``network_slug``) or
      ``"id"`` (requests over ``ids``);
    - ``id_param``: where the ids go: a path placeholder (``{id}``: one id per call) or a query parameter
      bundling up to the endpoint's ``max_ids`` per call;
    - ``expected_records``: for a listing taken whole, about how many records the real API lists (the
      budget's estimate of its pages; measured sizes replace it in the benchmarks);
    - ``history``: where a past interval's data comes from (said when a past run is skipped).
    """

    name: str
    endpoint: str
    params: Params = _none
    wanted: Literal["top_n"] | None = None
    per: Literal["once", "network", "id"] = "once"
    ids: FromListing | None = None
    id_param: str | None = None
    expected_records: int | None = None
    history: str = NO_HISTORY
    extra: Callable[[Config, timedelta], Mapping[str, Any]] | None = field(default=None, repr=False)

    @property
    def api(self) -> str:
        return DATASETS[self.name][0]

    @property
    def path_id(self) -> bool:
        """Whether the id is part of the path (``/coins/{id}``): one call per id."""
        return self.id_param is not None and "{" + self.id_param + "}" in self.endpoint_path

    @property
    def endpoint_path(self) -> str:
        return get_api(self.api).endpoint(self.endpoint).path

    def per_call(self) -> int:
        """Ids one call carries."""
        if self.per != "id":
            return 1
        if self.path_id:
            return 1
        return get_api(self.api).endpoint(self.endpoint).max_ids or 1

    def wanted_for(self, config: Config) -> int | None:
        return config.universe.top_n if self.wanted == "top_n" else None

    def id_count(self, config: Config) -> int:
        """How many ids of each group (network) a cycle covers."""
        if self.ids is None:
            return 0
        if self.ids.per_network:
            return config.dex.pairs_per_network
        return config.dataset(self.name).coins(config.universe)

    def base_params(self, config: Config, cadence: timedelta) -> dict[str, Any]:
        out = dict(self.params(config))
        if self.extra is not None:
            out.update(self.extra(config, cadence))
        return out


@dataclass(frozen=True)
class Call:
    """One request of a cycle (all its pages): what :func:`cryptoflow.ingest.land_requests` sends."""

    params: dict[str, Any]
    path_values: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"params": self.params, "path_values": self.path_values}


def requests_for(spec: Spec, config: Config, cadence: timedelta,
                 ids: Mapping[str | None, Sequence[str]] | None = None) -> list[Call]:
    """The requests of one cycle. ``ids`` (for ``per="id"``) maps a network slug (or ``None``) to the
    ids of that group, in order."""
    base = spec.base_params(config, cadence)
    if spec.per == "once":
        return [Call(base)]
    if spec.per == "network":
        return [Call({**base, "network_slug": slug}) for slug in config.dex.networks]
    calls = []
    for group, group_ids in (ids or {}).items():
        params = {**base, **({"network_slug": group} if group else {})}
        if spec.path_id:
            calls.extend(Call(dict(params), {spec.id_param: i}) for i in group_ids)
            continue
        size = spec.per_call()
        for at in range(0, len(group_ids), size):
            calls.append(Call({**params, spec.id_param: ",".join(map(str, group_ids[at:at + size]))}))
    return calls


def _currency(config: Config) -> str:
    return config.universe.currency


def _liquidity(config: Config) -> Mapping[str, Any]:
    floor = config.dex.min_liquidity_usd
    return {"liquidity_min": str(floor)} if floor else {}


def _ohlcv_window(config: Config, cadence: timedelta) -> dict[str, Any]:
    # The latest complete hourly candles covering one cadence, plus one of overlap (the current hour is
    # counted but not returned): consecutive runs leave no gap; staging keeps one row per candle.
    return {"count": str(int(cadence / timedelta(hours=1)) + 2)}


SPECS: dict[str, Spec] = {spec.name: spec for spec in (
    Spec("coingecko_markets", "coins_markets", params=lambda c: {"vs_currency": _currency(c)}, wanted="top_n",
         history="the history endpoints (/coins/{id}/market_chart/range), not from this snapshot"),
    Spec("coingecko_global", "global"),
    Spec("coingecko_trending", "search_trending"),
    Spec("coingecko_exchanges", "exchanges", expected_records=1300),
    Spec("coingecko_coins_list", "coins_list", expected_records=17000),
    Spec("coingecko_coins", "coin", per="id", id_param="id",
         ids=FromListing("coingecko_markets", "id", match=lambda c: {"vs_currency": _currency(c)})),
    Spec("cmc_listings", "cryptocurrency_listings_latest",
         params=lambda c: {"convert": _currency(c).upper()}, wanted="top_n",
         history="the history endpoint (/v2/cryptocurrency/quotes/historical), not from this snapshot"),
    Spec("cmc_map", "cryptocurrency_map", expected_records=10000),
    Spec("cmc_info", "cryptocurrency_info", params=lambda c: {"skip_invalid": "true"}, per="id",
         id_param="id",
         ids=FromListing("cmc_listings", "id", match=lambda c: {"convert": _currency(c).upper()})),
    Spec("cmc_fear_and_greed", "fear_and_greed_latest",
         history="the history endpoint (/v3/fear-and-greed/historical), not from this snapshot"),
    Spec("cmc_global_metrics", "global_metrics_quotes_latest",
         history="the history endpoint (/v1/global-metrics/quotes/historical), not from this snapshot"),
    Spec("cmc_exchange_listings", "exchange_listings_latest", expected_records=800),
    Spec("cmc_dex_networks", "networks_list", expected_records=100),
    Spec("cmc_dex_spot_pairs", "spot_pairs_latest", per="network", params=_liquidity, expected_records=500),
    Spec("cmc_dex_pair_quotes", "pairs_quotes_latest", per="id", id_param="contract_address",
         ids=FromListing("cmc_dex_spot_pairs", "contract_address", per_network=True)),
    Spec("cmc_dex_pair_ohlcv", "pairs_ohlcv_historical", per="id", id_param="contract_address",
         ids=FromListing("cmc_dex_spot_pairs", "contract_address", per_network=True), extra=_ohlcv_window,
         history="the DEX OHLCV history, not from this snapshot of the latest candles"),
)}

if set(SPECS) != set(DATASETS):  # pragma: no cover - a dataset added to one registry and not the other
    raise RuntimeError(f"catalog and config disagree: {sorted(set(SPECS) ^ set(DATASETS))}")


def spec(name: str) -> Spec:
    try:
        return SPECS[name]
    except KeyError:
        raise KeyError(f"no dataset {name!r}; known: {sorted(SPECS)}") from None


# History datasets: one history DAG each (dags/<name>.py, its settings under history.<name> in
# cryptoflow.yaml): a past range of one series, or of each id of another dataset's latest landing.
@dataclass(frozen=True)
class Span:
    """How far one history call reaches, and how a window is said to the API.

    - ``longest``: the longest window one call answers at the wanted granularity (CoinGecko: 90 days is
      hourly; CMC: ``count`` of at most 10,000 points, or a body-size cap; CMC DEX: 500 candles);
    - ``shortest``: a shorter tail is widened backwards to it (CoinGecko answers a day or less
      5-minutely);
    - ``step``: the spacing of the points (hourly, daily), for the points and credits arithmetic;
    - ``style``: ``"unix"`` (``from``/``to`` in UNIX seconds, both inclusive: CoinGecko), ``"iso"``
      (``time_start``/``time_end`` ISO 8601 and ``count``; the end is sent one second short of the next
      window, so no boundary point is paid for twice: CMC and CMC DEX), ``"offset"`` (newest-first
      ``start``/``limit`` paging with no time parameter: CMC fear and greed; the pages reach from the
      newest value back to the window's start);
    - ``start_exclusive``: the API leaves out the point at ``time_start`` (CMC OHLCV's candles): the
      start is sent one second early, so the window's first candle is returned.
    """

    longest: timedelta
    shortest: timedelta
    step: timedelta
    style: Literal["unix", "iso", "offset"]
    start_exclusive: bool = False

    def points(self, start: datetime, end: datetime) -> int:
        """Points of one id that a window ``[start, end)`` holds (what the credits count)."""
        return max(1, math.ceil((end - start) / self.step - 1e-9))

    def request(self, start: datetime, end: datetime, *, now: datetime) -> tuple[dict[str, Any], int | None]:
        """The parameters of one call for the window ``[start, end)``, and the records it wants (the
        offset style's page walk; ``None`` otherwise)."""
        if self.style == "unix":
            return {"from": int(start.timestamp()), "to": int(end.timestamp())}, None
        if self.style == "iso":
            first = start - timedelta(seconds=1) if self.start_exclusive else start
            return {"time_start": _iso(first), "time_end": _iso(end - timedelta(seconds=1)),
                    "count": str(self.points(start, end))}, None
        # newest first, one a step: from the newest back past the window's start (a step of slack
        # either side for the API's clock); staging keeps the window's own points
        back = math.ceil((now - start) / self.step) + 2
        return {}, max(1, back)


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _prices_points(body: Any) -> int:
    return len(body.get("prices") or []) if isinstance(body, dict) else 0


def _quotes_points(body: Any) -> int:
    """``quotes[]`` of CMC's historical bodies: one coin object, a map of them, or global metrics."""
    data = body.get("data") if isinstance(body, dict) else None
    if isinstance(data, dict) and "quotes" in data:
        return len(data.get("quotes") or [])
    if isinstance(data, dict):
        return sum(len(v.get("quotes") or []) for v in data.values() if isinstance(v, dict))
    if isinstance(data, list):
        return sum(len(v.get("quotes") or []) if isinstance(v, dict) and "quotes" in v else 1 for v in data)
    return 0


@dataclass(frozen=True)
class HistorySpec:
    """One history dataset: its endpoint, how one call spans time, and what it is asked over.

    - ``ids``: the listing the run's ids come from (resolved once per run); ``None``: one series, asked
      as a whole (global metrics, fear and greed);
    - ``id_param``: where the ids go: a path placeholder (``{id}``: one per call), a query parameter
      bundling up to the endpoint's ``max_ids`` per call (CMC ``id``), or one per call with the
      network's ``network_slug`` (CMC DEX ``contract_address``);
    - ``params``: over the endpoint's defaults (the granularity);
    - ``count_points``: the points a body holds (progress, and the budget's check of its arithmetic).
    """

    name: str
    api: str
    endpoint: str
    span: Span
    ids: FromListing | None = None
    id_param: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    count_points: Callable[[Any], int] = field(default=_quotes_points, repr=False)

    @property
    def raw_table(self) -> str:
        return get_api(self.api).raw_table(self.endpoint)

    @property
    def series(self) -> bool:
        return self.ids is None

    @property
    def path_id(self) -> bool:
        return self.id_param is not None and "{" + self.id_param + "}" in self.endpoint_obj.path

    @property
    def endpoint_obj(self):
        return get_api(self.api).endpoint(self.endpoint)

    @property
    def per_call(self) -> int:
        """Ids one call carries."""
        if self.series or self.path_id or self.ids is None or self.ids.per_network:
            return 1
        return self.endpoint_obj.max_ids or 1

    @property
    def unit(self) -> str:
        """What the run's ids are, for people: ``coins``, ``pairs`` (CMC DEX), or ``one series``."""
        if self.series:
            return "one series"
        return "pairs" if self.ids.per_network else "coins"

    @property
    def daily(self) -> bool:
        return self.span.step >= timedelta(days=1)

    def history_limit(self, plan: str) -> int | None:
        """Days back ``plan`` may reach at this granularity (``None``: no limit)."""
        return self.endpoint_obj.history_limit(plan, daily=self.daily)

    def units(self, ids: Sequence[str]) -> list[list[str]]:
        """The run's ids as the calls carry them: one series, one id each, or bundles."""
        if self.series:
            return [[SERIES]]
        size = self.per_call
        return [list(ids[at:at + size]) for at in range(0, len(ids), size)]

    def windows(self, start: datetime, end: datetime) -> list[Any]:
        from cryptoflow.windows import windows_for

        return windows_for(start, end, longest=self.span.longest, shortest=self.span.shortest)

    def call(self, unit: Sequence[str], window: Any, *, now: datetime
             ) -> tuple[dict[str, Any], dict[str, Any] | None, int | None]:
        """One call of ``unit`` over ``window``: (query parameters, path values, records wanted)."""
        params, wanted = self.span.request(window.start, window.end, now=now)
        params = {**self.params, **params}
        path_values = None
        if self.series:
            return params, None, wanted
        if self.path_id:
            path_values = {self.id_param: unit[0]}
        elif self.ids is not None and self.ids.per_network:
            slug, address = unit[0].split(NETWORK_SEP, 1)
            params.update({"network_slug": slug, self.id_param: address})
        else:
            params[self.id_param] = ",".join(unit)
        return params, path_values, wanted

    def cost(self, start: datetime, end: datetime, ids: int, *, now: datetime | None = None
             ) -> tuple[int, int]:
        """Calls and credits of ``ids`` ids (ignored for a series) over ``[start, end)``: each unit's
        fewest windows, each call's credits by the endpoint's rule for the points it returns."""
        endpoint = self.endpoint_obj
        calls = credits = 0
        for window in self.windows(start, end):
            if self.span.style == "offset":
                _, wanted = self.span.request(window.start, window.end, now=now or end)
                size = endpoint.paginator.size_for(wanted)
                pages = math.ceil(wanted / size)
                calls += pages
                credits += pages * endpoint.credits.cost(size)
                continue
            points = self.span.points(window.start, window.end)
            for carried in self._bundles(ids):
                calls += 1
                credits += endpoint.credits.cost(points * carried)
        return calls, credits

    def _bundles(self, ids: int) -> list[int]:
        """Ids carried by each call of one window."""
        if self.series:
            return [1]
        full, rest = divmod(ids, self.per_call)
        return [self.per_call] * full + ([rest] if rest else [])

    def id_count(self, config: Config) -> int:
        """The ids a run asks for under ``config``: the top N (``history.<name>.top_n``, else the
        universe's), per DEX network its top pairs, a series one."""
        if self.series:
            return 1
        dataset = config.history_dataset(self.name)
        if self.ids.per_network:
            return len(config.dex.networks) * (dataset.top_n or config.dex.pairs_per_network)
        return dataset.coins(config.universe)

    def catchup_cost(self, ids: int, days: int, window_days: int) -> tuple[int, int]:
        """Calls and credits of a catchup over ``days``: its runs of ``window_days`` (the last one
        shorter), each in its fewest calls."""
        calls = credits = 0
        at, end = _COST_START, _COST_START + timedelta(days=days)
        while at < end:
            stop = min(at + timedelta(days=window_days), end)
            c, k = self.cost(at, stop, ids, now=end)
            calls, credits, at = calls + c, credits + k, stop
        return calls, credits

    def naive_calls(self, start: datetime, end: datetime, ids: int) -> int:
        """The naive plan: one call per id (or for the series) per day."""
        return (1 if self.series else ids) * max(1, math.ceil((end - start) / timedelta(days=1) - 1e-9))


SERIES = "all"  # the one unit of a series history dataset (ops.history_* rows name it so)
NETWORK_SEP = ":"  # a DEX pair's unit id: <network_slug>:<contract_address>

_HOUR, _DAY = timedelta(hours=1), timedelta(days=1)
_COST_START = datetime(2026, 1, 1, tzinfo=UTC)  # any midnight: the arithmetic depends on lengths only


def _cmc_coins(config: Config) -> Mapping[str, Any]:
    return {"convert": config.universe.currency.upper()}


HISTORY_SPECS: dict[str, HistorySpec] = {spec.name: spec for spec in (
    # one coin per call; 90 days is answered hourly (90 days + 1 s daily, a day or less 5-minutely)
    HistorySpec("coingecko_price_history", "coingecko", "coins_market_chart_range",
                Span(timedelta(days=90), timedelta(days=2), _HOUR, "unix"),
                ids=FromListing("coingecko_markets", "id",
                                match=lambda c: {"vs_currency": c.universe.currency}),
                id_param="id", count_points=_prices_points),
    # 100 ids a call, 1 credit per 100 points: a call of 100 coins x 30 days is 72,000 quotes (the
    # window is capped for the body's size, not by the API: credits are the same either way)
    HistorySpec("cmc_price_history", "cmc", "cryptocurrency_quotes_historical",
                Span(timedelta(days=31), _HOUR, _HOUR, "iso"),
                ids=FromListing("cmc_listings", "id", match=_cmc_coins), id_param="id",
                params={"interval": "hourly"}),
    # Startup plan and up (Basic: skipped with the plan's reason); the same arithmetic as quotes
    HistorySpec("cmc_ohlcv_history", "cmc", "cryptocurrency_ohlcv_historical",
                Span(timedelta(days=31), _HOUR, _HOUR, "iso", start_exclusive=True),
                ids=FromListing("cmc_listings", "id", match=_cmc_coins), id_param="id",
                params={"time_period": "hourly", "interval": "hourly"}),
    # one series: up to 10,000 hourly points a call (416 days), 1 credit per 100 points
    HistorySpec("cmc_global_metrics_history", "cmc", "global_metrics_quotes_historical",
                Span(timedelta(hours=10_000), _HOUR, _HOUR, "iso"), params={"interval": "1h"}),
    # one series, one value a day, newest first in pages of 500: 1 credit a call whatever its size
    HistorySpec("cmc_fear_and_greed_history", "cmc", "fear_and_greed_historical",
                Span(timedelta(days=500), _DAY, _DAY, "offset")),
    # one pair per call, at most 500 hourly candles (20 days 20 hours)
    HistorySpec("cmc_dex_pair_ohlcv_history", "cmc_dex", "pairs_ohlcv_historical",
                Span(timedelta(hours=500), _HOUR, _HOUR, "iso"),
                ids=FromListing("cmc_dex_spot_pairs", "contract_address", per_network=True),
                id_param="contract_address", params={"time_period": "hourly", "interval": "1h"}),
)}


def history_spec(name: str) -> HistorySpec:
    try:
        return HISTORY_SPECS[name]
    except KeyError:
        raise KeyError(f"no history dataset {name!r}; known: {sorted(HISTORY_SPECS)}") from None
