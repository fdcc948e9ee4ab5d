"""A Redis for the Celery profile of the local stack (the broker): the one named by the environment, the
one already answering on the usual address, or a throwaway ``redis-server`` under ``.local/redis``.

``CRYPTOFLOW_REDIS_URL`` names a server to use (for example ``redis://127.0.0.1:6379/0``); it is checked
with a PING and never started or stopped. Without it, whatever answers PING on ``redis://127.0.0.1:6379``
is used as it is (``CRYPTOFLOW_REDIS_DEFAULT_URL`` moves that address, for tests). Only when nothing
answers there is a ``redis-server`` of our own started on a free port: no persistence (``--save ''
--appendonly no``), bound to 127.0.0.1, its pid file (pid *and* start time, see
:mod:`cryptoflow.devstack.processes`) and log under ``.local/redis``; Debian's ``redis-server`` package is
installed with apt-get only when no ``redis-server`` binary can be found.

Two stacks sharing one Redis never see each other's work: each uses its own Celery queue and key prefix
(:mod:`cryptoflow.devstack.environment`).
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from cryptoflow.devstack import processes
from cryptoflow.devstack.postgres import StackError, apt_install, free_port, redact
from cryptoflow.devstack.processes import Service

URL_ENV = "CRYPTOFLOW_REDIS_URL"
DEFAULT_URL_ENV = "CRYPTOFLOW_REDIS_DEFAULT_URL"
DEFAULT_URL = "redis://127.0.0.1:6379"
DEFAULT_LOCAL_PORT = 56379


@dataclass(frozen=True)
class RedisServer:
    """A Redis that answers PING, and how we got it."""

    url: str
    owned: bool  # True for the throwaway server under .local/redis (ours to stop)
    started: bool = False  # True when this call started it (so a failed start-up can stop it again)
    source: str = ""  # "env" ($CRYPTOFLOW_REDIS_URL), "default" (answered on the default URL) or "local"

    def describe(self) -> str:
        where = {"env": f" (from {URL_ENV})", "default": " (answered on the default address)",
                 "local": " (throwaway redis-server under .local/redis)"}.get(self.source, "")
        return f"{redact(self.url)}{where}"


def default_url() -> str:
    """Where a Redis is looked for before one of our own is started."""
    return os.environ.get(DEFAULT_URL_ENV, "").strip() or DEFAULT_URL


def ping(url: str, timeout: float = 2.0) -> str | None:
    """None when ``url`` answers PING, else the client's reason (without any password)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    except ValueError as exc:
        return f"not a Redis URL ({exc})"
    try:
        client.ping()
    except redis.RedisError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else exc.__class__.__name__
        return reason.replace(url, redact(url))
    finally:
        client.close()
    return None


def find_redis_server() -> str | None:
    """The ``redis-server`` binary, or None."""
    found = shutil.which("redis-server")
    if found:
        return found
    for cand in ("/usr/bin/redis-server", "/usr/sbin/redis-server", "/usr/local/bin/redis-server"):
        if Path(cand).exists():
            return cand
    return None


def install_redis_server() -> str:
    """Install Debian's ``redis-server`` package; only called when no ``redis-server`` binary exists."""
    print("redis: redis-server not found; installing the redis-server package with apt-get ...", flush=True)
    apt_install("redis-server", "redis-server binary",
                f"Install Redis yourself, or set {URL_ENV} to a Redis you have.")
    binary = find_redis_server()
    if binary is None:
        raise StackError("apt-get installed redis-server but no redis-server binary was found on PATH.")
    return binary


