"""Every endpoint answers 200 with a body that meets its BodyRule and carries API_FACTS.md's fields."""

from __future__ import annotations

from typing import Any

import pytest

from cryptoflow.apis import APIS
from cryptoflow.apis.base import BodyRule
from cryptoflow.validation import records_of
from tests.sandbox.conftest import NOW_S

MISSING = object()
PAIR = {}  # filled lazily: a real pair address on Ethereum


def dig(record: Any, dotted: str) -> Any:
    node = record
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return MISSING
        node = node[part]
    return node


def records(body: Any, rule: BodyRule) -> list[dict]:
    return records_of(body, rule)  # the pipeline's own reading of a body


def check_rule(body: Any, rule: BodyRule) -> list[dict]:
    """Assert the body meets ``rule``; return its records."""
    if rule.status_path:
        status = dig(body, ".".join(rule.status_path))
        assert status["error_code"] == 0 and status["error_message"] is None
        assert isinstance(status["credit_count"], int) and status["timestamp"].endswith("Z")
    recs = records(body, rule)
    if not rule.allow_empty:
        assert recs
    for rec in recs:
        for name in rule.required:
            assert dig(rec, name) is not MISSING, f"{name} missing"
        for name in rule.numeric:
            value = dig(rec, name)
            if value is MISSING:
                continue
            if value is None:
                assert name in rule.nullable, f"{name} is null"
            else:
                assert isinstance(value, int | float) and not isinstance(value, bool), f"{name}={value!r}"
    return recs


MARKETS_FIELDS = {
    "id",
    "symbol",
    "name",
    "image",
    "current_price",
    "market_cap",
    "market_cap_rank",
    "fully_diluted_valuation",
    "total_volume",
    "high_24h",
    "low_24h",
    "price_change_24h",
    "price_change_percentage_24h",
    "market_cap_change_24h",
    "market_cap_change_percentage_24h",
    "circulating_supply",
    "total_supply",
    "max_supply",
    "ath",
    "ath_change_percentage",
    "ath_date",
    "atl",
    "atl_change_percentage",
    "atl_date",
    "roi",
    "last_updated",
}
LISTING_FIELDS = {
    "id",
    "name",
    "symbol",
    "slug",
    "num_market_pairs",
    "date_added",
    "tags",
    "max_supply",
    "circulating_supply",
    "total_supply",
    "infinite_supply",
    "platform",
    "cmc_rank",
    "self_reported_circulating_supply",
    "self_reported_market_cap",
    "tvl_ratio",
    "last_updated",
    "quote",
}
LISTING_QUOTE = {
    "price",
    "volume_24h",
    "volume_change_24h",
    "percent_change_1h",
    "percent_change_24h",
    "percent_change_7d",
    "market_cap",
    "market_cap_dominance",
    "fully_diluted_market_cap",
    "tvl",
    "last_updated",
}
PAIR_FIELDS = {
    "contract_address",
    "name",
    "base_asset_id",
    "base_asset_ucid",
    "base_asset_name",
    "base_asset_symbol",
    "base_asset_contract_address",
    "quote_asset_id",
    "quote_asset_ucid",
    "quote_asset_name",
    "quote_asset_symbol",
    "quote_asset_contract_address",
    "dex_id",
    "dex_slug",
    "network_id",
    "network_slug",
    "last_updated",
    "created_at",
    "date_launched",
    "quote",
}
DAY = 86_400

