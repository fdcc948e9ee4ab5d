"""Body validation: every kind of bad input is refused with a message that says what was wrong."""

from __future__ import annotations

import pytest

from cryptoflow.apis import get_api
from cryptoflow.apis.base import BodyRule
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


# ---------------------------------------------------------------- typed fields: integers, timestamps

TYPED = BodyRule(kind="list", numeric=("price",), integers=("rank",), timestamps=("at",),
                 nullable=("rank", "at"))


def check(**record):
    return validate(dumps([{"id": "x", **record}]), "application/json", TYPED)


@pytest.mark.parametrize(
    "value", [0, 1, 42, -800, 2**63 - 1, -(2**63), "1", "1027", "007", "9223372036854775807"]
)
def test_integers_accept_json_integers_and_strings_of_digits(value):
    check(rank=value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (True, "bool True"),
        (1.5, "float 1.5"),
        (3.0, "float 3.0"),  # jsonb keeps '3.0', and '3.0'::bigint fails
        (2**63, "int 9223372036854775808"),  # beyond bigint
        ("9223372036854775808", "str '9223372036854775808'"),
        ("12345678901234567890123", "str '12345678901234567890123'"),
        ("1.5", "str '1.5'"),
        ("-5", "str '-5'"),
        (" 12", "str ' 12'"),
        ("", "str ''"),
        ("abc", "str 'abc'"),
        ("\u0663", "str '\u0663'"),  # an Arabic-Indic digit: Python's isdigit, not Postgres's
        ([1], "list [1]"),
        ({"n": 1}, "dict {'n': 1}"),
    ],
)
def test_integers_refuse_what_bigint_cannot_read(value, shown):
    with pytest.raises(InvalidBody) as caught:
        check(rank=value)
    assert str(caught.value) == f"record 'x': field 'rank' is {shown}, expected an integer"


def test_a_float_written_integer_is_refused_from_the_text_too():
    for text in ('[{"id": "x", "rank": 1.0}]', '[{"id": "x", "rank": 1e3}]'):
        with pytest.raises(InvalidBody, match="expected an integer"):
            validate(text, "application/json", TYPED)


@pytest.mark.parametrize(
    "value",
    [
        "2026-03-20T00:00:00.000Z",
        "2026-03-20T00:00:00+00:00",
        "2026-03-20T00:00:00Z",
        "2026-03-20T00:00Z",
        "2026-03-20T00:00:00.123456789Z",  # Postgres rounds to microseconds
        "2026-03-20T00:00:00+0000",
        "2026-03-20T00:00:00+00",
        "2024-02-29T23:59:59.999Z",
    ],
)
def test_timestamps_accept_iso_8601_in_utc(value):
    check(at=value)


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("2026-13-01", "str '2026-13-01'"),
        ("2026-13-01T00:00:00Z", "str '2026-13-01T00:00:00Z'"),
        ("2026-02-30T00:00:00Z", "str '2026-02-30T00:00:00Z'"),
        ("2026-03-20T24:00:00Z", "str '2026-03-20T24:00:00Z'"),
        ("2026-03-20T00:00:60Z", "str '2026-03-20T00:00:60Z'"),
        ("2026-03-20", "str '2026-03-20'"),  # a date: which instant?
        ("2026-03-20T00:00:00", "str '2026-03-20T00:00:00'"),  # no zone: read in the session's zone
        ("2026-03-20T00:00:00.000", "str '2026-03-20T00:00:00.000'"),
        ("2026-03-20T02:00:00+02:00", "str '2026-03-20T02:00:00+02:00'"),  # an instant, but not in UTC
        ("2026-03-20 00:00:00Z", "str '2026-03-20 00:00:00Z'"),
        ("2026-03-20t00:00:00z", "str '2026-03-20t00:00:00z'"),
        ("0000-01-01T00:00:00Z", "str '0000-01-01T00:00:00Z'"),
        ("yesterday", "str 'yesterday'"),
        ("", "str ''"),
        ("1712512855", "str '1712512855'"),  # UNIX seconds belong in `integers`
        (1712512855, "int 1712512855"),
        (1.7e9, "float 1700000000.0"),
        (True, "bool True"),
    ],
)
def test_timestamps_refuse_what_is_not_a_utc_instant(value, shown):
    with pytest.raises(InvalidBody) as caught:
        check(at=value)
    assert str(caught.value) == f"record 'x': field 'at' is {shown}, expected an ISO-8601 UTC timestamp"


