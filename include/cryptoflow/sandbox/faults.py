"""Fault injection: what can go wrong between a pipeline and an API, on demand and deterministically.

A fault is a mapping, from the config file (``faults:``) or ``POST /__admin/faults``::

    {"api": "coingecko", "endpoint": "coins_markets", "kind": "error", "status": 503, "count": 3}

Where it applies: ``api`` (``coingecko``, ``cmc``, ``cmc_dex`` or ``"*"``), optional ``endpoint`` (a
name from ``cryptoflow.apis``), optional ``key``. When: ``rate`` (probability per matching call,
default 1; decided by a hash of the fault's id and its call counter, so a run repeats exactly),
``after`` (skip the first N matching calls), ``count`` (at most N times), a window on the sandbox clock
(``start``/``end``: ISO or UNIX seconds) or in real seconds from now (``for_seconds``).

Kinds (aliases in brackets):

========================  ============================================================================
``error`` [error_rate,    HTTP ``status`` (default 500; 503 for ``5xx_burst``) with the API's error body
5xx_burst, http_5xx]
``rate_limit``            429 with the API's real body and ``Retry-After: retry_after`` (default 30)
[429_storm, 429]
``slow``                  answer normally after ``delay_s`` seconds (default 2)
``timeout``               hold the request ``delay_s`` seconds (default 30), then drop the connection
``reset``                 drop the connection at once (TCP RST) [connection_reset]
``html`` [html_200,       a Cloudflare-style HTML page with ``status`` (html_200: 200; html_5xx: 502)
html_5xx]
``down``                  the API (or endpoint) is down: ``mode`` ``error`` (503 HTML for CoinGecko,
                          503 JSON for CMC; or ``status``), ``reset`` or ``timeout``; use a window
``redirect``              ``status`` (default 302) with ``Location: location`` (an absolute URL; one that
                          ends with ``/`` gets the request's path and raw query after the API's
                          base prefix appended) and an empty body
``malformed_json``        200 with a body that is not JSON
``truncated``             200 with the body cut at ``fraction`` (default 0.5); ``abort: true`` declares
                          the full length and drops the connection mid-body
``missing_fields``        ``fields`` removed from every record (default: the first required number)
``numbers_as_strings``    ``fields`` (default: every numeric field of the body rule) as JSON strings
``nulls``                 ``fields`` set to null (default: the first required number)
``empty_page``            the records list emptied (``[]``, ``{}``)
``renamed_fields``        ``renames`` ``{old: new}`` (default: the first required number camel-cased)
========================  ============================================================================

Body faults (the last six) apply only to answers that would have been 200. Every injected fault is
counted by the accounting under the endpoint's ``faults``.
"""

from __future__ import annotations

import copy
import itertools
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from cryptoflow.apis.base import BodyRule
from cryptoflow.sandbox import rand
from cryptoflow.sandbox.timefmt import parse_time
from cryptoflow.validation import flatten_map, is_single_record

ALIASES: dict[str, tuple[str, dict[str, Any]]] = {
    "error_rate": ("error", {}),
    "5xx_burst": ("error", {"status": 503}),
    "http_5xx": ("error", {"status": 503}),
    "429_storm": ("rate_limit", {}),
    "429": ("rate_limit", {}),
    "html_200": ("html", {"status": 200}),
    "html_5xx": ("html", {"status": 502}),
    "connection_reset": ("reset", {}),
}
PRE_KINDS = ("error", "rate_limit", "slow", "timeout", "reset", "html", "down", "redirect")
REDIRECT_STATUS = 302
BODY_KINDS = (
    "malformed_json",
    "truncated",
    "missing_fields",
    "numbers_as_strings",
    "nulls",
    "empty_page",
    "renamed_fields",
)
KINDS = PRE_KINDS + BODY_KINDS

_ids = itertools.count(1)