CASES: list[tuple[str, str, str, str | None, dict[str, Any], set[str] | None]] = [
    ("coingecko", "ping", "/ping", None, {}, {"gecko_says"}),
    (
        "coingecko",
        "coins_markets",
        "/coins/markets",
        None,
        {"vs_currency": "usd", "per_page": 50},
        MARKETS_FIELDS,
    ),
    (
        "coingecko",
        "coins_list",
        "/coins/list",
        None,
        {"include_platform": "true"},
        {"id", "symbol", "name", "platforms"},
    ),
    ("coingecko", "coin", "/coins/bitcoin", None, {}, None),
    (
        "coingecko",
        "coins_market_chart",
        "/coins/ethereum/market_chart",
        None,
        {"vs_currency": "usd", "days": 30},
        {"prices", "market_caps", "total_volumes"},
    ),
    (
        "coingecko",
        "coins_market_chart_range",
        "/coins/bitcoin/market_chart/range",
        None,
        {"vs_currency": "usd", "from": int(NOW_S - 30 * DAY), "to": int(NOW_S)},
        {"prices", "market_caps", "total_volumes"},
    ),
    ("coingecko", "coins_ohlc", "/coins/bitcoin/ohlc", None, {"vs_currency": "usd", "days": 7}, None),
    ("coingecko", "search_trending", "/search/trending", None, {}, {"coins", "nfts", "categories"}),
    (
        "coingecko",
        "global",
        "/global",
        None,
        {},
        {
            "active_cryptocurrencies",
            "upcoming_icos",
            "ongoing_icos",
            "ended_icos",
            "markets",
            "total_market_cap",
            "total_volume",
            "market_cap_percentage",
            "market_cap_change_percentage_24h_usd",
            "updated_at",
        },
    ),
    (
        "coingecko",
        "exchanges",
        "/exchanges",
        None,
        {"per_page": 10},
        {
            "id",
            "name",
            "year_established",
            "country",
            "description",
            "url",
            "image",
            "has_trading_incentive",
            "trust_score",
            "trust_score_rank",
            "trade_volume_24h_btc",
            "trade_volume_24h_btc_normalized",
        },
    ),
    ("coingecko", "key", "/key", "basic", {}, None),
    (
        "cmc",
        "cryptocurrency_map",
        "/v1/cryptocurrency/map",
        None,
        {"limit": 20},
        {
            "id",
            "rank",
            "name",
            "symbol",
            "slug",
            "is_active",
            "first_historical_data",
            "last_historical_data",
            "platform",
        },
    ),
    (
        "cmc",
        "cryptocurrency_listings_latest",
        "/v1/cryptocurrency/listings/latest",
        None,
        {"limit": 20},
        LISTING_FIELDS,
    ),
    (
        "cmc",
        "cryptocurrency_quotes_latest",
        "/v2/cryptocurrency/quotes/latest",
        None,
        {"id": "1,1027"},
        LISTING_FIELDS | {"is_active", "is_fiat"},
    ),
    ("cmc", "cryptocurrency_info", "/v2/cryptocurrency/info", None, {"id": "1,1975"}, None),
    (
        "cmc",
        "cryptocurrency_quotes_historical",
        "/v2/cryptocurrency/quotes/historical",
        None,
        {"id": "1", "interval": "hourly", "count": 24},
        {"id", "name", "symbol", "is_active", "is_fiat", "quotes"},
    ),
    (
        "cmc",
        "cryptocurrency_ohlcv_historical",
        "/v2/cryptocurrency/ohlcv/historical",
        "startup",
        {"id": "1", "time_period": "daily", "count": 5},
        {"id", "name", "symbol", "is_active", "is_fiat", "quotes"},
    ),
    ("cmc", "global_metrics_quotes_latest", "/v1/global-metrics/quotes/latest", None, {}, None),
    (
        "cmc",
        "global_metrics_quotes_historical",
        "/v1/global-metrics/quotes/historical",
        None,
        {"count": 5},
        {"quotes"},
    ),
    (
        "cmc",
        "fear_and_greed_latest",
        "/v3/fear-and-greed/latest",
        None,
        {},
        {"value", "update_time", "value_classification"},
    ),
    (
        "cmc",
        "fear_and_greed_historical",
        "/v3/fear-and-greed/historical",
        None,
        {"limit": 10},
        {"timestamp", "value", "value_classification"},
    ),
    (
        "cmc",
        "exchange_listings_latest",
        "/v1/exchange/listings/latest",
        "growth",
        {"limit": 10},
        {
            "id",
            "name",
            "slug",
            "num_market_pairs",
            "date_launched",
            "exchange_score",
            "traffic_score",
            "rank",
            "last_updated",
            "quote",
        },
    ),
    ("cmc", "key_info", "/v1/key/info", None, {}, {"plan", "usage"}),
    (
        "cmc_dex",
        "networks_list",
        "/v4/dex/networks/list",
        None,
        {},
        {
            "id",
            "name",
            "network_slug",
            "cryptocurrencyId",
            "cryptocurrencySlug",
            "wrappedTokenId",
            "wrappedTokenSlug",
            "alternativeName",
            "tokenExplorerUrl",
            "poolExplorerUrl",
            "transactionHashUrl",
        },
    ),
    (
        "cmc_dex",
        "spot_pairs_latest",
        "/v4/dex/spot-pairs/latest",
        None,
        {"network_slug": "ethereum", "limit": 5},
        PAIR_FIELDS | {"scroll_id"},
    ),
    ("cmc_dex", "pairs_quotes_latest", "/v4/dex/pairs/quotes/latest", None, {"network_id": "1"}, PAIR_FIELDS),
    (
        "cmc_dex",
        "pairs_ohlcv_historical",
        "/v4/dex/pairs/ohlcv/historical",
        None,
        {"network_id": "1", "time_period": "hourly", "count": 5},
        None,
    ),
    ("cmc_dex", "pairs_trade_latest", "/v4/dex/pairs/trade/latest", None, {"network_id": "1"}, None),
]


def test_every_endpoint_is_covered() -> None:
    described = {(api.name, name) for api in APIS.values() for name in api.endpoints}
    assert described == {(c[0], c[1]) for c in CASES}


