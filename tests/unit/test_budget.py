"""make budget: calls and credits per API from the cadences, against the limits and the plans.

The expected figures are worked out here from the API facts (shared/API_FACTS.md §1.2, §2.4, §3.1): CoinGecko
pages of at most 250 and 1 credit a call; CMC listings up to 5,000 a call at 1 credit per 200 records, info
100 ids a call at 1 credit per 100, map 0 credits; CMC DEX 1 credit a call, spot pairs 100 a page, pair
quotes 100 pairs a call, OHLCV one pair a call. Plans: CoinGecko Demo 30/min and 10,000 credits a month;
CMC and CMC DEX Basic 10,000 a month and 333 a day, 30/min and 60/min.
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from cryptoflow import budget
from cryptoflow.apis import get_api
from cryptoflow.catalog import spec
from cryptoflow.config import load_config
from cryptoflow.devstack.postgres import free_port

REPO = Path(__file__).resolve().parents[2]
SETTINGS = REPO / "airflow_settings.yaml"
COINS_300 = {"CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": "300"}
NO_HISTORY = {"CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__ENABLED": "false"}


def config(**env: str):
    """cryptoflow.yaml with exactly these overrides (none of the caller's environment)."""
    return load_config(environ=env)


def plans():
    return budget.plans_from_settings(SETTINGS)


def figures(b: budget.Budget, api: str, dataset: str) -> budget.DatasetBudget:
    return next(d for d in b.apis[api].datasets if d.name == dataset)


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without the project's own variables (the tests' stack sets some)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CRYPTOFLOW", "AIRFLOW"))}
    return {**env, **extra}


def test_the_plans_come_from_the_connections_of_airflow_settings():
    assert plans() == {"coingecko": "demo", "cmc": "basic", "cmc_dex": "basic"}


def test_the_default_configuration_fits_at_the_fewest_calls():
    b = budget.evaluate(config(), plans())
    assert b.problems == [] and b.fits
    assert budget.check(config(), plans()) == []

    # /coins/markets, top 300: pages of at most 250, all the same size -> 2 pages of 150, 1 credit each.
    markets = figures(b, "coingecko", "coingecko_markets")
    assert (markets.requests, markets.calls, markets.credits) == (1, 2, 2)
    assert budget._pages(get_api("coingecko").endpoint("coins_markets").paginator, 300, 300) == [150, 150]
    # CMC listings, top 300: one call (limit up to 5,000), ceil(300 / 200) = 2 credits.
    listings = figures(b, "cmc", "cmc_listings")
    assert (listings.calls, listings.credits) == (1, 2)
    # CMC info, 300 ids: 100 a call -> 3 calls of ceil(100 / 100) = 1 credit.
    info = figures(b, "cmc", "cmc_info")
    assert (info.requests, info.calls, info.credits) == (3, 3, 3)

    # CoinGecko a day: markets 2 x 24, global 24, trending 24, exchanges ceil(1,300 / 250) x 12, the coin
    # list 1 (one answer), 100 coins one call each, once.
    exchanges = math.ceil(spec("coingecko_exchanges").expected_records / 250)
    coingecko_day = 2 * 24 + 24 + 24 + exchanges * 12 + 1 + 100
    assert b.apis["coingecko"].calls_per_day == b.apis["coingecko"].credits_per_day == coingecko_day == 269
    assert b.apis["coingecko"].credits_per_month == 30 * coingecko_day <= 10_000
    # CMC a day: listings 2 credits x 24, fear and greed 24, global metrics 24, info 3, map 0 credits
    # (2 calls of 5,000), exchange listings skipped on Basic.
    assert b.apis["cmc"].credits_per_day == 2 * 24 + 24 + 24 + 3 + 0 == 99  # of 333
    assert b.apis["cmc"].calls_per_day == 24 + 24 + 24 + 3 + 2
    # CMC DEX a day: networks 1; spot pairs 500 // 100 + 1 pages (the cursor stops on a short batch: 500
    # fill 5 exactly, so a sixth comes back empty) x 2 networks x 4; quotes 10 pairs of a network in 1
    # call x 2 x 96; OHLCV 10 pairs x 2 networks x 4.
    spot = spec("cmc_dex_spot_pairs").expected_records // 100 + 1
    assert b.apis["cmc_dex"].credits_per_day == 1 + spot * 2 * 4 + 2 * 96 + 20 * 4 == 321  # of 333
    assert b.apis["cmc_dex"].credits_per_month == 30 * 321 <= 10_000
    # the largest cycle: 100 coin calls at 15/min
    largest = b.apis["coingecko"].largest_cycle()
    assert largest.name == "coingecko_coins" and b.apis["coingecko"].minutes(largest) == 100 / 15
    # the busiest hour is midnight, when the daily, 2-hourly and hourly datasets all run
    hour, calls, _ = b.apis["coingecko"].busiest_hour
    assert (hour.hour, calls) == (0, 2 + 1 + 1 + exchanges + 1 + 100)


