"""Prices: the catalog flattened into a per-tenant price table, and how it is loaded."""
