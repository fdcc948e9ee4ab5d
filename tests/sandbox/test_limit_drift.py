"""Drifting minute allowances: the seeded walk itself, and the 429s and accounting it drives over HTTP."""

from __future__ import annotations

import itertools
import math
import time

import pytest

from cryptoflow.sandbox import DEFAULT_PLAN, limits
from cryptoflow.sandbox.limits import Drift, Limiter, drift_allowance, drift_fraction, drift_move, wall_minute
from tests.sandbox.conftest import away_from_minute_edge

DRIFT = {"low": 0.25, "high": 0.5, "step": 0.1, "seed": 7}
M0 = 29_611_200  # a wall-clock minute (2026-04-20)


def _walk(drift: dict, m0: int = M0, minutes: int = 600) -> list[float]:
    return [drift_fraction(drift, m0, m) for m in range(m0, m0 + minutes)]


def test_walk_starts_high_stays_within_bounds_and_moves_by_at_most_step() -> None:
    fractions = _walk(DRIFT)
    assert fractions[0] == DRIFT["high"]
    assert all(DRIFT["low"] <= f <= DRIFT["high"] for f in fractions)
    assert all(abs(b - a) <= DRIFT["step"] + 1e-12 for a, b in itertools.pairwise(fractions))
    assert len(set(fractions)) > 100 and min(fractions) == DRIFT["low"]  # it walks, and meets the bounds
    for m, (a, b) in enumerate(itertools.pairwise(fractions), start=M0):  # the recurrence
        assert b == min(0.5, max(0.25, a + 0.1 * drift_move(7, m)))
    assert drift_fraction(DRIFT, M0, M0 - 5) == DRIFT["high"]  # before the drift was set


def test_walk_is_deterministic_and_seeded() -> None:
    first = _walk(DRIFT)
    limits._walk.cache_clear()  # computed afresh, in another order
    assert [drift_fraction(DRIFT, M0, m) for m in reversed(range(M0, M0 + 600))][::-1] == first
    assert _walk(Drift(**DRIFT)) == first
    assert _walk({**DRIFT, "seed": 8}) != first


def test_allowance_is_the_floored_fraction_and_at_least_one() -> None:
    allowances = [drift_allowance(20, DRIFT, M0, m) for m in range(M0, M0 + 600)]
    assert allowances == [max(1, math.floor(20 * f)) for f in _walk(DRIFT)]
    assert allowances[0] == 10 and set(allowances) <= set(range(5, 11)) and len(set(allowances)) > 3
    assert {drift_allowance(1, DRIFT, M0, m) for m in range(M0, M0 + 600)} == {1}
    assert Drift.from_spec({}) == Drift(low=0.5, high=1.0, step=0.1, seed=7)
    assert drift_allowance(30, {}, M0, M0) == 30
    with pytest.raises(ValueError, match="unix // 60"):  # seconds passed for a minute
        drift_allowance(30, {}, M0, M0 * 60)


@pytest.mark.parametrize("spec", [{"low": 0.6, "high": 0.5}, {"step": -0.1}, {"low": -1}, {"speed": 1}])
def test_bad_drift_specs(spec) -> None:
    with pytest.raises(ValueError, match="drift"):
        Drift.from_spec(spec)


def test_limiter_admits_the_walks_allowance_in_a_later_minute() -> None:
    """In-process, so a minute far from m0 is tested without waiting for it."""
    away_from_minute_edge(2)
    m0 = wall_minute(time.time()) - 45
    limiter = Limiter({"coingecko": {"demo": {"calls_per_minute": 20, "drift": DRIFT}}}, minute=m0)
    expected = drift_allowance(20, DRIFT, m0, wall_minute(time.time()))
    admitted = 0
    while limiter.admit("coingecko", "k", "demo").reason is None:
        admitted += 1
    assert admitted == expected
    assert limiter.describe()["coingecko"]["demo"]["drift"]["allowance"] == expected


# ------------------------------------------------------------------------------------------ over HTTP


