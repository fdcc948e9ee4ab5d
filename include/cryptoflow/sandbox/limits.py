"""Per-key rate limits and credit caps, as the vendors apply them (API_FACTS §1.2, §2.4).

- **Minute limit**: a fixed window on the wall-clock minute ("rate limits reset every minute"); a call
  over the limit gets 429 with ``Retry-After`` = seconds to the next minute.
- **Credits**: CMC spends credits per successful call with the endpoint's arithmetic; Basic also has a
  daily cap (1009) and a monthly cap (1010). CoinGecko counts 1 credit per successful call against a
  monthly cap. Days and months are UTC calendar days and months of real time.

Windows use real time, never the sandbox clock, so a frozen clock never freezes a window. Limits come
from the API descriptions (``cryptoflow.apis``), overridden by the config file or ``/__admin/limits``.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from typing import Any

from cryptoflow.apis import APIS


@dataclass(frozen=True)
class Limit:
    """The limits of one plan of one API."""

    calls_per_minute: int | None
    monthly_credits: int | None
    daily_credits: int | None


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

    def __init__(self, overrides: dict[str, Any] | None = None, enforce: bool = True) -> None:
        self.enforce = enforce
        self.limits: dict[tuple[str, str], Limit] = {}
        for api in APIS.values():
            for plan in api.plans.values():
                self.limits[(api.name, plan.name)] = Limit(
                    plan.calls_per_minute, plan.monthly_credits, plan.daily_credits
                )
        self.usage: dict[tuple[str, str], Usage] = {}
        if overrides:
            self.update(overrides)

    def update(self, overrides: dict[str, Any]) -> None:
        """Apply ``{api: {plan or "*": {calls_per_minute, monthly_credits, daily_credits}}}``.

        A value of ``null`` removes that limit; ``enforce: false`` at the top switches limits off.
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
                    unknown = set(values) - {"calls_per_minute", "monthly_credits", "daily_credits"}
                    if unknown:
                        raise ValueError(f"unknown limit names {sorted(unknown)}")
                    self.limits[(api, name)] = replace(self.limits[(api, name)], **values)

    def describe(self) -> dict[str, Any]:
        """``{api: {plan: {...}}}`` as ``GET /__admin/limits`` shows it."""
        out: dict[str, Any] = {"enforce": self.enforce}
        for (api, plan), limit in sorted(self.limits.items()):
            out.setdefault(api, {})[plan] = limit.__dict__.copy()
        return out

    def reset(self) -> None:
        """Forget every key's usage."""
        self.usage.clear()

    def _usage(self, api: str, key: str, now: float) -> Usage:
        u = self.usage.get((api, key))
        if u is None:
            u = self.usage[(api, key)] = Usage()
        minute = int(now // 60)
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
        if limit.calls_per_minute is not None and u.calls_minute >= limit.calls_per_minute:
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
