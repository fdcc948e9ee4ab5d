"""Per-key rate limits and credit caps, as the vendors apply them (API_FACTS §1.2, §2.4).

- **Minute limit**: a fixed window on the wall-clock minute ("rate limits reset every minute"); a call
  over the limit gets 429 with ``Retry-After`` = seconds to the next minute.
- **Drifting allowance** (optional, to measure an adaptive client limiter): a limit with
  ``drift: {low, high, step, seed}`` lets a key make ``max(1, floor(calls_per_minute * f(m)))`` calls in
  wall-clock minute ``m`` (``m = int(unix_time // 60)``), where ``f`` is a seeded, bounded random walk:
  ``f(m0) = high`` at the minute ``m0`` the drift was set, and
  ``f(m + 1) = clamp(f(m) + step * u(seed, m), low, high)`` with ``u`` in [-1, 1) from
  :func:`cryptoflow.sandbox.rand.uniform`. The walk is computed lazily and memoised; benchmarks get the
  same figures from :func:`drift_allowance`.
- **Credits**: CMC spends credits per successful call with the endpoint's arithmetic; Basic also has a
  daily cap (1009) and a monthly cap (1010). CoinGecko counts 1 credit per successful call against a
  monthly cap. Days and months are UTC calendar days and months of real time.

Windows use real time, never the sandbox clock, so a frozen clock never freezes a window. Limits come
from the API descriptions (``cryptoflow.apis``), overridden by the config file or ``/__admin/limits``.
"""

from __future__ import annotations

import functools
import math
import threading
import time
from array import array
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, replace
from typing import Any

from cryptoflow.apis import APIS
from cryptoflow.sandbox import rand

LIMIT_NAMES = ("calls_per_minute", "monthly_credits", "daily_credits", "drift")
# A walk is kept one float per minute from m0; a year is 4 MB. Farther is taken for a unit mistake
# (seconds passed as minutes) rather than computed for minutes on end.
MAX_DRIFT_MINUTES = 366 * 1440
_DRIFT_SALT = rand.text_id("limits/drift")


def wall_minute(now: float) -> int:
    """The wall-clock minute of UNIX time ``now`` (``int(now // 60)``)."""
    return int(now // 60)


@dataclass(frozen=True)
class Drift:
    """A drifting allowance: the fraction of ``calls_per_minute`` walks within [low, high], at most ``step``
    from one minute to the next, in the sequence ``seed`` picks."""

    low: float = 0.5
    high: float = 1.0
    step: float = 0.1
    seed: int = 7

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any] | Drift) -> Drift:
        """A drift from its mapping (all names optional); the read-only names ``GET /limits`` adds
        (``m0``, ``minute``, ``allowance``) are ignored, so its answer can be posted back."""
        if isinstance(spec, Drift):
            return spec
        if not isinstance(spec, Mapping):
            raise ValueError(f"drift must be a mapping, not {spec!r}")
        values = {k: v for k, v in spec.items() if k not in ("m0", "minute", "allowance")}
        unknown = set(values) - set(cls.__dataclass_fields__)
        if unknown:
            raise ValueError(f"unknown drift names {sorted(unknown)}; known: low, high, step, seed")
        defaults = cls()
        drift = cls(
            low=float(values.get("low", defaults.low)),
            high=float(values.get("high", defaults.high)),
            step=float(values.get("step", defaults.step)),
            seed=int(values.get("seed", defaults.seed)),
        )
        if not 0.0 <= drift.low <= drift.high or drift.step < 0.0:
            raise ValueError(f"drift needs 0 <= low <= high and step >= 0, not {values}")
        return drift


def drift_move(seed: int, minute: int) -> float:
    """``u(seed, minute)``: the walk's move from ``minute`` to the next, in [-1, 1)."""
    return 2.0 * rand.uniform(_DRIFT_SALT, seed, minute) - 1.0


