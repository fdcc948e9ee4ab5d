"""``cryptoflow.yaml``: the project's own settings (the universe, each dataset's cadence and switch, and
per API its switch, call limit, pool, credit budgets and breaker), in one file with environment
overrides.

Read without network or database, so DAG files may read it while they are parsed. The file is
``$CRYPTOFLOW_CONFIG`` or ``cryptoflow.yaml`` at the repository's root; any value is overridden by
``CRYPTOFLOW__<PATH>`` (levels joined by ``__``, the value read as YAML), e.g.
``CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE=30`` (text that is not YAML, such as a cron, is taken as it
is). Anything wrong (an unknown key, a rate that is not a
positive number) is a :class:`ConfigError` naming the file or variable and the key.

``python -m cryptoflow.config`` prints the settings in force.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CONFIG_ENV = "CRYPTOFLOW_CONFIG"
ENV_PREFIX = "CRYPTOFLOW__"
DEFAULT_FILE = Path(__file__).resolve().parents[2] / "cryptoflow.yaml"
API_NAMES = ("coingecko", "cmc", "cmc_dex")
# Every dataset (one ingest DAG each, dags/<name>.py): its API and default cadence.
HOURLY, EVERY_2_HOURS, DAILY = "0 * * * *", "0 */2 * * *", "0 0 * * *"
EVERY_15_MINUTES, EVERY_6_HOURS = "*/15 * * * *", "0 */6 * * *"
DATASETS = {
    "coingecko_markets": ("coingecko", HOURLY),
    "coingecko_global": ("coingecko", HOURLY),
    "coingecko_trending": ("coingecko", HOURLY),
    "coingecko_exchanges": ("coingecko", EVERY_2_HOURS),
    "coingecko_coins_list": ("coingecko", DAILY),
    "cmc_listings": ("cmc", HOURLY),
    "cmc_map": ("cmc", DAILY),
    "cmc_fear_and_greed": ("cmc", HOURLY),
    "cmc_global_metrics": ("cmc", HOURLY),
    "cmc_exchange_listings": ("cmc", EVERY_2_HOURS),
    "cmc_dex_networks": ("cmc_dex", DAILY),
    # Per-id datasets: the ids come from the latest landing of a listing (see cryptoflow.selections).
    "coingecko_coins": ("coingecko", DAILY),
    "cmc_info": ("cmc", DAILY),
    "cmc_dex_spot_pairs": ("cmc_dex", EVERY_6_HOURS),
    "cmc_dex_pair_quotes": ("cmc_dex", EVERY_15_MINUTES),
    "cmc_dex_pair_ohlcv": ("cmc_dex", EVERY_6_HOURS),
}


# Every history dataset (one history DAG each, dags/<name>.py): its API, its default window (one run's
# data interval) in days, and the windows it allows. CoinGecko's run is one call per coin, so its window
# is one that call answers hourly (2 to 90 days); the others cut a run into as many calls as it needs.
HISTORY_DATASETS = {
    "coingecko_price_history": ("coingecko", 90, (2, 90)),
    "cmc_price_history": ("cmc", 30, (1, 31)),  # 31: a call of 100 coins' hourly quotes stays < 80,000
    "cmc_ohlcv_history": ("cmc", 30, (1, 31)),
    "cmc_global_metrics_history": ("cmc", 90, (1, 416)),  # 416 days: 10,000 hourly points, one call
    "cmc_fear_and_greed_history": ("cmc", 365, (1, 3650)),
    "cmc_dex_pair_ohlcv_history": ("cmc_dex", 62, (1, 3650)),  # 62 days: three calls of <= 500 candles
}


class ConfigError(ValueError):
    """The configuration cannot be used; the message says where and what."""


@dataclass(frozen=True)
class Breaker:
    """A circuit breaker's thresholds."""

    failures: int = 5
    cooldown_s: float = 60.0


@dataclass(frozen=True)
class Control:
    """How the shared limiter paces and adapts (the same for every API)."""

    safety_margin_s: float = 1.0
    decrease_factor: float = 0.9
    recover_per_minute: float = 0.1
    min_rate_fraction: float = 0.1
    call_timeout_s: float = 30.0


@dataclass(frozen=True)
class Universe:
    """The coins that top-N and per-coin datasets cover."""

    top_n: int = 300
    currency: str = "usd"


