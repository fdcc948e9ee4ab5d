"""Keys, hosts and plans answer as the real APIs do (API_FACTS §1.3, §2.3, §2.6)."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import NOW_S

DAY = 86_400


def test_coingecko_demo_header_query_and_keyless(client, sb) -> None:
    assert client.get("coingecko", "/ping").status_code == 200
    url = sb.base_url("coingecko") + "/ping"
    assert requests.get(url, params={"x_cg_demo_api_key": sb.key("coingecko")}, timeout=10).status_code == 200
    assert requests.get(url, timeout=10).status_code == 200  # keyless, IP-limited
    plans = {k["plan"] for k in sb.accounting()["apis"]["coingecko"]["keys"].values()}
    assert plans == {"demo", "keyless"}


def test_coingecko_keys_on_the_wrong_host(client, sb) -> None:
    pro_on_public = requests.get(
        sb.base_url("coingecko") + "/ping",
        timeout=10,
        headers={"x-cg-pro-api-key": sb.key("coingecko", "basic")},
    )
    assert pro_on_public.status_code == 400
    assert pro_on_public.json()["status"]["error_code"] == 10010
    demo_on_pro = requests.get(
        sb.base_url("coingecko", "basic") + "/ping",
        timeout=10,
        headers={"x-cg-demo-api-key": sb.key("coingecko")},
    )
    assert demo_on_pro.json() == {
        "status": {"error_code": 10011, "error_message": demo_on_pro.json()["status"]["error_message"]}
    }
    assert "api.coingecko.com" in demo_on_pro.json()["status"]["error_message"]


def test_coingecko_missing_and_invalid_keys(client, sb) -> None:
    missing = requests.get(sb.base_url("coingecko", "basic") + "/ping", timeout=10)
    assert missing.status_code == 401
    assert missing.json() == {"status": {"error_code": 10002, "error_message": "API Key Missing"}}
    invalid = client.get("coingecko", "/ping", key="CG-notakey")
    assert invalid.status_code == 401 and invalid.json()["status"]["error_code"] == 10002
    pro = client.get("coingecko", "/ping", plan="basic")
    assert pro.status_code == 200


def test_coingecko_paid_only_answers_10005(client) -> None:
    key = client.get("coingecko", "/key")
    assert key.status_code == 401 and key.json()["status"]["error_code"] == 10005
    hourly = client.get(
        "coingecko", "/coins/bitcoin/market_chart", vs_currency="usd", days=2, interval="hourly"
    )
    assert hourly.json()["status"]["error_code"] == 10005
    assert (
        client.get(
            "coingecko",
            "/coins/bitcoin/market_chart",
            plan="enterprise",
            vs_currency="usd",
            days=2,
            interval="hourly",
        ).status_code
        == 200
    )
    ohlc = client.get("coingecko", "/coins/bitcoin/ohlc", vs_currency="usd", days=7, interval="daily")
    assert ohlc.status_code == 401
    assert (
        client.get(
            "coingecko", "/coins/bitcoin/ohlc", plan="basic", vs_currency="usd", days=7, interval="daily"
        ).status_code
        == 200
    )


def test_coingecko_history_depth_10012(client) -> None:
    too_far = client.get(
        "coingecko",
        "/coins/bitcoin/market_chart/range",
        vs_currency="usd",
        **{"from": int(NOW_S - 400 * DAY), "to": int(NOW_S - 380 * DAY)},
    )
    assert too_far.status_code == 401
    body = too_far.json()
    assert body["error"]["status"]["error_code"] == 10012
    assert body["error"]["status"]["error_message"].endswith(". ")
    assert (
        client.get("coingecko", "/coins/bitcoin/market_chart", vs_currency="usd", days="max").status_code
        == 401
    )
    assert (
        client.get("coingecko", "/coins/bitcoin/market_chart", vs_currency="usd", days=365).status_code == 200
    )
    basic = client.get(
        "coingecko",
        "/coins/bitcoin/market_chart/range",
        plan="basic",
        vs_currency="usd",
        **{"from": int(NOW_S - 400 * DAY), "to": int(NOW_S - 380 * DAY)},
    )
    assert basic.status_code == 200
    assert (
        client.get(
            "coingecko", "/coins/bitcoin/market_chart", plan="analyst", vs_currency="usd", days="max"
        ).status_code
        == 200
    )


def test_coingecko_parameter_errors(client) -> None:
    assert client.get("coingecko", "/coins/markets").json() == {"error": "Missing parameter vs_currency"}
    unknown = client.get("coingecko", "/coins/not-a-coin")
    assert unknown.status_code == 404 and unknown.json() == {"error": "coin not found"}
    assert client.get("coingecko", "/no/such/path").status_code == 404


def test_cmc_missing_invalid_and_query_keys(client, sb) -> None:
    url = sb.base_url("cmc") + "/v1/key/info"
    missing = requests.get(url, timeout=10)
    assert missing.status_code == 401
    status = missing.json()["status"]
    assert (status["error_code"], status["error_message"], status["credit_count"]) == (
        1002,
        "API key missing.",
        0,
    )
    assert (
        requests.get(url, params={"api_key": sb.key("cmc")}, timeout=10).json()["status"]["error_code"]
        == 1002
    )
    assert requests.get(url, params={"CMC_PRO_API_KEY": sb.key("cmc")}, timeout=10).status_code == 200
    invalid = client.get("cmc", "/v1/key/info", key="00000000-0000-4000-8000-000000000000")
    assert (
        invalid.status_code == 401 and invalid.json()["status"]["error_message"] == "This API Key is invalid."
    )
    assert client.get("cmc", "/v1/key/info", key=sb.key("coingecko")).json()["status"]["error_code"] == 1001


def test_cmc_plan_gating_1006(client) -> None:
    for path, params in (
        ("/v2/cryptocurrency/ohlcv/historical", {"id": 1}),
        ("/v1/exchange/listings/latest", {}),
    ):
        basic = client.get("cmc", path, **params)
        assert basic.status_code == 403
        status = basic.json()["status"]
        assert status["error_code"] == 1006 and status["credit_count"] == 0
        assert status["error_message"] == "Your API Key subscription plan doesn't support this endpoint."
    assert client.get("cmc", "/v2/cryptocurrency/ohlcv/historical", plan="startup", id=1).status_code == 200
    assert client.get("cmc", "/v1/exchange/listings/latest", plan="startup").status_code == 403
    assert client.get("cmc", "/v1/exchange/listings/latest", plan="growth").status_code == 200


def test_cmc_history_depth_per_plan(client) -> None:
    far = {
        "id": 1,
        "interval": "hourly",
        "time_start": int(NOW_S - 40 * DAY),
        "time_end": int(NOW_S - 39 * DAY),
    }
    basic = client.get("cmc", "/v2/cryptocurrency/quotes/historical", **far)
    assert basic.status_code == 400
    assert (
        basic.json()["status"]["error_message"]
        == "Your plan is limited to 30 days of intraday historical data."
    )
    assert client.get("cmc", "/v2/cryptocurrency/quotes/historical", plan="growth", **far).status_code == 200
    daily = {"id": 1, "interval": "daily", "time_start": int(NOW_S - 300 * DAY), "count": 5}
    assert client.get("cmc", "/v2/cryptocurrency/quotes/historical", **daily).status_code == 200
    daily["time_start"] = int(NOW_S - 400 * DAY)
    assert client.get("cmc", "/v2/cryptocurrency/quotes/historical", **daily).status_code == 400


def test_cmc_disabled_key(sb) -> None:
    from cryptoflow.sandbox import SandboxServer

    disabled = "11111111-1111-4111-8111-111111111111"
    config = {"keys": {"cmc": {"basic-disabled": disabled}}, "key_states": {disabled: "disabled"}}
    with SandboxServer(port=0, config=config) as other:
        response = requests.get(
            other.base_url("cmc") + "/v1/key/info", headers={"X-CMC_PRO_API_KEY": disabled}, timeout=10
        )
    assert response.status_code == 403 and response.json()["status"]["error_code"] == 1007