class _Walk:
    """The fractions ``f(m0), f(m0 + 1), ...`` of one (drift, m0), extended on demand (append-only)."""

    def __init__(self, drift: Drift, m0: int) -> None:
        self.drift, self.m0 = drift, m0
        self.values = array("d", [drift.high])
        self.lock = threading.Lock()

    def at(self, minute: int) -> float:
        i = minute - self.m0
        if i <= 0:
            return self.drift.high
        if i > MAX_DRIFT_MINUTES:
            raise ValueError(
                f"minute {minute} is more than a year after m0 {self.m0} (minutes are unix // 60)"
            )
        if i >= len(self.values):
            d = self.drift
            with self.lock:
                for j in range(len(self.values), i + 1):
                    f = self.values[j - 1] + d.step * drift_move(d.seed, self.m0 + j - 1)
                    self.values.append(min(d.high, max(d.low, f)))
        return self.values[i]


@functools.lru_cache(maxsize=256)
def _walk(drift: Drift, m0: int) -> _Walk:
    return _Walk(drift, m0)


def drift_fraction(drift: Mapping[str, Any] | Drift, m0: int, minute: int) -> float:
    """``f(minute)`` of the walk that starts at ``high`` in minute ``m0`` (earlier minutes: ``high``)."""
    return _walk(Drift.from_spec(drift), int(m0)).at(int(minute))


def drift_allowance(calls_per_minute: int, drift: Mapping[str, Any] | Drift, m0: int, minute: int) -> int:
    """Calls a key may make in wall-clock minute ``minute`` when its limit of ``calls_per_minute`` drifts
    (set in minute ``m0``): ``max(1, floor(calls_per_minute * f(minute)))``. Minutes are ``unix // 60``."""
    return max(1, math.floor(calls_per_minute * drift_fraction(drift, m0, minute)))


@dataclass(frozen=True)
class Limit:
    """The limits of one plan of one API; ``drift`` (set in minute ``m0``) makes the minute limit walk."""

    calls_per_minute: int | None
    monthly_credits: int | None
    daily_credits: int | None
    drift: Drift | None = None
    m0: int | None = None

    @property
    def drifts(self) -> bool:
        """Whether the minute allowance drifts (a drift on a limit without a minute limit does nothing)."""
        return self.drift is not None and self.calls_per_minute is not None

    def allowance(self, minute: int) -> int | None:
        """Calls allowed in wall-clock minute ``minute`` (``None``: no minute limit)."""
        if not self.drifts:
            return self.calls_per_minute
        return drift_allowance(self.calls_per_minute, self.drift, self.m0, minute)

    def describe(self, minute: int) -> dict[str, Any]:
        """The limit as ``GET /__admin/limits`` shows it; a drift adds ``m0`` and ``minute``'s allowance."""
        out: dict[str, Any] = {
            "calls_per_minute": self.calls_per_minute,
            "monthly_credits": self.monthly_credits,
            "daily_credits": self.daily_credits,
        }
        if self.drift is not None:
            out["drift"] = {
                **asdict(self.drift),
                "m0": self.m0,
                "minute": minute,
                "allowance": self.allowance(minute),
            }
        return out


@dataclass
class Usage:
    """What one key has spent: this minute's calls, today's and this month's credits."""

    minute: int = -1
    calls_minute: int = 0
    day: int = -1
    credits_day: int = 0
    month: tuple[int, int] = (0, 0)
    credits_month: int = 0


@dataclass(frozen=True)
class Verdict:
    """Why a call is refused (``None`` reason: allowed)."""

    reason: str | None = None  # "minute", "daily", "monthly"
    retry_after: int = 0


