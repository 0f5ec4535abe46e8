"""Every cell of an embedded warehouse file as text (leak checks grep it for canaries).

Opened read-only with DuckDB itself, after the platform closed it, so nothing the platform's
own queries could miss (a schema it does not know, a table it does not list) escapes.
"""

from __future__ import annotations

from pathlib import Path


def warehouse_text(path: Path) -> dict[str, str]:
    """``schema.table`` → every row of the table rendered as text."""
    import duckdb

    con = duckdb.connect(str(path), read_only=True)
    try:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY 1, 2"
        ).fetchall()
        out = {}
        for schema, table in tables:
            quoted = f'"{schema}"."{table}"'
            out[f"{schema}.{table}"] = repr(con.execute(f"SELECT * FROM {quoted}").fetchall())
        return out
    finally:
        con.close()
