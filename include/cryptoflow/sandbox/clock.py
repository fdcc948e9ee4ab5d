"""The sandbox's "now": real UTC time by default, or a fixed instant, or real time shifted by an offset.

Data endpoints answer for this clock, so a test can freeze it and get identical bodies for identical
requests. Rate-limit windows and "down for N seconds" faults use real time, so a frozen clock never
stops a minute window from resetting.
"""

from __future__ import annotations

import time
from typing import Any

from cryptoflow.sandbox.timefmt import iso_ms, parse_time


class Clock:
    """Real, fixed or offset time (UNIX seconds)."""

    def __init__(self) -> None:
        self.fixed: float | None = None
        self.offset: float = 0.0

    def now(self) -> float:
        """The sandbox's current time."""
        if self.fixed is not None:
            return self.fixed
        return time.time() + self.offset

    def set(self, now: float | str | None = None, frozen: bool = True, offset_s: float | None = None) -> None:
        """Fix the clock at ``now`` (``frozen``), or run it from ``now`` on, or shift real
        time by ``offset_s``.

        ``now=None`` and no offset: back to real time.
        """
        self.fixed = None
        self.offset = 0.0
        if now is not None:
            at = parse_time(now)
            if frozen:
                self.fixed = at
            else:
                self.offset = at - time.time()
        elif offset_s is not None:
            self.offset = float(offset_s)

    def configure(self, spec: dict[str, Any]) -> None:
        """Apply a ``clock:`` mapping from the config (``now``, ``frozen``, ``offset_s``)."""
        self.set(spec.get("now"), bool(spec.get("frozen", True)), spec.get("offset_s"))

    def describe(self) -> dict[str, Any]:
        """What ``GET /__admin/clock`` answers."""
        mode = "fixed" if self.fixed is not None else ("offset" if self.offset else "real")
        now = self.now()
        return {"mode": mode, "now": iso_ms(now), "now_s": now, "offset_s": self.offset}
