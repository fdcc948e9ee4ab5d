"""cryptoflow: Airflow 3 + dbt pipelines for CoinGecko, CoinMarketCap and CMC DEX data."""

__version__ = "0.1.0"
