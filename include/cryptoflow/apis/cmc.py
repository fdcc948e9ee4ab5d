"""CoinMarketCap Pro API (``pro-api.coinmarketcap.com``), described once.

Facts and their sources: ``shared/API_FACTS.md`` §2. One key header (``X-CMC_PRO_API_KEY``, or the
``CMC_PRO_API_KEY`` query parameter) for every plan; every body is the ``{"data", "status"}`` envelope
and ``status.error_code`` must be 0 even on HTTP 200. Credits follow the current docs' per-endpoint
arithmetic (§2.4): 1 per 100 (listings: 200) records, +1 per extra ``convert``, 0 for ``/map`` and
``/key/info``, nothing for errors.

Plans use the current names where the gating differs (Basic, Startup, Growth, Professional,
Enterprise); the rate and credit figures of paid plans are UNCERTAIN (old pricing page) and the
sandbox makes them settings.
"""

from __future__ import annotations

from cryptoflow.apis.base import Api, BodyRule, Credits, Endpoint, Offset, Plan, endpoints

BASE_URL = "https://pro-api.coinmarketcap.com"
AUTH_HEADER = "X-CMC_PRO_API_KEY"
AUTH_QUERY = "CMC_PRO_API_KEY"


def _plan(
    name: str, per_minute: int, monthly: int | None, daily: int | None = None, history: int | None = None
) -> Plan:
    return Plan(
        name,
        per_minute,
        monthly_credits=monthly,
        daily_credits=daily,
        history_days=history,
        base_url=BASE_URL,
        auth_header=AUTH_HEADER,
        auth_query=AUTH_QUERY,
    )


PLANS = {
    # Basic: 30/min, 10,000 credits/month, ~333/day (API_FACTS defaults table).
    "basic": _plan("basic", 30, 10_000, daily=333, history=30),
    "startup": _plan("startup", 30, 300_000, history=30),
    "growth": _plan("growth", 60, 1_200_000, history=90),
    "professional": _plan("professional", 90, 3_000_000, history=365),
    "enterprise": _plan("enterprise", 120, None, history=None),
}

ALL_PLANS = frozenset(PLANS)
STARTUP_UP = frozenset({"startup", "growth", "professional", "enterprise"})
GROWTH_UP = frozenset({"growth", "professional", "enterprise"})

# Intraday depth per plan (days back); daily depth where it differs. Missing plan: unlimited.
INTRADAY_HISTORY = {"basic": 30, "startup": 30, "growth": 90, "professional": 365}
DAILY_HISTORY = {"basic": 365}

STATUS = ("status",)

# 1001-1007: the key is invalid, missing, unpaid, expired, lacks the plan or is disabled; 1008 and 1011:
# minute and IP rate limits; 1009/1010: the daily/monthly credit caps (API_FACTS §2.3).
PERMANENT_ERRORS = frozenset(range(1001, 1008))
RATE_LIMIT_ERRORS = frozenset({1008, 1011})
QUOTA_ERRORS = frozenset({1009, 1010})


def envelope_rule(
    kind: str,
    required: tuple[str, ...],
    numeric: tuple[str, ...] = (),
    nullable: tuple[str, ...] = (),
    allow_empty: bool = False,
) -> BodyRule:
    """The rule of a body in CMC's envelope: records under ``data``, ``status.error_code`` must be 0."""
    return BodyRule(
        items_path=("data",),
        kind=kind,
        required=required,
        numeric=numeric,
        nullable=nullable,
        allow_empty=allow_empty,
        status_path=STATUS,
    )


LISTING_NUMERIC = (
    "id",
    "cmc_rank",
    "circulating_supply",
    "total_supply",
    "max_supply",
    "quote.USD.price",
    "quote.USD.volume_24h",
    "quote.USD.market_cap",
    "quote.USD.percent_change_24h",
)
LISTING_NULLABLE = (
    "max_supply",
    "platform",
    "self_reported_circulating_supply",
    "self_reported_market_cap",
    "tvl_ratio",
    "quote.USD.tvl",
    "quote.USD.fully_diluted_market_cap",
)

