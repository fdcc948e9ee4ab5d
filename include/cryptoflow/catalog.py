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

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import timedelta
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
# cryptoflow.yaml), over the coins of another dataset's latest landing.
@dataclass(frozen=True)
class HistorySpec:
    """One history dataset: the endpoint, the listing its coins come from, the path parameter."""

    name: str
    api: str
    endpoint: str
    coins: FromListing
    path_param: str = "id"

    @property
    def raw_table(self) -> str:
        return get_api(self.api).raw_table(self.endpoint)


HISTORY_SPECS: dict[str, HistorySpec] = {spec.name: spec for spec in (
    HistorySpec("coingecko_price_history", "coingecko", "coins_market_chart_range",
                coins=FromListing("coingecko_markets", "id",
                                  match=lambda c: {"vs_currency": c.universe.currency})),
)}


def history_spec(name: str) -> HistorySpec:
    try:
        return HISTORY_SPECS[name]
    except KeyError:
        raise KeyError(f"no history dataset {name!r}; known: {sorted(HISTORY_SPECS)}") from None