class Limiter:
    """Minute windows and credit counters per (API, key)."""

    def __init__(
        self, overrides: dict[str, Any] | None = None, enforce: bool = True, minute: int | None = None
    ) -> None:
        self.enforce = enforce
        self.limits: dict[tuple[str, str], Limit] = {}
        for api in APIS.values():
            for plan in api.plans.values():
                self.limits[(api.name, plan.name)] = Limit(
                    plan.calls_per_minute, plan.monthly_credits, plan.daily_credits
                )
        self.usage: dict[tuple[str, str], Usage] = {}
        if overrides:
            self.update(overrides, minute)

    def update(self, overrides: dict[str, Any], minute: int | None = None) -> None:
        """Apply ``{api: {plan or "*": {calls_per_minute, monthly_credits, daily_credits, drift}}}``.

        A value of ``null`` removes that limit (or the drift); ``enforce: false`` at the top switches limits
        off. A drift starts its walk in ``minute`` (default: the current wall-clock minute).
        """
        if "enforce" in overrides:
            self.enforce = bool(overrides["enforce"])
        for api, plans in overrides.items():
            if api == "enforce":
                continue
            if api not in APIS:
                raise ValueError(f"unknown API {api!r} in limits")
            for plan, values in (plans or {}).items():
                names = list(APIS[api].plans) if plan == "*" else [plan]
                for name in names:
                    if (api, name) not in self.limits:
                        raise ValueError(f"unknown plan {name!r} of {api} in limits")
                    self.limits[(api, name)] = replace(
                        self.limits[(api, name)], **_limit_values(values, minute)
                    )

    def describe(self) -> dict[str, Any]:
        """``{api: {plan: {...}}}`` as ``GET /__admin/limits`` shows it."""
        out: dict[str, Any] = {"enforce": self.enforce}
        minute = wall_minute(time.time())
        for (api, plan), limit in sorted(self.limits.items()):
            out.setdefault(api, {})[plan] = limit.describe(minute)
        return out

    def drift_of(self, api: str, plan: str | None) -> Callable[[int], int | None] | None:
        """The plan's allowance by wall-clock minute when its minute limit drifts, else ``None``."""
        limit = self.limits.get((api, plan)) if plan else None
        return limit.allowance if limit is not None and limit.drifts else None

    def reset(self) -> None:
        """Forget every key's usage."""
        self.usage.clear()

    def _usage(self, api: str, key: str, now: float) -> Usage:
        u = self.usage.get((api, key))
        if u is None:
            u = self.usage[(api, key)] = Usage()
        minute = wall_minute(now)
        if u.minute != minute:
            u.minute, u.calls_minute = minute, 0
        day = int(now // 86_400)
        if u.day != day:
            u.day, u.credits_day = day, 0
        g = time.gmtime(now)
        month = (g.tm_year, g.tm_mon)
        if u.month != month:
            u.month, u.credits_month = month, 0
        return u

    def admit(self, api: str, key: str, plan: str, counts_calls: bool = True) -> Verdict:
        """Take one call from the key's minute window, or say why not (credits are checked, not spent)."""
        now = time.time()
        u = self._usage(api, key, now)
        if not self.enforce:
            u.calls_minute += 1
            return Verdict()
        limit = self.limits[(api, plan)]
        allowance = limit.allowance(u.minute)
        if allowance is not None and u.calls_minute >= allowance:
            return Verdict("minute", max(1, math.ceil(60 - now % 60)))
        if limit.daily_credits is not None and u.credits_day >= limit.daily_credits:
            return Verdict("daily", max(1, math.ceil(86_400 - now % 86_400)))
        if limit.monthly_credits is not None and u.credits_month >= limit.monthly_credits:
            return Verdict("monthly", max(1, math.ceil(86_400 - now % 86_400)))
        if counts_calls:
            u.calls_minute += 1
        return Verdict()

    def spend(self, api: str, key: str, credits: int) -> None:
        """Charge ``credits`` to the key's day and month."""
        if credits:
            u = self._usage(api, key, time.time())
            u.credits_day += credits
            u.credits_month += credits

    def report(self, api: str, key: str, plan: str) -> dict[str, Any]:
        """The key's limits and usage (for ``/key`` and ``/v1/key/info``)."""
        now = time.time()
        u = self._usage(api, key, now)
        limit = self.limits[(api, plan)]
        return {
            "calls_per_minute": limit.calls_per_minute,
            "monthly_credits": limit.monthly_credits,
            "daily_credits": limit.daily_credits,
            "calls_minute": u.calls_minute,
            "credits_day": u.credits_day,
            "credits_month": u.credits_month,
            "now": now,
        }


def _limit_values(values: dict[str, Any], minute: int | None) -> dict[str, Any]:
    """One plan's overrides as :class:`Limit` fields: a ``drift`` mapping is parsed and stamped with the
    minute its walk starts (``null`` removes it)."""
    unknown = set(values) - set(LIMIT_NAMES)
    if unknown:
        raise ValueError(f"unknown limit names {sorted(unknown)}; known: {list(LIMIT_NAMES)}")
    out = dict(values)
    if "drift" in out:
        drift = out["drift"]
        out["drift"] = None if drift is None else Drift.from_spec(drift)
        out["m0"] = None if drift is None else (wall_minute(time.time()) if minute is None else minute)
    return out
