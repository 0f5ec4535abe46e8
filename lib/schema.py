"""Table schemas in BigQuery's JSON schema format, the one description every adapter reads."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

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


def load_schema_file(path: Path) -> list[SchemaField]:
    """Read a BigQuery JSON schema file (a list of field objects)."""
    return SCHEMA_ADAPTER.validate_python(json.loads(path.read_text()))
