"""CoinMarketCap Pro bodies (API_FACTS §2.5): the ``data`` part of the envelope; the server adds ``status``.

Shapes follow the current docs: several ids give ``data`` keyed by id; one id on the historical
endpoints gives the bare coin object; a ``symbol`` query gives ``data`` keyed by symbol with a list per
symbol (symbols are not unique). ``quotes/historical`` returns the sample closest to each interval
boundary (0..``cmc_historical_jitter_s`` after it) and skips intervals without data; ``ohlcv/historical``
treats ``time_start`` as exclusive and counts the current incomplete period without returning it.
"""

from __future__ import annotations

import calendar
import math
import time
from collections.abc import Mapping
from typing import Any

from cryptoflow.apis import get_api
from cryptoflow.sandbox import errors, rand
from cryptoflow.sandbox.render import Context, Result, handler
from cryptoflow.sandbox.render.common import fx, sig, split, truthy
from cryptoflow.sandbox.timefmt import DAY, HOUR, iso_ms, parse_time
from cryptoflow.sandbox.universe import PLATFORMS, Coin

API = "cmc"
# convert symbol -> (CMC id, currency code for fx)
CONVERTS = {
    "USD": (2781, "usd"),
    "EUR": (2790, "eur"),
    "GBP": (2791, "gbp"),
    "JPY": (2797, "jpy"),
    "BTC": (1, "btc"),
    "ETH": (1027, "eth"),
}
CONVERT_IDS = {str(cid): (sym, code) for sym, (cid, code) in CONVERTS.items()}
INTERVALS = {
    "5m": 300,
    "10m": 600,
    "15m": 900,
    "30m": 1800,
    "45m": 2700,
    "1h": HOUR,
    "2h": 2 * HOUR,
    "3h": 3 * HOUR,
    "4h": 4 * HOUR,
    "6h": 6 * HOUR,
    "12h": 12 * HOUR,
    "24h": DAY,
    "1d": DAY,
    "2d": 2 * DAY,
    "3d": 3 * DAY,
    "7d": 7 * DAY,
    "14d": 14 * DAY,
    "15d": 15 * DAY,
    "30d": 30 * DAY,
    "60d": 60 * DAY,
    "90d": 90 * DAY,
    "365d": 365 * DAY,
    "hourly": HOUR,
    "daily": DAY,
    "weekly": 7 * DAY,
    "monthly": 30 * DAY,
    "yearly": 365 * DAY,
}
HOURLY_VOLUME_FROM = 1_600_732_800  # 2020-09-22: hourly OHLCV volume is 0 before this


def bad(ctx: Context, message: str) -> errors.ApiError:
    return errors.cmc_bad_request(ctx.now, message)


def converts(ctx: Context, params: Mapping[str, str]) -> list[tuple[str, str]]:
    """``[(quote key, fx code)]`` from ``convert`` (symbols) or ``convert_id`` (ids); default USD."""
    if params.get("convert") and params.get("convert_id"):
        raise bad(ctx, '"convert" and "convert_id" cannot be used together')
    if params.get("convert_id"):
        out = []
        for cid in split(params["convert_id"]):
            if cid not in CONVERT_IDS:
                raise bad(ctx, f'Invalid value for "convert_id": "{cid}"')
            out.append((cid, CONVERT_IDS[cid][1]))
        return out
    out = []
    for raw in split(params.get("convert") or "USD"):
        sym = raw.upper()
        if sym not in CONVERTS:
            raise bad(ctx, f'Invalid value for "convert": "{sym}"')
        out.append((sym, CONVERTS[sym][1]))
    return out


def int_param(
    ctx: Context, params: Mapping[str, str], name: str, default: int, *, lo: int = 1, hi: int | None = None
) -> int:
    raw = params.get(name)
    if raw in (None, ""):
        return default
    try:
        value = int(raw)
    except ValueError:
        raise bad(ctx, f'"{name}" must be an integer') from None
    if value < lo:
        raise bad(ctx, f'"{name}" must be larger than or equal to {lo}')
    if hi is not None and value > hi:
        raise bad(ctx, f'"{name}" must be less than or equal to {hi}')
    return value


def time_param(ctx: Context, params: Mapping[str, str], name: str) -> float | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        return parse_time(raw)
    except ValueError:
        raise bad(ctx, f'Invalid value for "{name}": "{raw}"') from None


