"""Every API the pipeline calls, described once as data (see :mod:`cryptoflow.apis.base`)."""

from __future__ import annotations

from cryptoflow.apis.base import Api
from cryptoflow.apis.cmc import CMC
from cryptoflow.apis.cmc_dex import CMC_DEX
from cryptoflow.apis.coingecko import COINGECKO

APIS: dict[str, Api] = {api.name: api for api in (COINGECKO, CMC, CMC_DEX)}


def get_api(name: str) -> Api:
    """The API described under ``name`` (``coingecko``, ``cmc``, ``cmc_dex``)."""
    try:
        return APIS[name]
    except KeyError:
        raise KeyError(f"unknown API {name!r}; known: {sorted(APIS)}") from None