@pytest.mark.parametrize(
    ("api", "endpoint", "path", "plan", "params", "fields"), CASES, ids=[f"{c[0]}.{c[1]}" for c in CASES]
)
def test_body_meets_its_rule(  # noqa: PLR0917 - parametrized
    client, api, endpoint, path, plan, params, fields
) -> None:
    params = dict(params)
    if api == "cmc_dex" and endpoint.startswith("pairs_"):
        if not PAIR:
            pairs = client.get("cmc_dex", "/v4/dex/spot-pairs/latest", network_id="1", limit=1).json()["data"]
            PAIR["address"] = pairs[0]["contract_address"]
        params["contract_address"] = PAIR["address"]
    response = client.get(api, path, plan=plan, **params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    recs = check_rule(body, APIS[api].endpoint(endpoint).body)
    if fields is not None:
        for rec in recs:
            assert set(rec) == fields, set(rec) ^ fields
    if api == "cmc" and endpoint == "cryptocurrency_listings_latest":
        assert set(recs[0]["quote"]["USD"]) >= LISTING_QUOTE
        assert body["status"]["total_count"] >= len(recs)


def test_shapes_that_bite(client) -> None:
    """The quirks of API_FACTS §4 the sandbox reproduces."""
    trending = client.get("coingecko", "/search/trending").json()
    item = trending["coins"][0]["item"]
    assert isinstance(item["price_btc"], float) and isinstance(item["data"]["price_btc"], str)
    assert item["data"]["market_cap"].startswith("$")
    assert (len(trending["coins"]), len(trending["nfts"]), len(trending["categories"])) == (15, 7, 6)
    glob = client.get("coingecko", "/global").json()["data"]
    assert isinstance(glob["updated_at"], int) and glob["updated_at"] < 10**10  # seconds, not ms
    chart = client.get("coingecko", "/coins/bitcoin/market_chart", vs_currency="usd", days=2).json()
    assert chart["prices"][-1][0] > 10**12  # milliseconds
    fg = client.get("cmc", "/v3/fear-and-greed/historical", limit=2).json()["data"]
    assert isinstance(fg[0]["timestamp"], str) and int(fg[0]["timestamp"]) % DAY == 0
    dex = client.get("cmc_dex", "/v4/dex/spot-pairs/latest", network_slug="ethereum", limit=1).json()["data"][
        0
    ]
    assert (
        isinstance(dex["network_id"], str)
        and isinstance(dex["quote"], list)
        and dex["quote"][0]["convert_id"]
    )
    one = client.get(
        "cmc", "/v2/cryptocurrency/quotes/historical", id="1", count=2, interval="hourly"
    ).json()["data"]
    many = client.get(
        "cmc", "/v2/cryptocurrency/quotes/historical", id="1,1027", count=2, interval="hourly"
    ).json()
    assert one["id"] == 1 and set(many["data"]) == {"1", "1027"}
    by_symbol = client.get("cmc", "/v2/cryptocurrency/quotes/latest", symbol="TON").json()["data"]
    assert len(by_symbol["TON"]) >= 2  # symbols are ambiguous
    listing = client.get("cmc", "/v1/cryptocurrency/listings/latest", limit=1).json()["data"][0]
    assert listing["is_active"] if "is_active" in listing else True
    ohlcv = client.get("cmc", "/v2/cryptocurrency/ohlcv/historical", plan="startup", id="1", count=2).json()
    assert ohlcv["data"]["quotes"][0]["time_close"].endswith("T23:59:59.999Z")
    dex_ohlcv = client.get(
        "cmc_dex",
        "/v4/dex/pairs/ohlcv/historical",
        network_id="1",
        count=3,
        contract_address=dex["contract_address"],
    ).json()["data"][0]
    assert all(q["time_close"] is None for q in dex_ohlcv["quotes"])


def test_universe_maps_across_apis(client) -> None:
    """CMC ids map to CoinGecko ids through symbol, name and contract, with differences as in real life."""
    cg = client.get("coingecko", "/coins/list", include_platform="true").json()
    cmc = client.get("cmc", "/v1/cryptocurrency/map").json()["data"]
    assert len(cg) >= 500 and len(cmc) >= 500
    cg_by_contract = {addr.lower(): c["id"] for c in cg for addr in c["platforms"].values()}
    mapped = [c for c in cmc if c["platform"] and c["platform"]["token_address"].lower() in cg_by_contract]
    assert len(mapped) > 200
    assert any(c["platform"]["token_address"] != c["platform"]["token_address"].lower() for c in mapped)
    symbols = [c["symbol"] for c in cmc]
    assert len(symbols) != len(set(symbols))
    markets = client.get("coingecko", "/coins/markets", vs_currency="usd", ids="bitcoin").json()[0]
    quote = client.get("cmc", "/v2/cryptocurrency/quotes/latest", id="1").json()["data"]["1"]["quote"]["USD"]
    assert abs(quote["price"] / markets["current_price"] - 1) < 0.006  # the documented spread
