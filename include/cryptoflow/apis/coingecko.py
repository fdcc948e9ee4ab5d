"""CoinGecko API v3 (keyless, Demo and Pro plans), described once.

Facts and their sources: ``shared/API_FACTS.md`` §1. Demo keys go to ``api.coingecko.com`` with the
``x-cg-demo-api-key`` header; paid keys go to ``pro-api.coingecko.com`` with ``x-cg-pro-api-key``.
Every call costs one credit whatever its size (§1.2). Demo and keyless callers may reach 365 days back
(error 10012 beyond); ``interval=hourly``/``5m`` on the chart endpoints is Enterprise-only and
``interval`` on ``/ohlc`` is paid-only (10005 otherwise).
"""

from __future__ import annotations

from cryptoflow.apis.base import (
    Api,
    BodyRule,
    Credits,
    Endpoint,
    PageNumber,
    Plan,
    SinglePage,
    endpoints,
)

DEMO_BASE_URL = "https://api.coingecko.com/api/v3"
PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"

PAID = frozenset({"basic", "analyst", "enterprise"})
ENTERPRISE = frozenset({"enterprise"})
ANALYST_UP = frozenset({"analyst", "enterprise"})

PLANS = {
    # API_FACTS: Demo 30/min is the project's default where the sources disagree (30 vs 100).
    "demo": Plan(
        "demo",
        30,
        monthly_credits=10_000,
        history_days=365,
        base_url=DEMO_BASE_URL,
        auth_header="x-cg-demo-api-key",
        auth_query="x_cg_demo_api_key",
    ),
    "basic": Plan(
        "basic",
        300,
        monthly_credits=100_000,
        history_days=730,
        base_url=PRO_BASE_URL,
        auth_header="x-cg-pro-api-key",
        auth_query="x_cg_pro_api_key",
    ),
    "analyst": Plan(
        "analyst",
        500,
        monthly_credits=500_000,
        history_days=None,
        base_url=PRO_BASE_URL,
        auth_header="x-cg-pro-api-key",
        auth_query="x_cg_pro_api_key",
    ),
    "enterprise": Plan(
        "enterprise",
        1000,
        monthly_credits=None,
        history_days=None,
        base_url=PRO_BASE_URL,
        auth_header="x-cg-pro-api-key",
        auth_query="x_cg_pro_api_key",
    ),
    # No key at all on the public host: IP-limited, "5-15/min" observed (API_FACTS §1.2; UNCERTAIN
    # whether keyless access still works, so the sandbox can switch it off).
    "keyless": Plan(
        "keyless",
        5,
        monthly_credits=None,
        history_days=365,
        base_url=DEMO_BASE_URL,
        auth_header=None,
        auth_query=None,
    ),
}

# Demo and keyless reach 365 days back (10012 beyond); Basic two years; the rest everything.
HISTORY = {"demo": 365, "keyless": 365, "basic": 730}

# The fields a staging model casts (validation.py checks each before anything lands). Nulls follow
# API_FACTS §4 #5 (unranked coins, no max supply, no FDV, young coins without a 24 h or 7 d past) and
# CG-SPEC, where every change and all-time figure may be null for a coin without the history.
MARKET_FIELDS_NUMERIC = (
    "current_price",
    "market_cap",
    "total_volume",
    "high_24h",
    "low_24h",
    "circulating_supply",
    "total_supply",
    "max_supply",
    "fully_diluted_valuation",
    "price_change_24h",
    "price_change_percentage_24h",
    "market_cap_change_24h",
    "market_cap_change_percentage_24h",
    "ath",
    "ath_change_percentage",
    "atl",
    "atl_change_percentage",
    "roi.times",
    "roi.percentage",
    # present when `price_change_percentage` asks for them (the default params do: 1h,24h,7d)
    "price_change_percentage_1h_in_currency",
    "price_change_percentage_24h_in_currency",
    "price_change_percentage_7d_in_currency",
    "price_change_percentage_14d_in_currency",
    "price_change_percentage_30d_in_currency",
    "price_change_percentage_200d_in_currency",
    "price_change_percentage_1y_in_currency",
)
MARKET_FIELDS_NULLABLE = (
    "market_cap_rank",
    "high_24h",
    "low_24h",
    "total_supply",
    "max_supply",
    "fully_diluted_valuation",
    "circulating_supply",
    "price_change_24h",
    "price_change_percentage_24h",
    "market_cap_change_24h",
    "market_cap_change_percentage_24h",
    "ath",
    "ath_change_percentage",
    "ath_date",
    "atl",
    "atl_change_percentage",
    "atl_date",
    "price_change_percentage_1h_in_currency",
    "price_change_percentage_24h_in_currency",
    "price_change_percentage_7d_in_currency",
    "price_change_percentage_14d_in_currency",
    "price_change_percentage_30d_in_currency",
    "price_change_percentage_200d_in_currency",
    "price_change_percentage_1y_in_currency",
)

