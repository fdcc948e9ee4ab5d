"""CoinGecko bodies (API_FACTS §1.4): field names, types and granularity rules as the real API."""

from __future__ import annotations

import math
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from cryptoflow.sandbox import errors, rand
from cryptoflow.sandbox.render import Context, Result, handler
from cryptoflow.sandbox.render.common import FIAT, VS_CURRENCIES, as_int, fx, pct, sig, split, truthy, whole
from cryptoflow.sandbox.timefmt import DAY, HOUR, iso_date, iso_ms, iso_offset, parse_time
from cryptoflow.sandbox.universe import EPOCH, STEP, Coin, Universe

API = "coingecko"
PERIODS = {
    "1h": HOUR,
    "24h": DAY,
    "7d": 7 * DAY,
    "14d": 14 * DAY,
    "30d": 30 * DAY,
    "200d": 200 * DAY,
    "1y": 365 * DAY,
}
ORDERS = ("market_cap_desc", "market_cap_asc", "volume_desc", "volume_asc", "id_asc", "id_desc")
# Daily points of the last day appear this long after 00:00 UTC (market_chart / range).
DAILY_LAG_CHART = 600
DAILY_LAG_RANGE = 2100


def _vs(params: Mapping[str, str]) -> str:
    vs = params.get("vs_currency")
    if not vs:
        raise errors.cg_error(400, "Missing parameter vs_currency")
    vs = vs.lower()
    if vs not in VS_CURRENCIES:
        raise errors.cg_error(400, "invalid vs_currency")
    return vs


def _coin(ctx: Context, path: Mapping[str, str]) -> Coin:
    coin = ctx.universe.by_cg_id.get(path.get("id", ""))
    if coin is None:
        raise errors.cg_error(404, "coin not found")
    return coin


def _image(c: Coin, size: str = "large") -> str:
    return f"https://assets.coingecko.com/coins/images/{c.idx + 1}/{size}/{c.cg_id}.png?1696501400"


