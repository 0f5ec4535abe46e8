"""Table schema files (BigQuery JSON schemas): read, validated with line numbers, remembered.

The schema model itself (:mod:`lib.schema`) is a value type the ports use; reading a file is
config work, so it lives here beside the other config readers.
"""

from __future__ import annotations

from pathlib import Path

from lib.config.documents import read_document, read_text
from lib.config.problems import validate_document
from lib.errors import ConfigError
from lib.schema import SCHEMA_ADAPTER, SchemaField, duplicate_columns

__all__ = ["load_schema_file"]


def load_schema_file(path: Path) -> list[SchemaField]:
    """Read a BigQuery JSON schema file (a list of field objects).

    Raises:
        ConfigError: unreadable, not JSON, an invalid field (unknown type, …) or a column
            named twice; each problem with its line.
    """
    key = (str(path), read_text(path))
    cached = _LOADED.get(key)
    if cached is not None:
        return list(cached)
    doc = read_document(path)
    if not isinstance(doc.data, list):
        raise ConfigError(
            [doc.problem((), "expected a JSON list of columns", '[{"name": ..., "type": ...}]')]
        )
    fields = validate_document(doc, SCHEMA_ADAPTER, list[SchemaField])
    problems = [
        doc.problem(
            loc,
            f"column {name!r} is defined twice (also at position {first + 1})",
            "remove or rename one of them; column names are case-insensitive",
        )
        for loc, name, first in duplicate_columns(fields)
    ]
    if problems:
        raise ConfigError(problems)
    if len(_LOADED) >= 1024:
        _LOADED.clear()
    _LOADED[key] = tuple(fields)
    return fields


_LOADED: dict[tuple[str, str], tuple[SchemaField, ...]] = {}
"""Validated schema files by (path, text): steps load their table schemas on every event."""
