"""Body validation: every kind of bad input is refused with a message that says what was wrong."""

from __future__ import annotations

import pytest

from cryptoflow.apis import get_api
from cryptoflow.validation import InvalidBody, validate

MARKETS = get_api("coingecko").endpoint("coins_markets").body


def coin(**overrides):
    record = {"id": "bitcoin", "symbol": "btc", "name": "Bitcoin", "current_price": 70187.1,
              "market_cap": 1381651251183, "total_volume": 20154184933, "market_cap_rank": 1,
              "high_24h": 70215, "low_24h": 68060, "circulating_supply": 19675987, "total_supply": 21000000,
              "max_supply": None, "fully_diluted_valuation": None, "last_updated": "2024-04-07T16:49:31.736Z"}
    record.update(overrides)
    return record


def dumps(value) -> str:
    import json

    return json.dumps(value)


def test_valid_page_returns_records():
    body, records = validate(dumps([coin(), coin(id="ethereum")]), "application/json", MARKETS)
    assert [r["id"] for r in records] == ["bitcoin", "ethereum"]
    assert body == records


@pytest.mark.parametrize(
    ("text", "content_type", "expected"),
    [
        ('[{"id": "bitcoin",', "application/json", "malformed JSON"),
        ("<html><body>502 Bad Gateway</body></html>", "text/html", "HTML page"),
        ("<!DOCTYPE html><html>Just a moment...</html>", "application/json", "HTML page"),
        ("", "application/json", "empty body"),
        ("[]", "application/json", "empty response"),
        ('{"coins": []}', "application/json", "expected a JSON array"),
    ],
)
def test_unparseable_or_empty_bodies_are_refused(text, content_type, expected):
    with pytest.raises(InvalidBody, match=expected):
        validate(text, content_type, MARKETS)


def test_missing_field_is_named():
    record = coin()
    del record["last_updated"]
    with pytest.raises(InvalidBody, match="record 'bitcoin': missing field 'last_updated'"):
        validate(dumps([record]), "application/json", MARKETS)


def test_string_where_a_number_belongs_is_named():
    with pytest.raises(InvalidBody, match=r"field 'current_price' is str '70187\.1', expected a number"):
        validate(dumps([coin(current_price="70187.1")]), "application/json", MARKETS)


def test_null_in_a_required_non_nullable_field_is_refused():
    with pytest.raises(InvalidBody, match="field 'current_price' is null"):
        validate(dumps([coin(current_price=None)]), "application/json", MARKETS)


def test_nulls_where_the_api_documents_them_are_accepted():
    _, records = validate(dumps([coin(max_supply=None, market_cap_rank=None)]), "application/json", MARKETS)
    assert records[0]["max_supply"] is None


def test_booleans_are_not_numbers():
    with pytest.raises(InvalidBody, match="expected a number"):
        validate(dumps([coin(market_cap=True)]), "application/json", MARKETS)


def test_an_empty_later_page_is_named_as_such():
    with pytest.raises(InvalidBody, match="empty page"):
        validate("[]", "application/json", MARKETS, first_page=False)


CMC_HISTORICAL = get_api("cmc").endpoint("cryptocurrency_quotes_historical").body
CMC_QUOTES_LATEST = get_api("cmc").endpoint("cryptocurrency_quotes_latest").body
STATUS_OK = {"error_code": 0, "error_message": None, "credit_count": 1}


def quote_history(cmc_id: int, symbol: str) -> dict:
    return {"id": cmc_id, "name": symbol, "symbol": symbol, "quotes": []}


def test_cmc_historical_accepts_one_record_for_one_id():
    body = {"data": quote_history(1, "BTC"), "status": STATUS_OK}
    _, records = validate(dumps(body), "application/json", CMC_HISTORICAL)
    assert [r["id"] for r in records] == [1]


def test_cmc_historical_accepts_a_map_keyed_by_id_for_several_ids():
    body = {"data": {"1": quote_history(1, "BTC"), "1027": quote_history(1027, "ETH")}, "status": STATUS_OK}
    _, records = validate(dumps(body), "application/json", CMC_HISTORICAL)
    assert sorted(r["id"] for r in records) == [1, 1027]


def test_cmc_map_accepts_a_list_per_symbol():
    coin = {"id": 1, "name": "Bitcoin", "symbol": "BTC", "last_updated": "2026-01-01T00:00:00.000Z",
            "quote": {"USD": {"price": 1.5, "market_cap": 10.0}}}
    body = {"data": {"BTC": [coin, {**coin, "id": 99}]}, "status": STATUS_OK}
    _, records = validate(dumps(body), "application/json", CMC_QUOTES_LATEST)
    assert [r["id"] for r in records] == [1, 99]


def test_cmc_error_inside_a_200_is_refused():
    body = {"data": {}, "status": {"error_code": 1008, "error_message": "rate limit"}}
    with pytest.raises(InvalidBody, match="error_code 1008"):
        validate(dumps(body), "application/json", CMC_QUOTES_LATEST)
