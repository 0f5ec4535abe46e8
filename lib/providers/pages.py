"""Shape one parsed provider page into Arrow record batches typed by the BigQuery schema.

Pure: no I/O. ``build_plan`` checks a source's column mapping against the raw table's schema
once (paths split, converters chosen); ``shape_page`` turns a page (JSON parsed with
``parse_float=Decimal``: numbers keep their exact text) into batches, column by column:
parent-scope values once per bucket, strings/integers/booleans and decimals converted by
Arrow. ``shape_rows`` is the reference it must equal (value by value, per-value converters in
``lib.providers.convert``); the fast path hands it any batch it declines, so problems are
located exactly (the location is built only then). Problems in a page raise ``PageProblem``
(a plain message); the connector adds provider, endpoint, page number and a payload sample
and raises ``DataError``.

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
``rounding: half_even``. Arrow's decimal conversion (from ``Decimal`` or from text) raises on
any loss of digits, and the row-by-row path then names the column, JSON path and value.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa

from lib.arrow_schema import arrow_type
from lib.config.source import ColumnConfig, RecordsConfig
from lib.errors import ConfigError, ConfigProblem
from lib.providers.convert import CONVERTERS, Converter, PageProblem, decimal_converter, dig
from lib.schema import SchemaField

__all__ = ["Column", "PageProblem", "Plan", "build_plan", "dig", "shape_page", "shape_rows"]

_DECIMALS = ("NUMERIC", "BIGNUMERIC")

Vector = Callable[[list[Any]], pa.Array]
"""Converts a column's raw values at once, or raises (see ``_VECTOR_ERRORS``) to decline."""


class NotVectorised(Exception):
    """The vectorised path declines a page or batch; the row-by-row path takes it."""


_VECTOR_ERRORS = (pa.ArrowException, TypeError, ValueError, OverflowError, NotVectorised)


@dataclass(frozen=True)
class Column:
    """One output column: where it comes from, how it is converted, its Arrow type.

    ``parts`` is ``spec.path`` split once; ``vector`` (if any) converts a whole column
    in Arrow and ``convert`` converts one value (the reference, also the fallback).
    """

    name: str
    spec: ColumnConfig
    required: bool
    arrow_type: pa.DataType
    convert: Converter
    vector: Vector | None = None
    parts: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "parts", tuple(self.spec.path.split(".")))

    @property
    def parent(self) -> bool:
        """Whether the value comes from the enclosing bucket (``scope: parent``)."""
        return self.spec.scope == "parent"


@dataclass(frozen=True)
class Plan:
    """Columns in schema order plus the Arrow schema of every batch."""

    records: RecordsConfig
    columns: tuple[Column, ...]
    schema: pa.Schema


def _inferred(kind: pa.DataType) -> Vector:
    """Arrow's own conversion when it infers exactly ``kind`` (strict: no coercion)."""

    def vector(values: list[Any]) -> pa.Array:
        array = pa.array(values)
        if array.type == kind:
            return array
        if array.type == pa.null():
            return pa.nulls(len(values), kind)
        raise NotVectorised

    return vector


def _decimal(kind: pa.DataType) -> Vector:
    """Integers and decimals, or decimal strings cast as text; Arrow raises on any loss."""

    def vector(values: list[Any]) -> pa.Array:
        try:
            return pa.array(values, kind)
        except pa.ArrowTypeError:
            text = pa.array(values)
            if text.type != pa.string():
                raise NotVectorised from None
            return text.cast(kind)

    return vector


_VECTORS: dict[str, pa.DataType] = {"STRING": pa.string(), "INT64": pa.int64(), "BOOL": pa.bool_()}


def _column(schema_field: SchemaField, spec: ColumnConfig, required: bool) -> Column | None:
    """The column's Arrow type (``lib.arrow_schema``) and converters; None if REST cannot fill it.

    Vectorised: STRING, INT64, BOOL (when Arrow infers exactly that type) and NUMERIC /
    BIGNUMERIC without rounding (Arrow's exact conversion). The rest convert value by value.
    """
    kind = schema_field.canonical_type
    if schema_field.mode == "REPEATED" or kind not in (*CONVERTERS, *_DECIMALS):
        return None
    arrow = arrow_type(schema_field)
    if isinstance(arrow, pa.Decimal128Type | pa.Decimal256Type):
        rounding = spec.rounding == "half_even"
        convert = decimal_converter(arrow.precision, arrow.scale, round_half_even=rounding)
        vector = None if rounding else _decimal(arrow)
        return Column(schema_field.name, spec, required, arrow, convert, vector)
    inferred = _inferred(_VECTORS[kind]) if kind in _VECTORS else None
    return Column(schema_field.name, spec, required, arrow, CONVERTERS[kind], inferred)


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
    for schema_field in schema:
        spec = records.columns.get(schema_field.name)
        if spec is None:
            continue
        column = _column(schema_field, spec, spec.required or schema_field.mode == "REQUIRED")
        if column is None:
            problems.append(
                ConfigProblem(
                    where,
                    f"records.columns.{schema_field.name}",
                    f"a REST column cannot fill a {schema_field.mode} {schema_field.type} field",
                    "map nested values to flat columns with dotted paths, or use type JSON",
                )
            )
            continue
        columns.append(column)
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


