"""CoinMarketCap DEX API (v4 ``/dex/`` paths on the Pro API), described once.

Facts and their sources: ``shared/API_FACTS.md`` §3. It shares CMC's base URL, key header, envelope
and error codes; ids are strings and ``quote`` is a list of objects with ``convert_id``. Much is
UNCERTAIN and follows the project's defaults: 1 credit per call, every plan allowed, at most 500
periods per OHLCV call, ``scroll_id`` cursor paging on spot pairs. The v4 paths are deprecated upstream
but still the ones every client uses.
"""

from __future__ import annotations

from cryptoflow.apis.base import Api, Credits, Endpoint, Offset, Plan, ScrollCursor, endpoints
from cryptoflow.apis.cmc import (
    AUTH_HEADER,
    AUTH_QUERY,
    BASE_URL,
    PERMANENT_ERRORS,
    QUOTA_ERRORS,
    RATE_LIMIT_ERRORS,
    envelope_rule,
)

# Same plan names as CMC; a separate minute budget (the project's own budget is 50/min, so the
# sandbox's default is above it). UNCERTAIN: no source gives DEX rate limits.
PLANS = {
    name: Plan(
        name,
        per_minute,
        monthly_credits=monthly,
        daily_credits=daily,
        history_days=None,
        base_url=BASE_URL,
        auth_header=AUTH_HEADER,
        auth_query=AUTH_QUERY,
    )
    for name, per_minute, monthly, daily in (
        ("basic", 60, 10_000, 333),
        ("startup", 60, 300_000, None),
        ("growth", 120, 1_200_000, None),
        ("professional", 180, 3_000_000, None),
        ("enterprise", 300, None, None),
    )
}


PAIR_REQUIRED = (
    "contract_address",
    "name",
    "network_id",
    "dex_id",
    "base_asset_symbol",
    "quote_asset_symbol",
    "last_updated",
    "quote",
)

# The fields a staging model casts from a pair record. DEX ids are strings of digits (API_FACTS §3.3),
# which `integers` takes; `quote` is a list with one object per `convert_id` (the SDK model; a map keyed
# by currency, which CMC-CLI also accepts, is refused: staging unnests a list). An asset without a CMC
# listing might come without ids (UNCERTAIN: no source shows one), so asset ids are nullable; an empty
# string would be refused. `fully_diluted_value` is null without a max supply (§4 #5) and the price
# changes of a pair younger than the period may be null.
PAIR_INTEGERS = (
    "network_id",
    "dex_id",
    "base_asset_id",
    "base_asset_ucid",
    "quote_asset_id",
    "quote_asset_ucid",
)
PAIR_NULLABLE = ("base_asset_id", "base_asset_ucid", "quote_asset_id", "quote_asset_ucid")
PAIR_QUOTE_NUMERIC = (
    "quote[].price",
    "quote[].price_by_quote_asset",
    "quote[].liquidity",
    "quote[].volume_24h",
    "quote[].percent_change_price_1h",
    "quote[].percent_change_price_24h",
    "quote[].fully_diluted_value",
)
PAIR_QUOTE_INTEGERS = (*PAIR_INTEGERS, "quote[].convert_id", "quote[].no_of_transactions_24h")
PAIR_QUOTE_TIMESTAMPS = ("last_updated", "created_at", "date_launched", "quote[].last_updated")
PAIR_QUOTE_NULLABLE = (
    *PAIR_NULLABLE,
    "created_at",
    "date_launched",
    "quote[].fully_diluted_value",
    "quote[].percent_change_price_1h",
    "quote[].percent_change_price_24h",
)

NETWORKS_LIST = Endpoint(
    name="networks_list",
    path="/v4/dex/networks/list",
    params={"sort": "id", "sort_dir": "asc"},
    paginator=Offset(start_param="start", limit_param="limit", max_limit=5000, default_limit=50),
    credits=Credits(per_call=1),
    # ids are integers here (camelCase keys, SDK `network_info_dto`); a string of digits would pass too.
    # A chain without a CMC coin or a wrapped token may have null ids (UNCERTAIN).
    body=envelope_rule("list", ("id", "name", "network_slug"), allow_empty=True,
                       integers=("id", "cryptocurrencyId", "wrappedTokenId"),
                       nullable=("cryptocurrencyId", "wrappedTokenId")),
    description="DEX networks (chains) with their native and wrapped token ids.",
)

