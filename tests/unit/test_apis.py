"""The API descriptions: one object per API, internally consistent, and the arithmetic they carry."""

from __future__ import annotations

import pytest

from cryptoflow.apis import APIS, get_api
from cryptoflow.apis.base import Credits, Offset, PageNumber, ScrollCursor, SinglePage

EXPECTED = {
    "coingecko": {
        "/ping",
        "/coins/markets",
        "/coins/list",
        "/coins/{id}",
        "/coins/{id}/market_chart",
        "/coins/{id}/market_chart/range",
        "/coins/{id}/ohlc",
        "/search/trending",
        "/global",
        "/exchanges",
        "/key",
    },
    "cmc": {
        "/v1/cryptocurrency/map",
        "/v1/cryptocurrency/listings/latest",
        "/v2/cryptocurrency/quotes/latest",
        "/v2/cryptocurrency/info",
        "/v2/cryptocurrency/quotes/historical",
        "/v2/cryptocurrency/ohlcv/historical",
        "/v1/global-metrics/quotes/latest",
        "/v1/global-metrics/quotes/historical",
        "/v3/fear-and-greed/latest",
        "/v3/fear-and-greed/historical",
        "/v1/exchange/listings/latest",
        "/v1/key/info",
    },
    "cmc_dex": {
        "/v4/dex/networks/list",
        "/v4/dex/spot-pairs/latest",
        "/v4/dex/pairs/quotes/latest",
        "/v4/dex/pairs/ohlcv/historical",
        "/v4/dex/pairs/trade/latest",
    },
}


def test_registry_names_budgets_and_paths() -> None:
    assert set(APIS) == {"coingecko", "cmc", "cmc_dex"}
    assert {a: APIS[a].default_calls_per_minute for a in APIS} == {"coingecko": 15, "cmc": 15, "cmc_dex": 50}
    for name, api in APIS.items():
        assert api.conn_id == api.pool == name
        assert {e.path for e in api.endpoints.values()} == EXPECTED[name]
        assert api.default_plan in api.plans
        for endpoint in api.endpoints.values():
            assert api.raw_table(endpoint.name) == f"raw.{name}__{endpoint.name}"
            assert endpoint.plans <= set(api.plans)
            assert set(endpoint.history_days) <= set(api.plans)
    with pytest.raises(KeyError):
        get_api("nope")


def test_auth_and_base_urls() -> None:
    cg = APIS["coingecko"]
    assert (
        cg.plan("demo").auth_header == "x-cg-demo-api-key"
        and cg.plan("demo").auth_query == "x_cg_demo_api_key"
    )
    assert cg.plan("basic").auth_header == "x-cg-pro-api-key"
    assert cg.plan("basic").base_url == "https://pro-api.coingecko.com/api/v3"
    assert cg.plan(None).base_url == "https://api.coingecko.com/api/v3"
    for name in ("cmc", "cmc_dex"):
        plan = APIS[name].plan(None)
        assert (plan.base_url, plan.auth_header, plan.auth_query) == (
            "https://pro-api.coinmarketcap.com",
            "X-CMC_PRO_API_KEY",
            "CMC_PRO_API_KEY",
        )
    assert APIS["cmc"].plan("basic").calls_per_minute == 30
    assert APIS["cmc"].plan("basic").daily_credits == 333
    assert APIS["coingecko"].plan("demo").calls_per_minute == 30


def test_endpoint_for_path_prefers_literal_segments() -> None:
    cg = APIS["coingecko"]
    assert cg.endpoint_for_path("/coins/list").name == "coins_list"
    assert cg.endpoint_for_path("/coins/markets").name == "coins_markets"
    assert cg.endpoint_for_path("/coins/bitcoin").name == "coin"
    assert cg.endpoint_for_path("/coins/bitcoin/market_chart/range").name == "coins_market_chart_range"
    assert cg.endpoint_for_path("/nope") is None
    assert cg.endpoint("coin").render_path(id="bitcoin") == "/coins/bitcoin"