@dataclass(frozen=True)
class Dex:
    """Which DEX networks the DEX datasets cover, and how many pairs of each."""

    networks: tuple[str, ...] = ("ethereum", "solana")
    pairs_per_network: int = 10  # the top pairs by 24 h volume that quotes and OHLCV follow
    min_liquidity_usd: int = 100_000  # spot pairs listed: those with at least this liquidity (0: all)


@dataclass(frozen=True)
class Dataset:
    """One ingest DAG's switch and cadence."""

    name: str
    api: str
    enabled: bool
    schedule: str  # cron, UTC
    top_n: int | None = None  # coins of a per-coin dataset; None: the universe's top N

    def coins(self, universe: Universe) -> int:
        """How many coins of the universe this dataset covers."""
        return min(self.top_n, universe.top_n) if self.top_n else universe.top_n

    @property
    def cadence(self) -> timedelta:
        """The length of one interval of the schedule."""
        from croniter import croniter

        at = croniter(self.schedule, datetime(2026, 1, 1, tzinfo=UTC))
        first = at.get_next(datetime)
        return at.get_next(datetime) - first


@dataclass(frozen=True)
class HistoryDataset:
    """One history DAG: its switch, how far back catchup starts, its window, its coins."""

    name: str
    api: str
    enabled: bool
    start_days_ago: int  # catchup starts at the UTC midnight this many days before today
    window_days: int  # one run's data interval, and one call per coin
    top_n: int | None = None  # None: the universe's top N
    max_active_runs: int = 1

    def coins(self, universe: Universe) -> int:
        return min(self.top_n, universe.top_n) if self.top_n else universe.top_n


@dataclass(frozen=True)
class ApiConfig:
    """What the project allows itself against one API, per key."""

    api: str
    enabled: bool
    calls_per_minute: float
    pool_slots: int
    daily_credits: int | None
    monthly_credits: int | None
    breaker: Breaker


@dataclass(frozen=True)
class Config:
    source: str
    apis: Mapping[str, ApiConfig]
    control: Control
    universe: Universe
    datasets: Mapping[str, Dataset]
    dex: Dex = Dex()
    history: Mapping[str, HistoryDataset] | None = None
    history_live_share: float = 0.2  # of each API's limit, kept for the live DAGs while history runs

    def history_dataset(self, name: str) -> HistoryDataset:
        try:
            return (self.history or {})[name]
        except KeyError:
            raise ConfigError(f"{self.source}: no history dataset {name!r}; known: "
                              f"{sorted(self.history or {})}") from None

    def dataset(self, name: str) -> Dataset:
        """The dataset ``name``; ``enabled`` is off when its API is off too."""
        try:
            return self.datasets[name]
        except KeyError:
            raise ConfigError(f"{self.source}: no dataset {name!r}; known: {sorted(self.datasets)}") from None

    def api(self, name: str) -> ApiConfig:
        try:
            return self.apis[name]
        except KeyError:
            raise ConfigError(f"{self.source}: no settings for API {name!r}; known: {sorted(self.apis)}"
                              ) from None


def pool_slots_for(calls_per_minute: float, call_timeout_s: float) -> int:
    """The pool size rule: enough tasks in flight to use the whole rate even if every call lasts the
    timeout (Little's law: concurrency = rate x time in the system)."""
    return max(1, math.ceil(calls_per_minute * call_timeout_s / 60))


def load_config(path: str | os.PathLike | None = None, environ: Mapping[str, str] | None = None) -> Config:
    """The settings in force: the file, then the ``CRYPTOFLOW__*`` overrides of ``environ``."""
    import yaml

    environ = os.environ if environ is None else environ
    path = Path(path or environ.get(CONFIG_ENV) or DEFAULT_FILE)
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigError(f"{path}: file not found (set {CONFIG_ENV} or restore cryptoflow.yaml from git)"
                          ) from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    for name, value in sorted(environ.items()):
        if name.startswith(ENV_PREFIX):
            _override(doc, name, value)
    return _parse(doc, str(path))


def _override(doc: dict, name: str, value: str) -> None:
    import yaml

    keys = [k.lower() for k in name[len(ENV_PREFIX):].split("__")]
    if not all(keys):
        raise ConfigError(f"{name}: empty level in the name (levels are joined by '__')")
    node = doc
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"{name}: {key!r} is not a mapping in the configuration")
    try:
        node[keys[-1]] = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        node[keys[-1]] = value  # not YAML (a cron such as */15 * * * *): the text itself


