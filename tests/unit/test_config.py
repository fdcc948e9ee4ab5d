"""cryptoflow.yaml: the defaults, the pool rule, environment overrides, and errors that say where."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from cryptoflow.config import ConfigError, load_config, pool_slots_for
from cryptoflow.settings import load_settings, with_pools_from_config

REPO = Path(__file__).resolve().parents[2]


def test_defaults_are_the_missions_limits_and_pools_follow_the_rule():
    config = load_config(environ={})
    assert {name: api.calls_per_minute for name, api in config.apis.items()} == {
        "coingecko": 15, "cmc": 15, "cmc_dex": 50}
    # ceil(limit x 30 s timeout / 60 s)
    assert {name: api.pool_slots for name, api in config.apis.items()} == {
        "coingecko": 8, "cmc": 8, "cmc_dex": 25}
    assert pool_slots_for(1, 30) == 1 and pool_slots_for(600, 30) == 300


def test_airflow_settings_pools_match_the_configured_limits():
    """Astro CLI users get the pools from airflow_settings.yaml as it is: it must agree with the rule."""
    settings = load_settings(REPO / "airflow_settings.yaml")
    config = load_config(environ={})
    assert with_pools_from_config(settings, config) == settings


def test_environment_overrides_any_value_and_pools_follow(tmp_path):
    config = load_config(environ={"CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "60",
                                  "CRYPTOFLOW__APIS__CMC__DAILY_CREDITS": "100",
                                  "CRYPTOFLOW__CONTROL__SAFETY_MARGIN_S": "2.5"})
    assert config.api("cmc").calls_per_minute == 60 and config.api("cmc").pool_slots == 30
    assert config.api("cmc").daily_credits == 100 and config.control.safety_margin_s == 2.5
    settings = with_pools_from_config(load_settings(REPO / "airflow_settings.yaml"), config)
    assert {p.name: p.slots for p in settings.pools}["cmc"] == 30


def test_another_file_by_variable(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("apis:\n  coingecko: {calls_per_minute: 25, pool_slots: 3}\n")
    config = load_config(environ={"CRYPTOFLOW_CONFIG": str(path)})
    assert config.source == str(path)
    assert (config.api("coingecko").calls_per_minute, config.api("coingecko").pool_slots) == (25, 3)
    assert config.api("cmc").calls_per_minute == 15, "what the file leaves out keeps its default"


@pytest.mark.parametrize(("environ", "message"), [
    ({"CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "fast"}, "apis.cmc.calls_per_minute must be a number"),
    ({"CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUTE": "0"}, "apis.cmc.calls_per_minute must be above 0"),
    ({"CRYPTOFLOW__APIS__KRAKEN__CALLS_PER_MINUTE": "5"}, "apis: unknown key(s) kraken"),
    ({"CRYPTOFLOW__APIS__CMC__CALLS_PER_MINUT": "5"}, "apis.cmc: unknown key(s) calls_per_minut"),
    ({"CRYPTOFLOW__CONTROL__DECREASE_FACTOR": "1.5"},
     "control.decrease_factor must be above 0 and at most 1"),
    ({"CRYPTOFLOW__APIS__CMC__BREAKER__FAILURES": "0"}, "apis.cmc.breaker.failures must be a whole number"),
    ({"CRYPTOFLOW_CONFIG": "/nowhere/cryptoflow.yaml"}, "/nowhere/cryptoflow.yaml: file not found"),
])
def test_bad_settings_are_refused_saying_where(environ, message):
    with pytest.raises(ConfigError) as caught:
        load_config(environ=environ)
    assert message in str(caught.value)


def test_datasets_universe_and_switches():
    config = load_config(environ={})
    markets = config.dataset("coingecko_markets")
    assert (markets.enabled, markets.schedule, markets.cadence) == (True, "0 * * * *", timedelta(hours=1))
    assert (config.universe.top_n, config.universe.currency) == (300, "usd")
    config = load_config(environ={"CRYPTOFLOW__DATASETS__COINGECKO_MARKETS__SCHEDULE": "*/15 * * * *",
                                  "CRYPTOFLOW__UNIVERSE__TOP_N": "50",
                                  "CRYPTOFLOW__UNIVERSE__CURRENCY": "EUR"})
    assert config.dataset("coingecko_markets").cadence == timedelta(minutes=15)
    assert (config.universe.top_n, config.universe.currency) == (50, "eur")
    off = load_config(environ={"CRYPTOFLOW__APIS__COINGECKO__ENABLED": "false"})
    assert off.dataset("coingecko_markets").enabled is False, "an API that is off turns its datasets off"


@pytest.mark.parametrize(("environ", "message"), [
    ({"CRYPTOFLOW__DATASETS__COINGECKO_MARKETS__SCHEDULE": "hourly"},
     "datasets.coingecko_markets.schedule must be a cron expression"),
    ({"CRYPTOFLOW__DATASETS__COINGECKO_MARKETS__ENABLED": "maybe"},
     "datasets.coingecko_markets.enabled must be true or false"),
    ({"CRYPTOFLOW__DATASETS__COINGECKO_TICKERS__ENABLED": "true"},
     "datasets: unknown key(s) coingecko_tickers"),
    ({"CRYPTOFLOW__UNIVERSE__TOP_N": "0"}, "universe.top_n must be a whole number of 1 or more"),
])
def test_bad_dataset_settings_are_refused_saying_where(environ, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(environ=environ)
