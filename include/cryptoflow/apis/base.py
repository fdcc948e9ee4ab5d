"""The vocabulary in which each API is described once, as data.

An :class:`Api` names its plans, base URLs, auth headers and endpoints; an :class:`Endpoint` names its
path, default parameters, paginator, credit cost, plan gating and the rules a valid body must meet
(:class:`BodyRule`). The client, the validation, the sandbox and the call-minimum arithmetic of the
benchmarks all read these objects, so a fact about an API lives in exactly one place.

Nothing here does I/O: these are frozen dataclasses and a few pure functions.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

# --------------------------------------------------------------------------------------------------
# Pagination: one small class per style, each with one job: given the request that was sent and the
# items that came back, say which request comes next (or None when the listing is exhausted).
# --------------------------------------------------------------------------------------------------


def _page_size(wanted: int | None, maximum: int) -> int:
    """The largest page the API allows, or fewer when fewer items are wanted."""
    return maximum if wanted is None else max(1, min(maximum, wanted))


def _calls(wanted: int, size: int) -> int:
    return max(1, math.ceil(wanted / size))


@dataclass(frozen=True)
class SinglePage:
    """The endpoint answers in one response; there is nothing to page."""

    kind: str = "single"

    def first(self, params: Mapping[str, Any], wanted: int | None = None) -> dict[str, Any]:
        return dict(params)

    def next(
        self, sent: Mapping[str, Any], items: list[Any], body: Any, wanted: int | None = None
    ) -> dict[str, Any] | None:
        return None

    def calls_for(self, wanted: int) -> int:
        return 1

    def calls_for_all(self, records: int) -> int:
        return 1


@dataclass(frozen=True)
class PageNumber:
    """``page``/``per_page`` paging with no total count: stop on a short or empty page.

    ``wanted`` is how many items the caller needs (top N); paging stops once that many were seen,
    and the page size is chosen as large as the API allows so the fewest calls are spent.
    """

    page_param: str = "page"
    size_param: str = "per_page"
    max_size: int = 100
    default_size: int = 100
    start: int = 1
    kind: str = "page"

    def size_for(self, wanted: int | None) -> int:
        """As large as allowed, and for a top N the same size on every page, so that the fewest pages
        hold N and not a page more (page numbers cannot trim the last page): 300 is 2 pages of 150."""
        if wanted is None:
            return self.max_size
        return math.ceil(wanted / _calls(wanted, self.max_size))

    def first(self, params: Mapping[str, Any], wanted: int | None = None) -> dict[str, Any]:
        out = dict(params)
        out[self.page_param] = self.start
        out[self.size_param] = self.size_for(wanted)
        return out

    def next(
        self, sent: Mapping[str, Any], items: list[Any], body: Any, wanted: int | None = None
    ) -> dict[str, Any] | None:
        size = int(sent[self.size_param])
        page = int(sent[self.page_param])
        seen = (page - self.start) * size + len(items)
        if len(items) < size or (wanted is not None and seen >= wanted):
            return None
        out = dict(sent)
        out[self.page_param] = page + 1
        return out

    def calls_for(self, wanted: int) -> int:
        """The fewest calls that list ``wanted`` items (the call-minimum of the benchmarks)."""
        return _calls(wanted, self.size_for(wanted))

    def calls_for_all(self, records: int) -> int:
        """Calls that list a whole listing of ``records``: with no total in the answer, paging stops on a
        short page, so a listing that fills its last page exactly costs one (empty) page more."""
        return records // self.max_size + 1


@dataclass(frozen=True)
class Offset:
    """``start``/``limit`` paging (1-based ``start``), with the total in ``status.total_count``."""

    start_param: str = "start"
    limit_param: str = "limit"
    max_limit: int = 5000
    default_limit: int = 100
    start: int = 1
    kind: str = "offset"

    def size_for(self, wanted: int | None) -> int:
        return _page_size(wanted, self.max_limit)

    def first(self, params: Mapping[str, Any], wanted: int | None = None) -> dict[str, Any]:
        out = dict(params)
        out[self.start_param] = self.start
        out[self.limit_param] = self.size_for(wanted)
        return out

    def next(
        self, sent: Mapping[str, Any], items: list[Any], body: Any, wanted: int | None = None
    ) -> dict[str, Any] | None:
        limit = int(sent[self.limit_param])
        start = int(sent[self.start_param])
        seen = start - self.start + len(items)
        total = None
        if isinstance(body, dict) and isinstance(body.get("status"), dict):
            total = body["status"].get("total_count")
        if len(items) < limit or (wanted is not None and seen >= wanted):
            return None
        if isinstance(total, int) and seen >= total:
            return None
        out = dict(sent)
        out[self.start_param] = start + len(items)
        if wanted is not None:
            out[self.limit_param] = min(limit, wanted - seen)
        return out

    def calls_for(self, wanted: int) -> int:
        return _calls(wanted, self.size_for(wanted))

    def calls_for_all(self, records: int) -> int:
        """Calls that list a whole listing of ``records``: the total in ``status.total_count`` ends it."""
        return _calls(records, self.max_limit)


@dataclass(frozen=True)
class ScrollCursor:
    """Cursor paging: pass the ``scroll_id`` of the last item; stop on a short or empty batch."""

    cursor_param: str = "scroll_id"
    limit_param: str = "limit"
    item_cursor_field: str = "scroll_id"
    max_limit: int = 100
    default_limit: int = 100
    kind: str = "cursor"

    def size_for(self, wanted: int | None) -> int:
        return _page_size(wanted, self.max_limit)

    def first(self, params: Mapping[str, Any], wanted: int | None = None) -> dict[str, Any]:
        out = dict(params)
        out.pop(self.cursor_param, None)
        out[self.limit_param] = self.size_for(wanted)
        return out

    def next(
        self, sent: Mapping[str, Any], items: list[Any], body: Any, wanted: int | None = None
    ) -> dict[str, Any] | None:
        limit = int(sent[self.limit_param])
        if not items or len(items) < limit:
            return None
        last = items[-1]
        cursor = last.get(self.item_cursor_field) if isinstance(last, dict) else None
        if cursor is None and isinstance(body, dict):
            cursor = body.get(self.item_cursor_field)
        if not cursor:
            return None
        out = dict(sent)
        out[self.cursor_param] = cursor
        return out

    def calls_for(self, wanted: int) -> int:
        return _calls(wanted, self.size_for(wanted))

    def calls_for_all(self, records: int) -> int:
        """Calls that list a whole listing of ``records``: paging stops on a short batch, so a listing
        that fills its last batch exactly costs one (empty) batch more."""
        return records // self.max_limit + 1


Paginator = SinglePage | PageNumber | Offset | ScrollCursor

# --------------------------------------------------------------------------------------------------
# Credits: how much of a monthly budget one call spends.
# --------------------------------------------------------------------------------------------------


def converts_in(params: Mapping[str, Any]) -> int:
    """How many ``convert`` currencies a request asks for (CMC charges each beyond the first)."""
    return len(str(params.get("convert") or "USD").split(","))


@dataclass(frozen=True)
class Credits:
    """Credit cost of one successful call: ``per_call``, plus one credit per ``per_items`` items.

    ``per_items`` is CMC's "1 credit per 100 coins returned" style; 0 credits is allowed (``/map``).
    """

    per_call: int = 1
    per_items: int | None = None
    per_extra_convert: int = 0  # CMC: +1 credit for each ``convert`` currency beyond the first
    only_success: bool = True  # errors cost nothing (CMC); CoinGecko's 2026 docs say the same

    def cost(self, n_items: int, converts: int = 1) -> int:
        """Credits one successful call spends for ``n_items`` records and ``converts`` currencies."""
        if self.per_items:
            base = max(self.per_call, math.ceil(max(n_items, 1) / self.per_items))
        else:
            base = self.per_call
        return base + self.per_extra_convert * max(0, converts - 1)


# --------------------------------------------------------------------------------------------------
# What a valid body holds.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BodyRule:
    """The rules a 200 body must meet before anything lands.

    - ``items_path``: where the list (or object) of records lives: ``()`` for the body itself,
      ``("data",)`` for CMC's envelope.
    - ``kind``: ``"list"`` (a JSON array of records), ``"rows"`` (a JSON array of arrays, such as
      CoinGecko's ``[ms, open, high, low, close]`` candles), ``"object"`` (one record), ``"map"`` (an
      object whose values are records, or lists of records, such as CMC's ``data`` keyed by id or by
      symbol), or ``"record_or_map"`` (one record when one id was asked for, else a map: CMC's
      historical endpoints; told apart by the first required field).
    - ``required``: fields every record must have. A path is dotted to reach into nested objects; a
      ``[]`` segment means every element of a list (``quote[].price``, ``quotes[].quote[].open``) and a
      segment of digits a position in an array (``prices[].0``: the ms of every ``[ms, value]`` point).
    - ``numeric``: fields that must be a finite JSON number (staging casts them ``::numeric``).
    - ``integers``: fields that must be a JSON integer within a Postgres ``bigint``, or a string of
      digits (ids the API sends as strings, such as CMC DEX ids; UNIX seconds as text); booleans and
      every number written as a float (even ``3.0``: ``'3.0'::bigint`` fails) are refused. The guarantee
      is for ``::bigint``; a model casting a rank ``::integer`` relies on ranks staying below 2**31.
    - ``timestamps``: fields that must be an ISO-8601 date and time in UTC (``2026-03-20T00:00:00.000Z``,
      ``...+00:00``): what ``::timestamptz`` reads as the same instant in any session time zone. A
      date alone, a time without a zone, another offset or a number (UNIX time belongs in
      ``integers``) is refused.
    - ``nullable``: fields that may be null (the typed fields above may be null only when listed here;
      a typed field that is absent is left to ``required``).
    - ``allow_empty``: whether an empty list is a valid answer (a page past the end is; a first page
      of a listing is not).
    - ``status_path``: CMC's ``status`` object, whose ``error_code`` must be 0 even on HTTP 200.
    """

    items_path: tuple[str, ...] = ()
    kind: str = "list"
    required: tuple[str, ...] = ()
    numeric: tuple[str, ...] = ()
    integers: tuple[str, ...] = ()
    timestamps: tuple[str, ...] = ()
    nullable: tuple[str, ...] = ()
    allow_empty: bool = False
    status_path: tuple[str, ...] | None = None


# --------------------------------------------------------------------------------------------------
# Plans, endpoints, APIs.
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    """A subscription plan: its rate and credit limits, and how far back history reaches."""

    name: str
    calls_per_minute: int
    monthly_credits: int | None = None
    daily_credits: int | None = None
    history_days: int | None = None  # None: unlimited
    base_url: str = ""
    auth_header: str | None = None
    auth_query: str | None = None


@dataclass(frozen=True)
class Endpoint:
    """One endpoint of one API, described once.

    ``name`` is the endpoint's stable identifier (it names the raw table ``raw.<api>__<name>``).
    ``path`` may hold ``{placeholders}`` (``/coins/{id}/market_chart/range``). ``params`` are the
    defaults the pipeline sends. ``plans`` lists the plans allowed to call it (empty: all plans).
    """

    name: str
    path: str
    params: Mapping[str, Any] = field(default_factory=dict)
    paginator: Paginator = field(default_factory=SinglePage)
    credits: Credits = field(default_factory=Credits)
    plans: frozenset[str] = frozenset()
    body: BodyRule = field(default_factory=BodyRule)
    history_days: Mapping[str, int] = field(default_factory=dict)
    description: str = ""
    # Additions (all optional): how far back *daily* data reaches per plan where it differs from the
    # intraday depth in ``history_days`` (CMC: Basic has 1 month intraday, 1 year daily); plans missing
    # from either mapping reach back without limit.
    daily_history_days: Mapping[str, int] = field(default_factory=dict)
    # Parameters only some plans may send (CoinGecko ``interval=hourly`` is Enterprise-only):
    # ``{"interval": {"hourly": frozenset({"enterprise"})}}``; ``"*"`` matches any value.
    param_plans: Mapping[str, Mapping[str, frozenset[str]]] = field(default_factory=dict)
    max_ids: int | None = None  # ids bundled in one call (CMC ``id=1,2,3``)
    max_count: int | None = None  # periods per call of a time-window endpoint (CMC ``count``)
    cache_seconds: int | None = None  # how long the vendor serves the same body again
    ids_per_call_param: str | None = None  # the parameter that bundles ids, if any

    def history_limit(self, plan: str, daily: bool = False) -> int | None:
        """Days back ``plan`` may reach (``None``: unlimited); ``daily`` picks the daily depth."""
        if daily and plan in self.daily_history_days:
            return self.daily_history_days[plan]
        return self.history_days.get(plan)

    def param_allowed(self, plan: str, name: str, value: Any) -> bool:
        """Whether ``plan`` may send ``name=value`` (see ``param_plans``)."""
        rules = self.param_plans.get(name)
        if not rules:
            return True
        allowed = rules.get(str(value), rules.get("*"))
        return allowed is None or plan in allowed

    def credits_upper_bound(self, params: Mapping[str, Any]) -> int:
        """The most credits one call with ``params`` can cost: the page size or the bundled ids (times
        ``count`` periods) as the records, and every ``convert`` currency. What a credit budget reserves."""
        items = 1
        for name in ("limit_param", "size_param"):
            size_param = getattr(self.paginator, name, None)
            if size_param and str(params.get(size_param, "")).isdigit():
                items = int(params[size_param])
        if self.ids_per_call_param and params.get(self.ids_per_call_param):
            items = len(str(params[self.ids_per_call_param]).split(","))
            if str(params.get("count", "")).isdigit():
                items *= int(params["count"])
        return self.credits.cost(items, converts_in(params))

    def allowed_on(self, plan: str) -> bool:
        return not self.plans or plan in self.plans

    def render_path(self, **values: Any) -> str:
        return self.path.format(**values)


@dataclass(frozen=True)
class Api:
    """One API: its plans, its Airflow names and its endpoints."""

    name: str  # "coingecko", "cmc", "cmc_dex": the connection id, the pool and the raw-table prefix
    title: str  # "CoinGecko": for people and error messages
    plans: Mapping[str, Plan]
    default_plan: str
    endpoints: Mapping[str, Endpoint]
    default_calls_per_minute: int  # the project's own budget, below the plan's limit
    # Additions: the error envelope family ("coingecko" or "cmc") and a free-text note of the facts'
    # sources; both optional so existing constructions keep working.
    error_style: str = ""
    notes: str = ""
    # Error codes of the API's bodies, by what a client should do: never retry (auth, plan, key type,
    # history beyond the plan), wait and retry (minute limits), or stop until a quota resets.
    permanent_errors: frozenset[int] = frozenset()
    rate_limit_errors: frozenset[int] = frozenset()
    quota_errors: frozenset[int] = frozenset()

    @property
    def conn_id(self) -> str:
        return self.name

    @property
    def pool(self) -> str:
        return self.name

    def endpoint(self, name: str) -> Endpoint:
        try:
            return self.endpoints[name]
        except KeyError:
            known = sorted(self.endpoints)
            raise KeyError(f"{self.title} has no endpoint {name!r}; known: {known}") from None

    def plan(self, name: str | None) -> Plan:
        return self.plans[name or self.default_plan]

    def endpoint_for_path(self, path: str) -> Endpoint | None:
        """The endpoint whose ``path`` template matches a concrete ``path`` (``None`` if none does).

        Literal segments win over placeholders, so ``/coins/list`` is not read as ``/coins/{id}``.
        """
        parts = path.rstrip("/").split("/")
        best: tuple[int, Endpoint] | None = None
        for item in self.endpoints.values():
            tparts = item.path.rstrip("/").split("/")
            if len(tparts) != len(parts):
                continue
            literal = 0
            for t, p in zip(tparts, parts, strict=True):
                if t.startswith("{") and t.endswith("}"):
                    if not p:
                        break
                elif t == p:
                    literal += 1
                else:
                    break
            else:
                if best is None or literal > best[0]:
                    best = (literal, item)
        return best[1] if best else None

    def raw_table(self, endpoint: str) -> str:
        """The raw landing table of an endpoint, ``raw.<api>__<endpoint>``."""
        return f"raw.{self.name}__{self.endpoint(endpoint).name}"


def endpoints(*items: Endpoint) -> dict[str, Endpoint]:
    """Index endpoints by name, refusing duplicates."""
    out: dict[str, Endpoint] = {}
    for item in items:
        if item.name in out:
            raise ValueError(f"duplicate endpoint {item.name}")
        out[item.name] = item
    return out
