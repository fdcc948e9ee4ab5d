"""CoinMarketCap DEX ``/v4/dex/pairs/quotes/latest``: the latest quote (price, liquidity, 24 h volume,
transactions) of the top pairs of each configured network, every 15 minutes by default.

The pairs are the first ``dex.pairs_per_network`` of the latest ``cmc_dex_spot_pairs`` landing of each
network, bundled up to 100 contract addresses per call (one call per network by default).

Settings (``cryptoflow.yaml``): ``datasets.cmc_dex_pair_quotes`` (on/off, cron), ``dex.networks``,
``dex.pairs_per_network``.
"""

from __future__ import annotations

from cryptoflow.dagfactory import snapshot_dag

# An airflow DAG, built by cryptoflow.dagfactory (None when the dataset is switched off).
cmc_dex_pair_quotes = snapshot_dag("cmc_dex_pair_quotes", doc=__doc__)
