"""CMC DEX bodies (API_FACTS §3): v4 paths, string ids, ``quote`` as a list with ``convert_id``.

Spot pairs page with an opaque ``scroll_id`` on each item (pass the last one to continue; a short or
empty batch ends the listing). OHLCV follows the SDK model: ``data`` is a list of pair objects with
``quotes[]`` whose ``time_close`` is always null.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from cryptoflow.sandbox import rand
from cryptoflow.sandbox.render import Context, Result, handler
from cryptoflow.sandbox.render.cmc import CONVERT_IDS, CONVERTS, bad, candles, check_depth, int_param
from cryptoflow.sandbox.render.common import fx, split, truthy
from cryptoflow.sandbox.timefmt import DAY, HOUR, iso_ms
from cryptoflow.sandbox.universe import Network, Pair

API = "cmc_dex"
SORTS = ("volume_24h", "liquidity", "no_of_transactions_24h", "percent_change_24h")
EXPLORERS = {
    "1": "https://etherscan.io",
    "14": "https://bscscan.com",
    "16": "https://solscan.io",
    "25": "https://polygonscan.com",
    "51": "https://arbiscan.io",
    "199": "https://basescan.org",
}


def convert_ids(ctx: Context, params: Mapping[str, str]) -> list[tuple[str, str]]:
    """``[(convert_id, fx code)]``; ``convert`` symbols are accepted too; default USD (2781)."""
    out = []
    for cid in split(params.get("convert_id")):
        if cid not in CONVERT_IDS:
            raise bad(ctx, f'Invalid value for "convert_id": "{cid}"')
        out.append((cid, CONVERT_IDS[cid][1]))
    for sym in split(params.get("convert")):
        if sym.upper() not in CONVERTS:
            raise bad(ctx, f'Invalid value for "convert": "{sym}"')
        cid, code = CONVERTS[sym.upper()]
        out.append((str(cid), code))
    return out or [("2781", "usd")]


def network(ctx: Context, params: Mapping[str, str]) -> Network:
    key = params.get("network_id") or params.get("network_slug")
    if not key:
        raise bad(ctx, '"network_id" or "network_slug" is required')
    found = ctx.universe.network(key)
    if found is None:
        name = "network_id" if params.get("network_id") else "network_slug"
        raise bad(ctx, f'Invalid value for "{name}": "{key}"')
    return found


def _updated(ctx: Context, p: Pair) -> float:
    return ctx.snap - (rand.h64(ctx.universe.seed, p.idx, ctx.snap, 86) % 60_000) / 1000.0


def pair_fields(ctx: Context, p: Pair) -> dict[str, Any]:
    """The descriptive fields every pair-shaped record carries."""
    quote_id = p.network.wrapped_id if p.quote is p.network.native else p.quote.cmc_id
    return {
        "contract_address": p.contract_address,
        "name": f"{p.base.symbol}/{p.quote_symbol}",
        "base_asset_id": str(p.base.cmc_id),
        "base_asset_ucid": str(p.base.cmc_id),
        "base_asset_name": p.base.cmc_name,
        "base_asset_symbol": p.base.symbol,
        "base_asset_contract_address": p.base_address,
        "quote_asset_id": str(quote_id),
        "quote_asset_ucid": str(quote_id),
        "quote_asset_name": "Wrapped " + p.quote.cmc_name
        if p.quote is p.network.native
        else p.quote.cmc_name,
        "quote_asset_symbol": p.quote_symbol,
        "quote_asset_contract_address": p.quote_address,
        "dex_id": p.dex_id,
        "dex_slug": p.dex_slug,
        "network_id": p.network.id,
        "network_slug": p.network.slug,
    }


def pair_record(ctx: Context, p: Pair, convs: list[tuple[str, str]]) -> dict[str, Any]:
    """A pair with its latest quote (``spot-pairs/latest`` and ``pairs/quotes/latest``)."""
    u = ctx.universe
    t = _updated(ctx, p)
    price = u.pair_price(p, t)
    quote_price = u.price(p.quote, t)
    liquidity, volume = u.pair_liquidity(p, t), u.pair_volume(p, t)
    change_1h = (price / u.pair_price(p, t - HOUR) - 1) * 100
    change_24h = (price / u.pair_price(p, t - DAY) - 1) * 100
    supply = p.base.max_supply
    rec = pair_fields(ctx, p)
    rec.update(
        {"last_updated": iso_ms(t), "created_at": iso_ms(p.created_at), "date_launched": iso_ms(p.created_at)}
    )
    rec["quote"] = [
        {
            "convert_id": cid,
            "price": price * fx(u, code, t),
            "price_by_quote_asset": price / quote_price,
            "liquidity": liquidity * fx(u, code, t),
            "volume_24h": volume * fx(u, code, t),
            "no_of_transactions_24h": u.pair_transactions(p, t),
            "percent_change_price_1h": round(change_1h, 6),
            "percent_change_price_24h": round(change_24h, 6),
            "fully_diluted_value": None if supply is None else price * supply * fx(u, code, t),
            "last_updated": iso_ms(t),
        }
        for cid, code in convs
    ]
    return rec


def encode_cursor(offset: int, network_id: str) -> str:
    """An opaque ``scroll_id`` for the listing position ``offset``."""
    check = rand.h64(offset, rand.text_id(network_id), 87) % 0xFFFFFF
    return f"c{offset:x}n{network_id}x{check:06x}"


def decode_cursor(ctx: Context, cursor: str, network_id: str) -> int:
    try:
        head, rest = cursor[1:].split("n", 1)
        nid, _check = rest.split("x", 1)
        offset = int(head, 16)
    except ValueError:
        raise bad(ctx, f'Invalid value for "scroll_id": "{cursor}"') from None
    if not cursor.startswith("c") or nid != network_id or encode_cursor(offset, nid) != cursor:
        raise bad(ctx, f'Invalid value for "scroll_id": "{cursor}"')
    return offset


@handler(API, "networks_list")
def networks_list(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v4/dex/networks/list``: chains with their native and wrapped tokens; ``start``/``limit``."""
    u = ctx.universe
    start = int_param(ctx, params, "start", 1)
    limit = int_param(ctx, params, "limit", 50, hi=5000)
    sort = params.get("sort") or "id"
    if sort not in ("id", "name"):
        raise bad(ctx, f'Invalid value for "sort": "{sort}"')
    rows = sorted(
        u.networks,
        key=(lambda n: int(n.id)) if sort == "id" else (lambda n: n.name),
        reverse=(params.get("sort_dir") or "desc") == "desc",
    )
    body = [
        {
            "id": int(n.id),
            "name": n.name,
            "network_slug": n.slug,
            "cryptocurrencyId": n.native.cmc_id,
            "cryptocurrencySlug": n.native.cmc_slug,
            "wrappedTokenId": n.wrapped_id,
            "wrappedTokenSlug": n.wrapped_symbol.lower(),
            "alternativeName": n.native.symbol,
            "tokenExplorerUrl": EXPLORERS[n.id] + "/token/",
            "poolExplorerUrl": EXPLORERS[n.id] + "/address/",
            "transactionHashUrl": EXPLORERS[n.id] + "/tx/",
        }
        for n in rows[start - 1 : start - 1 + limit]
    ]
    return Result(body, n_items=len(body))