def test_cycles_are_the_crons_ticks_counted_not_assumed():
    assert budget.ticks("*/15 * * * *").count == 96 * 30
    assert budget.ticks("0 */6 * * *").count == 4 * 30
    # 2026-01-01 to 01-30: Mondays 5, 12, 19, 26; gaps of a week
    weekly = budget.ticks("0 0 * * 1")
    assert weekly.count == 4 and weekly.shortest_gap.days == 7
    assert budget.ticks("30 9 * * 1-5").count == 2 + 4 * 5  # Thu 1, Fri 2, then four whole weeks
    assert budget.ticks("0 9,17 * * *").shortest_gap.total_seconds() == 8 * 3600


def test_over_the_demo_plans_monthly_credits_is_refused_with_the_setting_and_the_number():
    # coingecko_coins at 300 a day: (269 - 100 + 300) x 30 = 14,070 > 10,000
    problems = budget.check(config(**COINS_300), plans())
    assert len(problems) == 1, problems
    (problem,) = problems
    assert problem.startswith("coingecko: credits/month 14,070 > 10,000 (plan demo)")
    # the others need 169 x 30 = 5,070 a month: 4,930 / 30 = 164 coins a day are left
    assert "lower datasets.coingecko_coins.top_n to 164 (from 300)" in problem
    assert "move to plan basic" in problem
    with pytest.raises(budget.BudgetError, match=r"datasets\.coingecko_coins\.top_n to 164"):
        budget.require_fit(config(**COINS_300), plans())
    # and the advice is right: 164 fits a month, 165 does not (the history's catchup aside: see below)
    for top_n, fits in (("164", True), ("165", False)):
        coins = config(CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N=top_n, **NO_HISTORY)
        checked = budget.check(coins, plans())
        assert (checked == []) is fits, (top_n, checked)


def test_a_slower_schedule_is_proposed_when_one_fits():
    problem, = budget.check(config(**COINS_300), plans())
    # every other day: days 1, 3, ..., 29 = 15 runs x 300 + 5,070 = 9,570 <= 10,000
    assert "set datasets.coingecko_coins.schedule to every other day ('0 0 */2 * *')" in problem
    slower = config(**COINS_300, CRYPTOFLOW__DATASETS__COINGECKO_COINS__SCHEDULE="0 0 */2 * *", **NO_HISTORY)
    assert budget.check(slower, plans()) == []


def test_the_history_catchup_is_counted_in_the_month_it_runs():
    b = budget.evaluate(config(), plans()).apis["coingecko"]
    (history,) = b.history
    # 365 days back in runs of 90 days (90, 90, 90, 90, 5), one call per coin each (a 5-day run is still one
    # call: 2 to 90 days are answered hourly): 5 calls x 300 coins, 1 credit each, at 80 % of 15/min
    assert (history.days, history.coins) == (365, 300)
    assert (history.catchup_calls, history.catchup_credits) == (1500, 1500)
    assert history.catchup_minutes == 1500 / 12
    assert history.calls_per_month == 100  # then one 90-day run per 300 coins: 300 x 30 / 90
    assert b.catchup_month_credits == 30 * 269 + 1500 <= 10_000
    # the demo's history: 7 days in runs of 3 (3, 3, 1): 3 calls per coin
    demo = config(CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__WINDOW_DAYS="3",
                  CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__START_DAYS_AGO="7",
                  CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__TOP_N="10")
    assert budget.evaluate(demo, plans()).apis["coingecko"].history[0].catchup_calls == 30
    # deeper than the plan reaches: the Demo plan's 365 days
    deep = config(CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__START_DAYS_AGO="1000")
    assert budget.evaluate(deep, plans()).apis["coingecko"].history[0].days == 365


