"""Adapters: the only modules that import vendor SDKs (duckdb, google.cloud, …).

Each module implements one port of :mod:`lib.ports` for one engine or service; the wiring
function picks them from settings and imports them lazily so cold starts stay fast.
"""
