"""CoinMarketCap DEX ``/v4/dex/spot-pairs/latest``: the spot pairs of each configured network, every
page through the ``scroll_id`` cursor (100 pairs per call), by 24 h volume, every 6 hours by default.

Pairs under ``dex.min_liquidity_usd`` of liquidity are filtered out by the API (``liquidity_min``): a
busy chain lists many thousands of dust pairs otherwise. The order it lands in (24 h volume, highest
first) is the one ``cmc_dex_pair_quotes`` and ``cmc_dex_pair_ohlcv`` take their top pairs from.

Settings (``cryptoflow.yaml``): ``datasets.cmc_dex_spot_pairs`` (on/off, cron), ``dex.networks``,
``dex.min_liquidity_usd``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_dex_spot_pairs = snapshot_dag("cmc_dex_spot_pairs", doc=__doc__)
