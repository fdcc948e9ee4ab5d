"""Helpers shared by the test layers."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def airflow_cli(*args: str, env: dict[str, str] | None = None, check: bool = True,
                timeout: int = 600) -> subprocess.CompletedProcess[str]:
    """Run ``airflow <args>`` with the session's environment; on failure show its output."""
    exe = str(Path(sys.executable).with_name("airflow"))
    proc = subprocess.run([exe, *args], env={**os.environ, **(env or {})}, capture_output=True, text=True,
                          check=False, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"airflow {' '.join(args)} exited {proc.returncode}\n"
                             f"--- stdout ---\n{proc.stdout[-6000:]}\n--- stderr ---\n{proc.stderr[-6000:]}")
    return proc
