"""The control layer every HTTP call goes through: a rate limiter, a circuit breaker and a credit budget
per API and key, with their state in Postgres (``ops`` tables, see :mod:`cryptoflow.warehouse`), so that
every process and machine that runs tasks shares one limit. Nothing here is decided in memory.

- **Rate limiter**: GCRA (the generic cell rate algorithm) in one row per (API, key). Each permit is one
  ``UPDATE ... RETURNING`` that moves the bucket's theoretical arrival time (``tat``) on by one spacing,
  ``(60 + safety margin) / rate`` seconds, and returns the slot the caller may call at; the caller sleeps
  until then. Permits are spaced evenly (no bursts), so no sliding 60-second window holds more than the
  limit even when requests take different times to reach the API. The row lock serialises concurrent
  takers; nothing else is needed for correctness across processes.
- **Adaptive rate (AIMD)**: a 429 multiplies the current rate by ``decrease_factor`` (at most once per
  Retry-After) and blocks the bucket until ``Retry-After`` has passed, for every worker; the rate then
  recovers by ``recover_per_minute`` of the configured limit per minute, never above it.
- **Circuit breaker**: ``failures`` consecutive failed calls (5xx, timeouts, resets, cut or invalid
  bodies) open it for ``cooldown_s``; while open, :class:`BreakerOpen` (an Airflow skip) ends the task at
  once with the reason. After the cool-down one caller claims the probe (half-open); its success closes
  the breaker, its failure opens it again.
- **Credit budget**: credits per key, UTC day and month. Before a call its most possible credits are
  reserved in one atomic ``UPDATE`` that refuses to pass the budget (:class:`BudgetExhausted`, which
  fails the task without retries); after it the reservation is settled to what the API says it charged.

Every HTTP attempt is one row in ``ops.api_call`` (status, latency, permit wait, attempt, credits, 429).
:func:`status` reads the current state per API for ``make status``.
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

from cryptoflow.apis.base import Api, Endpoint, Plan
from cryptoflow.config import Config, load_config

log = logging.getLogger(__name__)

# The limiter's current rate: the configured cap, or after a 429 the cut rate recovering linearly.
# Evaluated with now() (constant within a statement) so that SET and RETURNING agree.
EFFECTIVE_RATE = """(CASE WHEN b.cut_at IS NULL THEN b.cap_per_min
    ELSE least(b.cap_per_min, b.rate_per_min + b.cap_per_min * b.recover_per_min
               * greatest(0, extract(epoch FROM now() - b.cut_at)) / 60.0) END)"""
SPACING = f"make_interval(secs => (60.0 + b.margin_s) / {EFFECTIVE_RATE})"

ENSURE_BUCKET = """
INSERT INTO ops.rate_limiter AS b (bucket, api, key_id, cap_per_min, rate_per_min, margin_s, recover_per_min,
                                   decrease_factor, min_fraction)
