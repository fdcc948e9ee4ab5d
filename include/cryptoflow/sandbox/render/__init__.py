"""Bodies of every endpoint, as pure functions of (universe, settings, now, plan, parameters).

The server calls :func:`render` for a request that passed auth and limits; tests call the same function
to get the exact records an endpoint serves, for example::

    from cryptoflow.sandbox.render import render
    result = render("coingecko", "coins_markets", {}, {"vs_currency": "usd", "per_page": "250"}, now=t)
    result.body          # the list of records /coins/markets serves at sandbox time t
    result.n_items       # how many records (credits are computed from this)

A parameter or plan problem raises :class:`cryptoflow.sandbox.errors.ApiError` with the real answer.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from cryptoflow.sandbox.config import Settings
from cryptoflow.sandbox.errors import ApiError
from cryptoflow.sandbox.timefmt import floor
from cryptoflow.sandbox.universe import Universe


@dataclass(frozen=True)
class Context:
    """What a body depends on besides the parameters."""

    universe: Universe
    settings: Settings
    now: float  # the sandbox clock
    plan: str  # the caller's plan ("keyless" for CoinGecko without a key)
    usage: Mapping[str, Any] | None = None  # the key's limits and usage (``/key``, ``/v1/key/info``)
    stream: bool = False  # the server streams big bundled answers (``Result.parts``) to keep memory flat

    @property
    def snap(self) -> int:
        """The snapshot "now" endpoints answer for: ``now`` floored to ``snapshot_seconds``."""
        return floor(self.now, self.settings.snapshot_seconds)


@dataclass(frozen=True)
class Result:
    """A rendered 200 answer: the body object, how many records it holds, and the convert count."""

    body: Any
    n_items: int = 1
    converts: int = 1
    total_count: int | None = None  # CMC listings: ``status.total_count``
    # A big map rendered one entry at a time (only when ``Context.stream``): ``[(key, render_entry)]``;
    # ``body`` is then ``None`` and the server writes ``{"key": entry, ...}`` chunk by chunk.
    parts: list[tuple[str, Callable[[], Any]]] | None = None


Handler = Callable[[Context, Mapping[str, str], Mapping[str, str]], Result]
HANDLERS: dict[tuple[str, str], Handler] = {}


def handler(api: str, endpoint: str) -> Callable[[Handler], Handler]:
    """Register the body function of ``api``'s ``endpoint`` (names as in ``cryptoflow.apis``)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[(api, endpoint)] = fn
        return fn

    return register


def _load() -> None:
    from cryptoflow.sandbox.render import cmc, cmc_dex, coingecko  # noqa: F401 - registers handlers


def render(
    api: str,
    endpoint: str,
    path_values: Mapping[str, str],
    params: Mapping[str, str],
    now: float,
    *,
    plan: str | None = None,
    settings: Settings | None = None,
    universe: Universe | None = None,
    usage: Mapping[str, Any] | None = None,
) -> Result:
    """The 200 answer of ``api``'s ``endpoint`` for ``params`` at sandbox time ``now``.

    ``plan`` defaults to the API's default plan; ``settings`` and ``universe`` to the defaults the
    server uses when started without a config.
    """
    if not HANDLERS:
        _load()
    from cryptoflow.apis import get_api

    description = get_api(api)
    settings = settings or Settings()
    universe = universe or Universe.default(settings.seed)
    ctx = Context(universe, settings, now, plan or description.default_plan, usage)
    fn = HANDLERS[(api, endpoint)]
    return fn(ctx, path_values, params)


__all__ = ["HANDLERS", "ApiError", "Context", "Result", "handler", "render"]