def _filtered(ctx: Context, params: Mapping[str, str], net: Network) -> list[Pair]:
    pairs = [p for p in ctx.universe.pairs if p.network is net and p.created_at <= ctx.now]
    for name, attr in (("dex_id", "dex_id"), ("dex_slug", "dex_slug")):
        if params.get(name):
            wanted = set(split(params[name]))
            pairs = [p for p in pairs if getattr(p, attr) in wanted]
    if params.get("base_asset_symbol"):
        pairs = [p for p in pairs if p.base.symbol == params["base_asset_symbol"].upper()]
    if params.get("base_asset_contract_address"):
        pairs = [p for p in pairs if p.base_address.lower() == params["base_asset_contract_address"].lower()]
    if params.get("quote_asset_symbol"):
        pairs = [p for p in pairs if p.quote_symbol == params["quote_asset_symbol"].upper()]
    if params.get("quote_asset_contract_address"):
        pairs = [
            p for p in pairs if p.quote_address.lower() == params["quote_asset_contract_address"].lower()
        ]
    return pairs


@handler(API, "spot_pairs_latest")
def spot_pairs_latest(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v4/dex/spot-pairs/latest``: one network's pairs, sorted, cursor-paged by ``scroll_id``."""
    net = network(ctx, params)
    convs = convert_ids(ctx, params)
    limit = int_param(ctx, params, "limit", 100, hi=100)
    sort = params.get("sort") or "volume_24h"
    if sort not in SORTS:
        raise bad(ctx, f'Invalid value for "sort": "{sort}"')
    offset = decode_cursor(ctx, params["scroll_id"], net.id) if params.get("scroll_id") else 0
    records = [pair_record(ctx, p, convs) for p in _filtered(ctx, params, net)]
    field = {"percent_change_24h": "percent_change_price_24h"}.get(sort, sort)
    for name in ("liquidity", "volume_24h", "no_of_transactions_24h"):
        lo, hi = params.get(f"{name}_min"), params.get(f"{name}_max")
        if lo:
            records = [r for r in records if r["quote"][0][name] >= float(lo)]
        if hi:
            records = [r for r in records if r["quote"][0][name] <= float(hi)]
    records.sort(
        key=lambda r: (r["quote"][0][field], r["contract_address"]),
        reverse=(params.get("sort_dir") or "desc") == "desc",
    )
    if truthy(params.get("reverse_order")):
        for r in records:
            r["name"] = "/".join(reversed(r["name"].split("/")))
    page = records[offset : offset + limit]
    for i, r in enumerate(page):
        r["scroll_id"] = encode_cursor(offset + i + 1, net.id)
    return Result(page, n_items=len(page))


def _pairs(ctx: Context, params: Mapping[str, str], net: Network, max_ids: int | None) -> list[Pair]:
    addresses = split(params.get("contract_address"))
    if not addresses:
        raise bad(ctx, '"contract_address" is required')
    if max_ids is not None and len(addresses) > max_ids:
        raise bad(ctx, f'"contract_address" must contain at most {max_ids} items')
    out = []
    for a in addresses:
        p = ctx.universe.pairs_by_address.get(a.lower())
        if p is None or p.network is not net or p.created_at > ctx.now:
            if truthy(params.get("skip_invalid"), True):
                continue
            raise bad(ctx, f'Invalid value for "contract_address": "{a}"')
        out.append(p)
    return out


@handler(API, "pairs_quotes_latest")
def pairs_quotes_latest(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v4/dex/pairs/quotes/latest``: the latest quote of the given pairs."""
    net = network(ctx, params)
    convs = convert_ids(ctx, params)
    body = [pair_record(ctx, p, convs) for p in _pairs(ctx, params, net, 100)]
    return Result(body, n_items=len(body))


@handler(API, "pairs_ohlcv_historical")
def pairs_ohlcv_historical(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v4/dex/pairs/ohlcv/historical``: candles of one pair; at most ``dex_max_count`` per call."""
    net = network(ctx, params)
    convs = convert_ids(ctx, params)
    period_name = params.get("time_period") or "daily"
    periods = {"daily": DAY, "hourly": HOUR, "1d": DAY, "1h": HOUR}
    if period_name not in periods:
        raise bad(ctx, f'Invalid value for "time_period": "{period_name}"')
    period = periods[period_name]
    opens = candles(ctx, params, period, 300, False, ctx.settings.dex_max_count)
    if opens:
        check_depth(ctx, "pairs_ohlcv_historical", opens[0], daily=period == DAY)
    u = ctx.universe
    body = []
    n = 0
    for p in _pairs(ctx, params, net, 1):
        quotes = []
        for o in opens:
            if o < p.created_at:
                continue
            close_t = o + period
            hi, _, lo, _ = u.extremes_at(p.base, o, close_t)
            factor = u.pair_price(p, close_t) / u.price(p.base, close_t)
            volume = (
                u.pair_volume(p, close_t)
                * period
                / DAY
                * (1 + 0.2 * math.tanh(rand.gauss(u.seed, p.idx, o, 88)))
            )
            quotes.append(
                {
                    "time_open": iso_ms(o),
                    "time_close": None,
                    "quote": [
                        {
                            "convert_id": cid,
                            "open": u.pair_price(p, o) * fx(u, code, o),
                            "high": hi * factor * fx(u, code, o),
                            "low": lo * factor * fx(u, code, o),
                            "close": u.pair_price(p, close_t) * fx(u, code, close_t),
                            "volume": volume * fx(u, code, close_t),
                            "last_updated": iso_ms(close_t - 1),
                        }
                        for cid, code in convs
                    ],
                }
            )
        n += len(quotes)
        body.append({**pair_fields(ctx, p), "quotes": quotes})
    return Result(body, n_items=n)


@handler(API, "pairs_trade_latest")
def pairs_trade_latest(ctx: Context, path: Mapping[str, str], params: Mapping[str, str]) -> Result:
    """``/v4/dex/pairs/trade/latest``: the latest 100 trades of one pair (fixed trade slots in time)."""
    net = network(ctx, params)
    convs = convert_ids(ctx, params)
    aux = set(split(params.get("aux")))
    u = ctx.universe
    body = []
    for p in _pairs(ctx, params, net, 1):
        slot = max(1, int(86_400 / max(1, u.pair_transactions(p, p.created_at + DAY))))
        avg_usd = p.volume0 / max(1, 86_400 / slot)
        trades = []
        j = int(ctx.now // slot)
        while len(trades) < 100 and j * slot >= p.created_at:
            t = j * slot + rand.uniform(u.seed, p.idx, j, 89) * slot
            j -= 1
            if t > ctx.now:
                continue
            price = u.pair_price(p, t)
            total_usd = avg_usd * math.exp(rand.gauss(u.seed, p.idx, j, 90))
            amount = total_usd / price
            quote_price = u.price(p.quote, t)
            trade: dict[str, Any] = {
                "date": iso_ms(math.floor(t)),
                "type": "buy" if rand.h64(u.seed, p.idx, j, 91) % 2 else "sell",
                "quote": [
                    {
                        "convert_id": cid,
                        "price": price * fx(u, code, t),
                        "total": total_usd * fx(u, code, t),
                        "price_by_quote_asset": price / quote_price,
                        "amount_base_asset": amount,
                        "amount_quote_asset": total_usd / quote_price,
                    }
                    for cid, code in convs
                ],
            }
            tx = "0x" + rand.hex_string(64, u.seed, p.idx, j, 92)
            if "transaction_hash" in aux:
                trade["transaction_hash"] = tx
            if "blockchain_explorer_link" in aux:
                trade["blockchain_explorer_link"] = f"{EXPLORERS[net.id]}/tx/{tx}"
            trades.append(trade)
        body.append({**pair_fields(ctx, p), "trades": trades})
    return Result(body, n_items=sum(len(b["trades"]) for b in body))
