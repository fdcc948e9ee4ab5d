"""One sandbox for the whole sandbox test session, reset to its start state before every test.

The sandbox runs as a real HTTP server in a subprocess (``SandboxServer``); tests talk to it with
``requests`` - nothing is mocked. Its clock is frozen (``NOW``) so bodies are comparable.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

NOW = datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC)
NOW_S = NOW.timestamp()
CONFIG: dict[str, Any] = {"clock": {"now": NOW.isoformat(), "frozen": True}}


@pytest.fixture(scope="session")
def sb() -> Iterator[Any]:
    from cryptoflow.sandbox import SandboxServer

    server = SandboxServer(port=0, config=CONFIG)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "sb" in request.fixturenames:
        request.getfixturevalue("sb").reset()


class Client:
    """Small helper: ``get(api, path, plan=..., **params)`` with the plan's key in the real header."""

    HEADERS = {"demo": "x-cg-demo-api-key", "pro": "x-cg-pro-api-key", "cmc": "X-CMC_PRO_API_KEY"}

    def __init__(self, sb: Any) -> None:
        self.sb = sb
        self.session = requests.Session()

    def get(
        self,
        api: str,
        path: str,
        plan: str | None = None,
        key: str | bool | None = True,
        headers: dict[str, str] | None = None,
        *,
        allow_redirects: bool = True,
        **params: Any,
    ) -> requests.Response:
        from cryptoflow.sandbox import DEFAULT_PLAN

        plan = plan or DEFAULT_PLAN[api]
        hdrs = dict(headers or {})
        if key is True:
            key = self.sb.key(api, plan)
        if key:
            if api == "coingecko":
                hdrs[self.HEADERS["demo" if plan == "demo" else "pro"]] = key
            else:
                hdrs[self.HEADERS["cmc"]] = key
        url = self.sb.base_url(api, plan) + path
        return self.session.get(url, params=params, headers=hdrs, timeout=30, allow_redirects=allow_redirects)


@pytest.fixture(scope="session")
def client(sb: Any) -> Client:
    return Client(sb)


def away_from_minute_edge(margin: float = 8.0) -> None:
    """Wait past a wall-clock minute boundary when one is near, so a burst of calls shares one window."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.2)