def test_paginators() -> None:
    assert isinstance(APIS["coingecko"].endpoint("coins_markets").paginator, PageNumber)
    assert APIS["coingecko"].endpoint("coins_markets").paginator.calls_for(1000) == 4
    assert isinstance(APIS["coingecko"].endpoint("coins_list").paginator, SinglePage)
    listings = APIS["cmc"].endpoint("cryptocurrency_listings_latest").paginator
    assert isinstance(listings, Offset) and listings.max_limit == 5000
    assert isinstance(APIS["cmc_dex"].endpoint("spot_pairs_latest").paginator, ScrollCursor)
    assert isinstance(APIS["cmc"].endpoint("fear_and_greed_historical").paginator, Offset)


def test_credit_arithmetic() -> None:
    cmc = APIS["cmc"]
    listings = cmc.endpoint("cryptocurrency_listings_latest").credits
    assert [listings.cost(n) for n in (1, 200, 201, 5000)] == [1, 1, 2, 25]
    assert listings.cost(100, converts=3) == 3
    assert cmc.endpoint("cryptocurrency_map").credits.cost(5000) == 0
    assert cmc.endpoint("key_info").credits.cost(1) == 0
    assert cmc.endpoint("cryptocurrency_quotes_historical").credits.cost(8760 * 100) == 8760
    assert cmc.endpoint("fear_and_greed_historical").credits.cost(500) == 1
    assert APIS["coingecko"].endpoint("coins_markets").credits.cost(250) == 1
    assert APIS["cmc_dex"].endpoint("spot_pairs_latest").credits.cost(100) == 1
    assert Credits(per_call=1, per_items=100).cost(0) == 1


def test_plan_gating_and_history_depth() -> None:
    cg, cmc = APIS["coingecko"], APIS["cmc"]
    assert not cg.endpoint("key").allowed_on("demo") and cg.endpoint("key").allowed_on("basic")
    chart = cg.endpoint("coins_market_chart_range")
    assert chart.history_limit("demo") == 365 and chart.history_limit("analyst") is None
    assert not chart.param_allowed("demo", "interval", "hourly")
    assert chart.param_allowed("enterprise", "interval", "hourly") and chart.param_allowed(
        "demo", "interval", "daily"
    )
    assert not cg.endpoint("coins_ohlc").param_allowed("demo", "interval", "daily")
    ohlcv = cmc.endpoint("cryptocurrency_ohlcv_historical")
    assert not ohlcv.allowed_on("basic") and ohlcv.allowed_on("startup")
    assert not cmc.endpoint("exchange_listings_latest").allowed_on("startup")
    quotes = cmc.endpoint("cryptocurrency_quotes_historical")
    assert quotes.history_limit("basic") == 30 and quotes.history_limit("basic", daily=True) == 365
    assert quotes.history_limit("professional") == 365 and quotes.history_limit("enterprise") is None
    assert quotes.max_ids == 100 and quotes.max_count == 10_000
    assert APIS["cmc_dex"].endpoint("pairs_ohlcv_historical").max_count == 500


def test_every_endpoint_has_a_sandbox_body() -> None:
    from cryptoflow.sandbox.render import HANDLERS, _load

    _load()
    assert set(HANDLERS) == {(a.name, e) for a in APIS.values() for e in a.endpoints}


def test_credits_upper_bound_covers_what_a_call_may_cost():
    cmc = get_api("cmc")
    listings = cmc.endpoint("cryptocurrency_listings_latest")  # 1 credit per 200 records
    assert listings.credits_upper_bound({"start": 1, "limit": 500}) == 3
    assert listings.credits_upper_bound({"limit": 500, "convert": "USD,EUR"}) == 4
    quotes = cmc.endpoint("cryptocurrency_quotes_latest")  # 1 per 100 ids
    assert quotes.credits_upper_bound({"id": ",".join(str(i) for i in range(1, 151))}) == 2
    history = cmc.endpoint("cryptocurrency_quotes_historical")  # 1 per 100 points
    assert history.credits_upper_bound({"id": "1,2", "count": 120}) == 3
    assert cmc.endpoint("cryptocurrency_map").credits_upper_bound({"limit": 5000}) == 0
    assert get_api("coingecko").endpoint("coins_markets").credits_upper_bound({"per_page": 250}) == 1