@dataclass(frozen=True)
class LocalRedis:
    """A throwaway ``redis-server`` under ``root`` (``.local/redis``): its pid file ``run/redis-server.json``
    and log ``logs/redis-server.log``, started as a verified background process of ours."""

    root: Path

    def service(self, port: int | None = None, binary: str = "redis-server") -> Service:
        argv = (binary, "--bind", "127.0.0.1", "--port", str(port or 0), "--save", "", "--appendonly", "no",
                "--dir", str(self.root), "--daemonize", "no", "--protected-mode", "yes")
        return Service("redis-server", argv, self.root, port=port, signature="redis-server")

    @property
    def log_file(self) -> Path:
        return self.service().log_file

    @staticmethod
    def url(port: int) -> str:
        return f"redis://127.0.0.1:{port}/0"

    def running(self) -> processes.Running | None:
        """Our server's verified process, or None."""
        return processes.running(self.service())

    def port(self) -> int | None:
        current = self.running()
        return current.port if current else None

    def start(self, preferred_port: int = DEFAULT_LOCAL_PORT, timeout: float = 20.0) -> RedisServer:
        """Start our server (a running one is left as it is) and wait until it answers PING."""
        current = self.running()
        if current is not None and current.port and ping(self.url(current.port), timeout=1) is None:
            return RedisServer(self.url(current.port), owned=True, source="local")
        if current is not None:
            self.stop()  # ours, but it does not answer: start afresh
        binary = find_redis_server() or install_redis_server()
        self.root.mkdir(parents=True, exist_ok=True)
        port = free_port(preferred_port)
        service = self.service(port, binary)
        processes.start(service, {}, cwd=self.root)
        url = self.url(port)
        deadline = time.monotonic() + timeout
        while (reason := ping(url, timeout=1)) is not None:
            if processes.exited(service) or time.monotonic() > deadline:
                tail = processes.log_tail(service, lines=15)
                self.stop()
                raise StackError(
                    f"redis-server did not start on port {port} (log {service.log_file}): {reason}\n"
                    f"{tail}\nFix the cause above, or set {URL_ENV} to a Redis you have."
                )
            time.sleep(0.1)
        return RedisServer(url, owned=True, started=True, source="local")

    def stop(self) -> bool:
        """Stop our server if it runs; True when it was running."""
        return bool(processes.stop([self.service()], timeout=10))

    def clients(self) -> int:
        """How many connections other than this one the running server has (0 when it does not run)."""
        port = self.port()
        if not port:
            return 0
        import redis

        try:
            client = redis.Redis.from_url(self.url(port), socket_connect_timeout=2, socket_timeout=2)
            try:
                return max(0, len(client.client_list()) - 1)
            finally:
                client.close()
        except redis.RedisError:
            return 0


def ensure_redis(local_root: Path, default: str | None = None) -> RedisServer:
    """The Redis to use: ``$CRYPTOFLOW_REDIS_URL`` when set (checked), else the one answering on
    ``default`` (``$CRYPTOFLOW_REDIS_DEFAULT_URL`` or redis://127.0.0.1:6379), else our throwaway
    ``redis-server`` under ``local_root``."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        reason = ping(url)
        if reason:
            raise StackError(
                f"{URL_ENV}={redact(url)} is not reachable: {reason}\n"
                f"Start that server, fix the URL, or unset {URL_ENV} to use the Redis on "
                f"{default or default_url()} or a throwaway redis-server under .local/."
            )
        return RedisServer(url, owned=False, source="env")
    default = default or default_url()
    if ping(default, timeout=1) is None:
        return RedisServer(default, owned=False, source="default")
    return LocalRedis(local_root).start()


def known_redis(local_root: Path, default: str | None = None) -> tuple[RedisServer, bool | None]:
    """The Redis a stack would use, without starting anything, and whether it answers (None: it was not
    checked because ``$CRYPTOFLOW_REDIS_URL`` names it)."""
    url = os.environ.get(URL_ENV, "").strip()
    if url:
        return RedisServer(url, owned=False, source="env"), None
    default = default or default_url()
    if ping(default, timeout=1) is None:
        return RedisServer(default, owned=False, source="default"), True
    local = LocalRedis(local_root)
    port = local.port()
    if port:
        return RedisServer(local.url(port), owned=True, source="local"), ping(local.url(port), 1) is None
    return RedisServer(default, owned=False, source="default"), False
