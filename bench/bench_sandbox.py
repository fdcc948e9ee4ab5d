"""Benchmark of the API sandbox: it must never be the bottleneck of the project's own benchmarks.

Figures:

- requests/s for a 250-coin ``/coins/markets`` page and a 90-day ``market_chart/range`` (served from the
  body cache, as repeated requests are), measured by wall clock with a keep-alive load generator, and
  per second of the server's own CPU time (what one core sustains, whatever the load generator costs);
- the same 90-day range over distinct coins (every request rendered afresh);
- the cold first answer of each (universe and price paths not yet computed);
- the server's peak resident memory after the heaviest history the APIs allow (10-year daily ranges,
  hourly 90-day ranges over hundreds of coins, a 100k-point CMC ``quotes/historical`` answer).

``BENCH_SANDBOX_SECONDS`` sets the length of each throughput run (default 3).
"""

from __future__ import annotations

import asyncio
import os
import time
from urllib.parse import urlencode, urlsplit

from bench.common import report

SECONDS = float(os.environ.get("BENCH_SANDBOX_SECONDS", "3"))
CONNECTIONS = int(os.environ.get("BENCH_SANDBOX_CONNECTIONS", "8"))
NOW = 1_780_315_230  # 2026-06-01T12:00:30Z: a frozen sandbox clock keeps the body cache warm
DAY = 86_400


async def _request(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, raw: bytes) -> int:
    writer.write(raw)
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line[:15].lower() == b"content-length:":
            length = int(line[15:])
    await reader.readexactly(length)
    return status


async def _load(  # noqa: PLR0917
    host: str, port: int, requests: list[bytes], seconds: float, connections: int, once: bool = False
) -> tuple[int, float]:
    """Send ``requests`` round-robin over keep-alive connections for ``seconds`` (or each once)."""
    done = 0
    errors = 0
    queue = iter(range(len(requests))) if once else None
    deadline = time.perf_counter() + seconds

    async def worker(offset: int) -> None:
        nonlocal done, errors
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 24)
        i = offset
        try:
            while True:
                if once:
                    try:
                        i = next(queue)  # type: ignore[arg-type]
                    except StopIteration:
                        return
                elif time.perf_counter() >= deadline:
                    return
                status = await _request(reader, writer, requests[i % len(requests)])
                done += 1
                errors += status != 200
                i += connections
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker(k) for k in range(connections)))
    if errors:
        raise RuntimeError(f"{errors} of {done} answers were not 200")
    return done, time.perf_counter() - started


def _get(url: str, headers: dict[str, str]) -> bytes:
    parts = urlsplit(url)
    target = parts.path + ("?" + parts.query if parts.query else "")
    lines = [f"GET {target} HTTP/1.1", f"Host: {parts.netloc}", "Accept: application/json"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def main() -> None:
    import psutil
    import requests as http

    from cryptoflow.sandbox import SandboxServer

    config = {"clock": {"now": NOW, "frozen": True}, "limits": {"enforce": False}}
    with SandboxServer(port=0, config=config) as sandbox:
        proc = psutil.Process(sandbox.proc.pid)
        host, port = urlsplit(sandbox.url).hostname, urlsplit(sandbox.url).port
        cg = sandbox.base_url("coingecko")
        headers = {"x-cg-demo-api-key": sandbox.key("coingecko")}
        markets = f"{cg}/coins/markets?" + urlencode({"vs_currency": "usd", "per_page": 250, "page": 1})
        span = {"vs_currency": "usd", "from": NOW - 90 * DAY, "to": NOW}
        chart = f"{cg}/coins/bitcoin/market_chart/range?" + urlencode(span)

        def cold(url: str) -> float:
            started = time.perf_counter()
            response = http.get(url, headers=headers, timeout=120)
            response.raise_for_status()
            return time.perf_counter() - started

        cold_markets, cold_chart = cold(markets), cold(chart)
        figures: list[tuple[str, float, str]] = [
            ("markets_250_cold_ms", cold_markets * 1000, "ms"),
            ("range_90d_cold_ms", cold_chart * 1000, "ms"),
        ]

        def run(name: str, reqs: list[bytes], once: bool = False) -> None:
            cpu0 = sum(proc.cpu_times()[:2])
            n, wall = asyncio.run(_load(host, port, reqs, SECONDS, CONNECTIONS, once))
            cpu = sum(proc.cpu_times()[:2]) - cpu0
            figures.append((f"{name}_rps", n / wall, "req/s"))
            figures.append((f"{name}_rps_per_server_core", n / cpu if cpu else float("inf"), "req/cpu-s"))

        run("markets_250", [_get(markets, headers)])
        run("range_90d", [_get(chart, headers)])
        coins = [c["id"] for c in http.get(f"{cg}/coins/list", headers=headers, timeout=60).json()]
        distinct = [
            _get(f"{cg}/coins/{coin}/market_chart/range?" + urlencode(span), headers) for coin in coins
        ]
        run("range_90d_uncached", distinct, once=True)

        # The heaviest history the APIs allow, then the server's memory.
        pro = sandbox.base_url("coingecko", "enterprise")
        pro_headers = {"x-cg-pro-api-key": sandbox.key("coingecko", "enterprise")}
        ten_years = {"vs_currency": "usd", "from": NOW - 3650 * DAY, "to": NOW}
        heavy = [
            _get(f"{pro}/coins/{coin}/market_chart/range?" + urlencode(ten_years), pro_headers)
            for coin in coins[:100]
        ]
        asyncio.run(_load(host, port, heavy, 0, 2, once=True))
        cmc_headers = {"X-CMC_PRO_API_KEY": sandbox.key("cmc", "enterprise")}
        ids = ",".join(
            str(r["id"])
            for r in http.get(
                sandbox.base_url("cmc") + "/v1/cryptocurrency/map",
                headers=cmc_headers,
                params={"limit": 10},
                timeout=60,
            ).json()["data"]
        )
        started = time.perf_counter()
        big = http.get(
            sandbox.base_url("cmc") + "/v2/cryptocurrency/quotes/historical",
            headers=cmc_headers,
            params={"id": ids, "interval": "hourly", "count": 10_000},
            stream=True,
            timeout=600,
        )
        size = sum(len(chunk) for chunk in big.iter_content(1 << 20))
        figures.append(("cmc_100k_points_mb_per_s", size / 1e6 / (time.perf_counter() - started), "MB/s"))
        rss = proc.memory_info().rss
        figures.append(("server_rss_after_heavy_history_mb", rss / 1e6, "MB"))
    report("sandbox", figures)


if __name__ == "__main__":
    main()
