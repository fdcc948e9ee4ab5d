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
    *,
    integers: tuple[str, ...] = (),
    timestamps: tuple[str, ...] = (),
) -> BodyRule:
    """The rule of a body in CMC's envelope: records under ``data``, ``status.error_code`` must be 0."""
    return BodyRule(
        items_path=("data",),
        kind=kind,
        required=required,
        numeric=numeric,
        integers=integers,
        timestamps=timestamps,
        nullable=nullable,
        allow_empty=allow_empty,
        status_path=STATUS,
    )


# The fields a staging model casts from a coin of listings/quotes (the USD quote: the pipeline's
# `convert`). CMC ids, ranks and counts are integers; `platform` is null for coins (API_FACTS §4 #5).
# Percent changes are null for a coin younger than the period (the sandbox does so; the SDK model
# types them nullable).
LISTING_NUMERIC = (
    "circulating_supply",
    "total_supply",
    "max_supply",
    "self_reported_circulating_supply",
    "self_reported_market_cap",
    "tvl_ratio",
    "quote.USD.price",
    "quote.USD.volume_24h",
    "quote.USD.volume_change_24h",
    "quote.USD.market_cap",
    "quote.USD.market_cap_dominance",
    "quote.USD.fully_diluted_market_cap",
    "quote.USD.tvl",
    "quote.USD.percent_change_1h",
    "quote.USD.percent_change_24h",
    "quote.USD.percent_change_7d",
    "quote.USD.percent_change_30d",
    "quote.USD.percent_change_60d",
    "quote.USD.percent_change_90d",
)
LISTING_INTEGERS = ("id", "cmc_rank", "num_market_pairs", "platform.id")
LISTING_TIMESTAMPS = ("last_updated", "date_added", "quote.USD.last_updated")
LISTING_NULLABLE = (
    "max_supply",
    "platform",
    "self_reported_circulating_supply",
    "self_reported_market_cap",
    "tvl_ratio",
    "quote.USD.tvl",
    "quote.USD.fully_diluted_market_cap",
    "quote.USD.volume_change_24h",
    "quote.USD.percent_change_1h",
    "quote.USD.percent_change_24h",
    "quote.USD.percent_change_7d",
    "quote.USD.percent_change_30d",
    "quote.USD.percent_change_60d",
    "quote.USD.percent_change_90d",
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
        # `is_active` is 0/1, not a boolean (API_FACTS §4 #4); the historical-data bounds come with the
        # default `aux` and may be null for an untracked coin
        integers=("id", "rank", "is_active", "platform.id"),
        timestamps=("first_historical_data", "last_historical_data"),
        nullable=("platform", "rank", "first_historical_data", "last_historical_data"),
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
        integers=LISTING_INTEGERS,
        timestamps=LISTING_TIMESTAMPS,
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
        integers=(*LISTING_INTEGERS, "is_active", "is_fiat"),
        timestamps=LISTING_TIMESTAMPS,
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
        # a contract's platform coin id is a string of digits ("1027"), as in the SDK model
        numeric=("self_reported_circulating_supply", "self_reported_market_cap"),
        integers=("id", "is_hidden", "platform.id", "contract_address[].platform.coin.id"),
        timestamps=("date_added", "date_launched"),
        nullable=(
            "platform",
            "date_launched",
            "self_reported_circulating_supply",
            "self_reported_market_cap",
        ),
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
    # Quotes of the USD `convert`. The volume is `volume_24h` (what clients parse) or `volume_24hr` (the
    # schema's spelling, API_FACTS §2.5): both typed, either may be absent. Volume, market cap and
    # supplies may be null in early history (UNCERTAIN; nullable so old data still lands).
    body=envelope_rule(
        "record_or_map",
        ("id", "symbol", "quotes"),
        numeric=(
            "quotes[].quote.USD.price",
            "quotes[].quote.USD.volume_24h",
            "quotes[].quote.USD.volume_24hr",
            "quotes[].quote.USD.market_cap",
            "quotes[].quote.USD.circulating_supply",
            "quotes[].quote.USD.total_supply",
        ),
        integers=("id", "is_active", "is_fiat"),
        timestamps=("quotes[].timestamp", "quotes[].quote.USD.timestamp"),
        nullable=(
            "quotes[].quote.USD.volume_24h",
            "quotes[].quote.USD.volume_24hr",
            "quotes[].quote.USD.market_cap",
            "quotes[].quote.USD.circulating_supply",
            "quotes[].quote.USD.total_supply",
        ),
        allow_empty=True,
    ),
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
    # Candles of the USD `convert`; hourly volume before 2020-09-22 is 0 or absent (API_FACTS §2.5),
    # market cap may be null in early history (UNCERTAIN).
    body=envelope_rule(
        "record_or_map",
        ("id", "symbol", "quotes"),
        numeric=(
            "quotes[].quote.USD.open",
            "quotes[].quote.USD.high",
            "quotes[].quote.USD.low",
            "quotes[].quote.USD.close",
            "quotes[].quote.USD.volume",
            "quotes[].quote.USD.market_cap",
        ),
        integers=("id", "is_active", "is_fiat"),
        timestamps=(
            "quotes[].time_open",
            "quotes[].time_close",
            "quotes[].time_high",
            "quotes[].time_low",
            "quotes[].quote.USD.timestamp",
        ),
        nullable=("quotes[].quote.USD.volume", "quotes[].quote.USD.market_cap"),
        allow_empty=True,
    ),
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
        # Beyond the SDK model real bodies carry `defi_*`, `stablecoin_*`, `derivatives_*` and
        # `*_yesterday*` figures (API_FACTS §2.5, UNCERTAIN): typed, and nullable.
        numeric=(
            "btc_dominance",
            "eth_dominance",
            "btc_dominance_yesterday",
            "eth_dominance_yesterday",
            "btc_dominance_24h_percentage_change",
            "eth_dominance_24h_percentage_change",
            "defi_volume_24h",
            "stablecoin_volume_24h",
            "derivatives_volume_24h",
            "quote.USD.total_market_cap",
            "quote.USD.total_volume_24h",
            "quote.USD.total_volume_24h_reported",
            "quote.USD.altcoin_market_cap",
            "quote.USD.altcoin_volume_24h",
            "quote.USD.altcoin_volume_24h_reported",
            "quote.USD.total_market_cap_yesterday",
            "quote.USD.total_volume_24h_yesterday",
            "quote.USD.total_market_cap_yesterday_percentage_change",
            "quote.USD.total_volume_24h_yesterday_percentage_change",
        ),
        integers=(
            "active_cryptocurrencies",
            "total_cryptocurrencies",
            "active_market_pairs",
            "active_exchanges",
            "total_exchanges",
        ),
        timestamps=("last_updated", "quote.USD.last_updated"),
        nullable=(
            "btc_dominance_yesterday",
            "eth_dominance_yesterday",
            "btc_dominance_24h_percentage_change",
            "eth_dominance_24h_percentage_change",
            "defi_volume_24h",
            "stablecoin_volume_24h",
            "derivatives_volume_24h",
            "quote.USD.total_volume_24h_reported",
            "quote.USD.altcoin_market_cap",
            "quote.USD.altcoin_volume_24h",
            "quote.USD.altcoin_volume_24h_reported",
            "quote.USD.total_market_cap_yesterday",
            "quote.USD.total_volume_24h_yesterday",
            "quote.USD.total_market_cap_yesterday_percentage_change",
            "quote.USD.total_volume_24h_yesterday_percentage_change",
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
    body=envelope_rule(
        "object",
        ("quotes",),
        numeric=(
            "quotes[].btc_dominance",
            "quotes[].eth_dominance",
            "quotes[].quote.USD.total_market_cap",
            "quotes[].quote.USD.total_volume_24h",
            "quotes[].quote.USD.total_volume_24h_reported",
            "quotes[].quote.USD.altcoin_market_cap",
            "quotes[].quote.USD.altcoin_volume_24h",
            "quotes[].quote.USD.altcoin_volume_24h_reported",
        ),
        integers=(
            "quotes[].active_cryptocurrencies",
            "quotes[].active_exchanges",
            "quotes[].active_market_pairs",
        ),
        timestamps=("quotes[].timestamp", "quotes[].quote.USD.timestamp"),
        nullable=(
            "quotes[].quote.USD.total_volume_24h_reported",
            "quotes[].quote.USD.altcoin_market_cap",
            "quotes[].quote.USD.altcoin_volume_24h",
            "quotes[].quote.USD.altcoin_volume_24h_reported",
        ),
        allow_empty=True,
    ),
    history_days=INTRADAY_HISTORY,
    daily_history_days=DAILY_HISTORY,
    max_count=10_000,
    description="Whole-market totals at interval boundaries.",
)

FEAR_AND_GREED_LATEST = Endpoint(
    name="fear_and_greed_latest",
    path="/v3/fear-and-greed/latest",
    # `value` is typed numeric (integral 0-100 in every source; staging casts ::numeric)
    body=envelope_rule("object", ("value", "value_classification", "update_time"), numeric=("value",),
                       timestamps=("update_time",)),
    description="Today's fear-and-greed index (0-100).",
)

FEAR_AND_GREED_HISTORICAL = Endpoint(
    name="fear_and_greed_historical",
    path="/v3/fear-and-greed/historical",
    paginator=Offset(start_param="start", limit_param="limit", max_limit=500, default_limit=50),
    # `timestamp` is UNIX seconds, as a string or a number (API_FACTS §2.5, UNCERTAIN): `integers` takes
    # both; an ISO string would be refused, which is the point (staging casts it ::bigint).
    body=envelope_rule("list", ("timestamp", "value", "value_classification"), numeric=("value",),
                       integers=("timestamp",), allow_empty=True),
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
        # `exchange_score` is null since Nov 2024 (API_FACTS §4 #5); the 7/30-day and derivative figures
        # may be null for a young or spot-only exchange
        numeric=(
            "exchange_score",
            "traffic_score",
            "quote.USD.volume_24h",
            "quote.USD.volume_24h_adjusted",
            "quote.USD.volume_7d",
            "quote.USD.volume_30d",
            "quote.USD.percent_change_volume_24h",
            "quote.USD.percent_change_volume_7d",
            "quote.USD.percent_change_volume_30d",
            "quote.USD.effective_liquidity_24h",
            "quote.USD.derivative_volume",
            "quote.USD.spot_volume_usd",
        ),
        integers=("id", "num_market_pairs", "rank"),
        timestamps=("date_launched", "last_updated"),
        nullable=(
            "exchange_score",
            "traffic_score",
            "date_launched",
            "quote.USD.volume_24h_adjusted",
            "quote.USD.volume_7d",
            "quote.USD.volume_30d",
            "quote.USD.percent_change_volume_24h",
            "quote.USD.percent_change_volume_7d",
            "quote.USD.percent_change_volume_30d",
            "quote.USD.effective_liquidity_24h",
            "quote.USD.derivative_volume",
            "quote.USD.spot_volume_usd",
        ),
        allow_empty=True,
    ),
    description="Exchanges ranked by volume; Growth and up (1006 on Basic/Startup).",
)

KEY_INFO = Endpoint(
    name="key_info",
    path="/v1/key/info",
    credits=Credits(per_call=0),
    body=envelope_rule(
        "object",
        ("plan.credit_limit_monthly", "plan.rate_limit_minute", "usage.current_minute"),
        integers=(
            "plan.credit_limit_monthly",
            "plan.credit_limit_daily",
            "plan.rate_limit_minute",
            "usage.current_minute.requests_made",
            "usage.current_minute.requests_left",
            "usage.current_day.credits_used",
            "usage.current_day.credits_left",
            "usage.current_month.credits_used",
            "usage.current_month.credits_left",
        ),
        timestamps=("plan.credit_limit_daily_reset_timestamp", "plan.credit_limit_monthly_reset_timestamp"),
        # no daily cap on paid plans
        nullable=(
            "plan.credit_limit_daily",
            "plan.credit_limit_daily_reset_timestamp",
            "usage.current_minute.requests_left",
            "usage.current_day.credits_left",
            "usage.current_month.credits_left",
        ),
    ),
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