@dataclass
class Fault:
    """One fault rule and its counters."""

    kind: str
    api: str = "*"
    endpoint: str | None = None
    key: str | None = None
    rate: float = 1.0
    after: int = 0
    count: int | None = None
    start: float | None = None  # sandbox clock
    end: float | None = None
    until: float | None = None  # real time
    status: int | None = None
    retry_after: int = 30
    delay_s: float | None = None
    mode: str = "error"
    fields: list[str] | None = None
    renames: dict[str, str] | None = None
    fraction: float = 0.5
    abort: bool = False
    location: str | None = None  # redirect: where to
    seed: int = 0  # with ``rate``: which calls are hit (same seed and spec, same calls)
    id: int = field(default_factory=lambda: next(_ids))
    seen: int = 0
    applied: int = 0

    @classmethod
    def from_spec(cls, spec: dict[str, Any]) -> Fault:
        """A fault from its mapping; unknown kinds or names are an error."""
        spec = dict(spec)
        kind = str(spec.pop("kind", ""))
        extra: dict[str, Any] = {}
        if kind in ALIASES:
            kind, extra = ALIASES[kind]
        if kind not in KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; known: {sorted(KINDS + tuple(ALIASES))}")
        for name in ("start", "end"):
            if spec.get(name) is not None:
                spec[name] = parse_time(spec[name])
        for_seconds = spec.pop("for_seconds", None)
        if for_seconds is not None:
            spec["until"] = time.time() + float(for_seconds)
        for name in ("id", "seen", "applied"):
            spec.pop(name, None)
        known = set(cls.__dataclass_fields__)
        unknown = set(spec) - known
        if unknown:
            raise ValueError(f"unknown fault settings {sorted(unknown)}")
        merged = {**extra, **spec}
        if kind == "redirect":
            _check_redirect(merged)
        return cls(kind=kind, **merged)

    def describe(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if v is not None}

    def expired(self) -> bool:
        return (self.count is not None and self.applied >= self.count) or (
            self.until is not None and time.time() > self.until
        )

    def fires(self, api: str, endpoint: str, key: str, now: float) -> bool:
        """Whether this call is hit (advances the counters when the call matches)."""
        if self.api not in ("*", api) or (self.endpoint and self.endpoint != endpoint):
            return False
        if self.key and self.key != key:
            return False
        if self.start is not None and now < self.start:
            return False
        if self.end is not None and now > self.end:
            return False
        if self.expired():
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        if (
            self.rate < 1.0
            and rand.uniform(
                self.seed, rand.text_id(f"{self.api}/{self.endpoint}/{self.kind}"), self.seen, 99
            )
            >= self.rate
        ):
            return False
        self.applied += 1
        return True


def _check_redirect(spec: dict[str, Any]) -> None:
    """A redirect needs an absolute http(s) ``location`` and, when given, a 3xx ``status``."""
    parts = urlsplit(str(spec.get("location") or ""))
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"a redirect fault needs an absolute http(s) location, not {spec.get('location')!r}")
    status = spec.get("status")
    if status is not None and not 300 <= int(status) < 400:
        raise ValueError(f"a redirect fault's status must be 3xx, not {status}")


def redirect_location(location: str, sub: str, query: str) -> str:
    """The ``Location`` of a redirect fault: ``location`` itself, or - when it ends with ``/`` - with the
    request's path after the API's base prefix (``sub``) and its raw query string appended."""
    if not location.endswith("/"):
        return location
    return location + sub.lstrip("/") + (f"?{query}" if query else "")


class FaultBook:
    """The active faults, in the order they were set."""

    def __init__(self) -> None:
        self.faults: list[Fault] = []

    def set(self, specs: list[dict[str, Any]] | dict[str, Any], replace: bool = False) -> list[Fault]:
        """Add faults (``replace``: drop the others first); returns the new ones."""
        if isinstance(specs, dict):
            specs = [specs]
        new = [Fault.from_spec(s) for s in specs]
        if replace:
            self.faults = []
        self.faults.extend(new)
        return new

    def clear(self, api: str | None = None) -> None:
        """Drop every fault (of ``api`` only, when given)."""
        self.faults = [f for f in self.faults if api and f.api != api]

    def describe(self) -> list[dict[str, Any]]:
        return [f.describe() for f in self.faults]

    def before(self, api: str, endpoint: str, key: str, now: float) -> tuple[float, Fault | None]:
        """(seconds to wait, the fault that replaces the answer or ``None``) for a call about to be served."""
        delay = 0.0
        for f in self.faults:
            if f.kind in PRE_KINDS and f.fires(api, endpoint, key, now):
                if f.kind == "slow":
                    delay += f.delay_s if f.delay_s is not None else 2.0
                    continue
                return delay, f
        return delay, None

    def body_faults(self, api: str, endpoint: str, key: str, now: float) -> list[Fault]:
        """The body faults that hit a 200 answer."""
        if not self.faults:
            return []
        return [f for f in self.faults if f.kind in BODY_KINDS and f.fires(api, endpoint, key, now)]


