"""HTTP client for the three APIs, built on the http provider's :class:`HttpHook`.

:class:`ApiHook` takes the base URL and the key from an Airflow connection (``coingecko``, ``cmc``,
``cmc_dex``), sends the key in the header its plan requires, walks an endpoint's pages with the
endpoint's paginator, honours 429 and ``Retry-After``, backs off exponentially on transport errors and
5xx, and checks every body against the endpoint's rules before returning it. It never writes SQL:
it returns :class:`Page` objects for :mod:`cryptoflow.landing` to store.

Errors say where (API, endpoint, parameters, data interval) and never carry the key.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import requests
from airflow.providers.http.hooks.http import HttpHook

from cryptoflow.apis import get_api
from cryptoflow.apis.base import Api, Endpoint
from cryptoflow.validation import InvalidBody, parse_json, validate

# Connection extras that are ours, not HTTP headers (HttpHook turns unknown extras into headers).
OWN_EXTRAS = ("plan",)
SECRET_PARAM_HINTS = ("key", "token", "secret", "password")


class ApiError(RuntimeError):
    """A call that failed for good; the message names the API, endpoint, parameters and interval."""

    def __init__(self, message: str, *, status: int | None = None, retryable: bool = False):
        super().__init__(message)
        self.status = status
        self.retryable = retryable


class InvalidResponse(ApiError):
    """A 200 whose body breaks the endpoint's rules (malformed, HTML, missing fields, wrong types)."""


class Permits(Protocol):
    """Something that paces calls to an API (a rate limiter); ``acquire`` blocks until a call may go."""

    def acquire(self, api: str) -> None: ...


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


def error_summary(text: str) -> str:
    """A short, key-free description of an error body in any of the APIs' four envelopes."""
    try:
        body = parse_json(text)
    except InvalidBody as exc:
        return str(exc)
    if isinstance(body, dict):
        status = body.get("status")
        if isinstance(body.get("error"), dict):
            status = body["error"].get("status", status)
        if isinstance(status, dict) and ("error_code" in status or "error_message" in status):
            return f"error_code {status.get('error_code')}: {status.get('error_message')}"
        if isinstance(body.get("error"), str):
            return body["error"]
    return text[:200]


class ApiHook(HttpHook):
    """HttpHook for one of the described APIs; the connection's extra ``plan`` picks the auth header."""

    conn_name_attr = "http_conn_id"
    hook_name = "cryptoflow API"

    def __init__(
        self,
        api: Api | str,
        conn_id: str | None = None,
        *,
        retry: RetryPolicy | None = None,
        permits: Permits | None = None,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        self.api = get_api(api) if isinstance(api, str) else api
        super().__init__(method="GET", http_conn_id=conn_id or self.api.conn_id, **kwargs)
        self.retry = retry or RetryPolicy()
        self.permits = permits
        self.sleep = sleep
        self._session: requests.Session | None = None
        self.calls = 0

    # -- session -----------------------------------------------------------------------------------

    def get_conn(self, headers: dict[Any, Any] | None = None, extra_options: dict[str, Any] | None = None
                 ) -> requests.Session:
        session = super().get_conn(headers, extra_options)
        for name in OWN_EXTRAS:
            session.headers.pop(name, None)
        conn = self.get_connection(self.http_conn_id)
        plan = self.api.plan(conn.extra_dejson.get("plan"))
        session.headers["Accept"] = "application/json"
        session.headers["Accept-Encoding"] = "deflate, gzip"
        if conn.password and plan.auth_header:
            session.headers[plan.auth_header] = conn.password
        return session

    @property
    def session(self) -> requests.Session:
        if self._session is None:
            self._session = self.get_conn()
        return self._session

    # -- calls -------------------------------------------------------------------------------------

    def where(self, endpoint: Endpoint, path: str, params: Mapping[str, Any], interval: str | None) -> str:
        text = f"{self.api.title} {path} params={redact_params(params)}"
        if endpoint.path != path:
            text += f" (endpoint {endpoint.name})"
        return f"{text} interval={interval}" if interval else text

    def get(self, endpoint: Endpoint, path: str, params: Mapping[str, Any], *, interval: str | None = None,
            first_page: bool = True) -> tuple[Page, Any, list[Any]]:
        """One call with retries; returns the page, its parsed body and its records."""
        url = self.url_from_endpoint(path)
        where = self.where(endpoint, path, params, interval)
        attempt = 0
        while True:
            attempt += 1
            if self.permits is not None:
                self.permits.acquire(self.api.name)
            started = time.monotonic()
            fetched_at = datetime.now(UTC)
            self.calls += 1
            try:
                response = self.session.get(url, params=params, timeout=self.retry.timeout)
            except (requests.ConnectionError, requests.Timeout) as exc:
                reason = f"{exc.__class__.__name__}"
                if attempt >= self.retry.max_attempts:
                    raise ApiError(f"{where}: no answer after {attempt} attempts ({reason})",
                                   retryable=True) from None
                delay = self.retry.backoff(attempt)
                self.log.warning("%s: %s; retrying in %.1fs (attempt %d)", where, reason, delay, attempt)
                self.sleep(delay)
                continue
            elapsed_ms = int((time.monotonic() - started) * 1000)
            status = response.status_code
            text = response.text
            if status == 429 or status >= 500:
                summary = error_summary(text)
                wait = retry_after_seconds(response.headers.get("Retry-After")) if status == 429 else None
                if attempt >= self.retry.max_attempts:
                    raise ApiError(f"{where}: HTTP {status} after {attempt} attempts: {summary}",
                                   status=status, retryable=True)
                if wait is not None and wait > self.retry.max_retry_after:
                    raise ApiError(f"{where}: HTTP 429, Retry-After {wait:.0f}s exceeds the "
                                   f"{self.retry.max_retry_after:.0f}s this task may wait: {summary}",
                                   status=status, retryable=True)
                delay = wait if wait is not None else self.retry.backoff(attempt)
                self.log.warning("%s: HTTP %s (%s); retrying in %.1fs (attempt %d)",
                                 where, status, summary, delay, attempt)
                self.sleep(delay)
                continue
            if status != 200:
                raise ApiError(f"{where}: HTTP {status}: {error_summary(text)}", status=status)
            try:
                body, records = validate(text, response.headers.get("Content-Type"), endpoint.body,
                                         first_page=first_page)
            except InvalidBody as exc:
                rate_limited = "error_code 1008" in str(exc)
                if rate_limited and attempt < self.retry.max_attempts:
                    header = response.headers.get("Retry-After")
                    delay = retry_after_seconds(header) or self.retry.backoff(attempt)
                    self.sleep(delay)
                    continue
                raise InvalidResponse(f"{where}: invalid response: {exc}", status=status) from None
            # The response's own time (its Date header: the API's clock) files the page; ours is the
            # fallback. Marts prune history by it, so it must agree with the data's timestamps.
            fetched_at = http_date(response.headers.get("Date")) or fetched_at
            page = Page(dict(params), status, text, len(records), fetched_at, elapsed_ms, attempt)
            return page, body, records

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
