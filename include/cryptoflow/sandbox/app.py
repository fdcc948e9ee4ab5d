"""The sandbox's ASGI application: routing, auth, plans, limits, faults, caching and accounting.

URL layout on one port:

- ``/coingecko/api/v3/...``: CoinGecko's public host (Demo keys and keyless callers);
- ``/coingecko-pro/api/v3/...``: CoinGecko's Pro host (paid keys);
- ``/cmc/...``: CMC's Pro API root; CMC DEX lives under the same root (``/cmc/v4/dex/...``);
- ``/__admin/...``: the admin API (health, keys, accounting, reset, faults, clock, limits, settings).

A plain ASGI callable (no framework) so that one core serves thousands of requests a second: bodies are
rendered once per (endpoint, parameters, plan, snapshot minute) and kept in a bounded LRU as bytes.
Endpoints are found from the API descriptions in :mod:`cryptoflow.apis`; bodies come from
:mod:`cryptoflow.sandbox.render`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
import time
from collections import OrderedDict
from email.utils import formatdate
from typing import Any
from urllib.parse import parse_qsl

import orjson

from cryptoflow.apis import APIS
from cryptoflow.apis.base import Endpoint
from cryptoflow.sandbox import errors, faults, keys
from cryptoflow.sandbox.accounting import Accounting
from cryptoflow.sandbox.clock import Clock
from cryptoflow.sandbox.config import Config
from cryptoflow.sandbox.limits import Limiter, wall_minute
from cryptoflow.sandbox.render import HANDLERS, Context, Result, _load
from cryptoflow.sandbox.timefmt import floor, iso_ms
from cryptoflow.sandbox.universe import Universe

log = logging.getLogger("cryptoflow.sandbox")
JSON = b"application/json; charset=utf-8"
HTML = b"text/html; charset=UTF-8"
CG_PUBLIC = "/coingecko/api/v3"
CG_PRO = "/coingecko-pro/api/v3"
CMC_ROOT = "/cmc"
TRANSPORT_KEY = "cryptoflow.transport"
TS_PLACEHOLDER = b"__SANDBOX_NOW__"

CG_HEADERS = {"demo": b"x-cg-demo-api-key", "pro": b"x-cg-pro-api-key"}
CG_QUERY = {"demo": "x_cg_demo_api_key", "pro": "x_cg_pro_api_key"}
CMC_HEADER = b"x-cmc_pro_api_key"
CMC_QUERY = "CMC_PRO_API_KEY"
AUTH_PARAMS = {"x_cg_demo_api_key", "x_cg_pro_api_key", CMC_QUERY}


def _split_path(template: str, path: str) -> dict[str, str]:
    out = {}
    for t, p in zip(template.strip("/").split("/"), path.strip("/").split("/"), strict=False):
        if t.startswith("{") and t.endswith("}"):
            out[t[1:-1]] = p
    return out


class SandboxApp:
    """The three APIs and the admin API behind one ASGI callable."""

    def __init__(self, config: Config) -> None:
        _load()
        self.config = config
        self.settings = config.settings
        self.universe = Universe.default(self.settings.seed, self.settings.coins)
        self.clock = Clock()
        self.keyring = keys.keyring(config.keys, config.key_states)
        self.accounting = Accounting(self.settings.log_seconds)
        self.faults = faults.FaultBook()
        self.limiter = Limiter()
        self.started_minute = wall_minute(time.time())  # where a drift from the config starts its walk
        self.cache: OrderedDict[tuple, tuple[bytes, int, int]] = OrderedDict()
        self.cache_bytes = 0
        self.restore()

    # ---------------------------------------------------------------------------------- state

    def restore(self) -> None:
        """Back to the state at start: config clock, faults and limits; zero accounting and usage."""
        self.clock.configure(self.config.clock)
        self.faults = faults.FaultBook()
        self.faults.set(self.config.faults)
        self.limiter = Limiter(
            self.config.limits, enforce=self.settings.enforce_limits, minute=self.started_minute
        )
        self.accounting.reset()

    def clear_cache(self) -> None:
        """Forget every rendered body."""
        self.cache.clear()
        self.cache_bytes = 0

    def _plan_of(self, api: str, label: str) -> str | None:
        """The plan of the key sent as ``label`` (keyless CoinGecko: ``keyless``; unknown key: ``None``)."""
        if label == "-":
            return "keyless" if api == "coingecko" else None
        key = self.keyring.get(label)
        return key.plan if key is not None else None

    def _record(
        self, api: str, label: str, plan: str | None, endpoint: str, status: int, **counts: Any
    ) -> None:
        """Count one answer, with the key's allowance of the minute when its minute limit drifts (the plan
        comes from the key when the call was answered before authentication)."""
        drift = self.limiter.drift_of(api, plan or self._plan_of(api, label))
        self.accounting.record(api, label, plan, endpoint, status, allowance=drift, **counts)

    def keys_by_api(self) -> dict[str, dict[str, str]]:
        """``{api: {plan: key}}`` of every active key (defaults first, then the config's)."""
        out: dict[str, dict[str, str]] = {api: dict(plans) for api, plans in keys.DEFAULT_KEYS.items()}
        for api, plans in self.config.keys.items():
            out.setdefault(api, {}).update(plans)
        return out

    # ----------------------------------------------------------------------------------- ASGI

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        kind = scope["type"]
        if kind == "http":
            path = scope["path"]
            if path.startswith("/__admin"):
                await self.admin(scope, receive, send)
                return
            try:
                await self.api(scope, self._dated(send), path)
            except Exception:  # a sandbox bug: say so in the log, answer like a server error
                log.exception("sandbox error on %s", path)
                body = orjson.dumps({"error": "sandbox internal error; see the sandbox log"})
                with contextlib.suppress(Exception):
                    await self._send(send, 500, body)
        elif kind == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return

    def _dated(self, send: Any) -> Any:
        """``send`` that stamps each answer's ``Date`` header with the sandbox's clock, as a real API's
        server stamps its own time (a client may take the response time from it)."""

        async def dated(message: dict) -> None:
            if message["type"] == "http.response.start":
                stamp = formatdate(self.clock.now(), usegmt=True).encode()
                message = {**message, "headers": [*message.get("headers", []), (b"date", stamp)]}
            await send(message)

        return dated

    @staticmethod
    async def _send(
        send: Any,
        status: int,
        body: bytes,
        content_type: bytes | None = JSON,
        headers: dict[str, str] | None = None,
    ) -> None:
        raw = [(b"content-length", str(len(body)).encode())]
        if content_type:
            raw.insert(0, (b"content-type", content_type))
        if headers:
            raw.extend((k.lower().encode(), str(v).encode()) for k, v in headers.items())
        await send({"type": "http.response.start", "status": status, "headers": raw})
        await send({"type": "http.response.body", "body": body})

    @staticmethod
    async def _drop(scope: dict, rst: bool = True) -> None:
        """Close the client's connection without an answer (TCP RST when ``rst``)."""
        transport = scope.get("extensions", {}).get(TRANSPORT_KEY)
        if transport is None:
            raise ConnectionAbortedError("sandbox fault: connection dropped")
        sock = transport.get_extra_info("socket")
        if rst and sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        transport.abort()
        await asyncio.sleep(0)  # let the server see the connection is gone before the task ends

    # ------------------------------------------------------------------------------------ API

    async def api(self, scope: dict, send: Any, path: str) -> None:
        if path.startswith(CG_PUBLIC + "/") or path == CG_PUBLIC:
            api_name, host, sub = "coingecko", "demo", path[len(CG_PUBLIC) :]
        elif path.startswith(CG_PRO + "/") or path == CG_PRO:
            api_name, host, sub = "coingecko", "pro", path[len(CG_PRO) :]
        elif path.startswith(CMC_ROOT + "/"):
            sub = path[len(CMC_ROOT) :]
            api_name, host = ("cmc_dex" if sub.startswith("/v4/dex/") else "cmc"), "cmc"
        else:
            await self._send(
                send,
                404,
                orjson.dumps(
                    {"error": "Not found", "path": path, "roots": [CG_PUBLIC, CG_PRO, CMC_ROOT, "/__admin"]}
                ),
            )
            return
        description = APIS[api_name]
        style = description.error_style
        query = scope["query_string"].decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        headers = dict(scope["headers"])
        now = self.clock.now()
        endpoint = description.endpoint_for_path(sub)
        key_text = self._key_text(api_name, host, headers, params)
        label = key_text or "-"
        if endpoint is None:
            err = (
                errors.cg_not_found_path()
                if style == "coingecko"
                else errors.cmc_error(now, 404, "Not found", status=404)
            )
            self._record(api_name, label, None, "unknown", err.status)
            await self._send(send, err.status, orjson.dumps(err.body))
            return
        name = endpoint.name
        # Faults that replace the answer come first: a CDN or an outage answers before any auth.
        if self.faults.faults:
            delay, fault = self.faults.before(api_name, name, label, now)
            if delay:
                await asyncio.sleep(delay)
            if fault is not None:
                await self._inject(scope, send, api_name, label, name, fault, now, sub)
                return
        try:
            plan = self._authenticate(api_name, host, key_text, headers, params, now)
            verdict = self.limiter.admit(api_name, label, plan)
            if verdict.reason:
                raise self._limit_error(api_name, verdict.reason, verdict.retry_after, now)
            self._check_plan(endpoint, plan, params, style, now)
            body, n_items, converts, parts = self._body(api_name, endpoint, sub, params, plan, label, now)
        except errors.ApiError as err:
            credits = (
                1
                if style == "coingecko" and self.settings.cg_errors_cost_credits and not err.rate_limited
                else 0
            )
            if credits:
                self.limiter.spend(api_name, label, credits)
            self._record(
                api_name,
                label,
                locals().get("plan"),
                name,
                err.status,
                credits=credits,
                rate_limited=err.rate_limited,
            )
            payload = err.body if isinstance(err.body, bytes) else orjson.dumps(err.body)
            await self._send(
                send,
                err.status,
                payload,
                HTML if err.content_type.startswith("text/html") else JSON,
                err.headers,
            )
            return
        credits = endpoint.credits.cost(n_items, converts)
        body_faults = self.faults.body_faults(api_name, name, label, now) if self.faults.faults else []
        if parts is not None:
            chunks = self._stream_chunks(now, credits, n_items, parts)
            self.limiter.spend(api_name, label, credits)
            if body_faults:  # rare: materialise the answer so the fault can change it
                await self._send_faulty(
                    scope, send, b"".join(chunks), body_faults, endpoint, api_name, label, plan, credits
                )
                return
            self._record(api_name, label, plan, name, 200, credits=credits)
            await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", JSON)]})
            for chunk in chunks:  # no content-length: chunked transfer, one coin at a time in memory
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            return
        if style == "cmc":
            # status.timestamp and credit_count are per answer; patch them into the cached bytes (the
            # status object comes first, so the first occurrence is the right one).
            body = body.replace(TS_PLACEHOLDER, iso_ms(now).encode(), 1).replace(
                b'"credit_count":-1', b'"credit_count":%d' % credits, 1
            )
        self.limiter.spend(api_name, label, credits)
        if body_faults:
            await self._send_faulty(scope, send, body, body_faults, endpoint, api_name, label, plan, credits)
            return
        self._record(api_name, label, plan, name, 200, credits=credits)
        await self._send(send, 200, body)

    def _key_text(
        self, api: str, host: str, headers: dict[bytes, bytes], params: dict[str, str]
    ) -> str | None:
        if api == "coingecko":
            for kind in ("pro", "demo") if host == "pro" else ("demo", "pro"):
                value = headers.get(CG_HEADERS[kind]) or params.get(CG_QUERY[kind])
                if value:
                    return value.decode() if isinstance(value, bytes) else value
            return None
        value = headers.get(CMC_HEADER) or params.get(CMC_QUERY)
        if value:
            return value.decode() if isinstance(value, bytes) else value
        return None

    def _authenticate(  # noqa: PLR0917
        self,
        api: str,
        host: str,
        key_text: str | None,
        headers: dict[bytes, bytes],
        params: dict[str, str],
        now: float,
    ) -> str:
        """The caller's plan, or the real error for a missing, invalid or misplaced key."""
        key = self.keyring.get(key_text) if key_text else None
        if api == "coingecko":
            if key_text is None:
                if host == "demo" and self.settings.cg_keyless:
                    return "keyless"
                raise errors.cg_key_missing()
            if key is None or key.api != "coingecko" or key.state != "active":
                raise errors.cg_key_invalid()
            if host == "demo" and key.plan != "demo":
                raise errors.cg_wrong_host(True, self.settings.cg_wrong_host_status)
            if host == "pro" and key.plan == "demo":
                raise errors.cg_wrong_host(False, self.settings.cg_wrong_host_status)
            return key.plan
        if key_text is None:
            raise errors.cmc_error(now, 1002)
        if key is None or key.api != "cmc":
            raise errors.cmc_error(now, 1001)
        state_codes = {"disabled": 1007, "expired": 1004, "unpaid": 1003}
        if key.state in state_codes:
            raise errors.cmc_error(now, state_codes[key.state])
        if key.plan not in APIS[api].plans:
            raise errors.cmc_error(now, 1006)
        return key.plan

    def _limit_error(self, api: str, reason: str, retry_after: int, now: float) -> errors.ApiError:
        if api == "coingecko":
            setting = self.settings.cg_retry_after
            seconds = retry_after if setting == "next_minute" else int(setting)
            if reason == "minute":
                return errors.cg_rate_limited(seconds)
            return errors.cg_credits_exhausted(seconds)
        code = {"minute": 1008, "daily": 1009, "monthly": 1010}[reason]
        return errors.cmc_error(now, code, headers={"Retry-After": str(retry_after)})

    @staticmethod
    def _check_plan(endpoint: Endpoint, plan: str, params: dict[str, str], style: str, now: float) -> None:
        allowed = endpoint.allowed_on(plan) and all(
            endpoint.param_allowed(plan, name, value)
            for name, value in params.items()
            if name in endpoint.param_plans
        )
        if allowed:
            return
        if style == "coingecko":
            raise errors.cg_paid_only()
        raise errors.cmc_error(now, 1006)

    def _body(  # noqa: PLR0917
        self,
        api: str,
        endpoint: Endpoint,
        sub: str,
        params: dict[str, str],
        plan: str,
        label: str,
        now: float,
    ) -> tuple[bytes, int, int, list | None]:
        """Rendered bytes (from the LRU when the same request was answered this snapshot), record count,
        convert count, and - for a big bundled answer - the entries to stream instead of bytes."""
        for name in AUTH_PARAMS:
            params.pop(name, None)
        snap = floor(now, self.settings.snapshot_seconds)
        usage_dependent = endpoint.name in ("key", "key_info")
        cache_key = (api, sub, tuple(sorted(params.items())), plan, snap)
        if not usage_dependent:
            hit = self.cache.get(cache_key)
            if hit is not None:
                self.cache.move_to_end(cache_key)
                return (*hit, None)
        usage = self.limiter.report(api, label, plan) if usage_dependent else None
        ctx = Context(self.universe, self.settings, snap, plan, usage, stream=True)
        result: Result = HANDLERS[(api, endpoint.name)](ctx, _split_path(endpoint.path, sub), params)
        if result.parts is not None:
            return b"", result.n_items, result.converts, result.parts
        if endpoint.body.status_path:
            status = errors.cmc_status(
                0, 0, None, credits=-1, elapsed=1 + result.n_items // 50, total_count=result.total_count
            )
            status["timestamp"] = TS_PLACEHOLDER.decode()
            body = {"status": status, "data": result.body}
        else:
            body = result.body
        raw = orjson.dumps(body)
        entry = (raw, result.n_items, result.converts)
        if not usage_dependent and len(raw) <= self.settings.cache_mb * 250_000:  # <= 1/4 of the budget
            self.cache[cache_key] = entry
            self.cache_bytes += len(raw)
            budget = self.settings.cache_mb * 1_000_000
            while self.cache and (len(self.cache) > self.settings.cache_entries or self.cache_bytes > budget):
                _, (old, _, _) = self.cache.popitem(last=False)
                self.cache_bytes -= len(old)
        return (*entry, None)

    @staticmethod
    def _stream_chunks(now: float, credits: int, n_items: int, parts: list) -> Any:
        """The bytes of a streamed CMC answer: the status, then one ``data`` entry at a time."""
        status = errors.cmc_status(now, 0, None, credits=credits, elapsed=1 + n_items // 50)
        yield b'{"status":' + orjson.dumps(status) + b',"data":{'
        for i, (key, render_entry) in enumerate(parts):
            yield (b"," if i else b"") + orjson.dumps(key) + b":" + orjson.dumps(render_entry())
        yield b"}}"

    # ---------------------------------------------------------------------------------- faults

    async def _inject(  # noqa: PLR0917
        self,
        scope: dict,
        send: Any,
        api: str,
        label: str,
        endpoint: str,
        fault: faults.Fault,
        now: float,
        sub: str,
    ) -> None:
        style = APIS[api].error_style
        kind = fault.kind
        self._record(
            api,
            label,
            None,
            endpoint,
            fault.status
            or {"rate_limit": 429, "html": 200, "redirect": faults.REDIRECT_STATUS}.get(
                kind, 0 if kind in ("timeout", "reset") or (kind == "down" and fault.mode != "error") else 503
            ),
            rate_limited=kind == "rate_limit",
            fault=kind,
        )
        if kind == "reset" or (kind == "down" and fault.mode == "reset"):
            await self._drop(scope)
            return
        if kind == "timeout" or (kind == "down" and fault.mode == "timeout"):
            await asyncio.sleep(fault.delay_s if fault.delay_s is not None else 30.0)
            await self._drop(scope, rst=False)
            return
        if kind == "redirect":
            location = faults.redirect_location(fault.location, sub, scope["query_string"].decode("latin-1"))
            status = fault.status or faults.REDIRECT_STATUS
            await self._send(send, status, b"", None, {"Location": location})
            return
        if kind == "html":
            status = fault.status or 200
            await self._send(send, status, errors.html_page(status), HTML)
            return
        if kind == "rate_limit":
            retry = {"Retry-After": str(fault.retry_after)}
            err = (
                errors.cg_rate_limited(fault.retry_after)
                if style == "coingecko"
                else errors.cmc_error(now, 1008, headers=retry)
            )
            await self._send(send, 429, orjson.dumps(err.body), JSON, err.headers)
            return
        status = fault.status or (503 if kind == "down" else 500)
        if kind == "down" and style == "coingecko" and fault.status is None:
            await self._send(send, status, errors.html_page(status), HTML)
            return
        message = "Service Unavailable" if status == 503 else "Internal Server Error"
        err = errors.error_for(style, now, status, message)
        await self._send(send, status, orjson.dumps(err.body))

    async def _send_faulty(  # noqa: PLR0917
        self,
        scope: dict,
        send: Any,
        raw: bytes,
        hits: list[faults.Fault],
        endpoint: Endpoint,
        api: str,
        label: str,
        plan: str,
        credits: int,
    ) -> None:
        kinds = [f.kind for f in hits]
        self._record(api, label, plan, endpoint.name, 200, credits=credits, fault="+".join(kinds))
        body_changes = [f for f in hits if f.kind not in ("malformed_json", "truncated")]
        if body_changes:
            obj = orjson.loads(raw)
            for f in body_changes:
                obj = faults.mutate(obj, f, endpoint.body)
            raw = orjson.dumps(obj)
        for f in hits:
            if f.kind == "malformed_json":
                raw = faults.malformed(raw)
        cut = next((f for f in hits if f.kind == "truncated"), None)
        if cut is None:
            await self._send(send, 200, raw)
            return
        part = raw[: max(1, int(len(raw) * cut.fraction))]
        if not cut.abort:
            await self._send(send, 200, part)
            return
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [(b"content-type", JSON), (b"content-length", str(len(raw)).encode())],
            }
        )
        await send({"type": "http.response.body", "body": part, "more_body": True})
        await asyncio.sleep(0.05)
        await self._drop(scope, rst=False)

    # ----------------------------------------------------------------------------------- admin

    async def admin(self, scope: dict, receive: Any, send: Any) -> None:
        from cryptoflow.sandbox.admin import handle

        method = scope["method"]
        body = b""
        if method in ("POST", "PUT", "DELETE"):
            more = True
            while more:
                message = await receive()
                body += message.get("body", b"")
                more = message.get("more_body", False)
        query = scope["query_string"].decode("latin-1")
        params = dict(parse_qsl(query, keep_blank_values=True)) if query else {}
        status, payload = handle(self, method, scope["path"][len("/__admin") :] or "/", params, body)
        await self._send(send, status, orjson.dumps(payload, option=orjson.OPT_NON_STR_KEYS))
