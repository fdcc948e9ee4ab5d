"""The sandbox's universe size (setting ``coins``): the scale benchmarks ask for 10,000 coins; a larger
universe keeps every coin of the default one as it was and adds generated ones below them."""

from __future__ import annotations

import pytest

from cryptoflow.sandbox.universe import N_COINS, Universe


def _identity(coins) -> list[tuple]:
    return [(c.idx, c.cg_id, c.cmc_id, c.cmc_slug, c.symbol, c.base_rank, c.listed_at) for c in coins]


def test_a_larger_universe_keeps_the_default_coins_and_adds_distinct_ones() -> None:
    default, large = Universe.default(), Universe(coins=10_000)
    assert len(default.coins) == N_COINS and len(large.coins) == 10_000
    assert _identity(large.coins[:N_COINS]) == _identity(default.coins)
    assert len({c.cg_id for c in large.coins}) == len({c.cmc_id for c in large.coins}) == 10_000
    assert large.price(large.coins[5], 1_780_000_000) == default.price(default.coins[5], 1_780_000_000)
    with pytest.raises(ValueError, match="at least its 30 real coins, not 10"):
        Universe(coins=10)


def test_the_setting_changes_what_the_server_lists_and_reset_restores_it(sb, client) -> None:
    def page(n: int) -> list[dict]:
        answer = client.get("coingecko", "/coins/markets", vs_currency="usd", per_page=250, page=n)
        assert answer.status_code == 200, answer.text
        return answer.json()

    listed = len(page(1)) + len(page(2)) + len(page(3))
    assert 500 < listed < N_COINS and page(4) == []  # some coins are not on CoinGecko or not listed now
    assert sb.set_settings(coins=10_000)["coins"] == 10_000
    assert len(page(4)) == 250 and len(page(30)) == 250
    assert {c["id"] for c in page(30)}.isdisjoint(c.cg_id for c in Universe.default().coins)
    sb.reset()
    assert page(4) == []