COINS_MARKETS = Endpoint(
    name="coins_markets",
    path="/coins/markets",
    params={
        "vs_currency": "usd",
        "order": "market_cap_desc",
        "sparkline": "false",
        "price_change_percentage": "1h,24h,7d",
    },
    paginator=PageNumber(page_param="page", size_param="per_page", max_size=250, default_size=100),
    body=BodyRule(
        kind="list",
        required=("id", "symbol", "name", "current_price", "market_cap", "total_volume", "last_updated"),
        numeric=MARKET_FIELDS_NUMERIC,
        integers=("market_cap_rank",),
        timestamps=("last_updated", "ath_date", "atl_date"),
        nullable=MARKET_FIELDS_NULLABLE,
        allow_empty=False,
    ),
    cache_seconds=45,
    description="Market snapshot of coins ranked by market cap; answers only for now.",
)

PING = Endpoint(
    name="ping", path="/ping", paginator=SinglePage(), body=BodyRule(kind="object", required=("gecko_says",))
)

COINS_LIST = Endpoint(
    name="coins_list",
    path="/coins/list",
    params={"include_platform": "true"},
    body=BodyRule(kind="list", required=("id", "symbol", "name")),
    cache_seconds=300,
    description="Every coin id with symbol, name and (include_platform) contract addresses; one page.",
)

COIN = Endpoint(
    name="coin",
    path="/coins/{id}",
    params={
        "localization": "false",
        "tickers": "false",
        "market_data": "true",
        "community_data": "false",
        "developer_data": "false",
        "sparkline": "false",
    },
    body=BodyRule(
        kind="object",
        required=(
            "id",
            "symbol",
            "name",
            "market_data.current_price.usd",
            "market_data.market_cap.usd",
            "market_data.total_volume.usd",
            "last_updated",
        ),
        # market_data maps are keyed by vs-currency: staging reads the USD figures. `total_value_locked`
        # is null or an object (DeFi coins), so it is left untyped; the TVL ratios are numbers or null.
        numeric=(
            "market_data.current_price.usd",
            "market_data.market_cap.usd",
            "market_data.total_volume.usd",
            "market_data.fully_diluted_valuation.usd",
            "market_data.high_24h.usd",
            "market_data.low_24h.usd",
            "market_data.ath.usd",
            "market_data.ath_change_percentage.usd",
            "market_data.atl.usd",
            "market_data.atl_change_percentage.usd",
            "market_data.price_change_24h",
            "market_data.price_change_percentage_24h",
            "market_data.price_change_percentage_7d",
            "market_data.price_change_percentage_14d",
            "market_data.price_change_percentage_30d",
            "market_data.price_change_percentage_60d",
            "market_data.price_change_percentage_200d",
            "market_data.price_change_percentage_1y",
            "market_data.market_cap_change_24h",
            "market_data.market_cap_change_percentage_24h",
            "market_data.market_cap_fdv_ratio",
            "market_data.mcap_to_tvl_ratio",
            "market_data.fdv_to_tvl_ratio",
            "market_data.circulating_supply",
            "market_data.total_supply",
            "market_data.max_supply",
            "sentiment_votes_up_percentage",
            "sentiment_votes_down_percentage",
        ),
        integers=("market_cap_rank", "market_data.market_cap_rank", "watchlist_portfolio_users"),
        timestamps=(
            "last_updated",
            "market_data.last_updated",
            "market_data.ath_date.usd",
            "market_data.atl_date.usd",
        ),
        nullable=(
            "market_cap_rank",
            "market_data.market_cap_rank",
            "watchlist_portfolio_users",
            "market_data.fully_diluted_valuation.usd",
            "market_data.high_24h.usd",
            "market_data.low_24h.usd",
            "market_data.ath.usd",
            "market_data.ath_change_percentage.usd",
            "market_data.ath_date.usd",
            "market_data.atl.usd",
            "market_data.atl_change_percentage.usd",
            "market_data.atl_date.usd",
            "market_data.price_change_24h",
            "market_data.price_change_percentage_24h",
            "market_data.price_change_percentage_7d",
            "market_data.price_change_percentage_14d",
            "market_data.price_change_percentage_30d",
            "market_data.price_change_percentage_60d",
            "market_data.price_change_percentage_200d",
            "market_data.price_change_percentage_1y",
            "market_data.market_cap_change_24h",
            "market_data.market_cap_change_percentage_24h",
            "market_data.market_cap_fdv_ratio",
            "market_data.mcap_to_tvl_ratio",
            "market_data.fdv_to_tvl_ratio",
            "market_data.circulating_supply",
            "market_data.total_supply",
            "market_data.max_supply",
            # null for coins nobody voted on (CG-SPEC)
            "sentiment_votes_up_percentage",
            "sentiment_votes_down_percentage",
        ),
    ),
    cache_seconds=60,
    description="One coin's metadata and current market data (maps keyed by vs-currency).",
)

