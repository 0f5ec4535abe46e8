"""Shape one parsed provider page into Arrow record batches typed by the BigQuery schema.

Pure: no I/O. ``build_plan`` checks a source's column mapping against the raw table's schema
once; ``shape_page`` turns a page (JSON parsed with ``parse_float=Decimal``) into batches.
Problems in a page raise ``PageProblem`` (a plain message); the connector adds provider,
endpoint, page number and a payload sample and raises ``DataError``.

Conversion is decided by the column's BigQuery type:

| BigQuery type        | accepts                                  | Arrow type                    |
|----------------------|------------------------------------------|-------------------------------|
| STRING               | string, integer, decimal                 | string                        |
| JSON                 | anything (serialised, decimals exact)    | string                        |
| INT64                | integer, integral decimal, digit string  | int64                         |
| FLOAT64              | number (not money!)                      | float64                       |
| NUMERIC / BIGNUMERIC | decimal, integer, decimal string — exact | decimal128(P, S)              |
| BOOL                 | true / false                             | bool                          |
| TIMESTAMP            | unix seconds or RFC 3339 string          | timestamp[us, UTC]            |
| DATETIME / DATE      | ISO string (DATE also unix seconds)      | timestamp[us] / date32        |

Arrow types come from ``lib.arrow_schema`` (NUMERIC → decimal128(38, 9), BIGNUMERIC →
decimal128(38, 18), or the field's ``precision``/``scale``). A decimal that does not fit its
column exactly is a ``PageProblem`` — never silently rounded — unless the column mapping says
``rounding: half_even``.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from lib.arrow_schema import arrow_type
from lib.config.source import ColumnConfig, RecordsConfig
from lib.errors import ConfigError, ConfigProblem
from lib.schema import SchemaField

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_DECIMALS = ("NUMERIC", "BIGNUMERIC")
_WIDE = decimal.Context(prec=200)


class PageProblem(ValueError):
    """A page does not match what the source's record mapping expects."""


Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Column:
    """One output column: where it comes from, how it is converted, its Arrow type."""

    name: str
    spec: ColumnConfig
    required: bool
    arrow_type: pa.DataType
    convert: Converter


@dataclass(frozen=True)
class Plan:
    """Columns in schema order plus the Arrow schema of every batch."""

    records: RecordsConfig
    columns: tuple[Column, ...]
    schema: pa.Schema


def dig(obj: Any, path: str) -> Any:
    """Follow a dotted path through objects; None when a step is missing or null.

    Raises:
        PageProblem: a step of the path is not an object.
    """
    for part in path.split("."):
        if obj is None:
            return None
        if not isinstance(obj, Mapping):
            raise PageProblem(f"expected an object at {part!r} of {path!r}, got {_kind(obj)}")
        obj = obj.get(part)
    return obj


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | Decimal) else type(value).__name__
    )


def _bad(value: Any, want: str) -> PageProblem:
    return PageProblem(f"expected {want}, got {_kind(value)} {str(value)[:40]!r}")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise _bad(value, "a string")


def _decimal_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_decimal_default, separators=(",", ":"), sort_keys=True)