CRYPTOCURRENCY_MAP = Endpoint(
    name="cryptocurrency_map",
    path="/v1/cryptocurrency/map",
    params={"listing_status": "active", "sort": "id"},
    paginator=Offset(start_param="start", limit_param="limit", max_limit=5000, default_limit=5000),
    credits=Credits(per_call=0),
    body=envelope_rule(
        "list",
        ("id", "name", "symbol", "slug", "is_active"),
        numeric=("id", "rank", "is_active"),
        nullable=("platform", "rank"),
        allow_empty=True,
    ),
    description="Every CMC id with symbol, slug, platform and first/last historical data; 0 credits.",
)

CRYPTOCURRENCY_LISTINGS_LATEST = Endpoint(
    name="cryptocurrency_listings_latest",
    path="/v1/cryptocurrency/listings/latest",
    params={"convert": "USD", "sort": "market_cap", "sort_dir": "desc"},
    paginator=Offset(start_param="start", limit_param="limit", max_limit=5000, default_limit=100),
    credits=Credits(per_call=1, per_items=200, per_extra_convert=1),
    body=envelope_rule(
        "list",
        (
            "id",
            "name",
            "symbol",
            "slug",
            "cmc_rank",
            "last_updated",
            "quote.USD.price",
            "quote.USD.market_cap",
            "quote.USD.volume_24h",
        ),
        numeric=LISTING_NUMERIC,
        nullable=LISTING_NULLABLE,
        allow_empty=True,
    ),
    cache_seconds=60,
    description="Active coins ranked by market cap with a USD quote; start/limit paging, total in status.",
)

CRYPTOCURRENCY_QUOTES_LATEST = Endpoint(
    name="cryptocurrency_quotes_latest",
    path="/v2/cryptocurrency/quotes/latest",
    params={"convert": "USD", "skip_invalid": "true"},
    credits=Credits(per_call=1, per_items=100, per_extra_convert=1),
    body=envelope_rule(
        "map",
        ("id", "name", "symbol", "last_updated", "quote.USD.price", "quote.USD.market_cap"),
        numeric=LISTING_NUMERIC,
        nullable=(*LISTING_NULLABLE, "cmc_rank"),
    ),
    max_ids=100,
    ids_per_call_param="id",
    cache_seconds=60,
    description="Latest quotes for up to 100 ids per call; data keyed by id.",
)

CRYPTOCURRENCY_INFO = Endpoint(
    name="cryptocurrency_info",
    path="/v2/cryptocurrency/info",
    params={"skip_invalid": "false"},
    credits=Credits(per_call=1, per_items=100),
    body=envelope_rule(
        "map",
        ("id", "name", "symbol", "slug", "category"),
        numeric=("id",),
        nullable=("platform", "date_launched"),
    ),
    max_ids=100,
    ids_per_call_param="id",
    description="Static metadata (urls, logo, tags, platform, contracts); skip_invalid defaults to false.",
)

CRYPTOCURRENCY_QUOTES_HISTORICAL = Endpoint(
    name="cryptocurrency_quotes_historical",
    path="/v2/cryptocurrency/quotes/historical",
    params={"interval": "hourly", "convert": "USD"},
    credits=Credits(per_call=1, per_items=100, per_extra_convert=1),
    body=envelope_rule("record_or_map", ("id", "symbol", "quotes"), allow_empty=True),
    history_days=INTRADAY_HISTORY,
    daily_history_days=DAILY_HISTORY,
    max_ids=100,
    max_count=10_000,
    ids_per_call_param="id",
    cache_seconds=300,
    description="Quotes at interval boundaries (closest sample; empty intervals skipped); one id gives the "
    "bare coin object, several ids a map keyed by id. 1 credit per 100 data points.",
)

CRYPTOCURRENCY_OHLCV_HISTORICAL = Endpoint(
    name="cryptocurrency_ohlcv_historical",
    path="/v2/cryptocurrency/ohlcv/historical",
    params={"time_period": "daily", "convert": "USD"},
    credits=Credits(per_call=1, per_items=100, per_extra_convert=1),
    plans=STARTUP_UP,
    body=envelope_rule("record_or_map", ("id", "symbol", "quotes"), allow_empty=True),
    history_days=INTRADAY_HISTORY,
    daily_history_days=DAILY_HISTORY,
    max_ids=100,
    max_count=10_000,
    ids_per_call_param="id",
    description="OHLCV candles; time_start exclusive, time_end inclusive; Startup and up (1006 on Basic).",
)

