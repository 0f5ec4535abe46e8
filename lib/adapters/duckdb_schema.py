"""BigQuery table schemas on DuckDB: the one type table, column DDL and schema evolution.

Evolution follows BigQuery's rules so local runs fail where the cloud would: new NULLABLE
(or REPEATED) columns are added; REQUIRED → NULLABLE is relaxed; everything else — a type
change, a new REQUIRED column, NULLABLE → REQUIRED, dropping a REQUIRED column — raises
:class:`~lib.errors.SchemaChangeError`. Columns missing from the new schema but NULLABLE
are kept (BigQuery never drops them either).
"""

from __future__ import annotations

import json
from typing import cast

import duckdb
from sqlglot import exp

from lib.errors import SchemaChangeError
from lib.ports import TableRef
from lib.schema import EMBEDDED_BIGNUMERIC, SchemaField, TableSpec

__all__ = [
    "DUCKDB_TYPES",
    "column_ddl",
    "duckdb_type",
    "evolve",
    "normalise_type",
    "table_comment",
]

DUCKDB_TYPES: dict[str, str] = {
    "STRING": "VARCHAR",
    "BYTES": "BLOB",
    "INT64": "BIGINT",
    "FLOAT64": "DOUBLE",
    "NUMERIC": "DECIMAL(38,9)",
    "BIGNUMERIC": "DECIMAL({},{})".format(*EMBEDDED_BIGNUMERIC),
    "BOOL": "BOOLEAN",
    "DATE": "DATE",
    "DATETIME": "TIMESTAMP",
    "TIME": "TIME",
    "TIMESTAMP": "TIMESTAMPTZ",
    "JSON": "JSON",
}
"""Canonical BigQuery type → DuckDB type (RECORD → STRUCT of its sub-fields)."""


def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


def duckdb_type(field: SchemaField) -> str:
    """The DuckDB type of a column, including STRUCT and LIST for RECORD/REPEATED.

    Raises:
        SchemaChangeError: a NUMERIC/BIGNUMERIC precision DuckDB cannot hold (over 38).
    """
    kind = field.canonical_type
    if kind == "RECORD":
        base = "STRUCT(" + ", ".join(f"{_q(f.name)} {duckdb_type(f)}" for f in field.fields) + ")"
    elif kind in ("NUMERIC", "BIGNUMERIC") and field.precision is not None:
        if field.precision > 38:
            raise SchemaChangeError(
                f"column {field.name}: precision {field.precision} exceeds the embedded "
                "engine's 38 digits; use NUMERIC or a precision up to 38"
            )
        base = f"DECIMAL({field.precision},{field.scale or 0})"
    else:
        base = DUCKDB_TYPES[kind]
    return f"{base}[]" if field.mode == "REPEATED" else base


def column_ddl(field: SchemaField) -> str:
    """``"name" TYPE [NOT NULL]`` for CREATE TABLE / ADD COLUMN."""
    required = " NOT NULL" if field.mode == "REQUIRED" else ""
    return f"{_q(field.name)} {duckdb_type(field)}{required}"


def normalise_type(type_sql: str) -> str:
    """DuckDB's canonical spelling of a type (``TIMESTAMPTZ`` → ``TIMESTAMP WITH TIME ZONE``)."""
    return str(duckdb.sqltype(type_sql))


def table_comment(spec: TableSpec) -> str:
    """A quoted SQL string recording what DuckDB cannot enforce (partitioning, clustering)."""
    note = {
        "description": spec.description,
        "partition_field": spec.partition_field,
        "cluster_by": list(spec.cluster_by),
    }
    return exp.Literal.string(json.dumps(note, sort_keys=True)).sql("duckdb")


def _change_error(table: TableRef, column: str, what: str) -> SchemaChangeError:
    return SchemaChangeError(
        f"table {table}: column {column!r} {what}; BigQuery cannot change an existing table "
        f"this way. Create a versioned table instead (e.g. {table.table}_v2) and move the "
        "pipeline to it"
    )


DuckType = duckdb.sqltypes.DuckDBPyType
Change = tuple[str, str | None]
"""An ALTER statement and the (dotted) column name it adds, if it adds one."""


def evolve(
    table: TableRef, target: str, existing: dict[str, tuple[str, bool]], spec: TableSpec
) -> tuple[list[str], list[str]]:
    """Plan the ALTER statements that take ``existing`` to ``spec``.

    Args:
        table: the table (for messages).
        target: its quoted DuckDB name.
        existing: column → (normalised DuckDB type, nullable).
        spec: the wanted schema.

    Returns:
        (statements to run, names of the columns they add; a sub-field of a RECORD is
        named with dots, e.g. ``service.tier``).

    Raises:
        SchemaChangeError: an incompatible change, naming table and column.
    """
    wanted = {f.name: f for f in spec.fields}
    for name, (_, nullable) in existing.items():
        if name not in wanted and not nullable:
            raise _change_error(table, name, "is REQUIRED and was removed from the schema")
    changes: list[Change] = []
    for field in spec.fields:
        if field.name in existing:
            changes.extend(_compare(table, target, field, existing[field.name]))
        elif field.mode == "REQUIRED":
            raise _change_error(table, field.name, "is new and REQUIRED (add it NULLABLE)")
        else:
            changes.append((f"ALTER TABLE {target} ADD COLUMN {column_ddl(field)}", field.name))
    return [sql for sql, _ in changes], [name for _, name in changes if name]


def _compare(
    table: TableRef, target: str, field: SchemaField, current: tuple[str, bool]
) -> list[Change]:
    kind, nullable = current
    changes: list[Change] = []
    if normalise_type(duckdb_type(field)) != kind:
        changes = _nested(table, target, [field.name], field, duckdb.sqltype(kind))
    if nullable and field.mode == "REQUIRED":
        raise _change_error(table, field.name, "changes from NULLABLE to REQUIRED")
    if not nullable and field.mode != "REQUIRED":
        sql = f"ALTER TABLE {target} ALTER COLUMN {_q(field.name)} DROP NOT NULL"
        changes.append((sql, None))
    return changes


def _children(kind: DuckType) -> dict[str, DuckType]:
    return {str(name): cast(DuckType, child) for name, child in kind.children}


def _nested(
    table: TableRef,
    target: str,
    path: list[str],
    field: SchemaField,
    current: DuckType,
) -> list[Change]:
    """ADD COLUMN for NULLABLE sub-fields new in a RECORD (recursively); else a type change."""
    name, want = ".".join(path), normalise_type(duckdb_type(field))
    if field.canonical_type != "RECORD" or want == str(current):
        if want != str(current):
            raise _change_error(table, name, f"changes type from {current} to {want}")
        return []
    if field.mode == "REPEATED":
        if current.id != "list":
            raise _change_error(table, name, f"changes type from {current} to {want}")
        path, current = [*path, "element"], _children(current)["child"]
    if current.id != "struct":
        raise _change_error(table, name, f"changes type from {current} to {want}")
    existing = _children(current)
    changes: list[Change] = []
    for sub in field.fields:
        sub_name = f"{name}.{sub.name}"
        if sub.name in existing:
            changes.extend(_nested(table, target, [*path, sub.name], sub, existing[sub.name]))
        elif sub.mode == "REQUIRED":
            raise _change_error(table, sub_name, "is new and REQUIRED (add it NULLABLE)")
        else:
            column = ".".join(_q(p) for p in [*path, sub.name])
            sql = f"ALTER TABLE {target} ADD COLUMN {column} {duckdb_type(sub)}"
            changes.append((sql, sub_name))
    return changes
