"""Infer a transform's output columns from its SQL: sqlglot type annotation, statically.

The query is qualified against the tables it reads (the tenant's catalog) with the
transform ``@parameters`` typed as the step binds them, then annotated; each output column
gets the BigQuery type of its expression (``SUM(BIGNUMERIC)`` → BIGNUMERIC, ``COUNT(*)`` →
INT64, a STRUCT → RECORD, an ARRAY → REPEATED) and mode NULLABLE. An expression whose type
sqlglot cannot tell is a problem naming the column and the fix: ``CAST(… AS type)`` or a
schema file.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

import sqlglot
from sqlglot import exp

from lib.config.sql_check import _Check, _line
from lib.errors import ConfigProblem
from lib.schema import SchemaField, TableSpec

PARAMETER_TYPES = {
    "window_start": "DATE",
    "window_end": "DATE",
    "dates": "ARRAY<DATE>",
    "run_id": "STRING",
    "tenant_id": "STRING",
    "now": "TIMESTAMP",
}
"""The types of the ``@parameters`` a transform step binds (lib/steps/transform.py)."""

_SCALARS = {
    "INT64": "INT64",
    "FLOAT64": "FLOAT64",
    "NUMERIC": "NUMERIC",
    "BIGNUMERIC": "BIGNUMERIC",
    "STRING": "STRING",
    "BOOL": "BOOL",
    "DATE": "DATE",
    "DATETIME": "DATETIME",
    "TIMESTAMP": "TIMESTAMP",
    "TIME": "TIME",
    "JSON": "JSON",
    "BYTES": "BYTES",
}


def logical_tables(text: str) -> set[str]:
    """The ``dataset.table`` names a query reads (WITH names excluded), lower-cased."""
    try:
        trees = sqlglot.parse(text, read="bigquery")
    except sqlglot.errors.SqlglotError:
        return set()
    return {
        f"{t.db}.{t.name}".lower()
        for tree in trees
        if tree is not None
        for t in tree.find_all(exp.Table)
        if t.db
    }


def infer_fields(
    text: str, tables: Mapping[str, TableSpec | None]
) -> tuple[list[SchemaField] | None, list[ConfigProblem]]:
    """The output columns of a transform query (None when they cannot be inferred).

    Args:
        text: the query (BigQuery SQL over logical tables).
        tables: logical ``dataset.table`` → columns.

    Returns:
        The columns (None if the query does not resolve — its SQL problems are reported by
        the SQL check — or a column's type is unknown) and the problems (file left empty).
    """
    return _cached(text, tuple(sorted(tables.items())))


@functools.lru_cache(maxsize=256)
def _cached(
    text: str, tables: tuple[tuple[str, TableSpec | None], ...]
) -> tuple[list[SchemaField] | None, list[ConfigProblem]]:
    check = _Check("", text, dict(tables))
    tree = check.single_query()
    if tree is None or check.reads_unknown_columns(tree):
        return None, []
    check.tables_and_parameters(tree)
    if check.problems:
        return None, []
    annotated = check.columns(_typed_parameters(tree))
    if annotated is None or check.problems or not isinstance(annotated, exp.Query):
        return None, []
    fields, problems = [], []
    for select in annotated.selects:
        name = select.alias_or_name
        field = _field(name, select.type)
        if isinstance(field, str):
            problems.append(
                ConfigProblem(
                    "",
                    "(sql)",
                    f"cannot infer the type of output column {name!r} ({field})",
                    f"write CAST(… AS type) AS {name}, or give the destination a schema: file",
                    line=_line(select.args.get("alias") or select),
                )
            )
        else:
            fields.append(field)
    return (None if problems else fields), problems


def _typed_parameters(tree: exp.Expr) -> exp.Expr:
    """The query with each ``@parameter`` replaced by a typed NULL (for annotation only)."""
    typed = tree.copy()
    for param in list(typed.find_all(exp.Parameter)):
        kind = PARAMETER_TYPES.get(param.name)
        if kind is not None:
            param.replace(exp.cast(exp.null(), exp.DataType.build(kind, dialect="bigquery")))
    return typed


def _field(name: str, dtype: exp.DataType | None, mode: str = "NULLABLE") -> SchemaField | str:
    """The schema column of an annotated type, or why there is none."""
    if dtype is None or dtype.this == exp.DataType.Type.UNKNOWN:
        return "its type is unknown"
    if dtype.this == exp.DataType.Type.ARRAY:
        if mode == "REPEATED" or not dtype.expressions:
            return "an array of arrays or of unknown items"
        return _field(name, dtype.expressions[0], "REPEATED")
    if dtype.this == exp.DataType.Type.STRUCT:
        members = []
        for member in dtype.expressions:
            inner = member.args.get("kind") if isinstance(member, exp.ColumnDef) else None
            found = _field(member.name, inner)
            if isinstance(found, str):
                return f"struct field {member.name!r}: {found}"
            members.append(found)
        return SchemaField(name=name, type="RECORD", mode=mode, fields=tuple(members))
    text = dtype.sql("bigquery")
    base, _, params = text.partition("(")
    kind = _SCALARS.get(base.strip().upper())
    if kind is None:
        return f"{text} is not a BigQuery column type"
    precision = scale = None
    if params and kind in ("NUMERIC", "BIGNUMERIC"):
        numbers = [int(n) for n in params.rstrip(")").split(",") if n.strip().isdigit()]
        precision, scale = [*numbers, 0][:2] if numbers else (None, None)
    return SchemaField(name=name, type=kind, mode=mode, precision=precision, scale=scale)