# ------------------------------------------------------------------------------------------- bodies


def records(body: Any, rule: BodyRule) -> list[dict]:
    """The records of a body, as its endpoint's rule locates them."""
    node = body
    for part in rule.items_path:
        if not isinstance(node, dict):
            return []
        node = node.get(part)
    if isinstance(node, list):
        return [r for r in node if isinstance(r, dict)]
    if isinstance(node, dict):
        if rule.kind == "map" or (rule.kind == "record_or_map" and not is_single_record(node, rule)):
            return [r for r in flatten_map(node) if isinstance(r, dict)]
        return [node]
    return []


def _parent(record: dict, dotted: str) -> tuple[dict | None, str]:
    parts = dotted.split(".")
    node: Any = record
    for p in parts[:-1]:
        if not isinstance(node, dict):
            return None, parts[-1]
        node = node.get(p)
    return (node if isinstance(node, dict) else None), parts[-1]


def _first_number(rule: BodyRule) -> str | None:
    for name in rule.required:
        if name in rule.numeric:
            return name
    return rule.required[-1] if rule.required else None


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(p.capitalize() for p in rest)


def mutate(body: Any, fault: Fault, rule: BodyRule) -> Any:
    """A changed copy of ``body`` for a body fault (not for ``malformed_json``/``truncated``)."""
    body = copy.deepcopy(body)
    recs = records(body, rule)
    kind = fault.kind
    if kind == "empty_page":
        node = body
        for part in rule.items_path[:-1]:
            node = node[part]
        if rule.items_path:
            last = rule.items_path[-1]
            node[last] = (
                {}
                if isinstance(node[last], dict) and rule.kind == "map"
                else ([] if isinstance(node[last], list) else node[last])
            )
            if isinstance(node[last], dict):  # an object: empty its lists
                for k, v in node[last].items():
                    if isinstance(v, list):
                        node[last][k] = []
            return body
        if isinstance(body, list):
            return []
        if isinstance(body, dict):
            return {k: ([] if isinstance(v, list) else v) for k, v in body.items()}
        return body
    if kind == "numbers_as_strings":
        names = fault.fields or list(rule.numeric)
        for r in recs:
            if names:
                for name in names:
                    parent, leaf = _parent(r, name)
                    if (
                        parent is not None
                        and isinstance(parent.get(leaf), int | float)
                        and not isinstance(parent.get(leaf), bool)
                    ):
                        parent[leaf] = str(parent[leaf])
            else:
                for k, v in list(r.items()):
                    if isinstance(v, int | float) and not isinstance(v, bool):
                        r[k] = str(v)
        return body
    default = _first_number(rule)
    if kind == "missing_fields":
        for r in recs:
            for name in fault.fields or ([default] if default else []):
                parent, leaf = _parent(r, name)
                if parent is not None:
                    parent.pop(leaf, None)
    elif kind == "nulls":
        for r in recs:
            for name in fault.fields or ([default] if default else []):
                parent, leaf = _parent(r, name)
                if parent is not None and leaf in parent:
                    parent[leaf] = None
    elif kind == "renamed_fields":
        renames = fault.renames or ({default: _camel(default.split(".")[-1])} if default else {})
        for r in recs:
            for old, new in renames.items():
                parent, leaf = _parent(r, old)
                if parent is not None and leaf in parent:
                    parent[new.split(".")[-1]] = parent.pop(leaf)
    return body


def malformed(raw: bytes) -> bytes:
    """A body that is not JSON: a stray unquoted token after the opening bracket."""
    if not raw:
        return b"{"
    return raw[:1] + b"'sandbox': undefined, " + raw[1:]
