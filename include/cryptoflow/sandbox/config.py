"""The sandbox's configuration: one YAML or JSON file (or a dict from Python), every key optional.

::

    seed: 20240101                 # the universe; change it and every number changes
    clock: {now: "2026-01-01T00:00:00Z", frozen: true}   # or {offset_s: -86400}; default: real UTC now
    settings:                      # behaviours where API_FACTS.md is UNCERTAIN (see Settings below)
      cg_keyless: true
    limits:                        # per API and plan; any of calls_per_minute, monthly_credits, daily_credits
      coingecko: {demo: {calls_per_minute: 30}}  # and drift (see cryptoflow.sandbox.limits)
      cmc_dex: {basic: {calls_per_minute: 60, drift: {low: 0.5, high: 1.0, step: 0.1, seed: 7}}}
      cmc: {"*": {calls_per_minute: 100000}}     # "*": every plan of the API
    keys:                          # extra keys: {api: {plan: key}}
      cmc: {basic: "00000000-0000-4000-8000-000000000000"}
    key_states: {"00000000-0000-4000-8000-000000000000": disabled}
    faults:                        # see cryptoflow.sandbox.faults
      - {api: coingecko, endpoint: coins_markets, kind: error, status: 503, count: 2}

The file comes from ``--config PATH`` or the ``CRYPTOFLOW_SANDBOX_CONFIG`` environment variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import yaml

from cryptoflow.sandbox.universe import DEFAULT_SEED, N_COINS

CONFIG_ENV = "CRYPTOFLOW_SANDBOX_CONFIG"


@dataclass(frozen=True)
class Settings:
    """Behaviours the sources disagree on (each is UNCERTAIN in API_FACTS.md), with the project's default."""

    seed: int = DEFAULT_SEED
    # The universe's coins (30 real, the rest generated); the scale benchmarks ask for 10,000.
    coins: int = N_COINS
    # "now" endpoints answer for the snapshot ``floor(now, snapshot_seconds)``: one body per minute.
    snapshot_seconds: int = 60
    # CoinGecko: keyless calls on the public host are served (IP-limited) rather than refused with 10002.
    cg_keyless: bool = True
    # CoinGecko: HTTP status of 10010 (Pro key on public host) and 10011 (Demo key on Pro host): 400 or 401.
    cg_wrong_host_status: int = 400
    # CoinGecko: whether error answers spend a credit (2026 docs: only HTTP 200 does).
    cg_errors_cost_credits: bool = False
    # CoinGecko: intraday chart points (hourly, 5-minutely) land up to this many seconds after the grid.
    cg_intraday_jitter_s: int = 30
    # CMC quotes/historical: each quote is the sample "closest" to the boundary, 0..N s after it.
    cmc_historical_jitter_s: int = 60
    # CMC quotes/historical volume field name: "volume_24h" (what clients parse) or "volume_24hr" (schema).
    cmc_volume_field: str = "volume_24h"
    # CMC fear-and-greed historical timestamp: "string" (UNIX seconds as text) or "number".
    fear_greed_timestamp: str = "string"
    # CMC: ids per bundled call (quotes, info, quotes/historical); more is a 400.
    cmc_max_ids: int = 100
    # CMC DEX: periods per OHLCV call; more is a 400.
    dex_max_count: int = 500
    # 429 Retry-After for CoinGecko: "next_minute" (seconds to the next minute) or a fixed number of seconds.
    cg_retry_after: str = "next_minute"
    # Enforce minute limits and credit caps at all (benchmarks may switch them off or scale them).
    enforce_limits: bool = True
    # Rendered bodies kept for identical requests: at most this many, and this many megabytes.
    cache_entries: int = 4096
    cache_mb: int = 32
    # Seconds of per-second call log kept by the accounting.
    log_seconds: int = 6 * 3600

    def with_changes(self, changes: dict[str, Any]) -> Settings:
        """A copy with ``changes`` applied; unknown names are an error."""
        known = {f.name for f in fields(self)}
        unknown = set(changes) - known
        if unknown:
            raise ValueError(f"unknown sandbox settings {sorted(unknown)}; known: {sorted(known)}")
        return replace(self, **changes)


@dataclass(frozen=True)
class Config:
    """The whole configuration, as read from a file or given as a dict."""

    raw: dict[str, Any]
    settings: Settings

    @property
    def clock(self) -> dict[str, Any]:
        return dict(self.raw.get("clock") or {})

    @property
    def limits(self) -> dict[str, Any]:
        return dict(self.raw.get("limits") or {})

    @property
    def keys(self) -> dict[str, dict[str, str]]:
        return dict(self.raw.get("keys") or {})

    @property
    def key_states(self) -> dict[str, str]:
        return dict(self.raw.get("key_states") or {})

    @property
    def faults(self) -> list[dict[str, Any]]:
        return list(self.raw.get("faults") or [])


_TOP = {"seed", "clock", "settings", "limits", "keys", "key_states", "faults", "host", "port"}


def from_dict(raw: dict[str, Any] | None) -> Config:
    """A :class:`Config` from a dict (the same shape as the file)."""
    raw = dict(raw or {})
    unknown = set(raw) - _TOP
    if unknown:
        raise ValueError(f"unknown sandbox config keys {sorted(unknown)}; known: {sorted(_TOP)}")
    changes = dict(raw.get("settings") or {})
    if "seed" in raw:
        changes["seed"] = int(raw["seed"])
    return Config(raw=raw, settings=Settings().with_changes(changes))


def load(path: str | os.PathLike | None = None) -> Config:
    """Read the config file at ``path`` (or ``$CRYPTOFLOW_SANDBOX_CONFIG``); no file: the defaults."""
    path = path or os.environ.get(CONFIG_ENV)
    if not path:
        return from_dict({})
    data = yaml.safe_load(Path(path).read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"sandbox config {path} must hold a mapping")
    return from_dict(data)
