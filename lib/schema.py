"""Table schemas in BigQuery's JSON schema format, the one description every adapter reads."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, model_validator

BqType = Literal[
    "STRING",
    "BYTES",
    "INTEGER",
    "INT64",
    "FLOAT",
    "FLOAT64",
    "NUMERIC",
    "BIGNUMERIC",
    "BOOLEAN",
    "BOOL",
    "DATE",
    "DATETIME",
    "TIME",
    "TIMESTAMP",
    "JSON",
    "RECORD",
    "STRUCT",
]
Mode = Literal["NULLABLE", "REQUIRED", "REPEATED"]

EMBEDDED_BIGNUMERIC = (38, 24)
"""(precision, scale) of an unparametrized BIGNUMERIC where only 38 digits exist (DuckDB,
Arrow decimal128). BigQuery's BIGNUMERIC holds 76 digits with scale 38; the embedded engine
keeps 14 integer digits (sums up to $99 trillion) and 24 decimals: every provider JSON
number's exact decimal text down to 1e-7 with 17 significant digits, and cents with up to 22
decimals converted to dollars. A value that does not fit is refused, never rounded."""

CANONICAL_TYPES: dict[str, str] = {
    "INTEGER": "INT64",
    "FLOAT": "FLOAT64",
    "BOOLEAN": "BOOL",
    "STRUCT": "RECORD",
}


class SchemaField(BaseModel):
    """One column, exactly as in a BigQuery JSON schema file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")
    type: BqType
    mode: Mode = "NULLABLE"
    description: str = ""
    fields: tuple[SchemaField, ...] = ()
    precision: int | None = None
    scale: int | None = None

    @property
    def canonical_type(self) -> str:
        """The type with legacy aliases folded (INTEGER → INT64, …)."""
        return CANONICAL_TYPES.get(self.type, self.type)

    @model_validator(mode="after")
    def _consistent(self) -> SchemaField:
        record = self.canonical_type == "RECORD"
        if record and not self.fields:
            raise ValueError(f"{self.name}: a {self.type} column needs `fields` (its members)")
        if self.fields and not record:
            raise ValueError(f"{self.name}: only RECORD columns have `fields`; type is {self.type}")
        if self.precision is not None or self.scale is not None:
            _check_decimal(self)
        return self


_DECIMAL_LIMITS = {"NUMERIC": (9, 29), "BIGNUMERIC": (38, 38)}
"""BigQuery's parameterized decimals: max scale S, and precision P in [max(1, S), S + extra]."""


def _check_decimal(field: SchemaField) -> None:
    limits = _DECIMAL_LIMITS.get(field.type)
    if limits is None:
        raise ValueError(f"{field.name}: precision/scale apply to NUMERIC and BIGNUMERIC only")
    max_scale, extra = limits
    scale = field.scale or 0
    precision = field.precision if field.precision is not None else scale + extra
    if not 0 <= scale <= max_scale:
        raise ValueError(f"{field.name}: {field.type} scale must be 0..{max_scale}, got {scale}")
    if not max(1, scale) <= precision <= scale + extra:
        raise ValueError(
            f"{field.name}: {field.type} precision must be {max(1, scale)}..{scale + extra} "
            f"with scale {scale}, got {precision}"
        )


SCHEMA_ADAPTER: TypeAdapter[list[SchemaField]] = TypeAdapter(list[SchemaField])


class TableSpec(BaseModel):
    """What a table should look like: columns plus partitioning and clustering."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    fields: tuple[SchemaField, ...]
    partition_field: str | None = None
    cluster_by: tuple[str, ...] = ()
    description: str = ""

    def field(self, name: str) -> SchemaField:
        """The column called ``name``."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(name)

    @property
    def names(self) -> list[str]:
        """Column names in order."""
        return [f.name for f in self.fields]


def duplicate_columns(
    fields: Sequence[SchemaField], path: tuple[int | str, ...] = ()
) -> list[tuple[tuple[int | str, ...], str, int]]:
    """Columns named twice among siblings (BigQuery names are case-insensitive).

    Returns:
        ``(location, name, index of the first)`` for every repeat, nested RECORDs included.
    """
    found: list[tuple[tuple[int | str, ...], str, int]] = []
    first: dict[str, int] = {}
    for index, field in enumerate(fields):
        key = field.name.lower()
        if key in first:
            found.append(((*path, index, "name"), field.name, first[key]))
        else:
            first[key] = index
        found += duplicate_columns(field.fields, (*path, index, "fields"))
    return found
