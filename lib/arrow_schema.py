"""BigQuery schema → Arrow schema: the types providers use to build typed record batches.

One mapping table (:data:`ARROW_TYPES`); every adapter accepts batches typed this way.

Choices worth knowing:

* ``NUMERIC`` → ``decimal128(38, 9)``, BigQuery's own precision and scale: money stays exact.
* ``BIGNUMERIC`` → ``decimal128(38, 24)`` (:data:`lib.schema.EMBEDDED_BIGNUMERIC`). BigQuery's
  full range (76 digits, scale 38) needs ``decimal256``, which the embedded engine cannot
  store; 14 integer and 24 fractional digits cover every amount Convergence handles and load
  into a BigQuery BIGNUMERIC column as-is.
* ``JSON`` → ``string`` holding JSON text (Arrow has no JSON type both engines load);
  the warehouse parses and validates it on write.
* ``TIMESTAMP`` → ``timestamp('us', tz='UTC')``, ``DATETIME`` → ``timestamp('us')`` (naive).
* ``REPEATED`` → ``list<...>`` (never null in BigQuery: an absent list is empty).
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa

from lib.schema import EMBEDDED_BIGNUMERIC, SchemaField

__all__ = ["ARROW_TYPES", "arrow_field", "arrow_schema", "arrow_type"]

ARROW_TYPES: dict[str, pa.DataType] = {
    "STRING": pa.string(),
    "BYTES": pa.binary(),
    "INT64": pa.int64(),
    "FLOAT64": pa.float64(),
    "NUMERIC": pa.decimal128(38, 9),
    "BIGNUMERIC": pa.decimal128(*EMBEDDED_BIGNUMERIC),
    "BOOL": pa.bool_(),
    "DATE": pa.date32(),
    "DATETIME": pa.timestamp("us"),
    "TIME": pa.time64("us"),
    "TIMESTAMP": pa.timestamp("us", tz="UTC"),
    "JSON": pa.string(),
}
"""Canonical BigQuery type → Arrow type (RECORD is built from its sub-fields)."""


def arrow_type(field: SchemaField) -> pa.DataType:
    """The Arrow type of one column's values, ignoring its mode.

    Raises:
        ValueError: a NUMERIC/BIGNUMERIC precision above 38 digits.
    """
    kind = field.canonical_type
    if kind == "RECORD":
        return pa.struct([arrow_field(f) for f in field.fields])
    if kind in ("NUMERIC", "BIGNUMERIC") and field.precision is not None:
        if field.precision > 38:
            raise ValueError(f"column {field.name}: precision {field.precision} exceeds 38")
        return pa.decimal128(field.precision, field.scale or 0)
    return ARROW_TYPES[kind]


def arrow_field(field: SchemaField) -> pa.Field:
    """The Arrow field for one column: REPEATED → list, REQUIRED → not nullable."""
    value_type = arrow_type(field)
    if field.mode == "REPEATED":
        return pa.field(field.name, pa.list_(value_type), nullable=True)
    return pa.field(field.name, value_type, nullable=field.mode != "REQUIRED")


def arrow_schema(fields: Sequence[SchemaField]) -> pa.Schema:
    """The Arrow schema for a table's columns.

    Args:
        fields: the columns, e.g. ``TableSpec.fields`` or a loaded schema file.

    Returns:
        Field names and order as given, types per :data:`ARROW_TYPES`.
    """
    return pa.schema([arrow_field(f) for f in fields])
