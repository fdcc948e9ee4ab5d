"""HTTP client for the three APIs, built on the http provider's :class:`HttpHook`.

:class:`ApiHook` takes the base URL and the key from an Airflow connection (``coingecko``, ``cmc``,
``cmc_dex``), sends the key in the header its plan requires, walks an endpoint's pages with the
endpoint's paginator, honours 429 and ``Retry-After``, backs off exponentially on transport errors and
5xx, and checks every body against the endpoint's rules before returning it. It never writes SQL:
it returns :class:`Page` objects for :mod:`cryptoflow.landing` to store.

Errors say where (API, endpoint, parameters, data interval) and never carry the key.
"""

from __future__ import annotations

import http.client
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from airflow.providers.http.hooks.http import HttpHook
from airflow.sdk.exceptions import AirflowFailException

from cryptoflow.apis import get_api
from cryptoflow.apis.base import Api, Endpoint, converts_in
from cryptoflow.validation import InvalidBody, parse_json, validate

# Connection extras that are ours, not HTTP headers (HttpHook turns unknown extras into headers).
OWN_EXTRAS = ("plan",)
SECRET_PARAM_HINTS = ("key", "token", "secret", "password")


class ApiError(RuntimeError):
    """A call that failed for good; the message names the API, endpoint, parameters and interval.

    ``retryable`` errors (the API was down, slow or rate limiting for longer than a task may wait) leave
    the task to Airflow's retries; :class:`PermanentApiError` does not.
    """

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class InvalidResponse(ApiError):
    """A 200 whose body breaks the endpoint's rules (malformed, HTML, missing fields, wrong types)."""


class PermanentApiError(ApiError, AirflowFailException):
    """An answer no retry can mend (a bad or missing key, a plan without access, a bad request): the task
    fails at once, and Airflow does not retry it either."""


class Controls(Protocol):
    """What every attempt passes through (:class:`cryptoflow.limits.Controls` is the real one)."""

    def before_call(self, endpoint: Endpoint, path: str, params: Mapping[str, Any], *, attempt: int,
                    where: str, sleep: Callable[[float], None]) -> Any: ...

    def after_call(self, ticket: Any, *, outcome: str, status: int | None = None, error: str | None = None,
                   latency_ms: int | None = None, credits: int = 0, retry_after: float | None = None
                   ) -> None: ...

    def rate_limited(self, retry_after: float | None) -> float: ...

    def close(self) -> None: ...


# Transport failures worth another attempt: no answer, a slow one, or a body cut off mid-stream.
TRANSIENT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    http.client.IncompleteRead,
    urllib3.exceptions.ProtocolError,
)
MAX_REDIRECTS = 5
DEFAULT_CONTROLS: Any = object()  # ApiHook(controls=...) default: the shared controls in the warehouse


@dataclass(frozen=True)
class RetryPolicy:
    """How a single call is retried inside a task: exponential backoff with full jitter.

    ``max_retry_after`` caps how long a 429's ``Retry-After`` may hold the task; beyond it the task
    fails and Airflow's own task retry takes over (so a worker slot is not held for minutes).
    """

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_retry_after: float = 120.0
    max_rate_limited: int = 20
    timeout: float = 30.0

    def backoff(self, attempt: int) -> float:
        """Delay before attempt ``attempt + 1`` (attempt counts from 1)."""
        ceiling = min(self.max_delay, self.base_delay * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)


@dataclass(frozen=True)
class Page:
    """One response, as received: what was asked, what came back, when."""

    params: dict[str, Any]
    status: int
    text: str
    records: int
    fetched_at: datetime
    elapsed_ms: int
    attempts: int = 1


@dataclass
class Listing:
    """All pages of one request (an endpoint with its parameters, minus paging)."""

    api: str
    endpoint: str
    path: str
    request_params: dict[str, Any]
    pages: list[Page] = field(default_factory=list)

    @property
    def records(self) -> int:
        return sum(page.records for page in self.pages)