@lru_cache(maxsize=16_384)
def _grid_extremes(u: Universe, idx: int, day: int) -> tuple[float, float, float, float]:
    """(ath, ath time, atl, atl time) over the 00:00 prices of every 32nd day before ``day``."""
    c = u.coins[idx]
    first = max(0, (c.listed_at - EPOCH) // DAY)
    days = [first, *range((first // 32 + 1) * 32, day, 32)]
    best = (-1.0, 0.0, math.inf, 0.0)
    ath, ath_t, atl, atl_t = best
    for d in days:
        if d >= day:
            break
        t = EPOCH + d * DAY
        p = u.day_open(c, d)
        if p > ath:
            ath, ath_t = p, t
        if p < atl:
            atl, atl_t = p, t
    return ath, ath_t, atl, atl_t


def extremes(
    u: Universe, c: Coin, t: float, high_24h: float, low_24h: float
) -> tuple[float, float, float, float]:
    """All-time high/low: the 32-day anchor grid plus the last 24 hours (documented approximation)."""
    ath, ath_t, atl, atl_t = _grid_extremes(u, c.idx, int((t - EPOCH) // DAY))
    if high_24h >= ath or ath < 0:
        ath, ath_t = high_24h, t
    if low_24h <= atl:
        atl, atl_t = low_24h, t
    return ath, ath_t, atl, atl_t


def _roi(c: Coin, price_usd: float) -> dict[str, Any] | None:
    if c.idx % 7 != 3 or c.kind == "stable":
        return None
    ico = c.price0 / 20
    return {
        "times": round(price_usd / ico - 1, 6),
        "currency": "usd",
        "percentage": round((price_usd / ico - 1) * 100, 4),
    }


def market_record(  # noqa: PLR0917
    ctx: Context, c: Coin, vs: str, rank: int | None, pcp: list[str], sparkline: bool
) -> dict:
    """One ``/coins/markets`` record of ``c`` at the context's snapshot."""
    u = ctx.universe
    lu = u.cg_last_updated(c, ctx.snap)
    k = fx(u, vs, lu)
    p = u.price(c, lu)
    p24 = u.price(c, lu - DAY)
    supply = u.supply(c, lu)
    total = u.total_supply(c, lu)
    mcap = p * supply
    mcap24 = p24 * u.supply(c, lu - DAY)
    hi, lo = u.price_range(c, lu - DAY, lu)
    ath, ath_t, atl, atl_t = extremes(u, c, lu, hi, lo)
    fdv_supply = c.max_supply if c.max_supply is not None else total
    rec: dict[str, Any] = {
        "id": c.cg_id,
        "symbol": c.cg_symbol,
        "name": c.cg_name,
        "image": _image(c),
        "current_price": sig(p * k),
        "market_cap": whole(mcap * k),
        "market_cap_rank": rank,
        "fully_diluted_valuation": whole(p * fdv_supply * k),
        "total_volume": whole(u.volume(c, lu) * k),
        "high_24h": sig(hi * k),
        "low_24h": sig(lo * k),
        "price_change_24h": sig((p - p24) * k),
        "price_change_percentage_24h": pct(p, p24),
        "market_cap_change_24h": sig((mcap - mcap24) * k),
        "market_cap_change_percentage_24h": pct(mcap, mcap24),
        "circulating_supply": round(supply, 2),
        "total_supply": round(total, 2),
        "max_supply": c.max_supply,
        "ath": sig(ath * k),
        "ath_change_percentage": pct(p, ath),
        "ath_date": iso_ms(ath_t),
        "atl": sig(atl * k),
        "atl_change_percentage": pct(p, atl),
        "atl_date": iso_ms(atl_t),
        "roi": _roi(c, p),
        "last_updated": iso_ms(lu),
    }
    if sparkline:
        start = lu - 7 * DAY
        rec["sparkline_in_7d"] = {"price": [sig(u.price(c, start + h * HOUR) * k) for h in range(168)]}
    for period in pcp:
        old = u.price(c, lu - PERIODS[period])
        rec[f"price_change_percentage_{period}_in_currency"] = (
            pct(p, old) if c.active_at(lu - PERIODS[period]) else None
        )
    return rec


@handler(API, "ping")
def ping(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    return Result({"gecko_says": "(V3) To the Moon!"})


def _category_slug(name: str) -> str:
    return name.lower().replace(" (", "-").replace(")", "").replace(" ", "-")


@handler(API, "coins_markets")
def coins_markets(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/coins/markets``: a page of coins ordered as asked, at the snapshot."""
    vs = _vs(params)
    order = params.get("order") or "market_cap_desc"
    if order not in ORDERS:
        raise errors.cg_error(400, "invalid order")
    try:
        per_page = min(250, max(1, as_int(params.get("per_page"), 100)))
        page = max(1, as_int(params.get("page"), 1))
    except ValueError:
        raise errors.cg_error(400, "invalid page or per_page") from None
    pcp = [p for p in split(params.get("price_change_percentage")) if p in PERIODS]
    u = ctx.universe
    ranking = u.cg_ranking(ctx.snap)
    ranks = {c.idx: i + 1 for i, (c, _) in enumerate(ranking)}
    rows = [c for c, _ in ranking]
    ids = set(split(params.get("ids")))
    if ids:
        rows = [c for c in rows if c.cg_id in ids]
    names = {n.lower() for n in split(params.get("names"))}
    if names:
        rows = [c for c in rows if c.cg_name.lower() in names]
    symbols = {s.lower() for s in split(params.get("symbols"))}
    if symbols:
        rows = [c for c in rows if c.cg_symbol in symbols]
        if (params.get("include_tokens") or "top") != "all":
            seen: set[str] = set()
            top = []
            for c in rows:  # ranking order: the first of each symbol has the highest market cap
                if c.cg_symbol not in seen:
                    seen.add(c.cg_symbol)
                    top.append(c)
            rows = top
    category = params.get("category")
    if category:
        rows = [c for c in rows if any(_category_slug(x) == category for x in c.categories)]
    if order == "market_cap_asc":
        rows.reverse()
    elif order in ("volume_desc", "volume_asc"):
        vols = {c.idx: u.volume(c, u.cg_last_updated(c, ctx.snap)) for c in rows}
        rows.sort(key=lambda c: (vols[c.idx], -c.idx), reverse=order == "volume_desc")
    elif order in ("id_asc", "id_desc"):
        rows.sort(key=lambda c: c.cg_id, reverse=order == "id_desc")
    chosen = rows[(page - 1) * per_page : page * per_page]
    sparkline = truthy(params.get("sparkline"))
    body = [market_record(ctx, c, vs, ranks.get(c.idx), pcp, sparkline) for c in chosen]
    return Result(body, n_items=len(body))


@handler(API, "coins_list")
def coins_list(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/coins/list``: every id (active or inactive), alphabetical, in one response."""
    with_platforms = truthy(params.get("include_platform"))
    inactive = (params.get("status") or "active") == "inactive"
    body = []
    for c in sorted(ctx.universe.cg_coins, key=lambda c: c.cg_id):
        if c.listed_at > ctx.now:
            continue
        if (c.delisted_at is not None and c.delisted_at <= ctx.now) != inactive:
            continue
        rec: dict[str, Any] = {"id": c.cg_id, "symbol": c.cg_symbol, "name": c.cg_name}
        if with_platforms:
            rec["platforms"] = dict(c.platforms)
        body.append(rec)
    return Result(body, n_items=len(body))


def _tickers(ctx: Context, c: Coin, lu: float) -> list[dict]:
    u = ctx.universe
    p = u.price(c, lu)
    btc, eth = u.price(u.coins[0], lu), u.price(u.coins[1], lu)
    n = min(100, 5 + rand.h64(u.seed, c.idx, 60) % 60)
    out = []
    for i in range(n):
        ex = u.exchanges[(c.idx + i * 7) % len(u.exchanges)]
        target = ("USDT", "USD", "BTC", "USDC")[i % 4]
        if target == "BTC" and c.idx == 0:
            target = "EUR"
        quote_usd = {"USDT": 1.0, "USD": 1.0, "USDC": 1.0, "BTC": btc, "EUR": 1 / FIAT["eur"]}[target]
        last_usd = p * (1 + 0.002 * rand.gauss(u.seed, c.idx, i, 61))
        vol_base = u.volume(c, lu) / p * 0.5 ** (i + 1) + 1
        out.append(
            {
                "base": c.symbol,
                "target": target,
                "market": {"name": ex.name, "identifier": ex.cg_id, "has_trading_incentive": False},
                "last": sig(last_usd / quote_usd),
                "volume": sig(vol_base),
                "converted_last": {
                    "btc": sig(last_usd / btc),
                    "eth": sig(last_usd / eth),
                    "usd": sig(last_usd),
                },
                "converted_volume": {
                    "btc": sig(vol_base * last_usd / btc),
                    "eth": sig(vol_base * last_usd / eth),
                    "usd": sig(vol_base * last_usd),
                },
                "trust_score": ("green", "green", "yellow", "red")[min(3, i // 10)],
                "bid_ask_spread_percentage": round(0.01 + 0.5 * rand.uniform(u.seed, c.idx, i, 62), 6),
                "timestamp": iso_offset(lu - 60),
                "last_traded_at": iso_offset(lu - 60),
                "last_fetch_at": iso_offset(lu),
                "is_anomaly": False,
                "is_stale": False,
                "trade_url": f"https://example.invalid/{ex.cg_id}/{c.symbol}_{target}",
                "token_info_url": None,
                "coin_id": c.cg_id,
                "target_coin_id": {"USDT": "tether", "USDC": "usd-coin", "BTC": "bitcoin"}.get(target),
            }
        )
    return out


@handler(API, "coin")
def coin(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/coins/{id}``: metadata and (``market_data``) price maps keyed by vs-currency."""
    c = _coin(ctx, path)
    u = ctx.universe
    lu = u.cg_last_updated(c, ctx.snap)
    rank = u.cg_rank(c, ctx.snap)
    first_platform = next(iter(c.platforms), None)
    body: dict[str, Any] = {
        "id": c.cg_id,
        "symbol": c.cg_symbol,
        "name": c.cg_name,
        "web_slug": c.cg_id,
        "asset_platform_id": first_platform,
        "platforms": dict(c.platforms) if c.platforms else {"": ""},
        "detail_platforms": {k: {"decimal_place": 18, "contract_address": v} for k, v in c.platforms.items()}
        or {"": {"decimal_place": None, "contract_address": ""}},
        "block_time_in_minutes": 0 if c.platforms else 10,
        "hashing_algorithm": None,
        "categories": list(c.categories),
        "preview_listing": False,
        "public_notice": None,
        "additional_notices": [],
        "description": {"en": f"{c.cg_name} ({c.symbol}) is a sandbox asset."},
        "links": {
            "homepage": [f"https://{c.cg_id}.example.invalid"],
            "whitepaper": "",
            "blockchain_site": [],
            "official_forum_url": [],
            "chat_url": [],
            "announcement_url": [],
            "twitter_screen_name": c.cg_id,
            "facebook_username": "",
            "telegram_channel_identifier": "",
            "subreddit_url": None,
            "repos_url": {"github": [], "bitbucket": []},
        },
        "image": {"thumb": _image(c, "thumb"), "small": _image(c, "small"), "large": _image(c)},
        "country_origin": "",
        "genesis_date": iso_date(c.listed_at) if c.kind == "coin" else None,
        "sentiment_votes_up_percentage": round(50 + 40 * rand.uniform(u.seed, c.idx, 63), 2),
        "watchlist_portfolio_users": int(1_000_000 / c.base_rank),
        "market_cap_rank": rank,
    }
    body["sentiment_votes_down_percentage"] = round(100 - body["sentiment_votes_up_percentage"], 2)
    if truthy(params.get("localization"), True):
        body["localization"] = {lang: c.cg_name for lang in ("en", "de", "es", "fr", "it", "ja", "ko", "zh")}
    if truthy(params.get("market_data"), True):
        p = u.price(c, lu)
        p24 = u.price(c, lu - DAY)
        supply, total = u.supply(c, lu), u.total_supply(c, lu)
        hi, lo = u.price_range(c, lu - DAY, lu)
        ath, ath_t, atl, atl_t = extremes(u, c, lu, hi, lo)
        rates = {vs: fx(u, vs, lu) for vs in VS_CURRENCIES}
        fdv_supply = c.max_supply if c.max_supply is not None else total
        mcap, mcap24 = p * supply, p24 * u.supply(c, lu - DAY)
        md: dict[str, Any] = {
            "current_price": {vs: sig(p * k) for vs, k in rates.items()},
            "total_value_locked": None,
            "mcap_to_tvl_ratio": None,
            "fdv_to_tvl_ratio": None,
            "roi": _roi(c, p),
            "ath": {vs: sig(ath * k) for vs, k in rates.items()},
            "ath_change_percentage": {vs: pct(p, ath) for vs in rates},
            "ath_date": {vs: iso_ms(ath_t) for vs in rates},
            "atl": {vs: sig(atl * k) for vs, k in rates.items()},
            "atl_change_percentage": {vs: pct(p, atl) for vs in rates},
            "atl_date": {vs: iso_ms(atl_t) for vs in rates},
            "market_cap": {vs: whole(mcap * k) for vs, k in rates.items()},
            "market_cap_rank": rank,
            "fully_diluted_valuation": {vs: whole(p * fdv_supply * k) for vs, k in rates.items()},
            "market_cap_fdv_ratio": round(supply / fdv_supply, 2) if fdv_supply else None,
            "total_volume": {vs: whole(u.volume(c, lu) * k) for vs, k in rates.items()},
            "high_24h": {vs: sig(hi * k) for vs, k in rates.items()},
            "low_24h": {vs: sig(lo * k) for vs, k in rates.items()},
            "price_change_24h": sig(p - p24),
            "price_change_percentage_24h": pct(p, p24),
        }
        for name, period in (("7d", 7), ("14d", 14), ("30d", 30), ("60d", 60), ("200d", 200), ("1y", 365)):
            md[f"price_change_percentage_{name}"] = pct(p, u.price(c, lu - period * DAY))
        md["market_cap_change_24h"] = sig(mcap - mcap24)
        md["market_cap_change_percentage_24h"] = pct(mcap, mcap24)
        md["price_change_24h_in_currency"] = {vs: sig((p - p24) * k) for vs, k in rates.items()}
        for name, seconds in PERIODS.items():
            old = u.price(c, lu - seconds)
            md[f"price_change_percentage_{name}_in_currency"] = {
                vs: pct(p * k, old * fx(u, vs, lu - seconds)) for vs, k in rates.items()
            }
        md.update(
            {
                "total_supply": round(total, 2),
                "max_supply": c.max_supply,
                "circulating_supply": round(supply, 2),
                "last_updated": iso_ms(lu),
            }
        )
        if truthy(params.get("sparkline")):
            md["sparkline_7d"] = {"price": [sig(u.price(c, lu - 7 * DAY + h * HOUR)) for h in range(168)]}
        body["market_data"] = md
    if truthy(params.get("community_data"), True):
        body["community_data"] = {
            "facebook_likes": None,
            "twitter_followers": int(2_000_000 / c.base_rank),
            "reddit_average_posts_48h": 0,
            "reddit_average_comments_48h": 0,
            "reddit_subscribers": 0,
            "reddit_accounts_active_48h": 0,
            "telegram_channel_user_count": None,
        }
    if truthy(params.get("developer_data"), True):
        body["developer_data"] = {
            "forks": int(30_000 / c.base_rank),
            "stars": int(70_000 / c.base_rank),
            "subscribers": 100,
            "total_issues": 500,
            "closed_issues": 450,
            "pull_requests_merged": 1000,
            "pull_request_contributors": 50,
            "code_additions_deletions_4_weeks": {"additions": 1000, "deletions": -800},
            "commit_count_4_weeks": 42,
            "last_4_weeks_commit_activity_series": [],
        }
    body["status_updates"] = []
    body["last_updated"] = iso_ms(lu)
    if truthy(params.get("tickers"), True):
        body["tickers"] = _tickers(ctx, c, lu)
    return Result(body)


# ------------------------------------------------------------------------------------------ charts


def _jitter(u: Universe, c: Coin, t: int, max_s: int) -> float:
    if max_s <= 0:
        return 0.0
    return (rand.h64(u.seed, c.idx, t, 64) % (max_s * 1000)) / 1000.0


def chart_points(  # noqa: PLR0917
    ctx: Context, c: Coin, vs: str, t_from: float, t_to: float, step: int, daily_lag: int, final: float | None
) -> dict[str, list]:
    """``{"prices", "market_caps", "total_volumes"}`` on the ``step`` grid in ``[t_from, t_to]``.

    Intraday points land up to ``cg_intraday_jitter_s`` after the grid (deterministic); daily points
    are at 00:00 UTC and appear ``daily_lag`` seconds after it; ``final`` (the coin's last update,
    "now") is appended when given.
    """
    u = ctx.universe
    jitter_s = 0 if step == DAY else ctx.settings.cg_intraday_jitter_s
    times: list[float] = []
    first = math.ceil(t_from / step) * step
    if jitter_s:
        first -= step  # a grid point just before t_from may land inside after its jitter
    limit = min(t_to, ctx.now)
    if step == DAY:
        limit = min(limit, ctx.now - daily_lag)
    for g in range(first, int(limit) + 1, step):
        t = g + _jitter(u, c, g, jitter_s)
        if t_from <= t <= limit and c.active_at(t):
            times.append(t)
    if final is not None and c.active_at(final) and (not times or final > times[-1]):
        times.append(final)
    prices, caps, vols = [], [], []
    for t in times:
        ms = round(t * 1000)
        k = 1.0 if vs == "usd" else fx(u, vs, t)
        p = u.price(c, t)
        prices.append([ms, p * k])
        caps.append([ms, p * u.supply(c, t) * k])
        vols.append([ms, u.volume(c, t, p) * k])
    return {"prices": prices, "market_caps": caps, "total_volumes": vols}


def _check_history(ctx: Context, t_from: float) -> None:
    from cryptoflow.apis import get_api

    limit = get_api(API).endpoint("coins_market_chart").history_limit(ctx.plan)
    if limit is not None and int(t_from // DAY) < int(ctx.now // DAY) - limit:
        raise errors.cg_history_limit(ctx.now)


def _days_back(ctx: Context, c: Coin, params: Mapping[str, str], endpoint: str, final: float) -> float:
    """The ``days`` parameter of ``/market_chart`` and ``/ohlc`` (a number or ``max``), within the plan's
    history: ``max`` on a plan with a history limit, or a start beyond it, is error 10012."""
    days_text = (params.get("days") or "").lower()
    if not days_text:
        raise errors.cg_error(400, "Missing parameter days")
    if days_text == "max":
        from cryptoflow.apis import get_api

        if get_api(API).endpoint(endpoint).history_limit(ctx.plan) is not None:
            raise errors.cg_history_limit(ctx.now)
        return max(1.0, (final - c.listed_at) / DAY)
    try:
        days = float(days_text)
    except ValueError:
        raise errors.cg_error(400, "invalid days") from None
    if days <= 0:
        raise errors.cg_error(400, "invalid days")
    _check_history(ctx, final - days * DAY)
    return days


def _interval_step(params: Mapping[str, str]) -> int | None:
    interval = (params.get("interval") or "").lower()
    if not interval:
        return None
    steps = {"daily": DAY, "hourly": HOUR, "5m": STEP, "5minutely": STEP}
    if interval not in steps:
        raise errors.cg_error(400, "invalid interval")
    return steps[interval]


@handler(API, "coins_market_chart")
def coins_market_chart(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/coins/{id}/market_chart?days=N``: 5-minutely for 1 day, hourly to 90 days, daily beyond."""
    c = _coin(ctx, path)
    vs = _vs(params)
    final = ctx.universe.cg_last_updated(c, ctx.snap)
    days = _days_back(ctx, c, params, "coins_market_chart", final)
    t_from = final - days * DAY
    step = _interval_step(params) or (STEP if days <= 1 else HOUR if days <= 90 else DAY)
    body = chart_points(ctx, c, vs, t_from, final, step, DAILY_LAG_CHART, final)
    return Result(body, n_items=len(body["prices"]))


@handler(API, "coins_market_chart_range")
def coins_market_chart_range(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/coins/{id}/market_chart/range``: hourly for 1-90 days, daily beyond, 5-minutely near now."""
    c = _coin(ctx, path)
    vs = _vs(params)
    for name in ("from", "to"):
        if not params.get(name):
            raise errors.cg_error(400, f"Missing parameter {name}")
    try:
        t_from = parse_time(params["from"])
        t_to = parse_time(params["to"])
    except ValueError:
        raise errors.cg_error(400, "invalid from or to") from None
    _check_history(ctx, t_from)
    span = t_to - t_from
    step = _interval_step(params)
    if step == HOUR and span > 100 * DAY:
        raise errors.cg_error(400, "interval=hourly is limited to 100 days per request")
    if step == STEP and span > 10 * DAY:
        raise errors.cg_error(400, "interval=5m is limited to 10 days per request")
    if step is None:
        if span <= DAY and t_from >= ctx.now - DAY:
            step = STEP
        elif span <= 90 * DAY:
            step = HOUR
        else:
            step = DAY
    final = ctx.universe.cg_last_updated(c, ctx.snap)
    body = chart_points(ctx, c, vs, t_from, t_to, step, DAILY_LAG_RANGE, final if t_to >= final else None)
    return Result(body, n_items=len(body["prices"]))


@handler(API, "coins_ohlc")
def coins_ohlc(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/coins/{id}/ohlc``: ``[close ms, open, high, low, close]``; 30 min / 4 h / 4 day candles by range."""
    c = _coin(ctx, path)
    vs = _vs(params)
    u = ctx.universe
    now = u.cg_last_updated(c, ctx.snap)
    days = _days_back(ctx, c, params, "coins_ohlc", now)
    interval = (params.get("interval") or "").lower()
    if interval == "daily":
        size = DAY
    elif interval == "hourly":
        size = HOUR
    elif interval:
        raise errors.cg_error(400, "invalid interval")
    else:
        size = 1800 if days <= 2 else 4 * HOUR if days <= 30 else 4 * DAY
    start = now - days * DAY
    rows = []
    close_t = (int(start // size) + 1) * size
    while close_t <= now:
        open_t = close_t - size
        if c.active_at(open_t):
            k = fx(u, vs, close_t)
            hi, lo = u.price_range(c, open_t, close_t)
            rows.append(
                [
                    close_t * 1000,
                    sig(u.price(c, open_t) * k),
                    sig(hi * k),
                    sig(lo * k),
                    sig(u.price(c, close_t) * k),
                ]
            )
        close_t += size
    return Result(rows, n_items=len(rows))


# ----------------------------------------------------------------------------- trending, global, exchanges

_NFT_STEMS = (
    "Pudgy",
    "Bored",
    "Azuki",
    "Milady",
    "Doodle",
    "Clone",
    "Moon",
    "Pixel",
    "Degen",
    "Mutant",
    "Cool",
    "Lil",
)


@handler(API, "search_trending")
def search_trending(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/search/trending``: 15 coins, 7 NFTs, 6 categories (30/10/10 with ``show_max``), per 10 minutes."""
    u = ctx.universe
    bucket = int(ctx.now // 600)
    show_max = bool(params.get("show_max"))
    n_coins, n_nfts, n_cats = (30, 10, 10) if show_max else (15, 7, 6)
    ranking = u.cg_ranking(ctx.snap)
    pool = [c for c, _ in ranking[40:]]
    chosen: list[Coin] = []
    i = 0
    while len(chosen) < n_coins and pool:
        c = pool[rand.h64(u.seed, bucket, i, 65) % len(pool)]
        if c not in chosen:
            chosen.append(c)
        i += 1
    btc = u.price(u.coins[0], ctx.snap)
    coins = []
    for score, c in enumerate(chosen):
        lu = u.cg_last_updated(c, ctx.snap)
        p = u.price(c, lu)
        mcap = p * u.supply(c, lu)
        vol = u.volume(c, lu)
        coins.append(
            {
                "item": {
                    "id": c.cg_id,
                    "coin_id": c.idx + 1,
                    "name": c.cg_name,
                    "symbol": c.symbol,
                    "market_cap_rank": u.cg_rank(c, ctx.snap),
                    "thumb": _image(c, "thumb"),
                    "small": _image(c, "small"),
                    "large": _image(c),
                    "slug": c.cg_id,
                    "price_btc": p / btc,
                    "score": score,
                    "data": {
                        "price": p,
                        "price_btc": f"{p / btc:.18f}".rstrip("0"),
                        "price_change_percentage_24h": {
                            "usd": pct(p, u.price(c, lu - DAY)),
                            "btc": pct(p / btc, u.price(c, lu - DAY) / u.price(u.coins[0], lu - DAY)),
                        },
                        "market_cap": f"${mcap:,.0f}",
                        "market_cap_btc": f"{mcap / btc:.10f}",
                        "total_volume": f"${vol:,.0f}",
                        "total_volume_btc": f"{vol / btc:.10f}",
                        "sparkline": f"https://www.coingecko.com/coins/{c.idx + 1}/sparkline.svg",
                        "content": None,
                    },
                }
            }
        )
    nfts = []
    for j in range(n_nfts):
        stem = rand.pick(_NFT_STEMS, u.seed, bucket, j, 66)
        name = f"{stem} {rand.pick(('Penguins', 'Apes', 'Cats', 'Punks', 'Maker'), u.seed, bucket, j, 67)}"
        floor_eth = 0.1 + 10 * rand.uniform(u.seed, bucket, j, 68)
        nfts.append(
            {
                "id": name.lower().replace(" ", "-"),
                "name": name,
                "symbol": stem.upper()[:5],
                "thumb": "https://assets.coingecko.com/nft_contracts/images/1/thumb/x.png",
                "nft_contract_id": 1000 + j,
                "native_currency_symbol": "eth",
                "floor_price_in_native_currency": round(floor_eth, 4),
                "floor_price_24h_percentage_change": round(20 * rand.gauss(u.seed, bucket, j, 69), 3),
                "data": {
                    "floor_price": f"{floor_eth:.2f} ETH",
                    "h24_volume": f"{floor_eth * 50:.2f} ETH",
                    "sparkline": "https://www.coingecko.com/nft/sparkline.svg",
                    "content": None,
                },
            }
        )
    categories = []
    from cryptoflow.sandbox.universe import _CATEGORIES

    for j in range(n_cats):
        name = _CATEGORIES[(bucket + j) % len(_CATEGORIES)]
        categories.append(
            {
                "id": 100 + j,
                "name": name,
                "market_cap_1h_change": round(rand.gauss(u.seed, bucket, j), 4),
                "slug": _category_slug(name),
                "coins_count": 50 + j * 7,
                "data": {
                    "market_cap": 1e9 * (j + 1),
                    "market_cap_btc": 1e9 * (j + 1) / btc,
                    "total_volume": 1e8 * (j + 1),
                    "total_volume_btc": 1e8 * (j + 1) / btc,
                    "market_cap_change_percentage_24h": {"usd": round(rand.gauss(u.seed, j, 70), 4)},
                    "sparkline": "https://www.coingecko.com/categories/sparkline.svg",
                },
            }
        )
    return Result({"coins": coins, "nfts": nfts, "categories": categories}, n_items=len(coins))


@handler(API, "global")
def global_(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/global``: totals in every vs-currency, top-10 dominance, ``updated_at`` in UNIX seconds."""
    u = ctx.universe
    t = ctx.snap - (rand.h64(u.seed, ctx.snap, 71) % 30)
    total = u.total_market_cap(t)
    vol = u.total_volume(t)
    rates = {vs: fx(u, vs, t) for vs in VS_CURRENCIES}
    top = u.cg_ranking(ctx.snap)[:10]
    body = {
        "data": {
            "active_cryptocurrencies": u.active_cryptocurrencies(t),
            "upcoming_icos": 0,
            "ongoing_icos": 49,
            "ended_icos": 3376,
            "markets": 1046 + int((t - EPOCH) // (30 * DAY)),
            "total_market_cap": {vs: total * k for vs, k in rates.items()},
            "total_volume": {vs: vol * k for vs, k in rates.items()},
            "market_cap_percentage": {c.cg_symbol: u.market_cap(c, t) / total * 100 for c, _ in top},
            "market_cap_change_percentage_24h_usd": (total / u.total_market_cap(t - DAY) - 1) * 100,
            "updated_at": int(t),
        }
    }
    return Result(body)


@handler(API, "exchanges")
def exchanges(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/exchanges``: by trust score rank, ``page``/``per_page`` (1..250, default 100)."""
    u = ctx.universe
    try:
        per_page = min(250, max(1, as_int(params.get("per_page"), 100)))
        page = max(1, as_int(params.get("page"), 1))
    except ValueError:
        raise errors.cg_error(400, "invalid page or per_page") from None
    rows = u.exchanges[(page - 1) * per_page : page * per_page]
    body = []
    for e in rows:
        v = u.exchange_volume_btc(e, ctx.snap)
        body.append(
            {
                "id": e.cg_id,
                "name": e.name,
                "year_established": e.year,
                "country": e.country,
                "description": "",
                "url": f"https://{e.slug}.example.invalid",
                "image": f"https://assets.coingecko.com/markets/images/{e.idx + 1}/small/{e.slug}.png",
                "has_trading_incentive": False,
                "trust_score": e.trust_score,
                "trust_score_rank": e.idx + 1,
                "trade_volume_24h_btc": v,
                "trade_volume_24h_btc_normalized": v * 0.93,
            }
        )
    return Result(body, n_items=len(body))


@handler(API, "key")
def key(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/key`` (paid): the plan and usage the server passes in ``ctx.usage``."""
    usage = dict(ctx.usage or {})
    monthly = usage.get("monthly_credits")
    used = usage.get("credits_month", 0)
    return Result(
        {
            "plan": ctx.plan.capitalize(),
            "rate_limit_request_per_minute": usage.get("calls_per_minute"),
            "monthly_call_credit": monthly,
            "current_total_monthly_calls": used,
            "current_remaining_monthly_calls": None if monthly is None else max(0, monthly - used),
        }
    )