def shape_rows(
    payload: Any, plan: Plan, batch_rows: int, rows: range | None = None
) -> Iterator[pa.RecordBatch]:
    """The reference shaping: row by row, value by value, each problem located exactly.

    :func:`shape_page` gives the same batches faster and falls back to this path to explain a
    problem (or to convert values its vectorised path does not take).

    Args:
        payload: the parsed page.
        plan: the source's plan.
        batch_rows: maximum rows per batch.
        rows: only these rows of the page (all by default).

    Raises:
        PageProblem: the first problem in row order, naming its JSON path and column.
    """
    values: list[list[Any]] = [[] for _ in plan.columns]
    items = _items(payload, plan.records)
    if rows is not None:
        items = itertools.islice(items, rows.start, rows.stop)
    for parent, row, where in items:
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


def shape_page(payload: Any, plan: Plan, batch_rows: int) -> Iterator[pa.RecordBatch]:
    """Turn one page into record batches of at most ``batch_rows`` rows.

    Vectorised: the page's rows are gathered once, each column is extracted by its
    pre-split path and converted as a whole (parent-scope columns once per bucket, decimals
    by Arrow, exactly or not at all). Whatever that path declines — a problem, or a value
    only a per-value converter takes — goes through :func:`shape_rows` for that batch (the
    whole page if its structure is off), so batches and problems are the row-by-row ones.

    Raises:
        PageProblem: the page is not shaped as the mapping expects, or a value does not fit
            its column.
    """
    try:
        page = _Page.collect(payload, plan)
    except NotVectorised:
        yield from shape_rows(payload, plan, batch_rows)
        return
    for start in range(0, len(page.rows), batch_rows):
        stop = min(start + batch_rows, len(page.rows))
        try:
            batch = page.batch(start, stop)
        except NotVectorised:
            yield from shape_rows(payload, plan, batch_rows, range(start, stop))
        else:
            yield batch


@dataclass(frozen=True)
class _Page:
    """A page's rows, with each row's bucket and the parent-scope columns per bucket."""

    plan: Plan
    rows: list[Any]
    owners: list[int]
    parents: dict[str, pa.Array]

    @classmethod
    def collect(cls, payload: Any, plan: Plan) -> _Page:
        """Gather the rows; convert parent-scope columns once per (non-empty) bucket.

        Raises:
            NotVectorised: anything unusual; the row-by-row path explains or handles it.
        """
        records = plan.records
        try:
            items = dig(payload, records.path)
        except PageProblem:
            raise NotVectorised from None
        if type(items) is not list:
            raise NotVectorised
        rows: list[Any] = []
        owners: list[int] = []
        buckets: list[Any] = []
        if records.each is None:
            rows = items
        else:
            for item in items:
                inner = item.get(records.each) if type(item) is dict else None
                if type(inner) is not list:
                    raise NotVectorised
                if inner:
                    owners += [len(buckets)] * len(inner)
                    buckets.append(item)
                    rows += inner
        if rows and set(map(type, rows)) != {dict}:
            raise NotVectorised
        parents = {
            c.name: _convert(c, _extract(buckets, c.parts)) for c in plan.columns if c.parent
        }
        return cls(plan, rows, owners, parents)

    def batch(self, start: int, stop: int) -> pa.RecordBatch:
        """Rows ``[start, stop)`` as one batch.

        Raises:
            NotVectorised: a value the vectorised path does not take (or a problem).
        """
        rows = self.rows[start:stop]
        steps: dict[tuple[str, ...], list[Any]] = {}
        arrays = [
            self._parent(c.name, start, stop)
            if c.parent
            else _convert(c, _extract(rows, c.parts, steps))
            for c in self.plan.columns
        ]
        return pa.RecordBatch.from_arrays(arrays, schema=self.plan.schema)

    def _parent(self, name: str, start: int, stop: int) -> pa.Array:
        """A parent-scope column for rows ``[start, stop)``: each row gets its bucket's value."""
        values = self.parents[name]
        if len(values) == 1:  # one bucket (a daily fetch): repeat its value
            return pa.repeat(values[0], stop - start)
        return values.take(pa.array(self.owners[start:stop], pa.int32()))


def _extract(
    rows: list[Any], parts: tuple[str, ...], steps: dict[tuple[str, ...], list[Any]] | None = None
) -> list[Any]:
    """The value at ``parts`` in every row (rows are dicts); None where a step is missing.

    ``steps`` keeps intermediate lists, so ``amount.value`` and ``amount.currency`` walk
    ``amount`` once.
    """
    steps = {} if steps is None else steps
    values = steps.get(parts[:1])
    if values is None:
        values = steps[parts[:1]] = [row.get(parts[0]) for row in rows]
    for depth in range(2, len(parts) + 1):
        known = steps.get(parts[:depth])
        if known is None:
            part = parts[depth - 1]
            known = [v.get(part) if type(v) is dict else _not_object(v) for v in values]
            steps[parts[:depth]] = known
        values = known
    return values


def _not_object(value: Any) -> Any:
    if value is None:
        return None
    raise NotVectorised


def _convert(column: Column, values: list[Any]) -> pa.Array:
    """One column's values as an Arrow array: vectorised if it can, else value by value.

    Raises:
        NotVectorised: a problem (the row-by-row path names it) or a value Arrow refuses.
    """
    array = None
    if column.vector is not None:
        try:
            array = column.vector(values)
        except _VECTOR_ERRORS:
            array = None
    if array is None:
        try:
            converted = [None if v is None else column.convert(v) for v in values]
            array = pa.array(converted, column.arrow_type)
        except (PageProblem, *_VECTOR_ERRORS):
            raise NotVectorised from None
    if column.required and array.null_count:
        raise NotVectorised
    return array
