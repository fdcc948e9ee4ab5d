"""Small helpers the body functions share: rounding, currencies, parameter parsing."""

from __future__ import annotations

import math

from cryptoflow.sandbox.universe import Universe

# Fiat per USD; fixed (the sandbox does not model FX).
FIAT = {
    "usd": 1.0,
    "eur": 0.92,
    "gbp": 0.79,
    "jpy": 151.2,
    "cny": 7.21,
    "inr": 83.4,
    "cad": 1.36,
    "aud": 1.52,
    "chf": 0.90,
    "krw": 1352.0,
}
VS_CURRENCIES = (*FIAT, "btc", "eth")


def sig(x: float | None, digits: int = 8) -> float | None:
    """``x`` to ``digits`` significant digits (how the APIs print prices)."""
    if x is None:
        return None
    if x == 0 or not math.isfinite(x):
        return 0.0
    return round(x, digits - 1 - math.floor(math.log10(abs(x))))


def whole(x: float | None) -> int | None:
    """``x`` as an integer (market caps and volumes)."""
    return None if x is None else round(x)


def fx(universe: Universe, vs: str, t: float) -> float:
    """Units of ``vs`` per USD at ``t``."""
    if vs in FIAT:
        return FIAT[vs]
    if vs == "btc":
        return 1.0 / universe.price(universe.coins[0], t)
    if vs == "eth":
        return 1.0 / universe.price(universe.coins[1], t)
    raise KeyError(vs)


def pct(new: float, old: float) -> float | None:
    if not old:
        return None
    return round((new / old - 1.0) * 100.0, 5)


def truthy(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return str(value).lower() in ("true", "1", "yes")


def as_int(value: str | None, default: int) -> int:
    """An integer parameter; ``ValueError`` for junk."""
    if value is None or value == "":
        return default
    return int(value)


def split(value: str | None) -> list[str]:
    """A comma-separated parameter as a list (empty items dropped)."""
    if not value:
        return []
    return [v.strip() for v in str(value).split(",") if v.strip()]
