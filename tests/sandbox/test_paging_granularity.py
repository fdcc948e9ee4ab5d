"""Pagination and granularity as documented (API_FACTS §1.4, §2.5, §3.2), read through the descriptions."""

from __future__ import annotations

from itertools import pairwise

from cryptoflow.apis import get_api
from tests.sandbox.conftest import NOW_S

DAY = 86_400
HOUR = 3_600


def _steps(points: list[list[float]]) -> set[int]:
    """Rounded gaps between consecutive points (seconds), final 'now' point excluded."""
    ts = [p[0] / 1000 for p in points[:-1]]
    return {round((b - a) / 300) * 300 for a, b in pairwise(ts)}


def test_coins_markets_pages_with_the_description_paginator(client) -> None:
    endpoint = get_api("coingecko").endpoint("coins_markets")
    params = endpoint.paginator.first(dict(endpoint.params), wanted=500)
    seen: list[dict] = []
    calls = 0
    while params is not None:
        items = client.get("coingecko", "/coins/markets", **params).json()
        calls += 1
        seen.extend(items)
        params = endpoint.paginator.next(params, items, items, wanted=500)
    assert calls == endpoint.paginator.calls_for(500) == 2
    ranks = [r["market_cap_rank"] for r in seen]
    assert ranks == list(range(1, 501))
    caps = [r["market_cap"] for r in seen]
    assert caps == sorted(caps, reverse=True)
    assert len({r["id"] for r in seen}) == 500
    past_end = client.get("coingecko", "/coins/markets", vs_currency="usd", per_page=250, page=10).json()
    assert past_end == []


def test_coins_markets_filters_and_orders(client) -> None:
    two = client.get("coingecko", "/coins/markets", vs_currency="eur", ids="ethereum,bitcoin").json()
    assert [r["id"] for r in two] == ["bitcoin", "ethereum"]
    usd = client.get("coingecko", "/coins/markets", vs_currency="usd", ids="bitcoin").json()[0]
    assert two[0]["current_price"] < usd["current_price"]
    by_volume = client.get(
        "coingecko", "/coins/markets", vs_currency="usd", order="volume_desc", per_page=20
    ).json()
    volumes = [r["total_volume"] for r in by_volume]
    assert volumes == sorted(volumes, reverse=True)
    extra = client.get(
        "coingecko",
        "/coins/markets",
        vs_currency="usd",
        per_page=1,
        sparkline="true",
        price_change_percentage="1h,24h,7d,30d",
    ).json()[0]
    assert len(extra["sparkline_in_7d"]["price"]) == 168
    assert "price_change_percentage_30d_in_currency" in extra


def test_market_chart_range_granularity(client) -> None:
    def chart(start: float, end: float) -> dict:
        return client.get(
            "coingecko",
            "/coins/bitcoin/market_chart/range",
            vs_currency="usd",
            **{"from": int(start), "to": int(end)},
        ).json()

    assert _steps(chart(NOW_S - DAY + 600, NOW_S)["prices"]) == {300}  # <= 1 day ending now: 5-minutely
    old_day = chart(NOW_S - 20 * DAY, NOW_S - 19 * DAY)["prices"]
    assert _steps([*old_day, [0, 0]]) == {HOUR}  # 1 day elsewhere: hourly
    ninety = chart(NOW_S - 90 * DAY - 3 * HOUR, NOW_S - 3 * HOUR)["prices"]
    assert _steps([*ninety, [0, 0]]) == {HOUR} and 2150 <= len(ninety) <= 2161
    daily = chart(NOW_S - 91 * DAY - 3 * HOUR, NOW_S - 3 * HOUR)["prices"]
    assert {p[0] % (DAY * 1000) for p in daily} == {0} and len(daily) == 91
    up_to_now = chart(NOW_S - 10 * DAY, NOW_S + 60)["prices"]
    last = client.get("coingecko", "/coins/markets", vs_currency="usd", ids="bitcoin").json()[0]
    assert (
        up_to_now[-1][1] == last["current_price"] or abs(up_to_now[-1][1] / last["current_price"] - 1) < 1e-7
    )


def test_market_chart_days(client) -> None:
    def days(n: int) -> list:
        return client.get("coingecko", "/coins/solana/market_chart", vs_currency="usd", days=n).json()[
            "prices"
        ]

    assert _steps(days(1)) == {300}
    assert _steps(days(30)) == {HOUR}
    assert {p[0] % (DAY * 1000) for p in days(200)[:-1]} == {0}


def test_ohlc_candle_sizes(client) -> None:
    def size(n: int) -> int:
        rows = client.get("coingecko", "/coins/bitcoin/ohlc", vs_currency="usd", days=n).json()
        assert all(r[2] >= max(r[1], r[4]) and r[3] <= min(r[1], r[4]) for r in rows)
        return (rows[1][0] - rows[0][0]) // 1000

    assert (size(1), size(14), size(90)) == (1800, 4 * HOUR, 4 * DAY)