def platform(c: Coin) -> dict[str, Any] | None:
    """CMC's ``platform`` object: the token's first chain, its contract in CMC's spelling."""
    if not c.platforms:
        return None
    name = next(iter(c.platforms))
    cid, title, symbol, slug, _, _ = PLATFORMS[name]
    return {"id": cid, "name": title, "symbol": symbol, "slug": slug, "token_address": c.cmc_address(name)}


def tags(c: Coin) -> list[str]:
    out = ["mineable"] if c.kind == "coin" and c.idx % 3 == 0 else []
    return out + [x.lower().split(" (")[0].replace(" ", "-") for x in c.categories]


def quote_time(ctx: Context, c: Coin) -> float:
    t = ctx.universe.cmc_last_updated(c, ctx.snap)
    return min(t, float(c.delisted_at)) if c.delisted_at is not None else t


def listing_record(ctx: Context, c: Coin, convs: list[tuple[str, str]], rank: int | None) -> dict[str, Any]:
    """One coin as ``listings/latest`` shows it (``quotes/latest`` adds ``is_active``/``is_fiat``)."""
    u = ctx.universe
    t = quote_time(ctx, c)
    p = u.cmc_price(c, t)
    supply = u.cmc_supply(c, t)
    total = supply * c.total_factor if c.max_supply is None else min(c.max_supply, supply * c.total_factor)
    vol, vol_prev = u.cmc_volume(c, t), u.cmc_volume(c, t - DAY)
    mcap = p * supply
    whole_market = u.total_market_cap(t)
    fdv_supply = c.max_supply if c.max_supply is not None else total
    changes = {}
    for name, seconds in (
        ("1h", HOUR),
        ("24h", DAY),
        ("7d", 7 * DAY),
        ("30d", 30 * DAY),
        ("60d", 60 * DAY),
        ("90d", 90 * DAY),
    ):
        old = u.cmc_price(c, t - seconds)
        changes[name] = round((p / old - 1) * 100, 8) if c.active_at(t - seconds) else None
    quote = {}
    for key, code in convs:
        k = fx(u, code, t)
        quote[key] = {
            "price": p * k,
            "volume_24h": vol * k,
            "volume_change_24h": round((vol / vol_prev - 1) * 100, 4),
            "percent_change_1h": changes["1h"],
            "percent_change_24h": changes["24h"],
            "percent_change_7d": changes["7d"],
            "percent_change_30d": changes["30d"],
            "percent_change_60d": changes["60d"],
            "percent_change_90d": changes["90d"],
            "market_cap": mcap * k,
            "market_cap_dominance": round(mcap / whole_market * 100, 4),
            "fully_diluted_market_cap": p * fdv_supply * k,
            "tvl": None,
            "last_updated": iso_ms(t),
        }
    return {
        "id": c.cmc_id,
        "name": c.cmc_name,
        "symbol": c.symbol,
        "slug": c.cmc_slug,
        "num_market_pairs": int(12_000 / c.base_rank**0.7) + 1,
        "date_added": iso_ms(c.listed_at),
        "tags": tags(c),
        "max_supply": c.max_supply,
        "circulating_supply": round(supply, 2),
        "total_supply": round(total, 2),
        "infinite_supply": c.max_supply is None and c.kind == "coin",
        "platform": platform(c),
        "cmc_rank": rank,
        "self_reported_circulating_supply": None,
        "self_reported_market_cap": None,
        "tvl_ratio": None,
        "last_updated": iso_ms(t),
        "quote": quote,
    }


def _lookup(
    ctx: Context,
    params: Mapping[str, str],
    skip_invalid: bool,
    allow_address: bool = False,
    allow_slug: bool = True,
) -> tuple[str, list[tuple[str, list[Coin]]]]:
    """(``id``/``slug``/``symbol``/``address``, [(data key, coins)]) for a bundled-ids request."""
    u = ctx.universe
    names = ["id", "slug", "symbol"] + (["address"] if allow_address else [])
    given = [n for n in names if params.get(n)]
    if not given:
        raise bad(ctx, f'"value" must contain at least one of [{", ".join(names)}]')
    if len(given) > 1:
        raise bad(ctx, f'"value" contains a conflict between exclusive peers [{", ".join(given)}]')
    kind = given[0]
    if kind == "slug" and not allow_slug:
        raise bad(ctx, '"slug" is not allowed')
    values = split(params[kind])
    if len(values) > ctx.settings.cmc_max_ids:
        raise bad(ctx, f'"{kind}" must contain at most {ctx.settings.cmc_max_ids} items')
    out: list[tuple[str, list[Coin]]] = []
    for value in values:
        if kind == "id":
            coin = u.by_cmc_id.get(int(value)) if value.isdigit() else None
            found = [coin] if coin and coin.listed_at <= ctx.now else []
            key = value
        elif kind == "slug":
            coin = u.by_cmc_slug.get(value.lower())
            found = [coin] if coin and coin.listed_at <= ctx.now else []
            key = str(coin.cmc_id) if coin else value
        elif kind == "symbol":
            found = [c for c in u.by_symbol.get(value.upper(), []) if c.listed_at <= ctx.now]
            key = value.upper()
        else:
            found = [c for c in u.cmc_coins if any(a.lower() == value.lower() for a in c.platforms.values())]
            key = str(found[0].cmc_id) if found else value
        if not found:
            if skip_invalid:
                continue
            raise bad(ctx, f'Invalid value for "{kind}": "{value}"')
        found.sort(key=lambda c: (not c.active_at(ctx.now), c.base_rank))
        out.append((key, found))
    return kind, out


