"""The admin API (``/__admin/...``): what tests, the demo and the benchmarks use to steer the sandbox.

==========================  ===================================================================
``GET  /health``            ``{"status": "ok"}``
``GET  /keys``              ``{"keys": {api: {plan: key}}, "urls": {...}}``
``GET  /accounting``        calls, credits, 429s, faults per API, key and endpoint; per-second log
                            (``?log=false`` leaves the log out)
``POST /accounting/reset``  zero the accounting only
``POST /reset``             back to the state at start: config clock, faults, limits, settings;
                            zero accounting, usage and the body cache
``GET  /faults``            the faults and their counters
``POST /faults``            add faults: a fault mapping, a list, or ``{"faults": [...], "replace": true}``
``DELETE /faults``          clear every fault (``?api=cmc``: that API's only)
``GET  /clock``             the sandbox's now
``POST /clock``             ``{"now": ISO or UNIX s or null, "frozen": true}`` or ``{"offset_s": N}``
``GET  /limits``            limits per API and plan, and whether they are enforced; a drifting limit
                            shows ``drift: {low, high, step, seed, m0, minute, allowance}``
``POST /limits``            ``{api: {plan or "*": {calls_per_minute, monthly_credits, daily_credits,
                            drift}}}`` (``drift: {low, high, step, seed}`` or null, see ``limits.py``),
                            ``{"enforce": false}``; ``{"reset_usage": true}`` zeroes usage
``GET  /settings``          the settings (UNCERTAIN behaviours) in force
``POST /settings``          change settings at run time (clears the body cache)
==========================  ===================================================================
"""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import orjson

if TYPE_CHECKING:
    from cryptoflow.sandbox.app import SandboxApp


def _json(body: bytes) -> Any:
    if not body.strip():
        return {}
    return orjson.loads(body)


def handle(app: SandboxApp, method: str, path: str, params: dict[str, str], body: bytes) -> tuple[int, Any]:
    """(status, payload) for one admin request."""
    path = path.rstrip("/") or "/"
    try:
        data = _json(body) if method in ("POST", "PUT") else {}
    except orjson.JSONDecodeError as exc:
        return 400, {"error": f"body is not JSON: {exc}"}
    try:
        return _route(app, method, path, params, data)
    except (ValueError, TypeError, KeyError) as exc:
        return 400, {"error": str(exc)}


def _route(app: SandboxApp, method: str, path: str, params: dict[str, str], data: Any) -> tuple[int, Any]:
    if path == "/health":
        return 200, {"status": "ok"}
    if path == "/keys":
        return 200, {"keys": app.keys_by_api()}
    if path == "/accounting" and method == "GET":
        return 200, app.accounting.snapshot(with_log=params.get("log", "true") != "false")
    if path == "/accounting/reset" and method == "POST":
        app.accounting.reset()
        return 200, {"status": "ok"}
    if path == "/reset" and method == "POST":
        from cryptoflow.sandbox.universe import Universe

        app.settings = app.config.settings
        app.universe = Universe.default(app.settings.seed, app.settings.coins)
        app.clear_cache()
        app.restore()
        return 200, {"status": "ok"}
    if path == "/faults":
        if method == "GET":
            return 200, {"faults": app.faults.describe()}
        if method == "DELETE":
            app.faults.clear(params.get("api"))
            return 200, {"faults": app.faults.describe()}
        if method == "POST":
            if isinstance(data, dict) and "faults" in data:
                new = app.faults.set(data["faults"], replace=bool(data.get("replace", False)))
            elif isinstance(data, dict) and data.get("clear"):
                app.faults.clear(data.get("api"))
                new = []
            else:
                new = app.faults.set(data)
            return 200, {"added": [f.describe() for f in new], "faults": app.faults.describe()}
    if path == "/clock":
        if method == "POST":
            app.clock.set(data.get("now"), bool(data.get("frozen", True)), data.get("offset_s"))
        return 200, app.clock.describe()
    if path == "/limits":
        if method == "POST":
            data = dict(data)
            if data.pop("reset_usage", False):
                app.limiter.reset()
            app.limiter.update(data)
        return 200, app.limiter.describe()
    if path == "/settings":
        if method == "POST" and data:
            from cryptoflow.sandbox.universe import Universe

            app.settings = app.settings.with_changes(dict(data))
            if "seed" in data or "coins" in data:
                app.universe = Universe.default(app.settings.seed, app.settings.coins)
            if "enforce_limits" in data:
                app.limiter.enforce = app.settings.enforce_limits
            app.clear_cache()  # a setting may change what a cached body holds
        return 200, asdict(app.settings)
    return 404, {"error": f"no admin route {method} {path}"}