def redact_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` with anything that looks like a credential replaced by ``***``."""
    return {k: ("***" if any(h in k.lower() for h in SECRET_PARAM_HINTS) else v) for k, v in params.items()}


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: an integer/decimal, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = http_date(value)
    if when is None:
        return None
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def http_date(value: str | None) -> datetime | None:
    """An HTTP ``Date`` header as an aware datetime, or None when absent or unreadable."""
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def error_status(text: str) -> dict[str, Any] | None:
    """The error object of a body in any of the APIs' envelopes (``status``, ``error.status``), if any."""
    try:
        body = parse_json(text)
    except InvalidBody:
        return None
    if not isinstance(body, dict):
        return None
    status = body.get("status")
    if isinstance(body.get("error"), dict):
        status = body["error"].get("status", status)
    if isinstance(status, dict) and ("error_code" in status or "error_message" in status):
        return status
    return None


def error_code(text: str) -> int | None:
    """The ``error_code`` of an error body (CoinGecko 10002, CMC 1008, ...), or None."""
    status = error_status(text)
    code = status.get("error_code") if status else None
    try:
        return int(code) if code is not None else None
    except (TypeError, ValueError):
        return None


def error_summary(text: str) -> str:
    """A short, key-free description of an error body in any of the APIs' four envelopes."""
    status = error_status(text)
    if status is not None:
        return f"error_code {status.get('error_code')}: {status.get('error_message')}"
    try:
        body = parse_json(text)
    except InvalidBody as exc:
        return str(exc)
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"]
    return text[:200]


def credits_charged(body: Any, endpoint: Endpoint, records: int, params: Mapping[str, Any]) -> int:
    """What a successful call cost: CMC's ``status.credit_count``, else the endpoint's own arithmetic."""
    status = body.get("status") if isinstance(body, dict) else None
    if isinstance(status, dict) and isinstance(status.get("credit_count"), int):
        return status["credit_count"]
    return endpoint.credits.cost(records, converts_in(params))


def same_origin(a: str, b: str) -> bool:
    pa, pb = urlsplit(a), urlsplit(b)
    return (pa.scheme, pa.hostname, pa.port) == (pb.scheme, pb.hostname, pb.port)


class ApiHook(HttpHook):
    """HttpHook for one of the described APIs; the connection's extra ``plan`` picks the auth header.

    Every attempt passes through ``controls`` (by default :class:`cryptoflow.limits.Controls` on the
    ``warehouse`` connection: the shared rate limiter, circuit breaker and credit budget); ``None`` turns
    them off (tests of HTTP behaviour alone, the sandbox's benchmark).
    """

    conn_name_attr = "http_conn_id"
    hook_name = "cryptoflow API"

    def __init__(
        self,
        api: Api | str,
        conn_id: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        controls: Controls | None = DEFAULT_CONTROLS,
        lane: str = "live",
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        self.api = get_api(api) if isinstance(api, str) else api
        super().__init__(method="GET", http_conn_id=conn_id or self.api.conn_id, **kwargs)
        self.retry = retry or RetryPolicy()
        self._controls = controls
        self.lane = lane  # "history": its calls keep to the history share of the limit (cryptoflow.limits)
        self.sleep = sleep
        self._session: requests.Session | None = None
        self._auth: dict[str, str] = {}
        self.calls = 0

    # -- session -----------------------------------------------------------------------------------

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
                 ) -> requests.Session:
        session = super().get_conn(headers, extra_options)
        for name in OWN_EXTRAS:
            session.headers.pop(name, None)
        conn = self.get_connection(self.http_conn_id)
        self.plan = self.api.plan(conn.extra_dejson.get("plan"))
        session.headers["Accept"] = "application/json"
        session.headers["Accept-Encoding"] = "deflate, gzip"
        # The key is not a session header: it is added to requests for the API's own origin only, so a
        # redirect to another host never carries it (see _send).
        self._key = conn.password or None
        self._auth = {self.plan.auth_header: conn.password} if conn.password and self.plan.auth_header else {}
        return session

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = self.get_conn()
        return self._session

    @property
    def controls(self) -> Controls | None:
        if self._controls is DEFAULT_CONTROLS:
            from cryptoflow.limits import Controls as SharedControls

            _ = self.session  # reads the connection: the key and plan the controls are keyed by
            self._controls = SharedControls.open(self.api, self._key, self.plan, lane=self.lane)
        return self._controls

    def close(self) -> None:
        """Release the session and the controls' database connection."""
        if self._controls is not None and self._controls is not DEFAULT_CONTROLS:
            self._controls.close()
        if self._session is not None:
            self._session.close()

    # -- calls -------------------------------------------------------------------------------------

    def where(self, endpoint: Endpoint, path: str, params: Mapping[str, Any], interval: str | None) -> str:
        text = f"{self.api.title} {path} params={redact_params(params)}"
        if endpoint.path != path:
            text += f" (endpoint {endpoint.name})"
        return f"{text} interval={interval}" if interval else text

    def _send(self, url: str, params: Mapping[str, Any]) -> requests.Response:
        """GET ``url``, following redirects by hand: the key goes only to the API's own origin."""
        session = self.session  # first: reading the connection sets the key's header
        origin = self.url_from_endpoint("")
        for _ in range(MAX_REDIRECTS + 1):
            headers = self._auth if same_origin(url, origin) else None
            response = session.get(url, params=params, headers=headers, timeout=self.retry.timeout,
                                   allow_redirects=False)
            if not response.is_redirect:
                return response
            url, params = urljoin(url, response.headers["Location"]), {}
        return response

    def get(self, endpoint: Endpoint, path: str, params: Mapping[str, Any], *, interval: str | None = None,
            first_page: bool = True) -> tuple[Page, Any, list[Any]]:
        """One call with retries; returns the page, its parsed body and its records.

        Before each attempt the controls check the breaker, reserve credits and take a permit; after it
        they record the attempt. 429s wait what the API says (for every worker); 5xx, timeouts, resets
        and cut bodies back off exponentially; permanent errors fail at once.
        """
        url = self.url_from_endpoint(path)
        where = self.where(endpoint, path, params, interval)
        controls = self.controls
        attempt = limited = 0
        while True:
            attempt += 1
            ticket = (controls.before_call(endpoint, path, params, attempt=attempt, where=where,
                                          sleep=self.sleep)
                      if controls is not None else None)

            def record(outcome: str, ticket=ticket, **fields: Any) -> None:
                if controls is not None:
                    controls.after_call(ticket, outcome=outcome, **fields)

            started = time.monotonic()
            fetched_at = datetime.now(UTC)
            self.calls += 1
            try:
                response = self._send(url, params)
                text = response.text
            except TRANSIENT_ERRORS as exc:
                reason = _transport_reason(exc)
                record("transient", error=reason, latency_ms=int((time.monotonic() - started) * 1000))
                if attempt >= self.retry.max_attempts:
                    raise ApiError(f"{where}: no complete answer after {attempt} attempts ({reason})",
                                   retryable=True) from None
                delay = self.retry.backoff(attempt)
                self.log.warning("%s: %s; retrying in %.1fs (attempt %d)", where, reason, delay, attempt)
                self.sleep(delay)
                continue
            elapsed_ms = int((time.monotonic() - started) * 1000)
            status = response.status_code
            code = error_code(text) if status != 200 else None
            if status == 429 or code in self.api.rate_limit_errors:
                wait = retry_after_seconds(response.headers.get("Retry-After"))
                summary = error_summary(text)
                record("rate_limited", status=status, error=summary, latency_ms=elapsed_ms, retry_after=wait)
                limited += 1
                if wait is not None and wait > self.retry.max_retry_after:
                    raise ApiError(f"{where}: HTTP 429, Retry-After {wait:.0f}s exceeds the "
                                   f"{self.retry.max_retry_after:.0f}s this task may wait: {summary}",
                                   status=status, retryable=True)
                if limited >= self.retry.max_rate_limited:
                    raise ApiError(f"{where}: HTTP 429 {limited} times in a row: {summary}", status=status,
                                   retryable=True)
                self._wait_rate_limited(controls, wait, where, summary, attempt)
                attempt -= 1  # a 429 is the API pacing us, not a failed attempt
                continue
            if code in self.api.quota_errors or code in self.api.permanent_errors or (
                    400 <= status < 500 and status != 408):
                summary = error_summary(text)
                record("permanent", status=status, error=summary, latency_ms=elapsed_ms)
                raise PermanentApiError(f"{where}: HTTP {status}: {summary} (permanent: not retried)",
                                        status=status)
            if status != 200:
                summary = error_summary(text) if text else response.reason
                record("transient", status=status, error=summary, latency_ms=elapsed_ms)
                if attempt >= self.retry.max_attempts:
                    raise ApiError(f"{where}: HTTP {status} after {attempt} attempts: {summary}",
                                   status=status, retryable=True)
                delay = self.retry.backoff(attempt)
                self.log.warning("%s: HTTP %s (%s); retrying in %.1fs (attempt %d)",
                                 where, status, summary, delay, attempt)
                self.sleep(delay)
                continue
            try:
                body, records = validate(text, response.headers.get("Content-Type"), endpoint.body,
                                         first_page=first_page)
            except InvalidBody as exc:
                code = error_code(text)
                if code in self.api.rate_limit_errors:  # CMC: a rate limit inside a 200
                    wait = retry_after_seconds(response.headers.get("Retry-After"))
                    record("rate_limited", status=status, error=str(exc), latency_ms=elapsed_ms,
                           retry_after=wait)
                    self._wait_rate_limited(controls, wait, where, str(exc), attempt)
                    attempt -= 1
                    continue
                permanent = code in self.api.permanent_errors or code in self.api.quota_errors
                record("permanent" if permanent else "invalid", status=status, error=str(exc),
                       latency_ms=elapsed_ms)
                if permanent:
                    raise PermanentApiError(f"{where}: {exc} (permanent: not retried)",
                                            status=status) from None
                raise InvalidResponse(f"{where}: invalid response: {exc}", status=status) from None
            record("ok", status=status, latency_ms=elapsed_ms,
                   credits=credits_charged(body, endpoint, len(records), params))
            # The response's own time (its Date header: the API's clock) files the page; ours is the
            # fallback. Marts prune history by it, so it must agree with the data's timestamps.
            fetched_at = http_date(response.headers.get("Date")) or fetched_at
            page = Page(dict(params), status, text, len(records), fetched_at, elapsed_ms, attempt)
            return page, body, records

    def _wait_rate_limited(self, controls: Controls | None, wait: float | None, where: str, summary: str,
                           attempt: int) -> None:
        """A 429: tell the shared limiter (which pauses every worker); without controls, sleep here."""
        if controls is not None:
            controls.rate_limited(wait)  # the next permit waits out Retry-After, for every worker
            return
        delay = wait if wait is not None else self.retry.backoff(attempt)
        self.log.warning("%s: HTTP 429 (%s); retrying in %.1fs", where, summary, delay)
        self.sleep(delay)

    def fetch(self, endpoint_name: str, params: Mapping[str, Any] | None = None, *,
              path_values: Mapping[str, Any] | None = None, wanted: int | None = None,
              interval: str | None = None) -> Listing:
        """Every page of ``endpoint_name`` with ``params`` (merged over the endpoint's defaults).

        ``wanted`` caps a listing at that many records (top N), with the largest page size allowed.
        Either every page arrives valid, or an :class:`ApiError` is raised and nothing is returned.
        """
        endpoint = self.api.endpoint(endpoint_name)
        path = endpoint.render_path(**(path_values or {}))
        request_params = {**endpoint.params, **(params or {})}
        listing = Listing(self.api.name, endpoint.name, path, request_params)
        sent: dict[str, Any] | None = endpoint.paginator.first(request_params, wanted)
        while sent is not None:
            page, body, records = self.get(endpoint, path, sent, interval=interval,
                                           first_page=not listing.pages)
            listing.pages.append(page)
            sent = endpoint.paginator.next(sent, records, body, wanted)
        return listing


def _transport_reason(exc: BaseException) -> str:
    """What went wrong on the wire, without the URL (it may carry a query-parameter key)."""
    names = {requests.exceptions.ChunkedEncodingError: "body cut off mid-stream",
             requests.exceptions.ContentDecodingError: "body could not be decoded",
             http.client.IncompleteRead: "body cut off mid-stream",
             urllib3.exceptions.ProtocolError: "connection broken mid-response",
             requests.Timeout: "timed out", requests.ConnectionError: "connection failed"}
    for kind, text in names.items():
        if isinstance(exc, kind):
            return f"{text} ({exc.__class__.__name__})"
    return exc.__class__.__name__