def _to_int(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value():
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise _bad(value, "an integer")


def _to_float(value: Any) -> float:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return float(value)
    raise _bad(value, "a number")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _bad(value, "true or false")


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except decimal.InvalidOperation:
            pass
    raise _bad(value, "a decimal number or decimal string")


def decimal_converter(precision: int, scale: int, *, round_half_even: bool = False) -> Converter:
    """A converter to an exact Decimal that must fit ``(precision, scale)``.

    Digits beyond ``scale`` are an error unless ``round_half_even`` (the column's explicit
    ``rounding: half_even``) asks to round them away.
    """
    quantum = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Decimal:
        number = _parse_decimal(value)
        if not number.is_finite():
            raise _bad(value, "a finite decimal")
        places = max(0, -int(number.normalize(_WIDE).as_tuple().exponent))
        if places > scale and round_half_even:
            number = number.quantize(quantum, decimal.ROUND_HALF_EVEN, _WIDE)
        elif places > scale:
            raise PageProblem(
                f"{number} has {places} decimal places but the column holds {scale}; widen "
                "the column in the schema file (e.g. BIGNUMERIC with precision 38, scale 30) "
                "or set rounding: half_even on the column"
            )
        if number != 0 and number.adjusted() + 1 > precision - scale:
            raise PageProblem(f"{number} has too many integer digits for the column")
        return number

    return convert


def _to_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return EPOCH + dt.timedelta(microseconds=int(Decimal(value) * 1_000_000))
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
    raise _bad(value, "unix seconds or an RFC 3339 timestamp")


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            pass
    raise _bad(value, "an ISO datetime string")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    return _to_timestamp(value).astimezone(dt.UTC).date()


_CONVERTERS: dict[str, Converter] = {
    "STRING": _to_string,
    "JSON": _to_json,
    "INT64": _to_int,
    "FLOAT64": _to_float,
    "BOOL": _to_bool,
    "TIMESTAMP": _to_timestamp,
    "DATETIME": _to_datetime,
    "DATE": _to_date,
}


def _column_type(field: SchemaField, spec: ColumnConfig) -> tuple[pa.DataType, Converter] | None:
    """Arrow type (from ``lib.arrow_schema``) and converter, or None if REST cannot fill it."""
    if field.mode == "REPEATED" or field.canonical_type not in (*_CONVERTERS, *_DECIMALS):
        return None
    arrow = arrow_type(field)
    if isinstance(arrow, pa.Decimal128Type | pa.Decimal256Type):
        rounding = spec.rounding == "half_even"
        return arrow, decimal_converter(arrow.precision, arrow.scale, round_half_even=rounding)
    return arrow, _CONVERTERS[field.canonical_type]


def build_plan(records: RecordsConfig, schema: Sequence[SchemaField], where: str) -> Plan:
    """Check the column mapping against the table schema and fix conversions.

    Args:
        records: the source's record mapping.
        schema: the raw table's fields (extra fields, e.g. ingestion columns, are ignored).
        where: names the source in problems (e.g. its file or provider and endpoint).

    Returns:
        The plan: mapped columns in schema order.

    Raises:
        ConfigError: a mapped column is not in the schema or has a type REST cannot fill.
    """
    by_name = {f.name: f for f in schema}
    problems = [
        ConfigProblem(
            where,
            f"records.columns.{name}",
            "column is not in the table schema",
            f"add it to the schema file or use one of: {', '.join(by_name)}",
        )
        for name in records.columns
        if name not in by_name
    ]
    columns = []
    for field in schema:
        spec = records.columns.get(field.name)
        if spec is None:
            continue
        typed = _column_type(field, spec)
        if typed is None:
            problems.append(
                ConfigProblem(
                    where,
                    f"records.columns.{field.name}",
                    f"a REST column cannot fill a {field.mode} {field.type} field",
                    "map nested values to flat columns with dotted paths, or use type JSON",
                )
            )
            continue
        required = spec.required or field.mode == "REQUIRED"
        columns.append(Column(field.name, spec, required, typed[0], typed[1]))
    if problems:
        raise ConfigError(problems)
    schema_out = pa.schema([pa.field(c.name, c.arrow_type, not c.required) for c in columns])
    return Plan(records, tuple(columns), schema_out)


def _items(payload: Any, records: RecordsConfig) -> Iterator[tuple[Any, Any, str]]:
    """Yield (parent, row, location) for every row of a page."""
    items = dig(payload, records.path)
    if not isinstance(items, list):
        raise PageProblem(f"required field {records.path!r} is missing or not an array")
    for i, item in enumerate(items):
        where = f"{records.path}[{i}]"
        if not isinstance(item, Mapping):
            raise PageProblem(f"{where} is not an object")
        if records.each is None:
            yield None, item, where
            continue
        rows = item.get(records.each)
        if not isinstance(rows, list):
            raise PageProblem(f"required field {where}.{records.each} is missing or not an array")
        for j, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise PageProblem(f"{where}.{records.each}[{j}] is not an object")
            yield item, row, f"{where}.{records.each}[{j}]"


def _value(column: Column, parent: Any, row: Any, where: str) -> Any:
    source = parent if column.spec.scope == "parent" else row
    scope = where.rsplit(".", 1)[0] if column.spec.scope == "parent" else where
    try:
        raw = dig(source, column.spec.path)
        if raw is None:
            if column.required:
                raise PageProblem("required field is missing or null")
            return None
        return column.convert(raw)
    except PageProblem as exc:
        raise PageProblem(f"{scope}.{column.spec.path} (column {column.name}): {exc}") from None


def shape_page(payload: Any, plan: Plan, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Turn one page into record batches of at most ``batch_rows`` rows.

    Raises:
        PageProblem: the page is not shaped as the mapping expects, or a value does not fit
            its column.
    """
    values: list[list[Any]] = [[] for _ in plan.columns]
    for parent, row, where in _items(payload, plan.records):
        for column, out in zip(plan.columns, values, strict=True):
            out.append(_value(column, parent, row, where))
        if len(values[0]) >= batch_rows:
            yield _batch(plan, values)
            values = [[] for _ in plan.columns]
    if values and values[0]:
        yield _batch(plan, values)


def _batch(plan: Plan, values: list[list[Any]]) -> pa.RecordBatch:
    arrays = [pa.array(v, type=c.arrow_type) for c, v in zip(plan.columns, values, strict=True)]
    return pa.RecordBatch.from_arrays(arrays, schema=plan.schema)