def test_a_catchup_the_month_cannot_carry_is_refused_with_the_settings_that_fit():
    # live coins_coins at 130 a day fit a month alone (5,070 + 130 x 30 = 8,970), not with a 1,500-credit
    # catchup: 1,030 credits are left for it, 206 coins x 5 windows, or 300 coins x 3 windows (270 days)
    live = {"CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N": "130"}
    assert budget.check(config(**live, **NO_HISTORY), plans()) == []
    assert budget.check(config(**live), plans()) == [
        "coingecko: the catchup of coingecko_price_history needs 1,500 credits beside the live datasets' "
        "8,970 in the month it runs, over 10,000 (plan demo): lower history.coingecko_price_history.top_n "
        "to 206 (from 300) or lower history.coingecko_price_history.start_days_ago to 270 (from 365)"]
    history = "CRYPTOFLOW__HISTORY__COINGECKO_PRICE_HISTORY__"
    for setting, fits, over in (("TOP_N", "206", "207"), ("START_DAYS_AGO", "270", "271")):
        assert budget.check(config(**live, **{history + setting: fits}), plans()) == []
        assert budget.check(config(**live, **{history + setting: over}), plans()) != []
    # the live datasets' own misfit comes first: no catchup advice beside it
    assert len(budget.check(config(**COINS_300), plans())) == 1


def test_calls_per_minute_above_the_plans_limit_is_refused():
    problems = budget.check(config(CRYPTOFLOW__APIS__COINGECKO__CALLS_PER_MINUTE="40"), plans())
    assert problems == ["coingecko: configured calls_per_minute 40 > plan demo's 30: lower "
                        "apis.coingecko.calls_per_minute to 30, or move to plan basic (300/min: set plan: "
                        "basic in the conn_extra of connection coingecko in airflow_settings.yaml)"]


def test_a_cycle_longer_than_its_cadence_is_refused():
    # 300 coins every 15 minutes at 15/min: 20 minutes a cycle
    slow = config(**COINS_300, CRYPTOFLOW__DATASETS__COINGECKO_COINS__SCHEDULE="*/15 * * * *")
    problems = budget.check(slow, plans())
    cycle = next(p for p in problems if "a cycle of" in p)
    assert cycle.startswith("coingecko: a cycle of coingecko_coins takes 20 min (300 calls at 15/min) > its "
                            "15 min cadence")
    # 300 calls in 15 minutes: 20/min, which Demo allows; or 225 coins at 15/min
    assert "raise apis.coingecko.calls_per_minute to 20 (plan demo allows 30/min)" in cycle
    assert "lower datasets.coingecko_coins.top_n to 225 (from 300)" in cycle
    # four such cycles in an hour: 1,200 + the hour's others > 900
    assert any("the busiest hour" in p and "> 900 (15/min x 60)" in p for p in problems)


def test_daily_credits_are_checked_on_the_busiest_day_against_the_setting():
    problems = budget.check(config(CRYPTOFLOW__APIS__CMC__DAILY_CREDITS="50"), plans())
    assert problems == ["cmc: credits/day 99 on the busiest day > 50 (apis.cmc.daily_credits): raise "
                        "apis.cmc.daily_credits to 99 (plan basic allows 333)"]
    # a weekly dataset spends its whole cycle on one day: 20 pairs x 1 credit on Mondays only
    b = budget.evaluate(config(CRYPTOFLOW__DATASETS__CMC_DEX_PAIR_OHLCV__SCHEDULE="0 0 * * 1"), plans())
    day, credits, _ = b.apis["cmc_dex"].busiest_day_credits
    assert day.weekday() == 0 and credits == 1 + spot_credits() + 2 * 96 + 20


