"""Run the sandbox: bind the port, start uvicorn (uvloop + httptools), print the URLs and keys, serve.

``python -m cryptoflow.sandbox`` calls :func:`main`. A busy port is one clear line on stderr and exit
code 2; SIGTERM and SIGINT stop the server cleanly (uvicorn's own handlers).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import socket
import sys
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from cryptoflow.sandbox import config as config_module
from cryptoflow.sandbox.app import CG_PRO, CG_PUBLIC, CMC_ROOT, TRANSPORT_KEY, SandboxApp

READY = "sandbox ready"


class _Protocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, handing the transport to the app (for connection-reset faults)."""

    def on_headers_complete(self) -> None:
        self.scope.setdefault("extensions", {})[TRANSPORT_KEY] = self.transport
        super().on_headers_complete()


def urls(root: str) -> dict[str, str]:
    """Base URL of each API (and the CoinGecko Pro host) under ``root``."""
    return {
        "coingecko": root + CG_PUBLIC,
        "coingecko-pro": root + CG_PRO,
        "cmc": root + CMC_ROOT,
        "cmc_dex": root + CMC_ROOT,
    }


def banner(app: SandboxApp, root: str) -> list[str]:
    """The lines printed at start: one per API, one per key, then the ready line."""
    lines = [f"{name:<14} {url}" for name, url in urls(root).items()]
    for api, plans in app.keys_by_api().items():
        for plan, key in plans.items():
            lines.append(f"key {api:<10} {plan:<13} {key}")
    lines.append(f"{READY} {root}")
    return lines


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: a free one); ``OSError`` when the port is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


async def _serve(app: SandboxApp, sock: socket.socket, host: str) -> None:
    cfg = uvicorn.Config(
        app,
        http=_Protocol,
        loop="none",
        lifespan="on",
        access_log=False,
        date_header=False,  # the app stamps Date with the sandbox's clock
        log_level="warning",
        proxy_headers=False,
        timeout_keep_alive=30,
        backlog=2048,
    )
    server = uvicorn.Server(cfg)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            await task
            return
        await asyncio.sleep(0.01)
    port = sock.getsockname()[1]
    display = f"[{host}]" if ":" in host else host
    for line in banner(app, f"http://{display}:{port}"):
        print(line)
    sys.stdout.flush()
    await task


def main(argv: list[str] | None = None) -> int:
    """The command line: ``python -m cryptoflow.sandbox [--host H] [--port P] [--config PATH]``."""
    parser = argparse.ArgumentParser(
        prog="python -m cryptoflow.sandbox", description="The CoinGecko / CMC / CMC DEX API sandbox."
    )
    parser.add_argument("--host", default=None, help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=None, help="port (default 8765; 0 picks a free one)")
    parser.add_argument(
        "--config", default=None, help=f"YAML/JSON config file (default: ${config_module.CONFIG_ENV})"
    )
    args = parser.parse_args(argv)
    try:
        config = config_module.load(args.config)
    except (OSError, ValueError) as exc:
        print(f"sandbox: bad config: {exc}", file=sys.stderr)
        return 2
    host = args.host or config.raw.get("host") or "127.0.0.1"
    port = args.port if args.port is not None else int(config.raw.get("port", 8765))
    try:
        sock = bind(host, port)
    except OSError as exc:
        print(f"sandbox: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    app = SandboxApp(config)
    runner: Any
    try:
        import uvloop

        runner = uvloop.run
    except ImportError:  # pragma: no cover - uvloop is in the lock
        runner = asyncio.run
    # uvicorn handles SIGTERM/SIGINT while serving and re-raises them afterwards to the handlers found
    # at start; these make that re-raise a clean exit (code 0) rather than a death by signal.
    signal.signal(signal.SIGTERM, lambda *_: None)
    try:
        runner(_serve(app, sock, host))
    except KeyboardInterrupt:
        pass
    print("sandbox stopped", flush=True)
    return 0