def test_cmc_listings_offset_paging(client) -> None:
    endpoint = get_api("cmc").endpoint("cryptocurrency_listings_latest")
    first = client.get("cmc", "/v1/cryptocurrency/listings/latest", start=1, limit=300).json()
    second = client.get("cmc", "/v1/cryptocurrency/listings/latest", start=301, limit=300).json()
    total = first["status"]["total_count"]
    assert total > 580 and len(first["data"]) == 300 and len(second["data"]) == total - 300
    ranks = [r["cmc_rank"] for r in first["data"] + second["data"]]
    assert ranks == list(range(1, total + 1))
    assert endpoint.paginator.next({"start": 301, "limit": 300}, second["data"], second) is None


def test_fear_and_greed_paging(client) -> None:
    page1 = client.get("cmc", "/v3/fear-and-greed/historical", start=1, limit=5).json()["data"]
    page2 = client.get("cmc", "/v3/fear-and-greed/historical", start=6, limit=5).json()["data"]
    stamps = [int(r["timestamp"]) for r in page1 + page2]
    assert stamps == [int(NOW_S // DAY) * DAY - i * DAY for i in range(10)]


def test_dex_scroll_cursor(client) -> None:
    endpoint = get_api("cmc_dex").endpoint("spot_pairs_latest")
    params = endpoint.paginator.first({"network_slug": "bsc"}, wanted=None)
    pages, seen = 0, []
    while params is not None:
        body = client.get("cmc_dex", "/v4/dex/spot-pairs/latest", **params).json()
        pages += 1
        seen.extend(body["data"])
        params = endpoint.paginator.next(params, body["data"], body)
    assert pages >= 2
    addresses = [p["contract_address"] for p in seen]
    assert len(addresses) == len(set(addresses)) >= 100
    volumes = [p["quote"][0]["volume_24h"] for p in seen]
    assert volumes == sorted(volumes, reverse=True)
    bad = client.get("cmc_dex", "/v4/dex/spot-pairs/latest", network_slug="bsc", scroll_id="nope")
    assert bad.status_code == 400
    assert client.get("cmc_dex", "/v4/dex/spot-pairs/latest").json()["status"]["error_code"] == 400


def test_cmc_quotes_historical_intervals(client) -> None:
    body = client.get(
        "cmc",
        "/v2/cryptocurrency/quotes/historical",
        id="1027",
        interval="hourly",
        time_start=int(NOW_S - 2 * DAY),
        time_end=int(NOW_S - DAY),
    ).json()
    quotes = body["data"]["quotes"]
    assert len(quotes) == 24  # boundaries 13:00 day -2 .. 12:00 day -1
    assert body["status"]["credit_count"] == 1
    for q in quotes:
        ts = q["quote"]["USD"]["timestamp"]
        assert ts == q["timestamp"] and ts[14:16] == "00"  # closest sample, just after the hour
    many = client.get(
        "cmc", "/v2/cryptocurrency/quotes/historical", id="1,1027,825", interval="5m", count=100
    ).json()
    assert many["status"]["credit_count"] == 3  # 300 data points, 1 credit per 100
    too_many = client.get("cmc", "/v2/cryptocurrency/quotes/historical", id="1", count=10_001)
    assert too_many.status_code == 400


def test_cmc_ohlcv_exclusive_start_and_incomplete_period(client) -> None:
    day0 = int(NOW_S // DAY) * DAY - 5 * DAY
    body = client.get(
        "cmc",
        "/v2/cryptocurrency/ohlcv/historical",
        plan="startup",
        id=1,
        time_period="daily",
        time_start=day0,
        time_end=day0 + 2 * DAY,
    ).json()["data"]["quotes"]
    assert [q["time_open"][:10] for q in body] == [
        _date(day0 + DAY),
        _date(day0 + 2 * DAY),
    ]  # time_start is exclusive
    counted = client.get("cmc", "/v2/cryptocurrency/ohlcv/historical", plan="startup", id=1, count=3).json()
    assert len(counted["data"]["quotes"]) == 2  # the incomplete day is counted, not returned


def test_dex_ohlcv_count_limit(client) -> None:
    pair = client.get("cmc_dex", "/v4/dex/spot-pairs/latest", network_id="1", limit=1).json()["data"][0]
    ok = client.get(
        "cmc_dex",
        "/v4/dex/pairs/ohlcv/historical",
        network_id="1",
        time_period="hourly",
        count=500,
        contract_address=pair["contract_address"],
    )
    # the current hour is counted but incomplete; the last one is not served until 5 minutes past
    assert ok.status_code == 200 and 498 <= len(ok.json()["data"][0]["quotes"]) <= 499
    assert (
        client.get(
            "cmc_dex",
            "/v4/dex/pairs/ohlcv/historical",
            network_id="1",
            count=501,
            contract_address=pair["contract_address"],
        ).status_code
        == 400
    )


def _date(t: float) -> str:
    from cryptoflow.sandbox.timefmt import iso_date

    return iso_date(t)
