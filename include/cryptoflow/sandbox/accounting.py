"""What the sandbox served: the ground truth for every benchmark's call counts and rates.

Per API, key and endpoint: calls, answers by HTTP status, credits spent, 429s sent and faults injected;
per API and key, a per-second log ``[unix_second, calls, 429s]`` of the last ``log_seconds`` seconds
(real time). Keys are shown as they were sent (sandbox keys are not secrets); a keyless CoinGecko
caller is ``"-"``. A key whose minute limit drifts (``cryptoflow.sandbox.limits.Drift``) also has
``allowance_per_minute``: ``[minute_start_unix_seconds, allowance]`` for every wall-clock minute in which
it made calls, so a benchmark can divide the calls made by what was allowed.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from cryptoflow.sandbox.timefmt import iso_ms


class Accounting:
    """Counters kept in memory by the server; read and reset through the admin API."""

    def __init__(self, log_seconds: int = 6 * 3600) -> None:
        self.log_seconds = log_seconds
        self.reset()

    def reset(self) -> None:
        """Start counting afresh."""
        self.since = time.time()
        self.endpoints: dict[tuple[str, str, str], dict[str, Any]] = {}
        self.plans: dict[tuple[str, str], str] = {}
        self.seconds: dict[tuple[str, str], OrderedDict[int, list[int]]] = {}
        self.allowances: dict[tuple[str, str], dict[int, int]] = {}

    def record(
        self,
        api: str,
        key: str,
        plan: str | None,
        endpoint: str,
        status: int,
        *,
        credits: int = 0,
        rate_limited: bool = False,
        fault: str | None = None,
        allowance: Callable[[int], int | None] | None = None,
    ) -> None:
        """Count one answer; ``allowance`` (a drifting limit's allowance by wall-clock minute) notes the
        allowance of the minute the call falls in (the latest, should the drift change within it)."""
        row = self.endpoints.get((api, key, endpoint))
        if row is None:
            row = self.endpoints[(api, key, endpoint)] = {
                "calls": 0,
                "ok": 0,
                "credits": 0,
                "rate_limited": 0,
                "faults": {},
                "status": {},
            }
        row["calls"] += 1
        if status == 200 and not fault:
            row["ok"] += 1
        row["credits"] += credits
        if rate_limited:
            row["rate_limited"] += 1
        if fault:
            row["faults"][fault] = row["faults"].get(fault, 0) + 1
        code = str(status)
        row["status"][code] = row["status"].get(code, 0) + 1
        if plan:
            self.plans[(api, key)] = plan
        second = int(time.time())
        log = self.seconds.get((api, key))
        if log is None:
            log = self.seconds[(api, key)] = OrderedDict()
        entry = log.get(second)
        if entry is None:
            entry = log[second] = [second, 0, 0]
            while log and next(iter(log)) < second - self.log_seconds:
                log.popitem(last=False)
        entry[1] += 1
        if rate_limited:
            entry[2] += 1
        if allowance is not None:
            minute = second // 60
            self.allowances.setdefault((api, key), {})[minute] = allowance(minute)

    def snapshot(self, with_log: bool = True) -> dict[str, Any]:
        """Everything counted, as ``GET /__admin/accounting`` answers it."""
        apis: dict[str, Any] = {}
        for (api, key, endpoint), row in sorted(self.endpoints.items()):
            a = apis.setdefault(api, {"calls": 0, "ok": 0, "credits": 0, "rate_limited": 0, "keys": {}})
            k = a["keys"].setdefault(
                key,
                {
                    "plan": self.plans.get((api, key)),
                    "calls": 0,
                    "ok": 0,
                    "credits": 0,
                    "rate_limited": 0,
                    "endpoints": {},
                },
            )
            k["endpoints"][endpoint] = {**row, "faults": dict(row["faults"]), "status": dict(row["status"])}
            for target in (a, k):
                for name in ("calls", "ok", "credits", "rate_limited"):
                    target[name] += row[name]
        for (api, key), minutes in self.allowances.items():
            if api in apis and key in apis[api]["keys"]:
                apis[api]["keys"][key]["allowance_per_minute"] = [
                    [m * 60, n] for m, n in sorted(minutes.items())
                ]
        if with_log:
            for (api, key), log in self.seconds.items():
                if api in apis and key in apis[api]["keys"]:
                    apis[api]["keys"][key]["per_second"] = [list(v) for v in log.values()]
        return {"since": iso_ms(self.since), "since_s": self.since, "apis": apis}
