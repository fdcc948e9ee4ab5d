"""The sandbox's API keys: stable, deterministic strings per API and plan, shaped like real ones.

CoinGecko keys look like ``CG-`` plus 25 characters; CMC keys are UUIDs. CMC DEX is served by CMC's
Pro API with the same key header, so its keys are the CMC keys (one CMC account), while the sandbox
counts DEX calls, credits and limits under the API name ``cmc_dex``. More keys (including ones in
other states, such as ``disabled``) can be added in the config file.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from cryptoflow.sandbox import rand

_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz123456789"


def _cg_key(plan: str) -> str:
    return "CG-" + "".join(
        _ALNUM[rand.h64(rand.text_id("cg"), rand.text_id(plan), i) % len(_ALNUM)] for i in range(25)
    )


def _cmc_key(plan: str) -> str:
    return str(
        uuid.UUID(
            int=rand.h64(rand.text_id("cmc"), rand.text_id(plan)) << 64
            | rand.h64(rand.text_id("cmc"), rand.text_id(plan), 1),
            version=4,
        )
    )


_CG_PLANS = ("demo", "basic", "analyst", "enterprise")
_CMC_PLANS = ("basic", "startup", "growth", "professional", "enterprise")

DEFAULT_KEYS: dict[str, dict[str, str]] = {
    "coingecko": {plan: _cg_key(plan) for plan in _CG_PLANS},
    "cmc": {plan: _cmc_key(plan) for plan in _CMC_PLANS},
    "cmc_dex": {plan: _cmc_key(plan) for plan in _CMC_PLANS},
}

# Default plan of each API when a caller asks for "the" key.
DEFAULT_PLAN = {"coingecko": "demo", "cmc": "basic", "cmc_dex": "basic"}

# Keys in these states are refused with CMC's 1003/1004/1007 (CoinGecko: 10002); "active" is served.
KEY_STATES = ("active", "disabled", "expired", "unpaid")


@dataclass(frozen=True)
class Key:
    """One key the sandbox knows: its API family, plan and state."""

    key: str
    api: str  # "coingecko" or "cmc" (CMC keys also serve cmc_dex)
    plan: str
    state: str = "active"


def keyring(
    extra: dict[str, dict[str, str]] | None = None, states: dict[str, str] | None = None
) -> dict[str, Key]:
    """Every key by its string: the defaults plus ``extra`` (``{api: {plan: key}}``) from the config."""
    out: dict[str, Key] = {}
    merged: dict[str, dict[str, str]] = {api: dict(plans) for api, plans in DEFAULT_KEYS.items()}
    for api, plans in (extra or {}).items():
        merged.setdefault(api, {}).update(plans)
    for api, plans in merged.items():
        family = "coingecko" if api == "coingecko" else "cmc"
        for plan, key in plans.items():
            out[key] = Key(key, family, plan, (states or {}).get(key, "active"))
    return out