VALUES (%(bucket)s, %(api)s, %(key_id)s, %(cap)s, %(cap)s, %(margin)s, %(recover)s, %(decrease)s, %(floor)s)
ON CONFLICT (bucket) DO UPDATE SET
    -- a changed limit applies at once; the rest of the state (tat, a 429's block) is kept
    rate_per_min = CASE WHEN b.cap_per_min <> excluded.cap_per_min THEN excluded.cap_per_min
                        ELSE b.rate_per_min END,
    cut_at = CASE WHEN b.cap_per_min <> excluded.cap_per_min THEN NULL ELSE b.cut_at END,
    cap_per_min = excluded.cap_per_min, margin_s = excluded.margin_s,
    recover_per_min = excluded.recover_per_min, decrease_factor = excluded.decrease_factor,
    min_fraction = excluded.min_fraction, updated_at = clock_timestamp()
WHERE (b.cap_per_min, b.margin_s, b.recover_per_min, b.decrease_factor, b.min_fraction)
      IS DISTINCT FROM (excluded.cap_per_min, excluded.margin_s, excluded.recover_per_min,
                        excluded.decrease_factor, excluded.min_fraction)
"""

TAKE_PERMIT = f"""
UPDATE ops.rate_limiter AS b SET
    tat = greatest(b.tat, b.blocked_until, clock_timestamp()) + {SPACING},
    last_rate = {EFFECTIVE_RATE},
    permits = b.permits + 1,
    updated_at = clock_timestamp()
WHERE b.bucket = %(bucket)s
RETURNING b.tat - {SPACING} AS slot, clock_timestamp() AS now, b.last_rate, b.blocked_until, b.cap_per_min
"""

# A 429: block the bucket for Retry-After, and cut the rate unless another worker's 429 just did.
RATE_LIMITED = f"""
UPDATE ops.rate_limiter AS b SET
    rate_per_min = CASE WHEN b.cut_at > now() - make_interval(secs => %(hold)s) THEN b.rate_per_min
                        ELSE greatest(b.cap_per_min * b.min_fraction,
                                      {EFFECTIVE_RATE} * b.decrease_factor) END,
    cut_at = CASE WHEN b.cut_at > now() - make_interval(secs => %(hold)s) THEN b.cut_at ELSE now() END,
    blocked_until = greatest(b.blocked_until, clock_timestamp() + make_interval(secs => %(wait)s)),
    rate_limited = b.rate_limited + 1,
    updated_at = clock_timestamp()
WHERE b.bucket = %(bucket)s
RETURNING b.rate_per_min, b.blocked_until
"""

ENSURE_BREAKER = """
INSERT INTO ops.circuit_breaker AS c (api, threshold, cooldown_s)
VALUES (%(api)s, %(threshold)s, %(cooldown)s)
ON CONFLICT (api) DO UPDATE SET threshold = excluded.threshold, cooldown_s = excluded.cooldown_s
WHERE (c.threshold, c.cooldown_s) IS DISTINCT FROM (excluded.threshold, excluded.cooldown_s)
"""

READ_BREAKER = """
SELECT state, failures, opened_at, open_until, last_error,
       (state = 'open' AND open_until <= clock_timestamp())
       OR (state = 'half_open' AND probe_until <= clock_timestamp()) AS may_probe
FROM ops.circuit_breaker WHERE api = %(api)s
"""

CLAIM_PROBE = """
UPDATE ops.circuit_breaker SET state = 'half_open',
       probe_until = clock_timestamp() + make_interval(secs => %(probe)s), updated_at = clock_timestamp()
WHERE api = %(api)s AND ((state = 'open' AND open_until <= clock_timestamp())
                         OR (state = 'half_open' AND probe_until <= clock_timestamp()))
RETURNING api
"""

RESERVE_CREDITS = """
UPDATE ops.credit_budget AS b SET
    day_used = (CASE WHEN b.day = d.today THEN b.day_used ELSE 0 END) + %(n)s,
    month_used = (CASE WHEN b.month = d.month THEN b.month_used ELSE 0 END) + %(n)s,
    day = d.today, month = d.month, updated_at = clock_timestamp()
FROM (SELECT (now() AT TIME ZONE 'UTC')::date AS today,
             date_trunc('month', now() AT TIME ZONE 'UTC')::date AS month) AS d
WHERE b.bucket = %(bucket)s
  AND (b.daily_budget IS NULL
       OR (CASE WHEN b.day = d.today THEN b.day_used ELSE 0 END) + %(n)s <= b.daily_budget)
  AND (b.monthly_budget IS NULL
       OR (CASE WHEN b.month = d.month THEN b.month_used ELSE 0 END) + %(n)s <= b.monthly_budget)
RETURNING b.day, b.month
"""

ENSURE_BUDGET = """
INSERT INTO ops.credit_budget AS b (bucket, api, key_id, day, month, daily_budget, monthly_budget)
VALUES (%(bucket)s, %(api)s, %(key_id)s, (now() AT TIME ZONE 'UTC')::date,
        date_trunc('month', now() AT TIME ZONE 'UTC')::date, %(daily)s, %(monthly)s)
ON CONFLICT (bucket) DO UPDATE SET daily_budget = excluded.daily_budget,
                                   monthly_budget = excluded.monthly_budget
WHERE (b.daily_budget, b.monthly_budget) IS DISTINCT FROM (excluded.daily_budget, excluded.monthly_budget)
"""

READ_BUDGET = """
SELECT CASE WHEN day = (now() AT TIME ZONE 'UTC')::date THEN day_used ELSE 0 END, daily_budget,
       CASE WHEN month = date_trunc('month', now() AT TIME ZONE 'UTC')::date THEN month_used ELSE 0 END,
       monthly_budget, now()
FROM ops.credit_budget WHERE bucket = %(bucket)s
"""

# After each attempt, in one statement: the call's row, the breaker's count, the credits' settlement.
AFTER_CALL = """
WITH call AS (
    INSERT INTO ops.api_call (called_at, api, key_id, endpoint, path, http_status, outcome, error, latency_ms,
                              permit_wait_ms, attempt, credits, rate_limited, retry_after_s, dag_id, task_id,
                              run_id)
    VALUES (%(called_at)s, %(api)s, %(key_id)s, %(endpoint)s, %(path)s, %(status)s, %(outcome)s, %(error)s,
            %(latency_ms)s, %(wait_ms)s, %(attempt)s, %(credits)s, %(rate_limited)s, %(retry_after)s,
            %(dag_id)s, %(task_id)s, %(run_id)s)
), settle AS (
    UPDATE ops.credit_budget SET
        day_used = greatest(0, day_used + CASE WHEN day = %(day)s THEN %(credits)s - %(reserved)s
                                               ELSE %(credits)s END),
        month_used = greatest(0, month_used + CASE WHEN month = %(month)s THEN %(credits)s - %(reserved)s
                                                   ELSE %(credits)s END),
        updated_at = clock_timestamp()
    WHERE bucket = %(bucket)s AND %(budgeted)s AND %(credits)s <> %(reserved)s
)
UPDATE ops.circuit_breaker AS c SET
    failures = CASE WHEN %(failed)s THEN c.failures + 1 ELSE 0 END,
    state = CASE WHEN NOT %(failed)s THEN 'closed'
                 WHEN c.state = 'half_open' OR (c.state = 'closed' AND c.failures + 1 >= c.threshold)
                 THEN 'open'
                 ELSE c.state END,
    opened_at = CASE WHEN %(failed)s AND c.state <> 'open'
                          AND (c.state = 'half_open' OR c.failures + 1 >= c.threshold)
                     THEN clock_timestamp() ELSE c.opened_at END,
    open_until = CASE WHEN %(failed)s AND c.state <> 'open'
                           AND (c.state = 'half_open' OR c.failures + 1 >= c.threshold)
                      THEN clock_timestamp() + make_interval(secs => c.cooldown_s) ELSE c.open_until END,
    probe_until = CASE WHEN %(failed)s THEN c.probe_until ELSE NULL END,
    last_error = CASE WHEN %(failed)s THEN %(error)s ELSE c.last_error END,
    updated_at = clock_timestamp()
WHERE c.api = %(api)s AND (%(failed)s OR c.state <> 'closed' OR c.failures <> 0)
RETURNING c.state, c.failures, c.open_until
"""

# Outcomes of one attempt, and whether the breaker counts it as a failure of the API.
BREAKER_FAILURES = frozenset({"transient", "invalid"})


class BreakerOpen(AirflowSkipException):
    """The API's circuit breaker is open: the task ends skipped, with the reason, without calling."""


class BudgetExhausted(AirflowFailException):
    """The call would pass a credit budget: not made; the task fails without retries until it resets."""


def key_id(key: str | None) -> str:
    """A short, stable, one-way name of an API key (never the key): what buckets and rows are keyed by."""
    return hashlib.sha256(key.encode()).hexdigest()[:12] if key else "-"


@dataclass
class Ticket:
    """One attempt's passage through the controls: what was reserved and waited for."""

    endpoint: str
    path: str
    attempt: int
    reserved: int
    wait_s: float
    day: date | None
    month: date | None
    called_at: datetime | None = None


def _airflow_context() -> dict[str, str | None]:
    # The task runner exports these for the process that runs a task.
    return {name: os.environ.get(f"AIRFLOW_CTX_{name.upper()}") for name in ("dag_id", "task_id", "run_id")}


class Controls:
    """The limiter, breaker and budget of one API and key, on one autocommit connection.

    Built by :meth:`open` (from the ``warehouse`` connection and ``cryptoflow.yaml``); the client calls
    :meth:`before_call` before and :meth:`after_call` after every HTTP attempt, and :meth:`rate_limited`
    when the API answered 429.
    """

    def __init__(self, conn, api: Api, key: str | None, plan: Plan, config: Config, *,
                 lane: str = "live") -> None:
        self.conn = conn
        self.api = api
        self.key_id = key_id(key)
        self.bucket = f"{api.name}:{self.key_id}"
        self.settings = config.api(api.name)
        # A history call takes a permit of its own lane first, whose rate leaves history.live_share of the
        # limit to the live DAGs, then one of the shared bucket (which alone holds the API's limit).
        share = config.history_live_share
        self.lane_bucket = f"{self.bucket}:history" if lane == "history" and share > 0 else None
        self.lane_rate = self.settings.calls_per_minute * (1 - share)
        self.control = config.control
        self.daily_budget = (self.settings.daily_credits if self.settings.daily_credits is not None
                             else plan.daily_credits)
        self.monthly_budget = (self.settings.monthly_credits if self.settings.monthly_credits is not None
                               else plan.monthly_credits)
        self.context = _airflow_context()
        self.statements = 0  # what the controls cost, for the benchmark
        self.last_slot: datetime | None = None  # the slot of the last permit (its call went at or after it)
        self.last_lane_slot: datetime | None = None  # a history call's slot in its lane
        self._ensure()

    @classmethod
    def open(cls, api: Api, key: str | None, plan: Plan, *, conn_id: str | None = None,
             config: Config | None = None, lane: str = "live") -> Controls:
        """Controls on a new connection to the warehouse (the Airflow connection ``conn_id``)."""
        from cryptoflow import warehouse

        conn = warehouse.connect(conn_id or warehouse.WAREHOUSE_CONN_ID)
        warehouse.migrate(conn)
        conn.autocommit = True
        return cls(conn, api, key, plan, config or load_config(), lane=lane)

    def close(self) -> None:
        self.conn.close()

    def _run(self, statement: str, params: Mapping[str, Any]) -> tuple | None:
        self.statements += 1
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchone() if cur.description else None

    def _ensure(self) -> None:
        c, s = self.control, self.settings
        buckets = [(self.bucket, s.calls_per_minute)]
        if self.lane_bucket:
            buckets.append((self.lane_bucket, self.lane_rate))
        for bucket, cap in buckets:
            self._run(ENSURE_BUCKET, {"bucket": bucket, "api": self.api.name, "key_id": self.key_id,
                                      "cap": cap, "margin": c.safety_margin_s,
                                      "recover": c.recover_per_minute, "decrease": c.decrease_factor,
                                      "floor": c.min_rate_fraction})
        self._run(ENSURE_BREAKER, {"api": self.api.name, "threshold": s.breaker.failures,
                                   "cooldown": s.breaker.cooldown_s})
        if self.budgeted:
            self._run(ENSURE_BUDGET, {"bucket": self.bucket, "api": self.api.name, "key_id": self.key_id,
                                      "daily": self.daily_budget, "monthly": self.monthly_budget})

    @property
    def budgeted(self) -> bool:
        return self.daily_budget is not None or self.monthly_budget is not None

    # -- before a call ---------------------------------------------------------------------------

    def before_call(self, endpoint: Endpoint, path: str, params: Mapping[str, Any], *, attempt: int,
                    where: str, sleep: Callable[[float], None]) -> Ticket:
        """Check the breaker, reserve the call's credits, take a permit and wait for its slot."""
        self.check_breaker(where)
        reserved, day, month = self.reserve(endpoint.credits_upper_bound(params), where)
        wait_s = self.take_permit(where, sleep)
        return Ticket(endpoint.name, path, attempt, reserved, wait_s, day, month, datetime.now(UTC))

    def check_breaker(self, where: str) -> None:
        """Return when calls may go; raise :class:`BreakerOpen` (skip) while the breaker is open."""
        row = self._run(READ_BREAKER, {"api": self.api.name})
        state, failures, opened_at, open_until, last_error, may_probe = row
        if state == "closed":
            return
        probe_s = max(self.settings.breaker.cooldown_s, 2 * self.control.call_timeout_s)
        if may_probe and self._run(CLAIM_PROBE, {"api": self.api.name, "probe": probe_s}):
            log.warning("%s: circuit breaker half-open; this call probes whether the API is back", where)
            return
        if state == "open":
            raise BreakerOpen(
                f"{where}: skipped, {self.api.title} circuit breaker open since {_hms(opened_at)} after "
                f"{failures} consecutive failed calls (last: {last_error}); a probe may call again after "
                f"{_hms(open_until)}")
        raise BreakerOpen(f"{where}: skipped, {self.api.title} circuit breaker half-open: another task is "
                          f"probing whether the API is back (last error: {last_error})")

    def reserve(self, credits: int, where: str) -> tuple[int, date | None, date | None]:
        """Reserve ``credits`` against the day's and month's budgets, or raise :class:`BudgetExhausted`."""
        if not self.budgeted or credits <= 0:
            return 0, None, None
        row = self._run(RESERVE_CREDITS, {"bucket": self.bucket, "n": credits})
        if row is not None:
            return credits, row[0], row[1]
        day_used, daily, month_used, monthly, now = self._run(READ_BUDGET, {"bucket": self.bucket})
        if daily is not None and day_used + credits > daily:
            which, used, budget = "daily", day_used, daily
            midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
            resets = midnight + timedelta(days=1)
        else:
            which, used, budget = "monthly", month_used, monthly
            first = now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
            resets = (first + timedelta(days=32)).replace(day=1)
        raise BudgetExhausted(
            f"{where}: not called: {self.api.title} {which} credit budget {budget} would be exceeded "
            f"({used} used, this call may cost {credits}); it resets at {resets:%Y-%m-%dT%H:%M:%SZ}. "
            f"Raise apis.{self.api.name}.{which}_credits in cryptoflow.yaml or call less often.")

    def take_permit(self, where: str, sleep: Callable[[float], None]) -> float:
        """Take the next permit of the shared bucket (a history call: of its lane first) and sleep until
        its slot; return the wait."""
        waited = 0.0
        if self.lane_bucket:
            slot, now, *_ = self._run(TAKE_PERMIT, {"bucket": self.lane_bucket})
            self.last_lane_slot = slot
            waited = max(0.0, (slot - now).total_seconds())
            if waited > 0:
                log.log(logging.INFO if waited >= 1 else logging.DEBUG,
                        "%s: waiting %.1f s for a history permit (history keeps to %.1f/min, leaving "
                        "%.0f%% of the limit to the live DAGs)", where, waited, self.lane_rate,
                        100 * (1 - self.lane_rate / self.settings.calls_per_minute))
                sleep(waited)
        return waited + self._take_shared(where, sleep)

    def _take_shared(self, where: str, sleep: Callable[[float], None]) -> float:
        slot, now, rate, blocked_until, cap = self._run(TAKE_PERMIT, {"bucket": self.bucket})
        self.last_slot = slot
        wait = max(0.0, (slot - now).total_seconds())
        if wait > 0:
            if blocked_until >= slot - timedelta(milliseconds=1):
                why = (f"the API answered 429; every worker waits until {_hms(blocked_until)} as its "
                       "Retry-After says")
            elif rate < cap:
                why = f"shared limit {cap:g}/min, adapted to {rate:.1f}/min after a 429"
            else:
                why = f"shared limit {cap:g}/min for this key, across every worker"
            level = logging.INFO if wait >= 1 else logging.DEBUG
            log.log(level, "%s: waiting %.1f s for a permit (%s)", where, wait, why)
            sleep(wait)
        return wait

    # -- after a call ----------------------------------------------------------------------------

    def rate_limited(self, retry_after: float | None) -> float:
        """Tell every worker the API answered 429: block the bucket and cut the rate; return the wait."""
        spacing = (60.0 + self.control.safety_margin_s) / self.settings.calls_per_minute
        wait = retry_after if retry_after is not None else spacing
        rate, blocked_until = self._run(RATE_LIMITED, {"bucket": self.bucket, "wait": wait,
                                                       "hold": max(wait, spacing)})
        log.warning("%s: 429: all workers pause until %s; shared rate now %.1f/min (limit %g/min)",
                    self.api.title, _hms(blocked_until), rate, self.settings.calls_per_minute)
        return wait

    def after_call(self, ticket: Ticket, *, outcome: str, status: int | None = None, error: str | None = None,
                   latency_ms: int | None = None, credits: int = 0, retry_after: float | None = None) -> None:
        """Record the attempt, count it for the breaker, settle its credits (one statement)."""
        failed = outcome in BREAKER_FAILURES
        row = self._run(AFTER_CALL, {
            "called_at": ticket.called_at or datetime.now(UTC), "api": self.api.name, "key_id": self.key_id,
            "endpoint": ticket.endpoint, "path": ticket.path, "status": status, "outcome": outcome,
            "error": error[:500] if error else None, "latency_ms": latency_ms,
            "wait_ms": int(ticket.wait_s * 1000), "attempt": ticket.attempt, "credits": credits,
            "rate_limited": outcome == "rate_limited", "retry_after": retry_after,
            **self.context, "bucket": self.bucket, "budgeted": self.budgeted and ticket.day is not None,
            "reserved": ticket.reserved, "day": ticket.day, "month": ticket.month, "failed": failed,
        })
        if failed and row and row[0] == "open":
            log.error("%s: circuit breaker open after %d consecutive failed calls, until %s",
                      self.api.title, row[1], _hms(row[2]))


def _hms(when: datetime | None) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if when else "-"


# --------------------------------------------------------------------------------------------------
# State for people (make status) and for an ops mart
# --------------------------------------------------------------------------------------------------

STATUS_QUERY = """
SELECT a.api, l.bucket, l.cap_per_min,
       CASE WHEN l.cut_at IS NULL THEN l.cap_per_min
            ELSE least(l.cap_per_min, l.rate_per_min + l.cap_per_min * l.recover_per_min
                       * greatest(0, extract(epoch FROM now() - l.cut_at)) / 60.0) END,
       greatest(l.blocked_until, now()) > now(), l.blocked_until, l.permits, l.rate_limited,
       c.state, c.failures, c.open_until, c.last_error,
       b.day_used, b.daily_budget, b.month_used, b.monthly_budget,
       (SELECT count(*) FROM ops.api_call x WHERE x.api = a.api AND x.called_at > now() - interval '1 hour'),
       (SELECT count(*) FROM ops.api_call x WHERE x.api = a.api AND x.rate_limited
                                              AND x.called_at > now() - interval '1 hour')
FROM (SELECT DISTINCT api FROM ops.rate_limiter) a
LEFT JOIN ops.rate_limiter l ON l.api = a.api
LEFT JOIN ops.circuit_breaker c ON c.api = a.api
LEFT JOIN ops.credit_budget b ON b.bucket = l.bucket
ORDER BY a.api, l.bucket
"""


def status(conn) -> list[str]:
    """One line per API and key: limiter, breaker, budget and the last hour's calls."""
    with conn.cursor() as cur:
        cur.execute("SELECT to_regclass('ops.rate_limiter')")
        if cur.fetchone()[0] is None:
            return ["control layer: no call made yet (ops tables not created)"]
        cur.execute(STATUS_QUERY)
        rows = cur.fetchall()
    out = []
    for (api, bucket, cap, rate, blocked, blocked_until, permits, limited, state, failures, open_until,
         last_error, day_used, daily, month_used, monthly, calls_hour, limited_hour) in rows:
        lane = bucket is not None and bucket.endswith(":history")  # the history lane of this API's bucket
        name = f"{api}:history" if lane else api
        line = f"{name:<10} limiter {rate:.1f}/{cap:g} per min, {permits} permits, {limited} x 429"
        if blocked:
            line += f", paused until {_hms(blocked_until)}"
        line += f" | breaker {state}"
        if state != "closed":
            line += f" until {_hms(open_until)} ({failures} failures; last: {last_error})"
        if daily is not None or monthly is not None:
            line += f" | credits today {day_used}/{daily or '-'}, month {month_used}/{monthly or '-'}"
        if not lane:
            line += f" | last hour {calls_hour} calls, {limited_hour} x 429"
        out.append(line)
    return out or ["control layer: no call made yet"]