def spot_credits() -> int:
    return (spec("cmc_dex_spot_pairs").expected_records // 100 + 1) * 2 * 4


def test_a_credit_budget_above_the_plans_is_refused():
    problems = budget.check(config(CRYPTOFLOW__APIS__COINGECKO__MONTHLY_CREDITS="20000"), plans())
    assert problems == ["coingecko: apis.coingecko.monthly_credits 20,000 > plan demo's 10,000 a month (the "
                        "API stops at 10,000): lower apis.coingecko.monthly_credits to 10,000, or null for "
                        "the plan's own"]


def test_a_plan_gated_dataset_counts_nothing_on_basic_and_says_it_is_skipped():
    b = budget.evaluate(config(), plans())
    gated = figures(b, "cmc", "cmc_exchange_listings")
    assert gated.status == "skipped" and gated.calls == gated.credits == gated.credits_per_month == 0
    assert gated.note.startswith("skipped on plan basic")
    assert "skipped on plan basic" in budget.render(b)
    # on Growth it counts: 800 exchanges in one call (limit 5,000), 1 credit per 100 -> 8, 12 times a day
    growth = budget.evaluate(config(), {**plans(), "cmc": "growth"})
    listed = figures(growth, "cmc", "cmc_exchange_listings")
    assert spec("cmc_exchange_listings").expected_records == 800
    assert (listed.status, listed.calls, listed.credits, listed.credits_per_day) == ("on", 1, 8, 96)


def test_measured_sizes_replace_the_estimates():
    b = budget.evaluate(config(), plans(), sizes={"coingecko_exchanges": 500,
                                                  "cmc_dex_spot_pairs": {"ethereum": 250, "solana": 50}})
    exchanges = figures(b, "coingecko", "coingecko_exchanges")
    # 500 fill 2 pages of 250 exactly: page numbers stop on a short page, so a third comes back empty
    assert (exchanges.calls, exchanges.credits) == (3, 3) and "measured" in exchanges.note
    # 250 -> 3 pages of 100, 50 -> 1 page
    assert figures(b, "cmc_dex", "cmc_dex_spot_pairs").calls == 3 + 1


def test_the_plan_option_changes_the_verdict(monkeypatch, capsys):
    for name in [k for k in os.environ if k.startswith("CRYPTOFLOW__")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("CRYPTOFLOW__DATASETS__COINGECKO_COINS__TOP_N", "300")
    assert budget.main([]) == 1
    assert "DOES NOT FIT" in capsys.readouterr().out
    # Basic: 100,000 credits a month
    assert budget.main(["--plan", "coingecko=basic"]) == 0
    out = capsys.readouterr().out
    assert "coingecko (CoinGecko), plan basic" in out and "14,070 per 30 days of 100,000" in out
    assert budget.main(["--plan", "coingecko=platinum"]) == 2
    assert "no plan 'platinum'" in capsys.readouterr().err


def test_python_m_budget_exits_1_naming_the_setting_under_an_environment_override():
    proc = subprocess.run([sys.executable, "-m", "cryptoflow.budget"], cwd=REPO, capture_output=True,
                          text=True, timeout=120, check=False, env=clean_env(**COINS_300))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "DOES NOT FIT" in proc.stdout and "datasets.coingecko_coins.top_n to 164" in proc.stdout
    ok = subprocess.run([sys.executable, "-m", "cryptoflow.budget"], cwd=REPO, capture_output=True,
                        text=True, timeout=120, check=False, env=clean_env())
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert ok.stdout.rstrip().endswith("fits")


def test_demos_check_refuses_a_configuration_that_cannot_fit():
    """What make demo calls first, with the demo's settings file and environment."""
    with pytest.raises(budget.BudgetError, match=r"credits/month 14,070 > 10,000.*datasets\.coingecko_coins"):
        budget.preflight(SETTINGS, environ=COINS_300)
    lines = budget.preflight(SETTINGS, environ={})
    assert len(lines) == 3 and all(line.endswith(": fits") for line in lines)


def test_make_demo_refuses_before_starting_anything(tmp_path):
    """The CLI, with every later step disarmed as well (an unreachable Postgres, no sandbox module, a
    private .local and free ports): if the budget did not refuse first, another error would, so nothing
    can start either way; the message tells which."""
    local = tmp_path / "local"
    env = clean_env(**COINS_300, CRYPTOFLOW_LOCAL_DIR=str(local),
                    CRYPTOFLOW_PG_DSN="postgresql://postgres@127.0.0.1:1/postgres",
                    CRYPTOFLOW_SANDBOX_MODULE="cryptoflow_no_such_sandbox",
                    CRYPTOFLOW_AIRFLOW_PORT=str(free_port()), CRYPTOFLOW_SANDBOX_PORT=str(free_port()))
    proc = subprocess.run([sys.executable, "-m", "cryptoflow.devstack", "--profile", "budget_test", "demo"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=False, env=env)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert proc.stderr.startswith("demo: refused before starting anything:"), proc.stderr
    assert "datasets.coingecko_coins.top_n to 164" in proc.stderr
    assert "started" not in proc.stdout
    assert not local.exists() or not any(local.iterdir())


def test_the_demos_preflight_does_not_import_airflow():
    """make demo checks the budget (history included) before it sets the stack's environment; an Airflow
    imported then is configured for the wrong metadata database and the demo has to stop (the stack test
    once failed on it: 'Airflow was imported in this process for sqlite:...')."""
    code = ("import sys; from cryptoflow import budget; "
            f"lines = budget.preflight({str(SETTINGS)!r}, environ={{}}); "
            "print(len(lines), sorted(m for m in sys.modules if m.split('.')[0] == 'airflow'))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120, check=False, env=clean_env())
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["3", "[]"], proc.stdout
