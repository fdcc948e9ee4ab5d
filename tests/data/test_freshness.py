"""``dbt source freshness`` as the dbt_source_freshness DAG runs it, on real raw tables: a source past its
``error_after`` fails the check and is named, one past ``warn_after`` only warns, a switched-off dataset
is not checked at all."""

from __future__ import annotations

import json

import psycopg
import pytest

from cryptoflow.catalog import SPECS
from cryptoflow.config import load_config
from cryptoflow.freshness import StaleSources, check_freshness, freshness_selection
from cryptoflow.warehouse import ensure_raw_tables, migrate

pytestmark = pytest.mark.slow

CHECKED = ("coingecko_markets", "coingecko_global")  # warn 3 h / none, and warn 2 h / error 6 h


def only(*datasets: str):
    """The shipped configuration with every dataset but ``datasets`` switched off."""
    off = {f"CRYPTOFLOW__DATASETS__{name.upper()}__ENABLED": "false"
           for name in SPECS if name not in datasets}
    return load_config(environ=off)


def land(conn, table: str, hours_ago: float) -> None:
    """One raw row in ``table`` whose ``landed_at`` is ``hours_ago`` hours back."""
    conn.execute(
        f"""INSERT INTO {table} (source, endpoint, request_key, request_params, page, interval_start,
                                 interval_end, http_status, fetched_at, run_id, body, body_sha256, landed_at)
            VALUES ('test', 'test', 'k', '{{}}', 1, now() - interval '1 hour', now(), 200, now(), 'freshness',
                    %s, 'x', now() - make_interval(secs => %s))""",
        (json.dumps({"data": {}}), hours_ago * 3600))


@pytest.fixture
def raw(warehouse_dsn):
    with psycopg.connect(warehouse_dsn, autocommit=True) as conn:
        migrate(conn)
        ensure_raw_tables(conn)
        conn.execute("TRUNCATE raw.coingecko__coins_markets, raw.coingecko__global")
        yield conn


def test_selection_follows_the_datasets_switched_on():
    everything = freshness_selection(load_config(environ={}))
    assert "source:coingecko.coins_markets" in everything and "source:cmc_dex.networks_list" in everything
    assert len(everything) == len({(spec.api, spec.endpoint) for spec in SPECS.values()})
    assert freshness_selection(only(*CHECKED)) == [
        "source:coingecko.coins_markets", "source:coingecko.global"]


def test_a_source_past_error_after_fails_the_check_and_is_named(raw, tmp_path):
    land(raw, "raw.coingecko__coins_markets", hours_ago=0.1)
    land(raw, "raw.coingecko__global", hours_ago=7)  # error_after 6 hours
    with pytest.raises(StaleSources) as caught:
        check_freshness(only(*CHECKED), env={}, target_dir=tmp_path)
    message = str(caught.value)
    assert "coingecko.global" in message
    assert "coins_markets" not in message


def test_a_source_past_warn_after_only_warns(raw, tmp_path, caplog):
    land(raw, "raw.coingecko__coins_markets", hours_ago=0.1)
    land(raw, "raw.coingecko__global", hours_ago=3)  # past warn_after (2 h), before error_after (6 h)
    summary = check_freshness(only(*CHECKED), env={}, target_dir=tmp_path)
    assert summary["checked"] == 2
    assert summary["pass"] == ["coingecko.coins_markets"]
    assert summary["warn"] == ["coingecko.global"]
    assert summary["error"] == []
    assert any("warn" in r.getMessage() and "coingecko.global" in r.getMessage() for r in caplog.records)


def test_a_source_that_never_landed_fails_the_check(raw, tmp_path):
    land(raw, "raw.coingecko__coins_markets", hours_ago=0.1)
    with pytest.raises(StaleSources, match=r"coingecko\.global"):
        check_freshness(only(*CHECKED), env={}, target_dir=tmp_path)
