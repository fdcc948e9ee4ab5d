"""CoinGecko API v3 (Demo and Pro plans), described once.

Facts and their sources: ``shared/API_FACTS.md`` §1. Demo keys go to ``api.coingecko.com`` with the
``x-cg-demo-api-key`` header; paid keys go to ``pro-api.coingecko.com`` with ``x-cg-pro-api-key``.
"""

from __future__ import annotations

from cryptoflow.apis.base import Api, BodyRule, Endpoint, PageNumber, Plan, SinglePage, endpoints

DEMO_BASE_URL = "https://api.coingecko.com/api/v3"
PRO_BASE_URL = "https://pro-api.coingecko.com/api/v3"

PLANS = {
    # API_FACTS: Demo 30/min is the project's default where the sources disagree (30 vs 100).
    "demo": Plan("demo", 30, monthly_credits=10_000, history_days=365, base_url=DEMO_BASE_URL,
                 auth_header="x-cg-demo-api-key", auth_query="x_cg_demo_api_key"),
    "basic": Plan("basic", 300, monthly_credits=100_000, history_days=730, base_url=PRO_BASE_URL,
                  auth_header="x-cg-pro-api-key", auth_query="x_cg_pro_api_key"),
    "analyst": Plan("analyst", 500, monthly_credits=500_000, history_days=None, base_url=PRO_BASE_URL,
                    auth_header="x-cg-pro-api-key", auth_query="x_cg_pro_api_key"),
    "enterprise": Plan("enterprise", 1000, monthly_credits=None, history_days=None, base_url=PRO_BASE_URL,
                       auth_header="x-cg-pro-api-key", auth_query="x_cg_pro_api_key"),
}

COINS_MARKETS = Endpoint(
    name="coins_markets",
    path="/coins/markets",
    params={"vs_currency": "usd", "order": "market_cap_desc", "sparkline": "false",
            "price_change_percentage": "1h,24h,7d"},
    paginator=PageNumber(page_param="page", size_param="per_page", max_size=250, default_size=100),
    body=BodyRule(
        kind="list",
        required=("id", "symbol", "name", "current_price", "market_cap", "total_volume", "last_updated"),
        numeric=("current_price", "market_cap", "total_volume", "market_cap_rank", "high_24h", "low_24h",
                 "circulating_supply", "total_supply", "max_supply", "fully_diluted_valuation"),
        nullable=("market_cap_rank", "high_24h", "low_24h", "total_supply", "max_supply",
                  "fully_diluted_valuation", "circulating_supply"),
        allow_empty=False,
    ),
    description="Market snapshot of coins ranked by market cap; answers only for now.",
)

PING = Endpoint(name="ping", path="/ping", paginator=SinglePage(),
                body=BodyRule(kind="object", required=("gecko_says",)))

COINGECKO = Api(
    name="coingecko",
    title="CoinGecko",
    plans=PLANS,
    default_plan="demo",
    endpoints=endpoints(PING, COINS_MARKETS),
    default_calls_per_minute=15,
)