def test_the_message_names_record_and_field():
    with pytest.raises(InvalidBody) as caught:
        validate(dumps([coin(last_updated="2026-13-01")]), "application/json", MARKETS)
    assert str(caught.value) == (
        "record 'bitcoin': field 'last_updated' is str '2026-13-01', expected an ISO-8601 UTC timestamp"
    )
    with pytest.raises(InvalidBody) as caught:
        validate(dumps([coin(market_cap_rank=1.5)]), "application/json", MARKETS)
    assert str(caught.value) == "record 'bitcoin': field 'market_cap_rank' is float 1.5, expected an integer"


@pytest.mark.parametrize("text", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_numbers_json_cannot_carry_never_reach_the_checks(text):
    """orjson refuses NaN, Infinity and overflowing numbers as malformed JSON (Postgres jsonb would too)."""
    with pytest.raises(InvalidBody, match="malformed JSON"):
        validate(f'[{{"id": "x", "price": {text}}}]', "application/json", TYPED)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
def test_numeric_refuses_non_finite_numbers_however_they_came(value):
    from cryptoflow.validation import check_records

    with pytest.raises(InvalidBody, match="expected a number"):
        check_records([{"id": "x", "price": value}], TYPED)


@pytest.mark.parametrize("value", [0, -1.5, 1e308, 1e-300, 18446744073709551615, 10**20])
def test_numeric_accepts_every_finite_number(value):
    check(price=value)


def test_typed_nulls_follow_nullable():
    check(rank=None, at=None)
    with pytest.raises(InvalidBody) as caught:
        check(price=None)
    assert str(caught.value) == "record 'x': field 'price' is null, expected a number"


def test_absent_typed_fields_are_the_business_of_required():
    check()
    with pytest.raises(InvalidBody, match="missing field 'at'"):
        validate(dumps([{"id": "x"}]), "application/json",
                 BodyRule(required=("at",), timestamps=("at",)))


# ---------------------------------------------------------------- [] paths and positions

PAIRS = BodyRule(
    kind="list",
    required=("quotes", "quotes[].time_open"),
    numeric=("quote[].price", "quotes[].quote[].open"),
    integers=("quote[].convert_id",),
    timestamps=("quotes[].time_open", "quotes[].time_close"),
    nullable=("quotes[].time_close", "quote[].price"),
)


def pair(**overrides):
    record = {
        "id": "p",
        "quote": [{"convert_id": "2781", "price": 1.5}, {"convert_id": "1", "price": 0.00002}],
        "quotes": [
            {"time_open": "2026-03-20T00:00:00.000Z", "time_close": None, "quote": [{"open": 1.0}]},
            {"time_open": "2026-03-20T01:00:00.000Z", "time_close": None,
             "quote": [{"open": 2.0}, {"open": 3}]},
        ],
    }
    record.update(overrides)
    return record


def check_pair(record):
    return validate(dumps([record]), "application/json", PAIRS)


def test_list_paths_check_every_element():
    check_pair(pair())
    check_pair(pair(quote=[], quotes=[]))  # nothing to check in empty lists
    check_pair(pair(quote=[{"convert_id": "2781", "price": None}]))  # nullable applies to the path


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"quote": [{"convert_id": "2781", "price": 1.5}, {"convert_id": "1", "price": "0.1"}]},
         "field 'quote[1].price' is str '0.1', expected a number"),
        ({"quote": [{"convert_id": "2781x", "price": 1.5}]},
         "field 'quote[0].convert_id' is str '2781x', expected an integer"),
        ({"quotes": [{"time_open": "2026-03-20T00:00:00.000Z", "quote": [{"open": 1}, {"open": None}]}]},
         "field 'quotes[0].quote[1].open' is null, expected a number"),
        ({"quotes": [{"time_open": "2026-03-20T00:00:00.000Z", "time_close": "2026-03-20", "quote": []}]},
         "field 'quotes[0].time_close' is str '2026-03-20', expected an ISO-8601 UTC timestamp"),
        ({"quotes": [{"time_open": "2026-03-20T00:00:00.000Z", "quote": []}, {"quote": []}]},
         "missing field 'quotes[1].time_open'"),
        ({"quotes": [{"time_open": None, "quote": []}]}, "field 'quotes[0].time_open' is null"),
        ({"quote": {"2781": {"price": 1.5}}}, "field 'quote' is dict, expected a list"),
        ({"quotes": [{"time_open": "2026-03-20T00:00:00.000Z", "quote": {"open": 1}}]},
         "field 'quotes[0].quote' is dict, expected a list"),
    ],
)
def test_list_paths_name_the_element_that_is_wrong(change, message):
    with pytest.raises(InvalidBody) as caught:
        check_pair(pair(**change))
    assert str(caught.value) == f"record 'p': {message}"


