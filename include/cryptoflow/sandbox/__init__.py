"""The API sandbox: a local HTTP server faithful to CoinGecko, CoinMarketCap and CMC DEX.

Used by the tests, the demo and the benchmarks only (nothing else imports it). See ``README.md`` here.

- ``python -m cryptoflow.sandbox`` (``make sandbox``) runs it in the foreground;
- :class:`SandboxServer` runs it in a subprocess and steers it through the admin API;
- :data:`DEFAULT_KEYS` are its stable keys per API and plan;
- :func:`cryptoflow.sandbox.render.render` computes the exact body of any request, and
  :class:`cryptoflow.sandbox.universe.Universe` the prices behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from cryptoflow.sandbox.keys import DEFAULT_KEYS, DEFAULT_PLAN

if TYPE_CHECKING:
    from cryptoflow.sandbox.process import SandboxError, SandboxServer

__all__ = ["DEFAULT_KEYS", "DEFAULT_PLAN", "SandboxError", "SandboxServer"]


def __getattr__(name: str) -> Any:
    # requests is only imported when a caller wants the process handle.
    if name in ("SandboxServer", "SandboxError"):
        from cryptoflow.sandbox import process

        return getattr(process, name)
    raise AttributeError(name)
