"""Timestamp formats the three APIs use, and a parser for the forms they accept.

CoinGecko: chart arrays in UNIX milliseconds, ``last_updated`` as ISO with milliseconds and ``Z``,
ticker times with ``+00:00``, ``/global.updated_at`` in UNIX seconds. CMC: ISO with ``.mmmZ``
everywhere; inputs as ISO-8601 or UNIX seconds (API_FACTS §1.4, §2.5, §4 #3).
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime

DAY = 86_400
HOUR = 3_600
MINUTE = 60


def iso_ms(t: float) -> str:
    """``2024-04-07T16:49:31.736Z`` (UTC, milliseconds)."""
    ms = round(t * 1000)
    s, frac = divmod(ms, 1000)
    g = time.gmtime(s)
    return (
        f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:{g.tm_min:02d}:"
        f"{g.tm_sec:02d}.{frac:03d}Z"
    )


def iso_offset(t: float) -> str:
    """``2024-04-08T04:02:01+00:00`` (UTC, whole seconds)."""
    g = time.gmtime(int(t))
    return (
        f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}T{g.tm_hour:02d}:{g.tm_min:02d}:{g.tm_sec:02d}+00:00"
    )


def iso_date(t: float) -> str:
    """``2024-04-08``."""
    g = time.gmtime(int(t))
    return f"{g.tm_year:04d}-{g.tm_mon:02d}-{g.tm_mday:02d}"


_NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def parse_time(value: str | float | int) -> float:
    """Seconds since the epoch from UNIX seconds, ``YYYY-MM-DD``, ``YYYY-MM-DDTHH:MM`` or ISO-8601.

    Raises ``ValueError`` for anything else.
    """
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    if _NUMBER.match(text):
        return float(text)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    dt = datetime.fromisoformat(text)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()


def to_datetime(t: float) -> datetime:
    """An aware UTC datetime."""
    return datetime.fromtimestamp(t, tz=UTC)


def floor(t: float, step: int) -> int:
    """``t`` rounded down to a multiple of ``step`` seconds."""
    return int(t // step) * step
