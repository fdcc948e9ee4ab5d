"""Raw-table Assets and the dbt selection they trigger."""

from __future__ import annotations

import pytest

from cryptoflow.assets import dbt_selection, dbt_selector, raw_asset
from cryptoflow.dbt import selection_for


def test_raw_asset_is_named_after_its_table():
    asset = raw_asset("coingecko", "coins_markets")
    assert asset.name == "raw.coingecko__coins_markets"


def test_selector_selects_the_source_and_everything_downstream_of_it_only():
    assert dbt_selector("raw.coingecko__coins_markets") == "source:coingecko.coins_markets+"
    assert dbt_selection(["raw.cmc__listings_latest", "raw.coingecko__coins_markets",
                          "raw.cmc__listings_latest"]) == [
        "source:cmc.listings_latest+", "source:coingecko.coins_markets+"]


def test_non_raw_assets_are_ignored_by_the_dbt_selection():
    assert selection_for(["marts.fct_price_hourly", "raw.coingecko__coins_markets"]) == [
        "source:coingecko.coins_markets+"]
    with pytest.raises(ValueError, match="not a raw-table asset"):
        dbt_selector("fct_price_hourly")