# Each series is a list of [UNIX ms, value] points: position 0 an integer, position 1 a number.
CHART_BODY = BodyRule(
    kind="object",
    required=("prices", "market_caps", "total_volumes"),
    numeric=("prices[].1", "market_caps[].1", "total_volumes[].1"),
    integers=("prices[].0", "market_caps[].0", "total_volumes[].0"),
    allow_empty=True,
)

COINS_MARKET_CHART = Endpoint(
    name="coins_market_chart",
    path="/coins/{id}/market_chart",
    params={"vs_currency": "usd", "days": "1"},
    body=CHART_BODY,
    history_days=HISTORY,
    param_plans={"interval": {"hourly": ENTERPRISE, "5m": ENTERPRISE, "5minutely": ENTERPRISE}},
    cache_seconds=30,
    description="[ms, value] series for the last `days`: 5-minutely for 1 day, hourly to 90, daily beyond.",
)

COINS_MARKET_CHART_RANGE = Endpoint(
    name="coins_market_chart_range",
    path="/coins/{id}/market_chart/range",
    params={"vs_currency": "usd"},
    body=CHART_BODY,
    history_days=HISTORY,
    param_plans={"interval": {"hourly": ENTERPRISE, "5m": ENTERPRISE, "5minutely": ENTERPRISE}},
    cache_seconds=1800,
    description="[ms, value] series between `from` and `to` (UNIX s): hourly for windows of 2-90 days, daily "
    "beyond 90 days, 5-minutely for a <=1-day window within the last day.",
)

COINS_OHLC = Endpoint(
    name="coins_ohlc",
    path="/coins/{id}/ohlc",
    params={"vs_currency": "usd", "days": "1"},
    # rows of [UNIX ms of the close, open, high, low, close]
    body=BodyRule(kind="rows", numeric=("1", "2", "3", "4"), integers=("0",), allow_empty=True),
    history_days=HISTORY,
    param_plans={"interval": {"*": PAID}},
    cache_seconds=900,
    description="[ms close time, open, high, low, close] candles: 30 min for 1-2 days, "
    "4 h to 30, 4 days beyond.",
)

