"""ApiHook and land_request against the real sandbox and real Postgres: pagination at the fewest calls,
429 with Retry-After, backoff on 5xx and resets, and every kind of bad input refused with an error that
names the API, endpoint and interval, with nothing partial landed and no key anywhere.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import pytest

from cryptoflow.apis import get_api
from cryptoflow.client import ApiError, ApiHook, InvalidResponse, PermanentApiError, RetryPolicy
from cryptoflow.ingest import land_request

MARKETS = get_api("coingecko").endpoint("coins_markets")
START = datetime(2026, 5, 4, 12, tzinfo=UTC)
END = START + timedelta(hours=1)


class Sleeps(list):
    """Records the waits the client asks for instead of waiting (the sandbox's faults are counted,
    not timed, so nothing is lost)."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def coingecko(sandbox, api_connections, monkeypatch):
    sandbox.reset()
    sandbox.set_clock(START + timedelta(minutes=20))
    for name, value in api_connections.items():
        monkeypatch.setenv(name, value)
    # land_request goes through the shared limiter: a high limit keeps these tests about landing.
    monkeypatch.setenv("CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE", "600")
    return sandbox


def hook(sleeps: Sleeps | None = None, **retry) -> ApiHook:
    """A hook without the shared controls: these tests are about HTTP behaviour alone (the controls
    have tests/client/test_controls.py)."""
    return ApiHook("coingecko", retry=RetryPolicy(**retry) if retry else None, controls=None,
                   sleep=sleeps if sleeps is not None else Sleeps())


def calls(sandbox) -> dict:
    return sandbox.accounting(log=False)["apis"]["coingecko"]


def test_listing_uses_the_fewest_calls(coingecko):
    listing = hook().fetch("coins_markets", wanted=500, interval="test")
    assert [p.records for p in listing.pages] == [250, 250]
    assert [p.params["page"] for p in listing.pages] == [1, 2]
    assert calls(coingecko)["calls"] == MARKETS.paginator.calls_for(500) == 2


def test_listing_stops_on_a_short_page(coingecko):
    listing = hook().fetch("coins_markets", wanted=10_000)
    sizes = [p.records for p in listing.pages]
    assert sizes[:-1] == [250] * (len(sizes) - 1) and 0 < sizes[-1] < 250
    assert calls(coingecko)["calls"] == len(sizes)


def test_429_retry_after_is_honoured(coingecko):
    coingecko.set_faults(api="coingecko", kind="rate_limit", retry_after=7, count=2)
    sleeps = Sleeps()
    listing = hook(sleeps).fetch("coins_markets", wanted=10)
    assert listing.records == 10
    assert sleeps == [7.0, 7.0]
    assert calls(coingecko)["rate_limited"] == 2


def test_5xx_burst_backs_off_exponentially(coingecko):
    coingecko.set_faults(api="coingecko", kind="5xx_burst", count=3)
    sleeps = Sleeps()
    listing = hook(sleeps, base_delay=1.0, max_delay=60).fetch("coins_markets", wanted=10)
    assert listing.records == 10
    assert len(sleeps) == 3
    for attempt, waited in enumerate(sleeps, start=1):
        ceiling = 2 ** (attempt - 1)
        assert ceiling / 2 <= waited <= ceiling


def test_connection_reset_is_retried(coingecko):
    coingecko.set_faults(api="coingecko", kind="reset", count=1)
    sleeps = Sleeps()
    assert hook(sleeps).fetch("coins_markets", wanted=10).records == 10
    assert len(sleeps) == 1


def test_retry_after_longer_than_the_task_may_wait_fails_clearly(coingecko):
    coingecko.set_faults(api="coingecko", kind="rate_limit", retry_after=600)
    with pytest.raises(ApiError, match=r"Retry-After 600s exceeds") as caught:
        hook(max_retry_after=120).fetch("coins_markets", wanted=10, interval="[a, b)")
    assert caught.value.retryable


def test_persistent_5xx_gives_up_after_max_attempts(coingecko):
    coingecko.set_faults(api="coingecko", kind="error", status=503)
    sleeps = Sleeps()
    with pytest.raises(ApiError, match=r"HTTP 503 after 3 attempts"):
        hook(sleeps, max_attempts=3).fetch("coins_markets", wanted=10)
    assert len(sleeps) == 2


def test_bad_key_fails_at_once_with_the_apis_own_error(coingecko, monkeypatch):
    conn = json.loads(__import__("os").environ["AIRFLOW_CONN_COINGECKO"])
    conn["password"] = "CG-not-a-real-key-0000000000"
    monkeypatch.setenv("AIRFLOW_CONN_COINGECKO", json.dumps(conn))
    with pytest.raises(PermanentApiError) as caught:
        hook().fetch("coins_markets", wanted=10)
    assert calls(coingecko)["calls"] == 1, "a permanent error is not retried"
    assert caught.value.status == 401
    assert "10002" in str(caught.value) or "10001" in str(caught.value)
    assert "CG-not-a-real-key" not in str(caught.value)


BAD_INPUTS = [
    ({"kind": "malformed_json"}, "malformed JSON"),
    ({"kind": "html_200"}, "HTML page"),
    ({"kind": "truncated"}, "malformed JSON"),
    ({"kind": "missing_fields", "fields": ["current_price"]}, "missing field 'current_price'"),
    ({"kind": "numbers_as_strings"}, "expected a number"),
    ({"kind": "nulls", "fields": ["current_price"]}, "'current_price' is null"),
    ({"kind": "empty_page", "after": 1}, "empty page"),
    ({"kind": "renamed_fields", "renames": {"current_price": "currentPrice"}},
     "missing field 'current_price'"),
]


@pytest.mark.parametrize(("fault", "reason"), BAD_INPUTS, ids=[f["kind"] for f, _ in BAD_INPUTS])
def test_bad_input_fails_clearly_and_nothing_partial_lands(coingecko, warehouse, caplog, fault, reason):
    good = land_request("coingecko", "coins_markets", interval_start=START, interval_end=END,
                        run_id="good", wanted=500)
    assert good["pages"] == 2
    coingecko.set_faults(api="coingecko", endpoint="coins_markets", **fault)
    with caplog.at_level(logging.DEBUG), pytest.raises(InvalidResponse) as caught:
        land_request("coingecko", "coins_markets", interval_start=START, interval_end=END,
                     run_id="bad", wanted=500)
    message = str(caught.value)
    assert reason in message
    assert message.startswith("CoinGecko /coins/markets")
    assert "interval=[2026-05-04T12:00:00+00:00, 2026-05-04T13:00:00+00:00)" in message
    rows = warehouse.execute(
        "SELECT DISTINCT run_id FROM raw.coingecko__coins_markets WHERE interval_start = %s", (START,)
    ).fetchall()
    assert rows == [("good",)]
    key = coingecko.key("coingecko", "demo")
    assert key not in message and key not in caplog.text


def test_html_error_page_with_5xx_is_retried_then_reported(coingecko):
    coingecko.set_faults(api="coingecko", kind="html_5xx")
    with pytest.raises(ApiError, match=r"HTTP 502 after 2 attempts: an HTML page"):
        hook(max_attempts=2).fetch("coins_markets", wanted=10)


def test_pages_carry_the_apis_response_time(coingecko):
    """fetched_at is the response's Date (the API's clock, here the sandbox's frozen one)."""
    listing = hook().fetch("coins_markets", wanted=10)
    assert listing.pages[0].fetched_at == START + timedelta(minutes=20)
