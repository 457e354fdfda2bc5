"""Prices: the local Parquet store, the sources (Yahoo, CSV), fetching, the exchange calendar."""
