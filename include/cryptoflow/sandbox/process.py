"""``SandboxServer``: the real sandbox in a subprocess, for tests, the demo and the benchmarks.

::

    with SandboxServer(port=0) as sandbox:
        url = sandbox.base_url("coingecko")                 # http://127.0.0.1:PORT/coingecko/api/v3
        key = sandbox.key("coingecko")                      # the Demo key
        sandbox.set_faults({"api": "coingecko", "kind": "error", "status": 503, "count": 2})
        sandbox.accounting()["apis"]["coingecko"]["calls"]

It runs ``python -m cryptoflow.sandbox`` (the same command as ``make sandbox``), waits for the
``sandbox ready`` line, and talks to the admin API with ``requests``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import requests

from cryptoflow.sandbox.keys import DEFAULT_PLAN

READY = "sandbox ready "


class SandboxError(RuntimeError):
    """The sandbox did not start, or an admin call failed."""


class SandboxServer:
    """A running sandbox process and a handle on its admin API."""

    def __init__(
        self,
        port: int = 0,
        config: dict[str, Any] | None = None,
        host: str = "127.0.0.1",
        *,
        timeout: float = 60.0,
        log_path: str | os.PathLike | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.config = config
        self.timeout = timeout
        self.env = env
        self._dir = tempfile.TemporaryDirectory(prefix="cryptoflow-sandbox-")
        self.log_path = Path(log_path) if log_path else Path(self._dir.name) / "sandbox.log"
        self.proc: subprocess.Popen | None = None
        self._log: Any = None
        self.session = requests.Session()
        self.url = ""
        self.keys: dict[str, dict[str, str]] = {}
        self.start()

    # ------------------------------------------------------------------------------- lifecycle

    def start(self) -> SandboxServer:
        """Start the process and wait until it is ready (does nothing when it already runs)."""
        if self.proc is not None and self.proc.poll() is None:
            return self
        cmd = [sys.executable, "-m", "cryptoflow.sandbox", "--host", self.host, "--port", str(self.port)]
        if self.config is not None:
            cfg = Path(self._dir.name) / "config.json"
            cfg.write_text(json.dumps(self.config, default=str))
            cmd += ["--config", str(cfg)]
        proc_env = {**os.environ, **(self.env or {}), "PYTHONUNBUFFERED": "1"}
        if self.config is None:
            proc_env.pop("CRYPTOFLOW_SANDBOX_CONFIG", None)
        self._log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            cmd, stdout=self._log, stderr=subprocess.STDOUT, env=proc_env, start_new_session=True
        )
        self.url = self._wait_ready(self.timeout)
        self.keys = self._admin("GET", "/keys")["keys"]
        return self

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def _wait_ready(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log_path.read_text() if self.log_path.exists() else ""
            for line in text.splitlines():
                if line.startswith(READY):
                    return line[len(READY) :].strip()
            if self.proc.poll() is not None:
                self._close_log()
                raise SandboxError(f"sandbox exited with {self.proc.returncode}:\n{text}")
            time.sleep(0.05)
        self.stop()
        raise SandboxError(f"sandbox not ready after {timeout} s; log: {self.log_path}")

    def stop(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL after 10 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._close_log()

    def _close_log(self) -> None:
        if self._log is not None and not self._log.closed:
            self._log.close()

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def log(self) -> str:
        """What the process printed so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    # ------------------------------------------------------------------------------------ URLs

    def base_url(self, api: str, plan: str | None = None) -> str:
        """The base URL a client of ``api`` on ``plan`` uses (CoinGecko paid plans: the Pro host)."""
        if api == "coingecko":
            if plan in (None, "demo", "keyless"):
                return f"{self.url}/coingecko/api/v3"
            return f"{self.url}/coingecko-pro/api/v3"
        if api in ("cmc", "cmc_dex"):
            return f"{self.url}/cmc"
        raise KeyError(f"unknown API {api!r}")

    def key(self, api: str, plan: str | None = None) -> str:
        """The sandbox key of ``api`` on ``plan`` (default: coingecko demo, cmc/cmc_dex basic)."""
        return self.keys[api][plan or DEFAULT_PLAN[api]]

    # ----------------------------------------------------------------------------------- admin

    def _admin(self, method: str, path: str, payload: Any = None, **params: Any) -> Any:
        response = self.session.request(
            method, f"{self.url}/__admin{path}", json=payload, params=params or None, timeout=30
        )
        if response.status_code != 200:
            raise SandboxError(f"admin {method} {path}: HTTP {response.status_code} {response.text}")
        return response.json()

    def health(self) -> dict[str, Any]:
        return self._admin("GET", "/health")

    def set_faults(
        self, faults: list[dict[str, Any]] | dict[str, Any] | None = None, replace: bool = True, **fault: Any
    ) -> list[dict[str, Any]]:
        """Set faults (``replace``: instead of the current ones); one fault may be given as keywords."""
        if faults is None:
            faults = [fault]
        elif isinstance(faults, dict):
            faults = [faults]
        return self._admin("POST", "/faults", {"faults": faults, "replace": replace})["faults"]

    def faults(self) -> list[dict[str, Any]]:
        return self._admin("GET", "/faults")["faults"]

    def clear_faults(self, api: str | None = None) -> None:
        self._admin("DELETE", "/faults", **({"api": api} if api else {}))

    def accounting(self, log: bool = True) -> dict[str, Any]:
        """Calls, credits, 429s and faults per API, key and endpoint (``cryptoflow.sandbox.accounting``)."""
        return self._admin("GET", "/accounting", **({} if log else {"log": "false"}))

    def reset(self) -> None:
        """Back to the state at start (config clock, faults, limits, settings); zero accounting and usage."""
        self._admin("POST", "/reset")

    def reset_accounting(self) -> None:
        self._admin("POST", "/accounting/reset")

    def set_clock(
        self, now: datetime | float | str | None = None, frozen: bool = True, offset_s: float | None = None
    ) -> dict[str, Any]:
        """Fix the sandbox's now (``frozen``), or let it run from ``now``; ``None``: real time."""
        if isinstance(now, datetime):
            now = now.timestamp()
        return self._admin("POST", "/clock", {"now": now, "frozen": frozen, "offset_s": offset_s})

    def clock(self) -> dict[str, Any]:
        return self._admin("GET", "/clock")

    def set_limits(
        self,
        overrides: dict[str, Any] | None = None,
        *,
        api: str | None = None,
        plan: str | None = None,
        enforce: bool | None = None,
        reset_usage: bool = False,
        **limits: Any,
    ) -> dict[str, Any]:
        """Change limits: ``set_limits({"cmc": {"basic": {"calls_per_minute": 600}}})``, or
        ``set_limits(api="cmc", plan="basic", calls_per_minute=600)`` (no plan: every plan), or
        ``set_limits(enforce=False)``."""
        payload: dict[str, Any] = dict(overrides or {})
        if api:
            payload[api] = {plan or "*": limits}
        if enforce is not None:
            payload["enforce"] = enforce
        if reset_usage:
            payload["reset_usage"] = True
        return self._admin("POST", "/limits", payload)

    def limits(self) -> dict[str, Any]:
        return self._admin("GET", "/limits")

    def set_settings(self, **changes: Any) -> dict[str, Any]:
        return self._admin("POST", "/settings", changes)
