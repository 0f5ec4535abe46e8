"""Pure helpers of the BigQuery adapter: statements, typed parameters and schema plans.

Nothing here talks to BigQuery, so every request the adapter sends can be unit-tested
without a server (the emulator cannot check DDL clustering, schema evolution or REQUIRED
enforcement). Identifiers are quoted through sqlglot; values only ever travel as
``@parameters``.

Every write lands through ONE statement reading a staging table ``S``:

| write                     | statement                                                       |
|---------------------------|-----------------------------------------------------------------|
| append                    | ``INSERT INTO T (cols) SELECT cols FROM S``                     |
| append + replace scope    | ``MERGE T USING S ON FALSE``: insert all; ``NOT MATCHED BY SOURCE`` |
|                           | ``AND <scope> THEN DELETE``                                     |
| overwrite                 | the same MERGE with the scope ``TRUE``                          |
| merge                     | ``MERGE T USING S ON keys`` update matched, insert the rest     |

Before it, :func:`measure_statement` reads (in one query) what the write will do: rows
replaced, rows a snapshot no longer contains and the UTC days touched (``WriteResult``).

A single DML statement is atomic in BigQuery, so the replace-then-insert needs no
multi-statement transaction (which the emulator cannot run with parameters).
"""

from __future__ import annotations

import datetime as dt
import decimal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlglot import exp

from lib.errors import WarehouseError
from lib.ports import TableRef, WriteSpec

TARGET = "T"
SOURCE = "S"


@dataclass(frozen=True)
class BoundStatement:
    """A BigQuery-dialect statement bound to its ``@parameter`` values.

    Not :class:`lib.sql.Statement`, a translated statement that only names its parameters.
    """

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


def ident(name: str) -> str:
    """A quoted BigQuery identifier (backticks, escaped by sqlglot)."""
    return exp.to_identifier(name, quoted=True).sql(dialect="bigquery")


def qualified_table(project: str, table: TableRef) -> str:
    """The fully qualified, quoted name of ``table`` in ``project``."""
    node = exp.table_(table.table, db=table.dataset, catalog=project, quoted=True)
    return node.sql(dialect="bigquery")


def write_statement(
    project: str, target: TableRef, staging: TableRef, columns: Sequence[str], spec: WriteSpec
) -> BoundStatement:
    """The one statement that moves the staged rows into ``target`` as ``spec`` says.

    Raises:
        WarehouseError: the spec is inconsistent (merge without keys, keys not loaded).
    """
    check_spec(target, columns, spec)
    dest, src = qualified_table(project, target), qualified_table(project, staging)
    if spec.mode == "merge":
        return BoundStatement(_merge_upsert(dest, src, columns, spec.keys))
    if spec.mode == "overwrite":
        return BoundStatement(_merge_replace(dest, src, columns, "TRUE"))
    scope, params = replace_scope(spec)
    if scope is None:
        cols = ", ".join(ident(c) for c in columns)
        return BoundStatement(f"INSERT INTO {dest} ({cols})\nSELECT {cols} FROM {src}")
    return BoundStatement(_merge_replace(dest, src, columns, scope), params)


def check_spec(target: TableRef, columns: Sequence[str], spec: WriteSpec) -> None:
    """Reject write specs that cannot be executed faithfully.

    Raises:
        WarehouseError: naming the table and what to change.
    """
    if spec.mode == "merge" and not spec.keys:
        raise WarehouseError(f"merge into {target} needs keys; set WriteSpec.keys")
    missing = [k for k in spec.keys if k not in columns]
    if spec.mode == "merge" and missing:
        raise WarehouseError(f"merge into {target}: key columns {missing} are not in the data")
    if spec.mode != "append" and spec.scoped:
        raise WarehouseError(
            f"write to {target}: replace/replace_range/replace_dates apply to mode 'append' "
            f"only, not {spec.mode!r}"
        )
    missing = [c for c in [spec.dated_by] if c and c not in columns]
    if missing:
        raise WarehouseError(f"write to {target}: date column {missing[0]!r} is not in the data")