@handler(API, "cryptocurrency_map")
def cryptocurrency_map(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v1/cryptocurrency/map``: every id with its platform and historical-data range; 0 credits."""
    u = ctx.universe
    statuses = set(split(params.get("listing_status") or "active"))
    start = int_param(ctx, params, "start", 1)
    limit = int_param(ctx, params, "limit", 5000, hi=5000)
    sort = params.get("sort") or "id"
    if sort not in ("id", "cmc_rank"):
        raise bad(ctx, f'Invalid value for "sort": "{sort}"')
    symbols = {s.upper() for s in split(params.get("symbol"))}
    rows = []
    for c in u.cmc_coins:
        if c.listed_at > ctx.now:
            continue
        active = c.active_at(ctx.now)
        if ("active" if active else "inactive") not in statuses:
            continue
        if symbols and c.symbol not in symbols:
            continue
        rows.append(c)
    ranks = {} if not rows else {c.idx: i + 1 for i, (c, _) in enumerate(u.cmc_ranking(ctx.snap))}
    if sort == "cmc_rank":
        rows.sort(key=lambda c: (ranks.get(c.idx, 10**9), c.cmc_id))
    else:
        rows.sort(key=lambda c: c.cmc_id)
    rows = rows[start - 1 : start - 1 + limit]
    body = [
        {
            "id": c.cmc_id,
            "rank": ranks.get(c.idx),
            "name": c.cmc_name,
            "symbol": c.symbol,
            "slug": c.cmc_slug,
            "is_active": 1 if c.active_at(ctx.now) else 0,
            "first_historical_data": iso_ms(c.listed_at),
            "last_historical_data": iso_ms(quote_time(ctx, c)),
            "platform": platform(c),
        }
        for c in rows
    ]
    return Result(body, n_items=len(body))


SORTS = {
    "market_cap",
    "price",
    "volume_24h",
    "percent_change_24h",
    "name",
    "symbol",
    "date_added",
    "cmc_rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
    "num_market_pairs",
    "percent_change_1h",
    "percent_change_7d",
    "market_cap_strict",
}


@handler(API, "cryptocurrency_listings_latest")
def listings_latest(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v1/cryptocurrency/listings/latest``: active coins by market cap; ``start``/``limit`` (<= 5000)."""
    u = ctx.universe
    start = int_param(ctx, params, "start", 1)
    limit = int_param(ctx, params, "limit", 100, hi=5000)
    convs = converts(ctx, params)
    sort = params.get("sort") or "market_cap"
    if sort not in SORTS:
        raise bad(ctx, f'Invalid value for "sort": "{sort}"')
    sort_dir = params.get("sort_dir") or ("asc" if sort in ("name", "symbol", "cmc_rank") else "desc")
    kind = params.get("cryptocurrency_type") or "all"
    ranking = u.cmc_ranking(ctx.snap)
    ranks = {c.idx: i + 1 for i, (c, _) in enumerate(ranking)}
    rows = [c for c, _ in ranking]
    if kind == "coins":
        rows = [c for c in rows if c.kind == "coin"]
    elif kind == "tokens":
        rows = [c for c in rows if c.kind != "coin"]
    if sort in ("market_cap", "market_cap_strict", "cmc_rank"):
        if (sort_dir == "asc" and sort != "cmc_rank") or (sort == "cmc_rank" and sort_dir == "desc"):
            rows.reverse()
        chosen = rows[start - 1 : start - 1 + limit]
        body = [listing_record(ctx, c, convs, ranks[c.idx]) for c in chosen]
    else:
        records = [listing_record(ctx, c, convs, ranks[c.idx]) for c in rows]
        first = convs[0][0]

        def key(r: dict) -> Any:
            if sort in (
                "name",
                "symbol",
                "date_added",
                "circulating_supply",
                "total_supply",
                "max_supply",
                "num_market_pairs",
            ):
                v = r[sort]
            else:
                v = r["quote"][first][sort]
            return (v is None, v if v is not None else 0)

        records.sort(key=key, reverse=sort_dir == "desc")
        body = records[start - 1 : start - 1 + limit]
    return Result(body, n_items=len(body), converts=len(convs), total_count=len(rows))


def _keyed(kind: str, found: list[tuple[str, list[Coin]]], make) -> tuple[dict[str, Any], int]:
    data: dict[str, Any] = {}
    n = 0
    for key, coins in found:
        if kind == "symbol":
            data[key] = [make(c) for c in coins]
            n += len(coins)
        else:
            data[key] = make(coins[0])
            n += 1
    return data, n


@handler(API, "cryptocurrency_quotes_latest")
def quotes_latest(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v2/cryptocurrency/quotes/latest``: keyed by id (or by symbol, with a list per symbol)."""
    convs = converts(ctx, params)
    kind, found = _lookup(ctx, params, truthy(params.get("skip_invalid"), True))
    ranks = ctx.universe._rank_index("cmc", ctx.snap)

    def make(c: Coin) -> dict:
        rec = listing_record(ctx, c, convs, ranks.get(c.idx))
        rec["is_active"] = 1 if c.active_at(ctx.now) else 0
        rec["is_fiat"] = 0
        return rec

    data, n = _keyed(kind, found, make)
    return Result(data, n_items=n, converts=len(convs))


@handler(API, "cryptocurrency_info")
def info(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v2/cryptocurrency/info``: static metadata; ``skip_invalid`` defaults to false."""
    kind, found = _lookup(ctx, params, truthy(params.get("skip_invalid"), False), allow_address=True)

    def make(c: Coin) -> dict:
        contracts = [
            {
                "contract_address": c.cmc_address(p),
                "platform": {
                    "name": PLATFORMS[p][1],
                    "coin": {
                        "id": str(PLATFORMS[p][0]),
                        "name": PLATFORMS[p][1],
                        "symbol": PLATFORMS[p][2],
                        "slug": PLATFORMS[p][3],
                    },
                },
            }
            for p in c.platforms
        ]
        return {
            "id": c.cmc_id,
            "name": c.cmc_name,
            "symbol": c.symbol,
            "category": "coin" if c.kind == "coin" else "token",
            "description": f"{c.cmc_name} ({c.symbol}) is a sandbox cryptocurrency.",
            "slug": c.cmc_slug,
            "logo": f"https://s2.coinmarketcap.com/static/img/coins/64x64/{c.cmc_id}.png",
            "subreddit": "",
            "notice": "",
            "tags": tags(c),
            "tag-names": list(c.categories),
            "tag-groups": ["CATEGORY"] * len(c.categories),
            "urls": {
                "website": [f"https://{c.cmc_slug}.example.invalid"],
                "twitter": [],
                "message_board": [],
                "chat": [],
                "facebook": [],
                "explorer": [],
                "reddit": [],
                "technical_doc": [],
                "source_code": [],
                "announcement": [],
            },
            "platform": platform(c),
            "date_added": iso_ms(c.listed_at),
            "twitter_username": "",
            "is_hidden": 0,
            "date_launched": None if c.idx % 4 == 0 else iso_ms(c.listed_at - 30 * DAY),
            "contract_address": contracts,
            "self_reported_circulating_supply": None,
            "self_reported_tags": None,
            "self_reported_market_cap": None,
            "infinite_supply": c.max_supply is None and c.kind == "coin",
        }

    data, n = _keyed(kind, found, make)
    return Result(data, n_items=n)


# ------------------------------------------------------------------------------------- history


def boundaries(ctx: Context, params: Mapping[str, str], step: int, max_count: int = 10_000) -> list[int]:
    """Interval boundaries (UNIX s, on the ``step`` grid) for ``time_start``, ``time_end`` and ``count``."""
    start = time_param(ctx, params, "time_start")
    end = time_param(ctx, params, "time_end")
    count = int_param(ctx, params, "count", 10, hi=max_count)
    if start is not None and end is not None and end < start:
        raise bad(ctx, '"time_end" must be after "time_start"')
    if start is not None:
        first = math.ceil(start / step) * step
        if end is None:
            return [first + i * step for i in range(count)]
        n = int((end - first) // step) + 1
        if n > max_count:
            raise bad(ctx, f"Too many data points requested: {n} (the maximum is {max_count})")
        return [first + i * step for i in range(max(0, n))]
    last = int((end if end is not None else ctx.now) // step) * step
    return [last - (count - 1 - i) * step for i in range(count)]


def check_depth(ctx: Context, endpoint: str, earliest: float, daily: bool) -> None:
    """400 when ``earliest`` reaches further back than the plan allows (intraday or daily depth)."""
    limit = (
        get_api(API if endpoint in get_api(API).endpoints else "cmc_dex")
        .endpoint(endpoint)
        .history_limit(ctx.plan, daily=daily)
    )
    if limit is not None and int(earliest // DAY) < int(ctx.now // DAY) - limit:
        kind = "daily" if daily else "intraday"
        raise bad(ctx, f"Your plan is limited to {limit} days of {kind} historical data.")


def _jitter(ctx: Context, c: Coin, b: int) -> float:
    max_s = ctx.settings.cmc_historical_jitter_s
    return (rand.h64(ctx.universe.seed, c.idx, b, 80) % (max_s * 1000)) / 1000.0 if max_s > 0 else 0.0


def _has_quote(ctx: Context, c: Coin, b: int) -> bool:
    """Whether the boundary ``b`` has a quote: the coin traded then and the sample already exists."""
    return c.active_at(b) and b + ctx.settings.cmc_historical_jitter_s <= ctx.now


def historical_quotes(ctx: Context, c: Coin, bounds: list[int], convs: list[tuple[str, str]]) -> list[dict]:
    """The quotes of ``c`` at ``bounds``: the sample just after each boundary; none where there is no data."""
    u = ctx.universe
    volume_field = ctx.settings.cmc_volume_field
    out = []
    for b in bounds:
        if not _has_quote(ctx, c, b):
            continue
        t = b + _jitter(ctx, c, b)
        cg_price = u.price(c, t)
        p = cg_price * (1.0 + u.cmc_spread(c, t))
        volume = u.cmc_volume(c, t, cg_price)
        supply = u.cmc_supply(c, t)
        ts = iso_ms(t)
        quote = {}
        for key, code in convs:
            k = 1.0 if code == "usd" else fx(u, code, t)
            quote[key] = {
                "price": p * k,
                volume_field: volume * k,
                "market_cap": p * supply * k,
                "circulating_supply": round(supply, 2),
                "total_supply": round(supply * c.total_factor, 2),
                "timestamp": ts,
            }
        out.append({"timestamp": ts, "quote": quote})
    return out


def _interval(ctx: Context, params: Mapping[str, str], default: str) -> int:
    name = params.get("interval") or default
    if name not in INTERVALS:
        raise bad(ctx, f'Invalid value for "interval": "{name}"')
    return INTERVALS[name]


def _coin_object(c: Coin, key: str, items: list[dict]) -> dict[str, Any]:
    return {
        "id": c.cmc_id,
        "name": c.cmc_name,
        "symbol": c.symbol,
        "is_active": 1 if c.is_active else 0,
        "is_fiat": 0,
        key: items,
    }


def _shape(
    ctx: Context, kind: str, found: list[tuple[str, list[Coin]]], make, count
) -> tuple[Any, int, list | None]:
    """One id: the bare object; several ids: keyed by id; symbols: keyed by symbol with lists.

    Several entries are streamed one by one when the server asks for it (``ctx.stream``); ``count``
    says how many data points an entry holds without rendering it (credits go in the status first).
    """
    if ctx.stream and (kind == "symbol" or len(found) > 1):
        parts = []
        n = 0
        for key, coins in found:
            n += sum(count(c) for c in coins)
            if kind == "symbol":
                parts.append((key, lambda coins=coins: [make(c) for c in coins]))
            else:
                parts.append((key, lambda coin=coins[0]: make(coin)))
        return None, n, parts
    data: dict[str, Any] = {}
    n = 0
    for key, coins in found:
        objs = [make(c) for c in coins]
        n += sum(len(o["quotes"]) for o in objs)
        data[key] = objs if kind == "symbol" else objs[0]
    if kind != "symbol" and len(found) == 1:
        return next(iter(data.values())), n, None
    return data, n, None


@handler(API, "cryptocurrency_quotes_historical")
def quotes_historical(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v2/cryptocurrency/quotes/historical``: 1 credit per 100 data points."""
    convs = converts(ctx, params)
    step = _interval(ctx, params, "5m")
    bounds = boundaries(ctx, params, step)
    if bounds:
        check_depth(ctx, "cryptocurrency_quotes_historical", bounds[0], daily=step >= DAY)
    kind, found = _lookup(ctx, params, truthy(params.get("skip_invalid"), True), allow_slug=False)
    data, n, parts = _shape(
        ctx,
        kind,
        found,
        lambda c: _coin_object(c, "quotes", historical_quotes(ctx, c, bounds, convs)),
        lambda c: sum(1 for b in bounds if _has_quote(ctx, c, b)),
    )
    return Result(data, n_items=n, converts=len(convs), parts=parts)


def candles(  # noqa: PLR0917
    ctx: Context, params: Mapping[str, str], period: int, lag: int, exclusive_start: bool, max_count: int
) -> list[int]:
    """Opening times of the complete candles asked for (``time_start`` exclusive when told so)."""
    start = time_param(ctx, params, "time_start")
    end = time_param(ctx, params, "time_end")
    count = int_param(ctx, params, "count", 10, hi=max_count)
    complete_until = ctx.now - lag  # a candle is served once its close + lag has passed
    if start is not None:
        first = (int(start // period) + 1) * period if exclusive_start else math.ceil(start / period) * period
        if end is None:
            opens = [first + i * period for i in range(count)]
        else:
            n = int((end - first) // period) + 1
            if n > max_count:
                raise bad(ctx, f"Too many data points requested: {n} (the maximum is {max_count})")
            opens = [first + i * period for i in range(max(0, n))]
    else:
        last = int((end if end is not None else ctx.now) // period) * period
        opens = [last - (count - 1 - i) * period for i in range(count)]  # counts the incomplete period
    return [o for o in opens if o + period <= complete_until]


@handler(API, "cryptocurrency_ohlcv_historical")
def ohlcv_historical(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v2/cryptocurrency/ohlcv/historical``: daily or hourly candles; Startup plan and up."""
    convs = converts(ctx, params)
    period_name = params.get("time_period") or "daily"
    if period_name not in ("daily", "hourly"):
        raise bad(ctx, f'Invalid value for "time_period": "{period_name}"')
    period = DAY if period_name == "daily" else HOUR
    opens = candles(ctx, params, period, 600 if period == DAY else 300, True, 10_000)
    if opens:
        check_depth(ctx, "cryptocurrency_ohlcv_historical", opens[0], daily=period == DAY)
    kind, found = _lookup(ctx, params, truthy(params.get("skip_invalid"), True))
    u = ctx.universe

    def make(c: Coin) -> dict:
        quotes = []
        for o in opens:
            close_t = o + period
            if not c.active_at(o):
                continue
            hi, t_hi, lo, t_lo = u.extremes_at(c, o, close_t)
            factor = 1.0 + u.cmc_spread(c, close_t)
            supply = u.cmc_supply(c, close_t)
            volume = (
                u.cmc_volume(c, close_t)
                * (period / DAY)
                * (1 + 0.2 * math.tanh(rand.gauss(u.seed, c.idx, o, 81)))
            )
            if period == HOUR and o < HOURLY_VOLUME_FROM:
                volume = 0.0
            close_iso = iso_ms(close_t - 0.001)
            quote = {}
            for key, code in convs:
                k = fx(u, code, close_t)
                quote[key] = {
                    "open": u.price(c, o) * factor * k,
                    "high": hi * factor * k,
                    "low": lo * factor * k,
                    "close": u.price(c, close_t) * factor * k,
                    "volume": volume * k,
                    "market_cap": u.price(c, close_t) * factor * supply * k,
                    "timestamp": close_iso,
                }
            quotes.append(
                {
                    "time_open": iso_ms(o),
                    "time_close": close_iso,
                    "time_high": iso_ms(t_hi),
                    "time_low": iso_ms(t_lo),
                    "quote": quote,
                }
            )
        return _coin_object(c, "quotes", quotes)

    data, n, parts = _shape(ctx, kind, found, make, lambda c: sum(1 for o in opens if c.active_at(o)))
    return Result(data, n_items=n, converts=len(convs), parts=parts)


# ---------------------------------------------------------------------------------- whole market


def global_quote(ctx: Context, t: float, convs: list[tuple[str, str]], latest: bool) -> dict[str, Any]:
    u = ctx.universe
    total = u.total_market_cap(t) * 1.004
    vol = u.total_volume(t) * 0.97
    btc, eth = u.coins[0], u.coins[1]
    btc_cap = u.cmc_price(btc, t) * u.cmc_supply(btc, t)
    quote = {}
    for key, code in convs:
        k = fx(u, code, t)
        q = {
            "total_market_cap": total * k,
            "total_volume_24h": vol * k,
            "total_volume_24h_reported": vol * 1.09 * k,
            "altcoin_market_cap": (total - btc_cap) * k,
            "altcoin_volume_24h": vol * 0.6 * k,
            "altcoin_volume_24h_reported": vol * 0.66 * k,
        }
        if latest:
            prev_total, prev_vol = u.total_market_cap(t - DAY) * 1.004, u.total_volume(t - DAY) * 0.97
            q.update(
                {
                    "total_market_cap_yesterday": prev_total * k,
                    "total_volume_24h_yesterday": prev_vol * k,
                    "total_market_cap_yesterday_percentage_change": (total / prev_total - 1) * 100,
                    "total_volume_24h_yesterday_percentage_change": (vol / prev_vol - 1) * 100,
                    "last_updated": iso_ms(t),
                }
            )
        else:
            q["timestamp"] = iso_ms(t)
        quote[key] = q
    return {
        "btc_dominance": btc_cap / total * 100,
        "eth_dominance": u.cmc_price(eth, t) * u.cmc_supply(eth, t) / total * 100,
        "active_cryptocurrencies": u.active_cryptocurrencies(t),
        "active_exchanges": 780,
        "active_market_pairs": 90_000 + int((t - 1.6e9) / DAY) * 10,
        "quote": quote,
    }


@handler(API, "global_metrics_quotes_latest")
def global_latest(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v1/global-metrics/quotes/latest``: totals now (refreshed every 5 minutes)."""
    convs = converts(ctx, params)
    t = float(ctx.snap - ctx.snap % 300)
    g = global_quote(ctx, t, convs, latest=True)
    prev = global_quote(ctx, t - DAY, convs[:1], latest=False)
    data = {
        "active_cryptocurrencies": g["active_cryptocurrencies"],
        "total_cryptocurrencies": g["active_cryptocurrencies"] * 230,
        "active_market_pairs": g["active_market_pairs"],
        "active_exchanges": g["active_exchanges"],
        "total_exchanges": 8000,
        "eth_dominance": g["eth_dominance"],
        "btc_dominance": g["btc_dominance"],
        "eth_dominance_yesterday": prev["eth_dominance"],
        "btc_dominance_yesterday": prev["btc_dominance"],
        "eth_dominance_24h_percentage_change": g["eth_dominance"] - prev["eth_dominance"],
        "btc_dominance_24h_percentage_change": g["btc_dominance"] - prev["btc_dominance"],
        "defi_volume_24h": g["quote"][convs[0][0]]["total_volume_24h"] * 0.05,
        "stablecoin_volume_24h": g["quote"][convs[0][0]]["total_volume_24h"] * 0.7,
        "derivatives_volume_24h": g["quote"][convs[0][0]]["total_volume_24h"] * 8,
        "last_updated": iso_ms(t),
        "quote": g["quote"],
    }
    return Result(data, converts=len(convs))


@handler(API, "global_metrics_quotes_historical")
def global_historical(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v1/global-metrics/quotes/historical``: totals at interval boundaries (default ``1d``)."""
    convs = converts(ctx, params)
    step = _interval(ctx, params, "1d")
    bounds = [b for b in boundaries(ctx, params, step) if b <= ctx.now]
    if bounds:
        check_depth(ctx, "global_metrics_quotes_historical", bounds[0], daily=step >= DAY)
    quotes = []
    for b in bounds:
        g = global_quote(ctx, float(b), convs, latest=False)
        quotes.append({"timestamp": iso_ms(b), "search_interval": iso_ms(b), **g})
    return Result({"quotes": quotes}, n_items=len(quotes), converts=len(convs))


FEAR_GREED_FROM = 1_609_459_200  # 2021-01-01


def classify(value: int) -> str:
    """CMC's fear-and-greed bands."""
    if value <= 20:
        return "Extreme fear"
    if value <= 40:
        return "Fear"
    if value <= 60:
        return "Neutral"
    if value <= 80:
        return "Greed"
    return "Extreme greed"


@handler(API, "fear_and_greed_latest")
def fear_greed_latest(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v3/fear-and-greed/latest``: refreshed every 15 minutes."""
    u = ctx.universe
    t = ctx.snap - ctx.snap % 900 + (rand.h64(u.seed, ctx.snap // 900, 82) % 60_000) / 1000.0
    t = min(t, float(ctx.snap))
    value = u.fear_greed(t)
    return Result({"value": value, "update_time": iso_ms(t), "value_classification": classify(value)})


@handler(API, "fear_and_greed_historical")
def fear_greed_historical(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v3/fear-and-greed/historical``: one value a day at 00:00 UTC, newest first, ``start``/``limit``."""
    u = ctx.universe
    start = int_param(ctx, params, "start", 1)
    limit = int_param(ctx, params, "limit", 50, hi=500)
    newest = int(ctx.now // DAY) * DAY
    as_string = ctx.settings.fear_greed_timestamp == "string"
    body = []
    for i in range(start - 1, start - 1 + limit):
        t = newest - i * DAY
        if t < FEAR_GREED_FROM:
            break
        value = u.fear_greed(t)
        body.append(
            {"timestamp": str(t) if as_string else t, "value": value, "value_classification": classify(value)}
        )
    return Result(body, n_items=len(body))


@handler(API, "exchange_listings_latest")
def exchange_listings(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v1/exchange/listings/latest``: exchanges by 24 h volume; Growth plan and up."""
    u = ctx.universe
    convs = converts(ctx, params)
    start = int_param(ctx, params, "start", 1)
    limit = int_param(ctx, params, "limit", 100, hi=5000)
    btc = u.price(u.coins[0], ctx.snap)
    rows = sorted(u.exchanges, key=lambda e: -u.exchange_volume_btc(e, ctx.snap))
    if (params.get("sort_dir") or "desc") == "asc":
        rows.reverse()
    if params.get("sort") == "name":
        rows.sort(key=lambda e: e.name)
    body = []
    for rank, e in enumerate(rows[start - 1 : start - 1 + limit], start=start):
        v = u.exchange_volume_btc(e, ctx.snap) * btc
        quote = {}
        for key, code in convs:
            k = fx(u, code, ctx.snap)
            quote[key] = {
                "volume_24h": v * k,
                "volume_24h_adjusted": v * 0.9 * k,
                "volume_7d": v * 7.1 * k,
                "volume_30d": v * 29.5 * k,
                "percent_change_volume_24h": round(rand.gauss(e.idx, 83) * 5, 4),
                "percent_change_volume_7d": round(rand.gauss(e.idx, 84) * 8, 4),
                "percent_change_volume_30d": round(rand.gauss(e.idx, 85) * 12, 4),
                "effective_liquidity_24h": sig(v / 1e4) or 0.0,
                "derivative_volume": None if e.idx % 3 else v * 2,
                "spot_volume_usd": v,
            }
        body.append(
            {
                "id": e.cmc_id,
                "name": e.name,
                "slug": e.slug,
                "num_market_pairs": e.pairs,
                "date_launched": iso_ms(e.launched),
                "exchange_score": None,
                "traffic_score": round(1000 / (e.idx + 1), 3),
                "rank": rank,
                "last_updated": iso_ms(ctx.snap),
                "quote": quote,
            }
        )
    return Result(body, n_items=len(body), converts=len(convs), total_count=len(rows))


@handler(API, "key_info")
def key_info(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v1/key/info``: the key's plan and usage (0 credits)."""
    usage = dict(ctx.usage or {})
    now = usage.get("now", ctx.now)
    day_end = (int(now // DAY) + 1) * DAY
    g = time.gmtime(now)
    month_end = calendar.timegm((g.tm_year + (g.tm_mon == 12), g.tm_mon % 12 + 1, 1, 0, 0, 0))
    daily, monthly = usage.get("daily_credits"), usage.get("monthly_credits")
    per_minute = usage.get("calls_per_minute")
    used_day, used_month = usage.get("credits_day", 0), usage.get("credits_month", 0)
    data = {
        "plan": {
            "credit_limit_daily": daily,
            "credit_limit_daily_reset": f"In {int((day_end - now) // 3600)} hours",
            "credit_limit_daily_reset_timestamp": iso_ms(day_end),
            "credit_limit_monthly": monthly,
            "credit_limit_monthly_reset": f"In {int((month_end - now) // DAY)} days",
            "credit_limit_monthly_reset_timestamp": iso_ms(month_end),
            "rate_limit_minute": per_minute,
        },
        "usage": {
            "current_minute": {
                "requests_made": usage.get("calls_minute", 0),
                "requests_left": None
                if per_minute is None
                else max(0, per_minute - usage.get("calls_minute", 0)),
            },
            "current_day": {
                "credits_used": used_day,
                "credits_left": None if daily is None else max(0, daily - used_day),
            },
            "current_month": {
                "credits_used": used_month,
                "credits_left": None if monthly is None else max(0, monthly - used_month),
            },
        },
    }
    return Result(data)
