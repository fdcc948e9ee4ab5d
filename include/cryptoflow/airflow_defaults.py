"""Defaults every cryptoflow DAG shares: ownership, retries and the start of history.

Kept apart from the DAG files so that a test can check every DAG against them.
"""

from __future__ import annotations

from datetime import timedelta

import pendulum

OWNER = "cryptoflow"

# A failed task is re-run from scratch (its landing replaces its own rows), with growing waits, so a
# transient outage of an API costs a few retries and never a duplicate.
DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 3,
    "retry_delay": timedelta(minutes=1),
    "retry_exponential_backoff": True,
    "max_retry_delay": timedelta(minutes=15),
    "execution_timeout": timedelta(minutes=30),
}

# Snapshot DAGs have no history to catch up on; this only anchors their schedule.
SNAPSHOT_START = pendulum.datetime(2026, 1, 1, tz="UTC")