@pytest.mark.parametrize(("api", "per_minute"), [("coingecko", 20), ("cmc", 7)])
def test_drifting_limit_over_http(client, sb, api, per_minute) -> None:
    plan, allowance = DEFAULT_PLAN[api], per_minute // 2  # f(m0) = high = 0.5
    away_from_minute_edge(10)
    shown = sb.set_limits(api=api, plan=plan, calls_per_minute=per_minute, drift=DRIFT)[api][plan]
    drift = shown["drift"]
    assert shown["calls_per_minute"] == per_minute
    assert {k: drift[k] for k in DRIFT} == DRIFT and drift["m0"] == drift["minute"]
    assert drift["allowance"] == drift_allowance(per_minute, DRIFT, drift["m0"], drift["minute"]) == allowance
    path = "/ping" if api == "coingecko" else "/v1/key/info"
    answers = [client.get(api, path) for _ in range(allowance + 1)]
    assert [a.status_code for a in answers] == [200] * allowance + [429]
    limited = answers[-1]
    assert 1 <= int(limited.headers["Retry-After"]) <= math.ceil(60 - time.time() % 60) + 1
    if api == "coingecko":
        assert "exceeded the Rate Limit" in limited.json()["status"]["error_message"]
    else:
        assert limited.json()["status"]["error_code"] == 1008
    key = sb.accounting(log=False)["apis"][api]["keys"][sb.key(api)]
    assert (key["ok"], key["rate_limited"]) == (allowance, 1)
    assert key["allowance_per_minute"] == [[drift["minute"] * 60, allowance]]
    assert sb.limits()[api][plan]["drift"]["m0"] == drift["m0"]


def test_accounting_lists_allowances_only_for_drifting_keys(client, sb) -> None:
    sb.set_limits(api="coingecko", plan="demo", calls_per_minute=20, drift=DRIFT)
    sb.set_faults(api="coingecko", endpoint="ping", kind="5xx_burst", count=1)
    client.get("coingecko", "/ping")  # a fault, answered before authentication, still counts
    client.get("coingecko", "/ping", plan="basic")
    keys = sb.accounting(log=False)["apis"]["coingecko"]["keys"]
    minutes = keys[sb.key("coingecko")]["allowance_per_minute"]
    assert len(minutes) == 1 and minutes[0][0] % 60 == 0 and 5 <= minutes[0][1] <= 10
    assert "allowance_per_minute" not in keys[sb.key("coingecko", "basic")]
    sb.reset_accounting()
    assert sb.accounting()["apis"] == {}


def test_reset_usage_keeps_the_drift_and_reset_drops_it(client, sb) -> None:
    away_from_minute_edge(10)
    m0 = sb.set_limits(api="cmc_dex", plan="basic", calls_per_minute=4, drift=DRIFT)["cmc_dex"]["basic"]
    assert [client.get("cmc_dex", "/v4/dex/networks/list").status_code for _ in range(3)] == [200, 200, 429]
    after = sb.set_limits(reset_usage=True)["cmc_dex"]["basic"]
    assert after["drift"]["m0"] == m0["drift"]["m0"]
    assert client.get("cmc_dex", "/v4/dex/networks/list").status_code == 200
    assert "drift" not in sb.set_limits(api="cmc_dex", plan="basic", drift=None)["cmc_dex"]["basic"]
    sb.set_limits(api="cmc_dex", plan="basic", drift={})
    sb.reset()
    assert "drift" not in sb.limits()["cmc_dex"]["basic"]


def test_drift_from_the_config_file_and_bad_specs(sb) -> None:
    from cryptoflow.sandbox import SandboxError, SandboxServer

    config = {"limits": {"cmc_dex": {"*": {"calls_per_minute": 6, "drift": {"low": 0.5, "high": 0.5}}}}}
    away_from_minute_edge(10)
    with SandboxServer(port=0, config=config) as other:
        drift = other.limits()["cmc_dex"]["startup"]["drift"]
        assert (drift["low"], drift["high"], drift["step"], drift["seed"], drift["allowance"]) == (
            0.5,
            0.5,
            0.1,
            7,
            3,
        )
        assert drift["m0"] <= drift["minute"]
        url = other.base_url("cmc_dex") + "/v4/dex/networks/list"
        headers = {"X-CMC_PRO_API_KEY": other.key("cmc_dex")}
        codes = [other.session.get(url, headers=headers, timeout=10).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
    for bad in ({"low": 2, "high": 1}, {"jitter": 1}, 0.5):
        with pytest.raises(SandboxError):
            sb.set_limits(api="cmc", plan="basic", drift=bad)