GLOBAL_METRICS_QUOTES_LATEST = Endpoint(
    name="global_metrics_quotes_latest",
    path="/v1/global-metrics/quotes/latest",
    params={"convert": "USD"},
    credits=Credits(per_call=1, per_extra_convert=1),
    body=envelope_rule(
        "object",
        (
            "btc_dominance",
            "eth_dominance",
            "active_cryptocurrencies",
            "last_updated",
            "quote.USD.total_market_cap",
            "quote.USD.total_volume_24h",
        ),
        numeric=(
            "btc_dominance",
            "eth_dominance",
            "active_cryptocurrencies",
            "quote.USD.total_market_cap",
            "quote.USD.total_volume_24h",
        ),
    ),
    cache_seconds=300,
    description="Whole-market totals now.",
)

GLOBAL_METRICS_QUOTES_HISTORICAL = Endpoint(
    name="global_metrics_quotes_historical",
    path="/v1/global-metrics/quotes/historical",
    params={"interval": "1d", "convert": "USD"},
    credits=Credits(per_call=1, per_items=100, per_extra_convert=1),
    body=envelope_rule("object", ("quotes",), allow_empty=True),
    history_days=INTRADAY_HISTORY,
    daily_history_days=DAILY_HISTORY,
    max_count=10_000,
    description="Whole-market totals at interval boundaries.",
)

FEAR_AND_GREED_LATEST = Endpoint(
    name="fear_and_greed_latest",
    path="/v3/fear-and-greed/latest",
    body=envelope_rule("object", ("value", "value_classification", "update_time"), numeric=("value",)),
    description="Today's fear-and-greed index (0-100).",
)

FEAR_AND_GREED_HISTORICAL = Endpoint(
    name="fear_and_greed_historical",
    path="/v3/fear-and-greed/historical",
    paginator=Offset(start_param="start", limit_param="limit", max_limit=500, default_limit=50),
    body=envelope_rule("list", ("timestamp", "value", "value_classification"), numeric=("value",),
                       allow_empty=True),
    description="Daily fear-and-greed values, newest first; `timestamp` is a UNIX-seconds string.",
)

EXCHANGE_LISTINGS_LATEST = Endpoint(
    name="exchange_listings_latest",
    path="/v1/exchange/listings/latest",
    params={"sort": "volume_24h", "sort_dir": "desc", "convert": "USD"},
    paginator=Offset(start_param="start", limit_param="limit", max_limit=5000, default_limit=100),
    credits=Credits(per_call=1, per_items=100, per_extra_convert=1),
    plans=GROWTH_UP,
    body=envelope_rule(
        "list",
        ("id", "name", "slug", "quote.USD.volume_24h"),
        numeric=("id", "quote.USD.volume_24h"),
        nullable=("exchange_score", "traffic_score", "date_launched"),
        allow_empty=True,
    ),
    description="Exchanges ranked by volume; Growth and up (1006 on Basic/Startup).",
)

KEY_INFO = Endpoint(
    name="key_info",
    path="/v1/key/info",
    credits=Credits(per_call=0),
    body=envelope_rule("object",
                       ("plan.credit_limit_monthly", "plan.rate_limit_minute", "usage.current_minute")),
    description="The key's plan and usage; 0 credits but counts toward the minute limit.",
)

CMC = Api(
    name="cmc",
    title="CoinMarketCap",
    plans=PLANS,
    default_plan="basic",
    endpoints=endpoints(
        CRYPTOCURRENCY_MAP,
        CRYPTOCURRENCY_LISTINGS_LATEST,
        CRYPTOCURRENCY_QUOTES_LATEST,
        CRYPTOCURRENCY_INFO,
        CRYPTOCURRENCY_QUOTES_HISTORICAL,
        CRYPTOCURRENCY_OHLCV_HISTORICAL,
        GLOBAL_METRICS_QUOTES_LATEST,
        GLOBAL_METRICS_QUOTES_HISTORICAL,
        FEAR_AND_GREED_LATEST,
        FEAR_AND_GREED_HISTORICAL,
        EXCHANGE_LISTINGS_LATEST,
        KEY_INFO,
    ),
    default_calls_per_minute=15,
    error_style="cmc",
    notes="shared/API_FACTS.md §2",
    permanent_errors=PERMANENT_ERRORS,
    rate_limit_errors=RATE_LIMIT_ERRORS,
    quota_errors=QUOTA_ERRORS,
)