def replace_scope(spec: WriteSpec) -> tuple[str | None, dict[str, Any]]:
    """The condition on ``T`` selecting rows an append replaces, and its parameters."""
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for i, (column, value) in enumerate((spec.replace or {}).items()):
        if value is None:
            clauses.append(f"{TARGET}.{ident(column)} IS NULL")
            continue
        params[f"replace_{i}"] = value
        clauses.append(f"{TARGET}.{ident(column)} = @replace_{i}")
    if spec.replace_range is not None:
        column, low, high = spec.replace_range
        params.update(replace_low=low, replace_high=high)
        clauses.append(f"{TARGET}.{ident(column)} BETWEEN @replace_low AND @replace_high")
    if spec.replace_dates is not None:
        column, days = spec.replace_dates
        if not days:
            clauses.append("FALSE")
        else:
            params["replace_dates"] = sorted(days)
            clauses.append(f"CAST({TARGET}.{ident(column)} AS DATE) IN UNNEST(@replace_dates)")
    # replace, replace_range and replace_dates combine with AND: rows in every scope.
    return (" AND ".join(clauses) if clauses else None), params


def _key_match(keys: Sequence[str]) -> str:
    # NULL-safe, as in the embedded warehouse.
    return " AND ".join(
        f"{TARGET}.{ident(k)} IS NOT DISTINCT FROM {SOURCE}.{ident(k)}" for k in keys
    )


def measure_statement(
    project: str, target: TableRef, staging: TableRef, spec: WriteSpec
) -> BoundStatement:
    """One query reading what a write will do, before its MERGE runs.

    Columns: ``replaced`` (target rows in the scope or matched by a merge), ``removed``
    (replaced rows of a ``replace_dates`` write whose key is not staged) and ``dates`` (UTC
    days of staged and replaced rows, when the spec names a date column).
    """
    dest, src = qualified_table(project, target), qualified_table(project, staging)
    params: dict[str, Any] = {}
    if spec.mode == "merge":
        scope, params = (
            f"EXISTS (SELECT 1 FROM {src} AS {SOURCE} WHERE {_key_match(spec.keys)})",
            {},
        )
    elif spec.mode == "overwrite":
        scope, params = "TRUE", {}
    else:
        found, params = replace_scope(spec)
        scope = found or "FALSE"
    removed = "0"
    if spec.replace_dates and spec.keys:
        gone = f"NOT EXISTS (SELECT 1 FROM {src} AS {SOURCE} WHERE {_key_match(spec.keys)})"
        removed = f"(SELECT COUNT(*) FROM {dest} AS {TARGET} WHERE {scope} AND {gone})"
    dates = "ARRAY<DATE>[]"
    if spec.dated_by:
        day = f"CAST({ident(spec.dated_by)} AS DATE)"
        dates = (
            f"ARRAY(SELECT DISTINCT d FROM (SELECT {day} AS d FROM {src} UNION ALL "
            f"SELECT CAST({TARGET}.{ident(spec.dated_by)} AS DATE) FROM {dest} AS {TARGET} "
            f"WHERE {scope}) WHERE d IS NOT NULL ORDER BY d)"
        )
    sql = (
        f"SELECT (SELECT COUNT(*) FROM {dest} AS {TARGET} WHERE {scope}) AS replaced,\n"
        f"  {removed} AS removed,\n  {dates} AS dates"
    )
    return BoundStatement(sql, params)


def outside_dates_sql(project: str, staging: TableRef, column: str) -> str:
    """Staged rows' UTC days that are not among ``@replace_dates`` (a few, for the error)."""
    day = f"CAST({ident(column)} AS DATE)"
    return (
        f"SELECT DISTINCT {day} AS d FROM {qualified_table(project, staging)}\n"
        f"WHERE {day} IS NULL OR {day} NOT IN UNNEST(@replace_dates) ORDER BY d LIMIT 3"
    )


