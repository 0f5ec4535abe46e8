"""Adapters: the only modules that import vendor SDKs (duckdb, google.cloud)."""