SEARCH_TRENDING = Endpoint(
    name="search_trending",
    path="/search/trending",
    # The trending coins' item fields. `item.data.price_btc`, `market_cap_btc` and `total_volume_btc`
    # are numeric strings and `item.data.market_cap`/`total_volume` display text ("$99,703,583")
    # (API_FACTS §4 #4): left untyped, staging reads `item.price_btc` (a number) instead. `data.price`
    # is a number in CG-SPEC and in the sandbox; its 24 h change is null for a coin without that past.
    body=BodyRule(
        kind="object",
        required=("coins", "nfts", "categories"),
        numeric=(
            "coins[].item.price_btc",
            "coins[].item.data.price",
            "coins[].item.data.price_change_percentage_24h.usd",
        ),
        integers=("coins[].item.coin_id", "coins[].item.market_cap_rank", "coins[].item.score"),
        nullable=("coins[].item.market_cap_rank", "coins[].item.data.price_change_percentage_24h.usd"),
    ),
    param_plans={"show_max": {"*": ANALYST_UP}},
    cache_seconds=600,
    description="Trending coins (15), NFTs (7) and categories (6).",
)

GLOBAL = Endpoint(
    name="global",
    path="/global",
    body=BodyRule(
        items_path=("data",),
        kind="object",
        required=(
            "active_cryptocurrencies",
            "total_market_cap.usd",
            "total_volume.usd",
            "market_cap_percentage.btc",
            "updated_at",
        ),
        numeric=(
            "total_market_cap.usd",
            "total_volume.usd",
            "market_cap_percentage.btc",
            "market_cap_percentage.eth",
            "market_cap_change_percentage_24h_usd",
        ),
        # `updated_at` is UNIX seconds (API_FACTS §4 #3): an integer, staging makes it a time
        integers=("active_cryptocurrencies", "upcoming_icos", "ongoing_icos", "ended_icos", "markets",
                  "updated_at"),
    ),
    cache_seconds=600,
    description="Whole-market totals; `updated_at` is UNIX seconds.",
)

EXCHANGES = Endpoint(
    name="exchanges",
    path="/exchanges",
    paginator=PageNumber(page_param="page", size_param="per_page", max_size=250, default_size=100),
    body=BodyRule(
        kind="list",
        required=("id", "name", "trust_score", "trade_volume_24h_btc"),
        numeric=("trade_volume_24h_btc", "trade_volume_24h_btc_normalized"),
        # at the exchange level `trust_score` is an integer 1-10 (a ticker's is a colour: not here)
        integers=("trust_score", "trust_score_rank", "year_established"),
        nullable=("year_established", "trust_score", "trust_score_rank", "country"),
        allow_empty=True,
    ),
    cache_seconds=60,
    description="Exchanges ranked by trust score, paged by page/per_page.",
)

KEY = Endpoint(
    name="key",
    path="/key",
    plans=PAID,
    credits=Credits(per_call=0),
    body=BodyRule(
        kind="object",
        required=("plan", "rate_limit_request_per_minute", "monthly_call_credit"),
        integers=(
            "rate_limit_request_per_minute",
            "monthly_call_credit",
            "current_total_monthly_calls",
            "current_remaining_monthly_calls",
        ),
        nullable=("current_remaining_monthly_calls",),
    ),
    description="The paid key's plan and usage (paid plans only).",
)

COINGECKO = Api(
    name="coingecko",
    title="CoinGecko",
    plans=PLANS,
    default_plan="demo",
    endpoints=endpoints(
        PING,
        COINS_MARKETS,
        COINS_LIST,
        COIN,
        COINS_MARKET_CHART,
        COINS_MARKET_CHART_RANGE,
        COINS_OHLC,
        SEARCH_TRENDING,
        GLOBAL,
        EXCHANGES,
        KEY,
    ),
    default_calls_per_minute=15,
    error_style="coingecko",
    notes="shared/API_FACTS.md §1",
    # 10002 key missing or wrong, 10005 paid plans only, 10010/10011 key sent to the wrong host,
    # 10012 history beyond the plan (API_FACTS §1.4).
    permanent_errors=frozenset({10002, 10005, 10010, 10011, 10012}),
    rate_limit_errors=frozenset({429}),
)
