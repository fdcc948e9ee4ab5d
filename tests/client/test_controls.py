"""ApiHook through the shared controls, against the sandbox and real Postgres, with real sleeps: a 429
pauses every worker for its Retry-After; the breaker opens on an API that fails, other APIs go on, and a
probe closes it after the cool-down; the credit budget stops calls before the sandbox's counter passes
it; each permanent error fails at once with no retry; each transient fault (a body cut mid-stream too) is
retried and then lands once; a redirect to another host never carries the key."""

from __future__ import annotations

import http.server
import json
import os
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from cryptoflow.client import ApiError, ApiHook, PermanentApiError, RetryPolicy
from cryptoflow.ingest import land_request
from cryptoflow.limits import BreakerOpen, BudgetExhausted

START = datetime(2026, 5, 4, 12, tzinfo=UTC)
END = START + timedelta(hours=1)
FAST = RetryPolicy(base_delay=0.05, max_delay=0.2, timeout=2.0)


@pytest.fixture
def apis(sandbox, api_connections, monkeypatch, warehouse):
    sandbox.reset()
    sandbox.set_clock(START + timedelta(minutes=20))
    for name, value in api_connections.items():
        monkeypatch.setenv(name, value)
    for api in ("COINGECKO", "CMC", "CMC_DEX"):
        monkeypatch.setenv(f"CRYPTOFLOW__APIS__{api}__CALLS_PER_MINUTE", "600")
    return sandbox


def calls(sandbox, api: str) -> int:
    return sandbox.accounting(log=False)["apis"].get(api, {}).get("calls", 0)


def api_calls(warehouse) -> list[tuple]:
    return warehouse.execute("SELECT api, outcome, http_status, attempt, rate_limited, credits "
                             "FROM ops.api_call ORDER BY call_id").fetchall()


def test_a_429_pauses_every_worker_for_its_retry_after(apis, warehouse):
    apis.set_faults(api="coingecko", kind="rate_limit", retry_after=2, count=1)
    first, second = ApiHook("coingecko", retry=FAST), ApiHook("coingecko", retry=FAST)
    t0 = time.monotonic()
    assert first.fetch("coins_markets", wanted=10).records == 10
    assert time.monotonic() - t0 >= 1.9, "the 429's Retry-After was waited out"
    row = warehouse.execute("SELECT blocked_until > now() - interval '5 seconds', rate_per_min, "
                            "rate_limited FROM ops.rate_limiter WHERE api = 'coingecko'").fetchone()
    assert row == (True, 600 * 0.9, 1), "the shared bucket was told: paused and its rate cut"
    second.fetch("coins_markets", wanted=10)  # another worker: paced by the cut rate, no 429
    assert [r[:2] for r in api_calls(warehouse)] == [("coingecko", "rate_limited"), ("coingecko", "ok"),
                                                     ("coingecko", "ok")]
    assert apis.accounting(log=False)["apis"]["coingecko"]["rate_limited"] == 1
    first.close()
    second.close()


def test_breaker_opens_on_a_failing_api_others_go_on_and_a_probe_closes_it(apis, warehouse, monkeypatch):
    monkeypatch.setenv("CRYPTOFLOW__APIS__CMC__BREAKER__FAILURES", "3")
    monkeypatch.setenv("CRYPTOFLOW__APIS__CMC__BREAKER__COOLDOWN_S", "2")
    apis.set_faults(api="cmc", kind="down", mode="error")
    with pytest.raises(ApiError, match="HTTP 503 after 3 attempts"):
        ApiHook("cmc", retry=RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.1)).fetch(
            "cryptocurrency_map")
    spent = calls(apis, "cmc")
    assert spent == 3
    with pytest.raises(BreakerOpen) as caught:
        ApiHook("cmc", retry=FAST).fetch("cryptocurrency_map", interval="[a, b)")
    assert isinstance(caught.value, AirflowSkipException), "an open breaker skips the task"
    assert "CoinMarketCap circuit breaker open" in str(caught.value)
    assert "interval=[a, b)" in str(caught.value)
    assert calls(apis, "cmc") == spent, "an open breaker makes no call"
    assert ApiHook("coingecko", retry=FAST).fetch("coins_markets", wanted=10).records == 10
    assert ApiHook("cmc_dex", retry=FAST).fetch("networks_list").records > 0
    apis.clear_faults()
    time.sleep(2.1)
    assert ApiHook("cmc", retry=FAST).fetch("cryptocurrency_map").records > 0
    assert warehouse.execute("SELECT state, failures FROM ops.circuit_breaker WHERE api = 'cmc'"
                             ).fetchone() == ("closed", 0)