def _merge_replace(dest: str, src: str, columns: Sequence[str], scope: str) -> str:
    cols = ", ".join(ident(c) for c in columns)
    values = ", ".join(f"{SOURCE}.{ident(c)}" for c in columns)
    return (
        f"MERGE {dest} AS {TARGET} USING {src} AS {SOURCE} ON FALSE\n"
        f"WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})\n"
        f"WHEN NOT MATCHED BY SOURCE AND ({scope}) THEN DELETE"
    )


def _merge_upsert(dest: str, src: str, columns: Sequence[str], keys: Sequence[str]) -> str:
    # NULL-safe, as in the embedded warehouse: a NULL key matches NULL, so re-running a
    # window never duplicates rows whose key is NULL.
    on = " AND ".join(f"{TARGET}.{ident(k)} IS NOT DISTINCT FROM {SOURCE}.{ident(k)}" for k in keys)
    updates = [c for c in columns if c not in keys]
    cols = ", ".join(ident(c) for c in columns)
    values = ", ".join(f"{SOURCE}.{ident(c)}" for c in columns)
    matched = ""
    if updates:
        sets = ", ".join(f"{ident(c)} = {SOURCE}.{ident(c)}" for c in updates)
        matched = f"WHEN MATCHED THEN UPDATE SET {sets}\n"
    return (
        f"MERGE {dest} AS {TARGET} USING {src} AS {SOURCE} ON {on}\n"
        f"{matched}WHEN NOT MATCHED THEN INSERT ({cols}) VALUES ({values})"
    )


def key_check_sql(project: str, staging: TableRef, keys: Sequence[str]) -> str:
    """A query returning one duplicated staged key (no rows when every key is unique).

    BigQuery's MERGE would fail on duplicates with a generic error; the embedded warehouse
    refuses them with a DataError naming a key, so this does too. NULLs group together.
    """
    cols = ", ".join(ident(k) for k in keys)
    return (
        f"SELECT {cols}, COUNT(*) AS n FROM {qualified_table(project, staging)}\n"
        f"GROUP BY {cols} HAVING COUNT(*) > 1 LIMIT 1"
    )


def stage_query_statement(project: str, staging: TableRef, sql: str) -> str:
    """``CREATE TABLE staging AS <query>``: materialise a query source before writing it."""
    return f"CREATE TABLE {qualified_table(project, staging)} AS\n{sql}"


# --- parameters -----------------------------------------------------------------------


def param_type(value: Any) -> str:
    """The BigQuery type of a Python parameter value.

    Raises:
        WarehouseError: the value's type has no BigQuery parameter type.
    """
    if value is None or isinstance(value, str):
        return "STRING"
    for python_type, bq_type in _PARAM_TYPES:
        if isinstance(value, python_type):
            if bq_type == "TIMESTAMP" and getattr(value, "tzinfo", None) is None:
                return "DATETIME"
            return bq_type
    raise WarehouseError(
        f"query parameter of type {type(value).__name__} is not supported; pass str, int, "
        "float, Decimal, bool, date, datetime, bytes or a list of those"
    )


# bool before int (bool is an int); datetime before date (datetime is a date).
_PARAM_TYPES: tuple[tuple[type, str], ...] = (
    (bool, "BOOL"),
    (int, "INT64"),
    (float, "FLOAT64"),
    (decimal.Decimal, "NUMERIC"),
    (dt.datetime, "TIMESTAMP"),
    (dt.date, "DATE"),
    (dt.time, "TIME"),
    (bytes, "BYTES"),
)


def query_parameters(params: Mapping[str, Any] | None) -> list[Any]:
    """``ScalarQueryParameter``/``ArrayQueryParameter`` objects typed from Python values."""
    from google.cloud import bigquery

    built: list[Any] = []
    for name, value in (params or {}).items():
        if isinstance(value, list | tuple | set | frozenset):
            items = list(value)
            first = next((v for v in items if v is not None), None)
            built.append(bigquery.ArrayQueryParameter(name, param_type(first), items))
        else:
            built.append(bigquery.ScalarQueryParameter(name, param_type(value), value))
    return built
