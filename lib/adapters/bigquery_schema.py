"""Table schemas on BigQuery: spec → API fields, and schema evolution planned purely.

Evolution follows BigQuery's own rules, the same the embedded warehouse enforces: new
NULLABLE (or REPEATED) columns and RECORD sub-fields are added; REQUIRED → NULLABLE is
relaxed; a type change, a new REQUIRED column, NULLABLE → REQUIRED, a change to or from
REPEATED, or dropping a REQUIRED column raises ``SchemaChangeError`` naming the column and
pointing to a versioned table. Columns missing from the spec but NULLABLE are kept.

Fields are handled in their API form (``SchemaField.to_api_repr()`` dicts) so the plan is
testable without a client; the adapter applies it with one ``update_table``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from lib.errors import SchemaChangeError
from lib.ports import TableRef
from lib.schema import CANONICAL_TYPES, SchemaField


def to_bq_field(spec: SchemaField) -> Any:
    """A ``google.cloud.bigquery.SchemaField`` for one column of a table spec."""
    from google.cloud import bigquery

    return bigquery.SchemaField.from_api_repr(api_field(spec))


def api_field(spec: SchemaField) -> dict[str, Any]:
    """The BigQuery REST representation of one spec column."""
    field: dict[str, Any] = {"name": spec.name, "type": spec.canonical_type, "mode": spec.mode}
    if spec.description:
        field["description"] = spec.description
    if spec.fields:
        field["fields"] = [api_field(f) for f in spec.fields]
    if spec.precision is not None:
        field["precision"] = str(spec.precision)
    if spec.scale is not None:
        field["scale"] = str(spec.scale)
    return field


def canonical(bq_type: str) -> str:
    """Fold BigQuery's legacy type names (INTEGER, FLOAT, BOOLEAN, STRUCT) to standard ones."""
    return CANONICAL_TYPES.get(bq_type.upper(), bq_type.upper())


def evolve(
    table: TableRef, existing: Sequence[dict[str, Any]], wanted: Sequence[SchemaField]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Plan the schema that takes ``existing`` to ``wanted``.

    Args:
        table: the table, for messages.
        existing: the live table's fields in API form.
        wanted: the spec's columns.

    Returns:
        (the new schema in API form, dotted names of the columns added). The schema equals
        ``existing`` when nothing changes.

    Raises:
        SchemaChangeError: an incompatible change, naming the table and column.
    """
    return _evolve(table, list(existing), list(wanted), "")


def _evolve(
    table: TableRef, existing: list[dict[str, Any]], wanted: list[SchemaField], prefix: str
) -> tuple[list[dict[str, Any]], list[str]]:
    specs = {f.name.lower(): f for f in wanted}
    for old in existing:
        if old["name"].lower() not in specs and _mode(old) == "REQUIRED":
            raise change_error(table, prefix + old["name"], "is REQUIRED and was removed")
    merged: list[dict[str, Any]] = []
    added: list[str] = []
    for old in existing:
        spec = specs.get(old["name"].lower())
        field, more = (old, []) if spec is None else _compare(table, old, spec, prefix)
        merged.append(field)
        added.extend(more)
    live = {f["name"].lower() for f in existing}
    for spec in wanted:
        if spec.name.lower() not in live:
            if spec.mode == "REQUIRED":
                raise change_error(table, prefix + spec.name, "is new and REQUIRED")
            merged.append(api_field(spec))
            added.append(prefix + spec.name)
    return merged, added


def _compare(
    table: TableRef, old: dict[str, Any], spec: SchemaField, prefix: str
) -> tuple[dict[str, Any], list[str]]:
    path = prefix + spec.name
    old_type, old_mode = canonical(old["type"]), _mode(old)
    if old_type != spec.canonical_type:
        raise change_error(table, path, f"changes type from {old_type} to {spec.canonical_type}")
    if old_mode != spec.mode and "REPEATED" in (old_mode, spec.mode):
        raise change_error(table, path, f"changes mode from {old_mode} to {spec.mode}")
    if old_mode == "NULLABLE" and spec.mode == "REQUIRED":
        raise change_error(table, path, "changes from NULLABLE to REQUIRED")
    field = {**old, "mode": spec.mode} if old_mode == "REQUIRED" else dict(old)
    if old_type != "RECORD":
        return field, []
    subfields, added = _evolve(table, list(old.get("fields", [])), list(spec.fields), path + ".")
    field["fields"] = subfields
    return field, added


def _mode(field: dict[str, Any]) -> str:
    return str(field.get("mode") or "NULLABLE").upper()


def change_error(table: TableRef, column: str, what: str) -> SchemaChangeError:
    """The error for an incompatible change (same wording as the embedded warehouse)."""
    return SchemaChangeError(
        f"table {table}: column {column!r} {what}; BigQuery cannot change an existing table "
        f"this way. Create a versioned table instead (e.g. {table.table}_v2) and move the "
        "pipeline to it"
    )