def test_the_credit_budget_stops_calls_before_the_apis_counter_passes_it(apis, monkeypatch):
    monkeypatch.setenv("CRYPTOFLOW__APIS__CMC__DAILY_CREDITS", "5")
    hook = ApiHook("cmc", retry=FAST)
    made = 0
    with pytest.raises(BudgetExhausted) as caught:
        for _ in range(10):
            hook.fetch("cryptocurrency_listings_latest", wanted=200)  # 1 credit per 200 records
            made += 1
    assert made == 5
    assert isinstance(caught.value, AirflowFailException), "no retry can help before the budget resets"
    assert "CoinMarketCap daily credit budget 5 would be exceeded (5 used" in str(caught.value)
    assert apis.accounting(log=False)["apis"]["cmc"]["credits"] == 5


PERMANENT = [
    ("coingecko", "coins_markets", {"password": "CG-not-a-real-key-0000000000"}, "10002"),
    ("coingecko", "key", {}, "10005"),
    ("cmc", "cryptocurrency_ohlcv_historical", {}, "1006"),
    ("cmc", "cryptocurrency_map", {"password": "00000000-0000-0000-0000-000000000000"}, "1001"),
    ("cmc", "cryptocurrency_map", {"password": None}, "1002"),
]


@pytest.mark.parametrize("case", PERMANENT, ids=[p[3] for p in PERMANENT])
def test_each_permanent_error_fails_at_once_without_retry(apis, monkeypatch, warehouse, case):
    api, endpoint, conn, code = case
    var = f"AIRFLOW_CONN_{api.upper()}"
    monkeypatch.setenv(var, json.dumps({**json.loads(os.environ[var]), **conn}))
    ohlcv = {"id": "1", "time_start": "2026-05-01", "time_end": "2026-05-02"}
    params = ohlcv if "ohlcv" in endpoint else None
    with pytest.raises(PermanentApiError) as caught:
        ApiHook(api, retry=FAST).fetch(endpoint, params)
    assert isinstance(caught.value, AirflowFailException), "Airflow does not retry it either"
    assert f"error_code {code}" in str(caught.value)
    assert calls(apis, api) == 1
    assert [r[1] for r in api_calls(warehouse)] == ["permanent"]
    if conn.get("password"):
        assert conn["password"] not in str(caught.value)


TRANSIENT = [
    {"kind": "5xx_burst", "count": 2},
    {"kind": "reset", "count": 2},
    {"kind": "timeout", "delay_s": 3, "count": 1},
    {"kind": "truncated", "abort": True, "count": 2},
    {"kind": "html_5xx", "count": 1},
]


@pytest.mark.parametrize("fault", TRANSIENT, ids=[f["kind"] + ("_abort" if f.get("abort") else "")
                                                   for f in TRANSIENT])
def test_each_transient_fault_is_retried_then_lands_once(apis, warehouse, fault):
    apis.set_faults(api="coingecko", endpoint="coins_markets", **fault)
    run_id = f"transient-{fault['kind']}-{fault.get('abort', False)}"
    landed = land_request("coingecko", "coins_markets", interval_start=START, interval_end=END,
                          run_id=run_id, wanted=10, retry=FAST)
    assert landed["pages"] == 1 and landed["calls"] == 1 + fault["count"]
    rows = warehouse.execute("SELECT count(*), min(page) FROM raw.coingecko__coins_markets "
                             "WHERE run_id = %s", (run_id,)).fetchone()
    assert rows == (1, 1)
    outcomes = [r[1] for r in api_calls(warehouse)]
    assert outcomes == ["transient"] * fault["count"] + ["ok"]


class _Catcher(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self):
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_redirect_to_another_host_never_carries_the_key(apis):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Catcher)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        # localhost, not 127.0.0.1: another origin for the same machine
        apis.set_faults(api="coingecko", kind="redirect", location=f"http://localhost:{server.server_port}/")
        with pytest.raises(PermanentApiError, match="HTTP 404"):
            ApiHook("coingecko", retry=FAST).fetch("coins_markets", wanted=10)
    finally:
        server.shutdown()
    assert len(_Catcher.seen) == 1, "the redirect was followed"
    key = apis.key("coingecko", "demo")
    assert key not in json.dumps(_Catcher.seen)
    assert "x-cg-demo-api-key" not in _Catcher.seen[0]
