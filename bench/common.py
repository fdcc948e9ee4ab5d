"""What every benchmark shares: printing its figures and keeping them as JSON under ``.local/bench/``."""

from __future__ import annotations

import json
import os
import platform
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
OUT_DIR = Path(os.environ.get("CRYPTOFLOW_BENCH_DIR", REPO_ROOT / ".local" / "bench"))


def report(name: str, figures: list[tuple[str, float, str]]) -> Path:
    """Print ``<figure> <value> <unit>``, one line per figure, and write them as JSON to ``<name>.json``.

    Returns the path of ``.local/bench/<name>.json``.
    """
    for figure, value, unit in figures:
        shown = f"{value:.4g}" if isinstance(value, float) else str(value)
        print(f"{figure} {shown} {unit}")
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    path = OUT_DIR / f"{name}.json"
    path.write_text(
        json.dumps(
            {
                "name": name,
                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "python": platform.python_version(),
                "cpus": os.cpu_count(),
                "figures": [{"figure": f, "value": v, "unit": u} for f, v, u in figures],
            },
            indent=2,
        )
        + "\n"
    )
    return path