def _known(where: str, mapping: Any, allowed: tuple[str, ...]) -> dict:
    if mapping is None:
        return {}
    if not isinstance(mapping, dict):
        raise ConfigError(f"{where} must be a mapping, got {mapping!r}")
    unknown = sorted(set(mapping) - set(allowed))
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(map(str, unknown))}; "
                          f"known: {', '.join(allowed)}")
    return mapping


def _number(where: str, value: Any, *, minimum: float = 0.0, strict: bool = True,
            maximum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number, got {value!r}")
    if value < minimum or (strict and value == minimum) or (maximum is not None and value > maximum):
        bound = f"{'above' if strict else 'at least'} {minimum:g}" + (f" and at most {maximum:g}"
                                                                       if maximum is not None else "")
        raise ConfigError(f"{where} must be {bound}, got {value!r}")
    return float(value)


def _whole(where: str, value: Any, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if optional else 1):
        raise ConfigError(f"{where} must be a whole number{' or null' if optional else ' of 1 or more'}, "
                          f"got {value!r}")
    return value


def _parse(doc: dict, source: str) -> Config:
    top = _known(source, doc, ("universe", "datasets", "apis", "control", "dex", "history"))
    names = tuple(f.name for f in fields(Control))
    control_doc = _known(f"{source}: control", top.get("control"), names)
    defaults = Control()
    bounds = {"safety_margin_s": {"strict": False}, "decrease_factor": {"maximum": 1.0},
              "min_rate_fraction": {"maximum": 1.0}}
    control = Control(**{
        name: _number(f"{source}: control.{name}", control_doc.get(name, getattr(defaults, name)),
                      **bounds.get(name, {}))
        for name in names
    })
    apis_doc = _known(f"{source}: apis", top.get("apis"), API_NAMES)
    apis = {}
    for name in API_NAMES:
        where = f"{source}: apis.{name}"
        entry = _known(where, apis_doc.get(name), ("enabled", "calls_per_minute", "pool_slots",
                                                   "daily_credits", "monthly_credits", "breaker"))
        rate = _number(f"{where}.calls_per_minute", entry.get("calls_per_minute", _default_rate(name)))
        slots = entry.get("pool_slots")
        breaker_doc = _known(f"{where}.breaker", entry.get("breaker"), ("failures", "cooldown_s"))
        apis[name] = ApiConfig(
            api=name,
            enabled=_flag(f"{where}.enabled", entry.get("enabled", True)),
            calls_per_minute=rate,
            pool_slots=(pool_slots_for(rate, control.call_timeout_s) if slots is None
                        else _whole(f"{where}.pool_slots", slots)),
            daily_credits=_whole(f"{where}.daily_credits", entry.get("daily_credits"), optional=True),
            monthly_credits=_whole(f"{where}.monthly_credits", entry.get("monthly_credits"), optional=True),
            breaker=Breaker(
                failures=_whole(f"{where}.breaker.failures", breaker_doc.get("failures", 5)),
                cooldown_s=_number(f"{where}.breaker.cooldown_s", breaker_doc.get("cooldown_s", 60)),
            ),
        )
    universe_doc = _known(f"{source}: universe", top.get("universe"), ("top_n", "currency"))
    currency = universe_doc.get("currency", Universe.currency)
    if not isinstance(currency, str) or not currency.isalpha():
        raise ConfigError(f"{source}: universe.currency must be a currency code such as usd, "
                          f"got {currency!r}")
    universe = Universe(_whole(f"{source}: universe.top_n", universe_doc.get("top_n", Universe.top_n)),
                        currency.lower())
    datasets_doc = _known(f"{source}: datasets", top.get("datasets"), tuple(DATASETS))
    datasets = {}
    for name, (api, schedule) in DATASETS.items():
        where = f"{source}: datasets.{name}"
        entry = _known(where, datasets_doc.get(name), ("enabled", "schedule", "top_n"))
        cron = entry.get("schedule", schedule)
        if not isinstance(cron, str) or not _valid_cron(cron):
            raise ConfigError(f"{where}.schedule must be a cron expression such as '0 * * * *', got {cron!r}")
        datasets[name] = Dataset(name, api, _flag(f"{where}.enabled", entry.get("enabled", True))
                                 and apis[api].enabled, cron,
                                 _whole(f"{where}.top_n", entry.get("top_n"), optional=True) or None)
    dex_doc = _known(f"{source}: dex", top.get("dex"), ("networks", "pairs_per_network",
                                                         "min_liquidity_usd"))
    networks = dex_doc.get("networks", list(Dex.networks))
    if (not isinstance(networks, list) or not networks
            or not all(isinstance(n, str) and n.strip() for n in networks)):
        raise ConfigError(f"{source}: dex.networks must be a list of network slugs such as [ethereum], "
                          f"got {networks!r}")
    pairs = dex_doc.get("pairs_per_network", Dex.pairs_per_network)
    floor = dex_doc.get("min_liquidity_usd", Dex.min_liquidity_usd)
    dex = Dex(tuple(n.strip().lower() for n in networks), _whole(f"{source}: dex.pairs_per_network", pairs),
              _whole(f"{source}: dex.min_liquidity_usd", floor, optional=True) or 0)
    history_doc = top.get("history")
    share = _known(f"{source}: history", history_doc, ("start_days_ago", "live_share", *HISTORY_DATASETS)
                   ).get("live_share", 0.2)
    share = _number(f"{source}: history.live_share", share, strict=False, maximum=0.9)
    return Config(source, apis, control, universe, datasets, dex, _history(history_doc, source, apis), share)


def _history(doc: Any, source: str, apis: Mapping[str, ApiConfig]) -> dict[str, HistoryDataset]:

    top = _known(f"{source}: history", doc, ("start_days_ago", "live_share", *HISTORY_DATASETS))
    days_ago = _whole(f"{source}: history.start_days_ago", top.get("start_days_ago", 365))
    out = {}
    for name, (api, window, (shortest, longest)) in HISTORY_DATASETS.items():
        where = f"{source}: history.{name}"
        entry = _known(where, top.get(name), ("enabled", "window_days", "top_n", "start_days_ago",
                                              "max_active_runs"))
        days = _whole(f"{where}.window_days", entry.get("window_days", window))
        if not shortest <= days <= longest:
            why = (" (one call per coin answers hourly only for such windows)" if api == "coingecko"
                   else "")
            raise ConfigError(f"{where}.window_days must be {shortest} to {longest} days{why}, got {days!r}")
        out[name] = HistoryDataset(
            name, api, _flag(f"{where}.enabled", entry.get("enabled", True)) and apis[api].enabled,
            _whole(f"{where}.start_days_ago", entry.get("start_days_ago", days_ago)), days,
            _whole(f"{where}.top_n", entry.get("top_n"), optional=True) or None,
            _whole(f"{where}.max_active_runs", entry.get("max_active_runs", 1)))
    return out


def _flag(where: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{where} must be true or false, got {value!r}")
    return value


def _valid_cron(expression: str) -> bool:
    from croniter import croniter

    return len(expression.split()) == 5 and croniter.is_valid(expression)


def _default_rate(api: str) -> int:
    from cryptoflow.apis import get_api

    return get_api(api).default_calls_per_minute


def describe(config: Config) -> str:
    """The settings in force, as ``python -m cryptoflow.config`` prints them."""
    lines = [f"configuration: {config.source}",
             f"  universe   top {config.universe.top_n} coins, prices in {config.universe.currency}"]
    for ds in config.datasets.values():
        coins = f", top {ds.top_n} coins" if ds.top_n else ""
        lines.append(f"  {ds.name:<22} {'on ' if ds.enabled else 'off'} every {ds.cadence} ({ds.schedule})"
                     f"{coins}")
    for h in (config.history or {}).values():
        lines.append(f"  {h.name:<22} {'on ' if h.enabled else 'off'} windows of {h.window_days} days from "
                     f"{h.start_days_ago} days ago, top {h.coins(config.universe)} coins")
    lines.append(f"  dex        networks {', '.join(config.dex.networks)}, pairs with liquidity >= "
                 f"{config.dex.min_liquidity_usd:,} USD, top {config.dex.pairs_per_network} of each followed")
    for api in config.apis.values():
        lines.append(
            f"  {api.api:<10} {'on' if api.enabled else 'off'}, {api.calls_per_minute:g} calls/min, "
            f"pool {api.pool_slots} slots, "
            f"credits/day {api.daily_credits or 'plan'}, credits/month {api.monthly_credits or 'plan'}, "
            f"breaker after {api.breaker.failures} failures for {api.breaker.cooldown_s:g} s")
    c = config.control
    lines.append(f"  control    margin {c.safety_margin_s:g} s/min, 429 x{c.decrease_factor:g}, recover "
                 f"{c.recover_per_minute:g} of the limit per minute, floor {c.min_rate_fraction:g}, "
                 f"call timeout {c.call_timeout_s:g} s")
    return "\n".join(lines)


if __name__ == "__main__":
    print(describe(load_config()))
