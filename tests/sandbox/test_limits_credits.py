"""Minute limits, credit arithmetic and caps, and the accounting that counts them (API_FACTS §1.2, §2.4)."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import away_from_minute_edge


def _endpoint(sb, api: str, key: str, endpoint: str) -> dict:
    return sb.accounting(log=False)["apis"][api]["keys"][key]["endpoints"][endpoint]


def test_coingecko_minute_limit_429(client, sb) -> None:
    sb.set_limits(api="coingecko", plan="demo", calls_per_minute=3)
    away_from_minute_edge()
    answers = [client.get("coingecko", "/ping") for _ in range(5)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429, 429]
    limited = answers[3]
    assert limited.json()["status"]["error_code"] == 429
    assert "exceeded the Rate Limit" in limited.json()["status"]["error_message"]
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    row = _endpoint(sb, "coingecko", sb.key("coingecko"), "ping")
    assert (row["calls"], row["ok"], row["rate_limited"], row["credits"]) == (5, 3, 2, 3)
    per_second = sb.accounting()["apis"]["coingecko"]["keys"][sb.key("coingecko")]["per_second"]
    assert sum(s[1] for s in per_second) == 5 and sum(s[2] for s in per_second) == 2


def test_cmc_minute_limit_1008_and_plans_are_separate(client, sb) -> None:
    sb.set_limits({"cmc": {"basic": {"calls_per_minute": 2}}})
    away_from_minute_edge()
    codes = [client.get("cmc", "/v1/key/info").status_code for _ in range(3)]
    assert codes == [200, 200, 429]
    limited = client.get("cmc", "/v1/key/info")
    status = limited.json()["status"]
    assert status["error_code"] == 1008 and status["credit_count"] == 0
    assert status["error_message"].startswith("You've exceeded your API Key's HTTP request rate limit.")
    assert int(limited.headers["Retry-After"]) <= 60
    assert client.get("cmc", "/v1/key/info", plan="startup").status_code == 200
    assert client.get("cmc_dex", "/v4/dex/networks/list").status_code == 200  # DEX has its own window


def test_cmc_credit_arithmetic(client, sb) -> None:
    def credits(path: str, plan: str | None = None, **params) -> int:
        body = client.get("cmc", path, plan=plan, **params).json()
        return body["status"]["credit_count"]

    assert credits("/v1/cryptocurrency/map") == 0
    assert credits("/v1/key/info") == 0
    assert credits("/v1/cryptocurrency/listings/latest", limit=200) == 1
    assert credits("/v1/cryptocurrency/listings/latest", limit=201) == 2
    assert credits("/v1/cryptocurrency/listings/latest", limit=450, convert="USD,EUR") == 4
    assert credits("/v2/cryptocurrency/quotes/latest", id="1,1027") == 1
    assert credits("/v2/cryptocurrency/quotes/historical", id="1", interval="5m", count=250) == 3
    assert credits("/v1/global-metrics/quotes/latest") == 1
    assert credits("/v3/fear-and-greed/historical", limit=500) == 1
    assert credits("/v1/exchange/listings/latest", plan="growth", limit=140) == 2
    error = client.get("cmc", "/v2/cryptocurrency/ohlcv/historical", id=1).json()
    assert error["status"]["credit_count"] == 0
    usage = client.get("cmc", "/v1/key/info").json()["data"]["usage"]
    assert usage["current_day"]["credits_used"] == 0 + 0 + 1 + 2 + 4 + 1 + 3 + 1 + 1
    total = sb.accounting(log=False)["apis"]["cmc"]["keys"][sb.key("cmc")]["credits"]
    assert total == 13


def test_cmc_daily_and_monthly_caps(client, sb) -> None:
    sb.set_limits(api="cmc", plan="basic", daily_credits=2)
    assert client.get("cmc", "/v1/cryptocurrency/listings/latest", limit=400).status_code == 200
    capped = client.get("cmc", "/v1/cryptocurrency/listings/latest")
    assert capped.status_code == 429 and capped.json()["status"]["error_code"] == 1009
    sb.set_limits(api="cmc", plan="startup", monthly_credits=1)
    assert client.get("cmc", "/v1/global-metrics/quotes/latest", plan="startup").status_code == 200
    monthly = client.get("cmc", "/v1/global-metrics/quotes/latest", plan="startup")
    assert monthly.json()["status"]["error_code"] == 1010


def test_coingecko_credits_and_key_endpoint(client, sb) -> None:
    for _ in range(3):
        client.get("coingecko", "/coins/markets", plan="basic", vs_currency="usd", per_page=5)
    client.get("coingecko", "/coins/not-a-coin", plan="basic")  # errors cost nothing (2026 docs)
    key = client.get("coingecko", "/key", plan="basic").json()
    assert key["plan"] == "Basic" and key["rate_limit_request_per_minute"] == 300
    assert key["current_total_monthly_calls"] == 3
    assert key["current_remaining_monthly_calls"] == 100_000 - 3


def test_limits_can_be_scaled_or_switched_off(client, sb) -> None:
    sb.set_limits(api="coingecko", plan="keyless", calls_per_minute=1)
    url = sb.base_url("coingecko") + "/ping"
    away_from_minute_edge()
    assert [requests.get(url, timeout=10).status_code for _ in range(2)] == [200, 429]
    sb.set_limits(enforce=False)
    assert requests.get(url, timeout=10).status_code == 200
    assert sb.limits()["enforce"] is False
    sb.reset()
    assert sb.limits()["coingecko"]["keyless"]["calls_per_minute"] == 5


def test_accounting_counts_per_api_key_endpoint(client, sb) -> None:
    client.get("coingecko", "/ping")
    client.get("cmc", "/v1/cryptocurrency/map")
    client.get("cmc_dex", "/v4/dex/networks/list")
    apis = sb.accounting()["apis"]
    assert set(apis) == {"coingecko", "cmc", "cmc_dex"}
    assert apis["cmc_dex"]["keys"][sb.key("cmc_dex")]["endpoints"]["networks_list"]["credits"] == 1
    assert apis["cmc"]["credits"] == 0
    sb.reset_accounting()
    assert sb.accounting()["apis"] == {}