def test_a_null_or_absent_list_is_left_to_required():
    check_pair(pair(quote=None))
    record = pair()
    del record["quote"]
    check_pair(record)
    with pytest.raises(InvalidBody, match="missing field 'quotes'"):
        check_pair({"id": "p"})


OHLC = get_api("coingecko").endpoint("coins_ohlc").body
CHART = get_api("coingecko").endpoint("coins_market_chart").body


ROWS = BodyRule(kind="rows", required=("0", "1", "2", "3", "4"), numeric=("1", "2", "3", "4"),
                integers=("0",))


def test_rows_are_checked_by_position():
    _, rows = validate(dumps([[1709395200000, 61942, 62211, 61721.5, 61845]]), "application/json", OHLC)
    assert rows[0][0] == 1709395200000
    for row, message in [
        ([1709395200000, "6", 62211, 61721, 61845], "record 0: field '1' is str '6', expected a number"),
        ([1709395200000.5, 1, 2, 3, 4], "record 0: field '0' is float 1709395200000.5, expected an integer"),
        ([1709395200000, 1, 2, 3], "record 0: missing field '4'"),
        ({"t": 1}, "record 0 is dict, not an array"),
    ]:
        with pytest.raises(InvalidBody) as caught:
            validate(dumps([row]), "application/json", ROWS)
        assert str(caught.value) == message
    with pytest.raises(InvalidBody, match="field '4' is str"):  # the endpoint's own rule
        validate(dumps([[1709395200000, 1, 2, 3, "4"]]), "application/json", OHLC)


def test_chart_points_are_ms_and_numbers():
    good = {"prices": [[1711843200000, 69702.3]], "market_caps": [[1711843200000, 1.3e12]],
            "total_volumes": [[1711843200000, 1.6e10]]}
    validate(dumps(good), "application/json", CHART)
    bad = {**good, "prices": [[1711843200000, 69702.3], ["2024-04-01", 1.0]]}
    with pytest.raises(InvalidBody, match=r"field 'prices\[1\]\.0' is str '2024-04-01', expected an integer"):
        validate(dumps(bad), "application/json", CHART)


DEX_SPOT = get_api("cmc_dex").endpoint("spot_pairs_latest").body


def test_dex_ids_as_strings_pass_and_a_quote_map_does_not():
    record = {"contract_address": "0xabc", "name": "USDC/WETH", "network_id": "1", "dex_id": "1348",
              "base_asset_id": "3408", "quote_asset_id": "2396", "base_asset_symbol": "USDC",
              "quote_asset_symbol": "WETH", "last_updated": "2024-04-07T16:49:00.000Z",
              "created_at": None, "scroll_id": "c1",
              "quote": [{"convert_id": "2781", "price": 1.0001, "liquidity": 2.5e8, "volume_24h": 1.8e8,
                         "fully_diluted_value": None, "last_updated": "2024-04-07T16:49:00.000Z"}]}
    validate(dumps({"data": [record], "status": STATUS_OK}), "application/json", DEX_SPOT)
    record["quote"] = {"2781": record["quote"][0]}
    with pytest.raises(InvalidBody, match="field 'quote' is dict, expected a list"):
        validate(dumps({"data": [record], "status": STATUS_OK}), "application/json", DEX_SPOT)