SPOT_PAIRS_LATEST = Endpoint(
    name="spot_pairs_latest",
    path="/v4/dex/spot-pairs/latest",
    params={"sort": "volume_24h", "sort_dir": "desc", "convert_id": "2781"},
    paginator=ScrollCursor(
        cursor_param="scroll_id",
        limit_param="limit",
        item_cursor_field="scroll_id",
        max_limit=100,
        default_limit=100,
    ),
    credits=Credits(per_call=1),
    body=envelope_rule("list", (*PAIR_REQUIRED, "scroll_id"), PAIR_QUOTE_NUMERIC, PAIR_QUOTE_NULLABLE,
                       allow_empty=True, integers=PAIR_QUOTE_INTEGERS, timestamps=PAIR_QUOTE_TIMESTAMPS),
    description="Spot pairs of one network (network_id or network_slug required), cursor-paged by scroll_id.",
)

PAIRS_QUOTES_LATEST = Endpoint(
    name="pairs_quotes_latest",
    path="/v4/dex/pairs/quotes/latest",
    params={"convert_id": "2781"},
    credits=Credits(per_call=1),
    body=envelope_rule("list", PAIR_REQUIRED, PAIR_QUOTE_NUMERIC, PAIR_QUOTE_NULLABLE,
                       integers=PAIR_QUOTE_INTEGERS, timestamps=PAIR_QUOTE_TIMESTAMPS),
    max_ids=100,
    ids_per_call_param="contract_address",
    description="Latest quote of one or more pairs (comma-separated contract_address).",
)

PAIRS_OHLCV_HISTORICAL = Endpoint(
    name="pairs_ohlcv_historical",
    path="/v4/dex/pairs/ohlcv/historical",
    params={"time_period": "hourly", "interval": "1h", "convert_id": "2781"},
    credits=Credits(per_call=1),
    # the SDK model: `quotes[]` candles, each with a `quote[]` per convert_id; `time_close` always null
    body=envelope_rule(
        "list",
        ("contract_address", "quotes"),
        numeric=(
            "quotes[].quote[].open",
            "quotes[].quote[].high",
            "quotes[].quote[].low",
            "quotes[].quote[].close",
            "quotes[].quote[].volume",
        ),
        integers=(*PAIR_INTEGERS, "quotes[].quote[].convert_id"),
        timestamps=("quotes[].time_open", "quotes[].time_close", "quotes[].quote[].last_updated"),
        nullable=(*PAIR_NULLABLE, "quotes[].time_close"),
        allow_empty=True,
    ),
    max_ids=1,
    max_count=500,
    description="OHLCV candles of one pair; `time_close` always null; at most 500 periods per call.",
)

PAIRS_TRADE_LATEST = Endpoint(
    name="pairs_trade_latest",
    path="/v4/dex/pairs/trade/latest",
    params={"convert_id": "2781"},
    credits=Credits(per_call=1),
    # the SDK model's trades (`date`, `quote[]`); CMC-CLI's flat `trade_timestamp` form would pass
    # untyped (API_FACTS §3.3, UNCERTAIN)
    body=envelope_rule(
        "list",
        ("contract_address", "trades"),
        numeric=(
            "trades[].quote[].price",
            "trades[].quote[].total",
            "trades[].quote[].price_by_quote_asset",
            "trades[].quote[].amount_base_asset",
            "trades[].quote[].amount_quote_asset",
        ),
        integers=(*PAIR_INTEGERS, "trades[].quote[].convert_id"),
        timestamps=("trades[].date",),
        nullable=PAIR_NULLABLE,
        allow_empty=True,
    ),
    max_ids=1,
    description="Up to the latest 100 trades of one pair.",
)

CMC_DEX = Api(
    name="cmc_dex",
    title="CoinMarketCap DEX",
    plans=PLANS,
    default_plan="basic",
    endpoints=endpoints(
        NETWORKS_LIST, SPOT_PAIRS_LATEST, PAIRS_QUOTES_LATEST, PAIRS_OHLCV_HISTORICAL, PAIRS_TRADE_LATEST
    ),
    default_calls_per_minute=50,
    error_style="cmc",
    notes="shared/API_FACTS.md §3",
    permanent_errors=PERMANENT_ERRORS,
    rate_limit_errors=RATE_LIMIT_ERRORS,
    quota_errors=QUOTA_ERRORS,
)
