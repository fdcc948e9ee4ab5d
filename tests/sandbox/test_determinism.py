"""Same request, same bytes: across requests, request orders and restarts; and the render() contract."""

from __future__ import annotations

import requests

from tests.sandbox.conftest import CONFIG, NOW_S

DAY = 86_400
REQUESTS = [
    ("coingecko", None, "/coins/markets", {"vs_currency": "usd", "per_page": 250, "page": 2}),
    (
        "coingecko",
        None,
        "/coins/ethereum/market_chart/range",
        {"vs_currency": "usd", "from": int(NOW_S - 90 * DAY), "to": int(NOW_S)},
    ),
    ("coingecko", None, "/coins/bitcoin", {"tickers": "true"}),
    ("cmc", None, "/v1/cryptocurrency/listings/latest", {"limit": 300}),
    (
        "cmc",
        None,
        "/v2/cryptocurrency/quotes/historical",
        {"id": "1,1027", "interval": "hourly", "count": 48},
    ),
    ("cmc_dex", None, "/v4/dex/spot-pairs/latest", {"network_slug": "bsc", "limit": 50}),
]


def _fetch(server, api, plan, path, params) -> bytes:
    from cryptoflow.sandbox.app import CMC_HEADER

    headers = (
        {"x-cg-demo-api-key": server.key(api)}
        if api == "coingecko"
        else {CMC_HEADER.decode(): server.key(api)}
    )
    response = requests.get(server.base_url(api, plan) + path, params=params, headers=headers, timeout=60)
    assert response.status_code == 200, response.text
    return response.content


def _stable(raw: bytes) -> bytes:
    """CMC's status.timestamp is the answer's own time; everything else must match byte for byte."""
    import re

    return re.sub(rb'"timestamp":"[^"]*","error_code"', b'"error_code"', raw, count=1)


def test_same_bytes_in_any_order_and_across_restarts(sb) -> None:
    from cryptoflow.sandbox import SandboxServer

    forward = [_stable(_fetch(sb, *r)) for r in REQUESTS]
    assert [_stable(_fetch(sb, *r)) for r in REQUESTS] == forward
    with SandboxServer(port=0, config=CONFIG) as fresh:
        backward = [_stable(_fetch(fresh, *r)) for r in reversed(REQUESTS)]
    assert list(reversed(backward)) == forward


def test_render_gives_the_served_records(sb) -> None:
    """What a test compares a mart with: the exact records, from the same functions the server uses."""
    import orjson

    from cryptoflow.sandbox.render import render
    from cryptoflow.sandbox.universe import Universe

    params = {"vs_currency": "usd", "per_page": "100", "page": "1"}
    served = orjson.loads(_fetch(sb, "coingecko", None, "/coins/markets", params))
    expected = render("coingecko", "coins_markets", {}, params, now=NOW_S).body
    assert served == expected
    universe = Universe.default()
    btc = universe.by_cg_id["bitcoin"]
    from cryptoflow.sandbox.timefmt import parse_time

    last_updated = parse_time(served[0]["last_updated"])
    assert NOW_S - 120 <= last_updated <= NOW_S
    assert abs(universe.price(btc, last_updated) / served[0]["current_price"] - 1) < 1e-7
    chart = render(
        "coingecko",
        "coins_market_chart_range",
        {"id": "bitcoin"},
        {"vs_currency": "usd", "from": str(NOW_S - 3 * DAY), "to": str(NOW_S - DAY)},
        now=NOW_S,
    ).body
    for ms, price in chart["prices"]:
        assert (
            price == universe.price(btc, ms / 1000) or abs(price / universe.price(btc, ms / 1000) - 1) < 1e-12
        )


def test_clock_controls_now_endpoints(client, sb) -> None:
    first = client.get("coingecko", "/coins/markets", vs_currency="usd", per_page=5).content
    sb.set_clock(NOW_S + 3 * 3600)
    later = client.get("coingecko", "/coins/markets", vs_currency="usd", per_page=5).content
    assert later != first
    sb.set_clock(NOW_S)
    assert client.get("coingecko", "/coins/markets", vs_currency="usd", per_page=5).content == first
    clock = sb.set_clock(NOW_S, frozen=False)
    assert clock["mode"] == "offset"
    sb.set_clock(None)
    assert sb.clock()["mode"] == "real"
