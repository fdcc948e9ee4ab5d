"""The command line and the process: banner, readiness, busy port, clean stop, admin basics."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys

import requests

from cryptoflow.sandbox import DEFAULT_KEYS


def test_banner_lists_apis_and_keys(sb) -> None:
    lines = sb.log.splitlines()
    ready = [line for line in lines if line.startswith("sandbox ready http://127.0.0.1:")]
    assert len(ready) == 1 and ready[0].endswith(sb.url.split("//")[1])
    for api in ("coingecko", "coingecko-pro", "cmc", "cmc_dex"):
        assert any(line.split()[0] == api and line.split()[1].startswith(sb.url) for line in lines)
    for api, plans in DEFAULT_KEYS.items():
        for plan, key in plans.items():
            assert f"key {api:<10} {plan:<13} {key}" in lines


def test_keys_look_real_and_are_stable(sb) -> None:
    assert sb.keys == DEFAULT_KEYS
    assert all(k.startswith("CG-") and len(k) == 28 for k in DEFAULT_KEYS["coingecko"].values())
    assert all(len(k) == 36 and k.count("-") == 4 for k in DEFAULT_KEYS["cmc"].values())
    assert sb.key("coingecko") == DEFAULT_KEYS["coingecko"]["demo"]
    assert sb.base_url("cmc_dex") == sb.base_url("cmc") == sb.url + "/cmc"


def test_admin_basics(sb) -> None:
    assert requests.get(sb.url + "/__admin/health", timeout=5).json() == {"status": "ok"}
    assert requests.get(sb.url + "/__admin/nope", timeout=5).status_code == 404
    assert requests.post(sb.url + "/__admin/faults", data=b"{not json", timeout=5).status_code == 400
    assert requests.get(sb.url + "/nowhere", timeout=5).status_code == 404
    assert sb.set_settings(cg_keyless=False)["cg_keyless"] is False
    assert requests.get(sb.base_url("coingecko") + "/ping", timeout=5).status_code == 401
    sb.reset()
    assert requests.get(sb.base_url("coingecko") + "/ping", timeout=5).status_code == 200


def test_busy_port_exits_2_and_sigterm_stops_cleanly() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        busy = subprocess.run(
            [sys.executable, "-m", "cryptoflow.sandbox", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert busy.returncode == 2
    assert busy.stderr.strip().count("\n") == 0 and f"127.0.0.1:{port}" in busy.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "cryptoflow.sandbox", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("sandbox ready"):
            break
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(20) == 0
