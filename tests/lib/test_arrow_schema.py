"""Tests for lib.arrow_schema: the BigQuery → Arrow type table."""

from __future__ import annotations

import pyarrow as pa
import pytest

from lib.arrow_schema import arrow_schema
from lib.schema import SchemaField


def test_scalar_types_and_modes() -> None:
    fields = [
        SchemaField(name="s", type="STRING", mode="REQUIRED"),
        SchemaField(name="i", type="INTEGER"),
        SchemaField(name="f", type="FLOAT64"),
        SchemaField(name="n", type="NUMERIC"),
        SchemaField(name="bn", type="BIGNUMERIC"),
        SchemaField(name="b", type="BOOLEAN"),
        SchemaField(name="d", type="DATE"),
        SchemaField(name="ts", type="TIMESTAMP"),
        SchemaField(name="dt", type="DATETIME"),
        SchemaField(name="j", type="JSON"),
        SchemaField(name="by", type="BYTES"),
        SchemaField(name="tags", type="STRING", mode="REPEATED"),
        SchemaField(name="p", type="NUMERIC", precision=10, scale=2),
    ]
    assert arrow_schema(fields) == pa.schema(
        [
            pa.field("s", pa.string(), nullable=False),
            ("i", pa.int64()),
            ("f", pa.float64()),
            ("n", pa.decimal128(38, 9)),
            ("bn", pa.decimal128(38, 24)),
            ("b", pa.bool_()),
            ("d", pa.date32()),
            ("ts", pa.timestamp("us", tz="UTC")),
            ("dt", pa.timestamp("us")),
            ("j", pa.string()),
            ("by", pa.binary()),
            ("tags", pa.list_(pa.string())),
            ("p", pa.decimal128(10, 2)),
        ]
    )


def test_repeated_record_is_list_of_struct() -> None:
    credits = SchemaField(
        name="credits",
        type="RECORD",
        mode="REPEATED",
        fields=(
            SchemaField(name="name", type="STRING"),
            SchemaField(name="amount", type="NUMERIC", mode="REQUIRED"),
        ),
    )
    expected = pa.list_(
        pa.struct([("name", pa.string()), pa.field("amount", pa.decimal128(38, 9), False)])
    )
    assert arrow_schema([credits]).field("credits").type == expected


def test_precision_over_38_is_refused() -> None:
    with pytest.raises(ValueError, match="precision 50"):
        arrow_schema([SchemaField(name="x", type="BIGNUMERIC", precision=50, scale=20)])
