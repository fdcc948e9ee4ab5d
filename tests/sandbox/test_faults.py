"""Every fault kind, set at run time through the admin API (and one from the config file)."""

from __future__ import annotations

import json

import pytest
import requests

from cryptoflow.sandbox import SandboxError
from tests.sandbox.conftest import NOW_S


def markets(client, **params):
    return client.get("coingecko", "/coins/markets", vs_currency="usd", per_page=3, **params)


def test_error_burst_then_recovery(client, sb) -> None:
    sb.set_faults(api="coingecko", endpoint="coins_markets", kind="5xx_burst", count=2)
    codes = [markets(client).status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    row = sb.accounting(log=False)["apis"]["coingecko"]["keys"][sb.key("coingecko")]["endpoints"][
        "coins_markets"
    ]
    assert row["faults"] == {"error": 2} and row["ok"] == 1 and row["credits"] == 1
    assert client.get("coingecko", "/ping").status_code == 200  # other endpoints untouched


def test_error_rate_is_deterministic(client, sb) -> None:
    def run() -> list[int]:
        sb.reset()
        sb.set_faults(api="cmc", kind="error_rate", rate=0.5, status=500)
        return [client.get("cmc", "/v1/cryptocurrency/map", limit=1).status_code for _ in range(20)]

    first = run()
    assert 3 <= first.count(500) <= 17 and set(first) == {200, 500}
    assert run() == first
    error = client.get("cmc", "/v1/cryptocurrency/map", limit=1)
    if error.status_code == 500:
        assert error.json()["status"]["error_code"] == 500


def test_rate_limit_storm(client, sb) -> None:
    sb.set_faults(api="cmc", kind="429_storm", retry_after=7, count=2)
    answer = client.get("cmc", "/v1/key/info")
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "7"
    assert answer.json()["status"]["error_code"] == 1008
    sb.set_faults(api="coingecko", kind="rate_limit", retry_after=11)
    cg = client.get("coingecko", "/ping")
    assert cg.status_code == 429 and cg.headers["Retry-After"] == "11"
    assert cg.json()["status"]["error_code"] == 429
    assert sb.accounting(log=False)["apis"]["coingecko"]["rate_limited"] == 1


def test_slow_and_timeout(client, sb) -> None:
    sb.set_faults(api="coingecko", endpoint="ping", kind="slow", delay_s=0.3, count=1)
    assert client.get("coingecko", "/ping").status_code == 200
    sb.set_faults(api="coingecko", endpoint="ping", kind="timeout", delay_s=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(sb.base_url("coingecko") + "/ping", timeout=0.5)


@pytest.mark.parametrize("kind", ["reset", "connection_reset"])
def test_connection_reset(client, sb, kind) -> None:
    sb.set_faults(api="cmc_dex", kind=kind, count=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        client.get("cmc_dex", "/v4/dex/networks/list")
    assert client.get("cmc_dex", "/v4/dex/networks/list").status_code == 200


@pytest.mark.parametrize(("kind", "status"), [("html_200", 200), ("html_5xx", 502)])
def test_html_pages(client, sb, kind, status) -> None:
    sb.set_faults(api="coingecko", kind=kind)
    answer = markets(client)
    assert answer.status_code == status
    assert answer.headers["content-type"].startswith("text/html")
    assert answer.text.lstrip().startswith("<!DOCTYPE html>")
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)


def test_malformed_and_truncated(client, sb) -> None:
    sb.set_faults(api="coingecko", kind="malformed_json", count=1)
    answer = markets(client)
    assert answer.status_code == 200
    with pytest.raises(json.JSONDecodeError):
        json.loads(answer.text)
    sb.set_faults(api="coingecko", kind="truncated", fraction=0.3, count=1)
    cut = markets(client)
    assert cut.status_code == 200 and len(cut.content) < len(markets(client).content)
    with pytest.raises(json.JSONDecodeError):
        json.loads(cut.text)
    sb.set_faults(api="coingecko", kind="truncated", abort=True, count=1)
    with pytest.raises(requests.exceptions.RequestException):
        markets(client)


def test_body_mutations(client, sb) -> None:
    clean = markets(client).json()
    sb.set_faults([{"api": "coingecko", "endpoint": "coins_markets", "kind": "missing_fields", "count": 1}])
    assert "current_price" not in markets(client).json()[0]
    sb.set_faults(api="coingecko", kind="numbers_as_strings", count=1)
    strings = markets(client).json()[0]
    assert strings["current_price"] == str(clean[0]["current_price"]) and isinstance(
        strings["market_cap"], str
    )
    sb.set_faults(api="coingecko", kind="nulls", fields=["market_cap", "total_volume"], count=1)
    nulls = markets(client).json()[0]
    assert nulls["market_cap"] is None and nulls["total_volume"] is None
    sb.set_faults(api="coingecko", kind="renamed_fields", count=1)
    renamed = markets(client).json()[0]
    assert "currentPrice" in renamed and "current_price" not in renamed
    sb.set_faults(api="coingecko", kind="empty_page", count=1)
    assert markets(client).json() == []
    assert markets(client).json() == clean


def test_cmc_body_mutations_keep_the_envelope(client, sb) -> None:
    sb.set_faults(api="cmc", endpoint="cryptocurrency_listings_latest", kind="numbers_as_strings", count=1)
    body = client.get("cmc", "/v1/cryptocurrency/listings/latest", limit=2).json()
    assert body["status"]["error_code"] == 0
    assert isinstance(body["data"][0]["quote"]["USD"]["price"], str)
    sb.set_faults(api="cmc", kind="empty_page", count=1)
    assert client.get("cmc", "/v1/cryptocurrency/listings/latest", limit=2).json()["data"] == []
    sb.set_faults(
        api="cmc",
        endpoint="cryptocurrency_quotes_latest",
        kind="missing_fields",
        fields=["quote.USD.price"],
        count=1,
    )
    quote = client.get("cmc", "/v2/cryptocurrency/quotes/latest", id="1").json()["data"]["1"]["quote"]["USD"]
    assert "price" not in quote and "market_cap" in quote


def test_whole_api_down_for_a_window(client, sb) -> None:
    sb.set_faults(api="coingecko", kind="down", start=NOW_S - 60, end=NOW_S + 60)
    down = markets(client)
    assert down.status_code == 503 and down.headers["content-type"].startswith("text/html")
    assert client.get("cmc", "/v1/key/info").status_code == 200
    sb.set_clock(NOW_S + 120)
    assert markets(client).status_code == 200
    sb.set_faults(api="cmc", kind="down", mode="reset", for_seconds=30)
    with pytest.raises(requests.exceptions.ConnectionError):
        client.get("cmc", "/v1/key/info")
    sb.clear_faults()
    assert client.get("cmc", "/v1/key/info").status_code == 200


def test_redirect_to_another_host(client, sb) -> None:
    sb.set_faults(
        api="coingecko",
        endpoint="coins_markets",
        kind="redirect",
        location="https://elsewhere.example/api/v3/",
        count=2,
    )
    answers = [markets(client, allow_redirects=False) for _ in range(3)]
    assert [a.status_code for a in answers] == [302, 302, 200]
    moved = answers[0]
    assert moved.headers["Location"] == (
        "https://elsewhere.example/api/v3/coins/markets?vs_currency=usd&per_page=3"
    )
    assert moved.content == b"" and moved.is_redirect
    row = sb.accounting(log=False)["apis"]["coingecko"]["keys"][sb.key("coingecko")]["endpoints"][
        "coins_markets"
    ]
    assert row["faults"] == {"redirect": 2} and row["status"] == {"302": 2, "200": 1} and row["ok"] == 1
    assert client.get("coingecko", "/ping", allow_redirects=False).status_code == 200


def test_redirect_status_fixed_location_and_key_scope(client, sb) -> None:
    startup = sb.key("cmc", "startup")
    sb.set_faults(api="cmc", kind="redirect", status=307, location="http://127.0.0.1:9/moved", key=startup)
    assert client.get("cmc", "/v1/key/info", allow_redirects=False).status_code == 200  # Basic: untouched
    moved = client.get("cmc", "/v1/key/info", plan="startup", allow_redirects=False)
    assert moved.status_code == 307 and moved.headers["Location"] == "http://127.0.0.1:9/moved"
    sb.set_faults(api="cmc_dex", kind="redirect", location="https://elsewhere.example/cmc/", after=1)
    dex = [client.get("cmc_dex", "/v4/dex/networks/list", allow_redirects=False) for _ in range(2)]
    assert [d.status_code for d in dex] == [200, 302]
    assert dex[1].headers["Location"] == "https://elsewhere.example/cmc/v4/dex/networks/list"
    for bad in ({"location": "/relative/"}, {"location": "https://x.example/", "status": 200}, {}):
        with pytest.raises(SandboxError):
            sb.set_faults(api="cmc", kind="redirect", **bad)


def test_faults_from_the_config_file_and_bad_specs(sb) -> None:
    from cryptoflow.sandbox import SandboxError, SandboxServer

    config = {"faults": [{"api": "cmc", "endpoint": "key_info", "kind": "error", "status": 502, "after": 1}]}
    with SandboxServer(port=0, config=config) as other:
        url = other.base_url("cmc") + "/v1/key/info"
        headers = {"X-CMC_PRO_API_KEY": other.key("cmc")}
        codes = [requests.get(url, headers=headers, timeout=10).status_code for _ in range(3)]
        assert codes == [200, 502, 502]
        assert other.faults()[0]["applied"] == 2
    with pytest.raises(SandboxError):
        sb.set_faults(api="cmc", kind="no-such-kind")
