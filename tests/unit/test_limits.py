"""The control layer's arithmetic on real Postgres: permit spacing, the 429 cut and its recovery, the
floor, per-key buckets, the breaker's states, the credit budget, and four OS processes taking permits
from one bucket at once. Sleeps are recorded, not slept, except in the contention test."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import re
from dataclasses import replace
from datetime import UTC, datetime

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from cryptoflow.apis import get_api
from cryptoflow.config import load_config
from cryptoflow.limits import BreakerOpen, BudgetExhausted, Controls, Ticket, key_id, status
from cryptoflow.warehouse import migrate
from tests.conftest import reset_controls

CMC = get_api("cmc")
WHERE = "test call"


class Sleeps(list):
    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def conn(warehouse_dsn):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        migrate(conn)
        reset_controls(warehouse_dsn)
        yield conn


def controls(conn, key="key-a", *, rate=60.0, margin=0.0, failures=3, cooldown=30.0, daily=None,
             monthly=None, lane="live", live_share=0.2, **control) -> Controls:
    config = load_config(environ={})
    api = replace(config.api("cmc"), calls_per_minute=rate, daily_credits=daily, monthly_credits=monthly,
                  breaker=replace(config.api("cmc").breaker, failures=failures, cooldown_s=cooldown))
    config = replace(config, apis={**config.apis, "cmc": api},
                     control=replace(config.control, safety_margin_s=margin, **control),
                     history_live_share=live_share)
    plan = replace(CMC.plan("basic"), daily_credits=None, monthly_credits=None)
    return Controls(conn, CMC, key, plan, config, lane=lane)


def waits(c: Controls, n: int) -> list[float]:
    sleeps = Sleeps()
    for _ in range(n):
        c.take_permit(WHERE, sleeps)
    return [0.0] * (n - len(sleeps)) + list(sleeps)


def test_permits_are_spaced_by_the_rate_and_the_margin(conn):
    assert waits(controls(conn, rate=60), 4) == pytest.approx([0, 1, 2, 3], abs=0.05)
    reset_controls(os.environ["CRYPTOFLOW_WAREHOUSE_DSN"])
    assert waits(controls(conn, rate=60, margin=1.5), 3) == pytest.approx([0, 61.5 / 60, 2 * 61.5 / 60],
                                                                          abs=0.05)


def test_history_keeps_to_its_share_and_live_calls_find_the_rest(conn):
    """With live_share 0.25 of 600/min, back-to-back history calls go at 450/min (their lane's slots are
    60/450 s apart, and each call takes its shared permit after its lane slot) while a live call asked
    meanwhile is spaced by the shared bucket only, not queued behind the history lane. Real sleeps."""
    import time

    history = controls(conn, rate=600, lane="history", live_share=0.25)
    slots, lane = [], []
    for _ in range(6):
        history.take_permit(WHERE, time.sleep)
        slots.append(history.last_slot)
        lane.append(history.last_lane_slot)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(lane)]
    assert min(gaps) >= 60 / 450 - 0.001, gaps  # never faster than the lane (a loaded machine: slower)
    assert all(shared >= own for shared, own in zip(slots, lane, strict=True))
    lane_next = conn.execute("SELECT tat FROM ops.rate_limiter WHERE bucket = %s",
                             (history.lane_bucket,)).fetchone()[0]
    live = controls(conn, rate=600)
    live.take_permit(WHERE, time.sleep)
    assert live.last_slot < lane_next or (live.last_slot - slots[-1]).total_seconds() <= 60 / 600 + 0.002
    # the shared bucket counted every call, history's and live: the API's limit holds for all of them
    assert conn.execute("SELECT bucket, permits FROM ops.rate_limiter ORDER BY bucket").fetchall() == [
        (history.bucket, 7), (history.lane_bucket, 6)]
    # make status: the lane has a line of its own, named so, without the API's last-hour calls again
    shared, own = status(conn)
    assert re.match(r"cmc +limiter 600.0/600 per min, 7 permits, 0 x 429 \| breaker closed", shared), shared
    assert re.fullmatch(r"cmc:history +limiter 450.0/450 per min, 6 permits, 0 x 429 \| breaker closed",
                        own), own
    # live_share 0: no lane, history takes the shared permits alone
    assert controls(conn, rate=600, lane="history", live_share=0).lane_bucket is None


def test_a_429_pauses_the_bucket_and_cuts_the_rate_once(conn):
    c = controls(conn, rate=60, decrease_factor=0.5)
    c.take_permit(WHERE, Sleeps())
    c.rate_limited(10)
    c.rate_limited(10)  # another worker's 429 for the same minute: no second cut
    other = controls(conn, rate=60, decrease_factor=0.5)  # a second worker, same key
    first = waits(other, 2)
    assert first[0] == pytest.approx(10, abs=0.1), "every worker waits out Retry-After"
    assert first[1] - first[0] == pytest.approx(60 / 30, abs=0.05), "then at half the rate"
    assert conn.execute("SELECT rate_limited FROM ops.rate_limiter").fetchone()[0] == 2


def test_the_rate_recovers_additively_and_never_passes_the_limit(conn):
    c = controls(conn, rate=60, decrease_factor=0.5, recover_per_minute=0.1)
    c.rate_limited(0)
    conn.execute("UPDATE ops.rate_limiter SET cut_at = now() - interval '2 minutes'")
    c.take_permit(WHERE, Sleeps())
    rate = conn.execute("SELECT last_rate FROM ops.rate_limiter").fetchone()[0]
    assert rate == pytest.approx(30 + 2 * 6, abs=0.01)  # + the milliseconds between the statements
    conn.execute("UPDATE ops.rate_limiter SET cut_at = now() - interval '1 hour'")
    c.take_permit(WHERE, Sleeps())
    assert conn.execute("SELECT last_rate FROM ops.rate_limiter").fetchone()[0] == 60


def test_cuts_stop_at_the_floor_and_a_new_limit_applies_at_once(conn):
    c = controls(conn, rate=60, decrease_factor=0.5, min_rate_fraction=0.2)
    for _ in range(6):
        c.rate_limited(0)
        conn.execute("UPDATE ops.rate_limiter SET cut_at = now() - interval '1 second', "
                     "recover_per_min = 0")
    assert conn.execute("SELECT rate_per_min FROM ops.rate_limiter").fetchone()[0] == pytest.approx(12)
    controls(conn, rate=120)
    assert conn.execute("SELECT cap_per_min, rate_per_min, cut_at FROM ops.rate_limiter").fetchone() == (
        120, 120, None)


def test_each_key_has_its_own_bucket(conn):
    a, b = controls(conn, "key-a", rate=60), controls(conn, "key-b", rate=60)
    assert waits(a, 2)[1] == pytest.approx(1, abs=0.05)
    assert waits(b, 1) == [0.0]
    buckets = {r[0] for r in conn.execute("SELECT bucket FROM ops.rate_limiter")}
    assert buckets == {f"cmc:{key_id('key-a')}", f"cmc:{key_id('key-b')}"}
    assert not any("key-a" in bucket for bucket in buckets), "the key itself is never stored"


def ticket() -> Ticket:
    return Ticket("cryptocurrency_map", "/v1/cryptocurrency/map", 1, 0, 0.0, None, None,
                  datetime.now(UTC))


def test_breaker_opens_after_n_failures_then_one_probe_closes_it(conn):
    c = controls(conn, failures=3, cooldown=30)
    for n in range(3):
        c.check_breaker(WHERE)
        c.after_call(ticket(), outcome="transient", status=503, error=f"HTTP 503 #{n}")
    with pytest.raises(BreakerOpen) as caught:
        c.check_breaker(WHERE)
    assert isinstance(caught.value, AirflowSkipException)
    assert "circuit breaker open" in str(caught.value) and "3 consecutive failed calls" in str(caught.value)
    assert "HTTP 503 #2" in str(caught.value)
    conn.execute("UPDATE ops.circuit_breaker SET open_until = now() - interval '1 second'")
    c.check_breaker(WHERE)  # this caller is the probe
    with pytest.raises(BreakerOpen, match="another task is probing"):
        controls(conn).check_breaker(WHERE)
    c.after_call(ticket(), outcome="ok", status=200)
    assert conn.execute("SELECT state, failures FROM ops.circuit_breaker").fetchone() == ("closed", 0)
    controls(conn).check_breaker(WHERE)


def test_a_failed_probe_opens_the_breaker_again_and_successes_reset_the_count(conn):
    c = controls(conn, failures=2, cooldown=30)
    c.after_call(ticket(), outcome="transient", status=500)
    c.after_call(ticket(), outcome="ok", status=200)
    c.after_call(ticket(), outcome="transient", status=500)
    assert conn.execute("SELECT state, failures FROM ops.circuit_breaker").fetchone() == ("closed", 1)
    c.after_call(ticket(), outcome="invalid", status=200)
    assert conn.execute("SELECT state FROM ops.circuit_breaker").fetchone()[0] == "open"
    conn.execute("UPDATE ops.circuit_breaker SET open_until = now() - interval '1 second'")
    c.check_breaker(WHERE)
    c.after_call(ticket(), outcome="transient", status=502)
    state, open_until = conn.execute("SELECT state, open_until > now() FROM ops.circuit_breaker").fetchone()
    assert (state, open_until) == ("open", True)


def test_credit_budget_reserves_settles_and_refuses_what_would_pass_it(conn):
    c = controls(conn, daily=10, monthly=100)
    reserved, day, month = c.reserve(4, WHERE)
    c.after_call(Ticket("x", "/x", 1, reserved, 0.0, day, month), outcome="ok", credits=2)
    c.reserve(8, WHERE)
    with pytest.raises(BudgetExhausted) as caught:
        c.reserve(1, WHERE)
    message = str(caught.value)
    assert isinstance(caught.value, AirflowFailException)
    assert "CoinMarketCap daily credit budget 10 would be exceeded (10 used, this call may cost 1)" in message
    tomorrow = datetime.now(UTC).date().toordinal() + 1
    assert datetime.fromordinal(tomorrow).strftime("resets at %Y-%m-%dT00:00:00Z") in message
    assert "apis.cmc.daily_credits" in message


def test_monthly_budget_and_status(conn):
    c = controls(conn, monthly=5)
    c.reserve(5, WHERE)
    with pytest.raises(BudgetExhausted, match="monthly credit budget 5"):
        c.reserve(1, WHERE)
    lines = status(conn)
    assert len(lines) == 1 and lines[0].startswith("cmc ")
    assert "credits today 5/-, month 5/5" in lines[0] and "breaker closed" in lines[0]


def _take_permits(dsn: str, n: int, out) -> None:
    import time

    os.environ["CRYPTOFLOW_WAREHOUSE_DSN"] = dsn
    with psycopg.connect(dsn, autocommit=True) as conn:
        c = controls(conn, rate=600, margin=0.5)
        for _ in range(n):
            c.take_permit(WHERE, time.sleep)
            out.put((c.last_slot.timestamp(), time.time()))


def test_four_processes_share_one_bucket_and_never_beat_its_spacing(conn, warehouse_dsn):
    controls(conn, rate=600, margin=0.5)
    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [ctx.Process(target=_take_permits, args=(warehouse_dsn, 12, out)) for _ in range(4)]
    for proc in procs:
        proc.start()
    taken = [out.get(timeout=60) for _ in range(48)]
    for proc in procs:
        proc.join(timeout=30)
        assert proc.exitcode == 0
    slots = sorted(slot for slot, _ in taken)
    spacing = 60.5 / 600
    gaps = [b - a for a, b in itertools.pairwise(slots)]
    assert min(gaps) >= spacing - 1e-4, "no two permits closer than the spacing, across processes"
    assert all(called >= slot - 1e-3 for slot, called in taken), "no call before its slot"
    # So any window of W seconds holds at most floor(W / spacing) + 1 permits: here, for one second.
    for start in slots:
        assert sum(start <= s < start + 1 for s in slots) <= int(1 / spacing) + 1
    assert conn.execute("SELECT permits FROM ops.rate_limiter").fetchone()[0] == 48
