"""Row filters of DQ checks: BigQuery boolean expressions, parsed and confined with sqlglot.

A filter may use column references, literals, operators and built-in scalar functions only —
no subqueries, aggregates, windows, parameters, unknown (user-defined) functions or
statements — and must render for every warehouse (DuckDB included) without loss: its
functions must be on the allow-list of :mod:`lib.sql_functions`, as for any SQL.
"""

from __future__ import annotations

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

from lib.errors import SqlTranslationError
from lib.sql import translate

_FILTER_NODES = (
    exp.Column,
    exp.Identifier,
    exp.Literal,
    exp.Boolean,
    exp.Null,
    exp.Binary,
    exp.Unary,
    exp.Func,
    exp.In,
    exp.Between,
    exp.Paren,
    exp.Not,
    exp.RawString,
    exp.DataType,
    exp.Var,
    exp.Interval,
    exp.Tuple,
    exp.Array,
    exp.Ordered,
)
_FILTER_FORBIDDEN = (
    exp.Query,
    exp.Subquery,
    exp.AggFunc,
    exp.Window,
    exp.Anonymous,
    exp.Star,
    exp.Parameter,
    exp.Placeholder,
    exp.Table,
)


def parse_filter(sql: str) -> exp.Expr:
    """Parse a row filter written in BigQuery SQL and check it holds only safe parts.

    Args:
        sql: a boolean expression over the table's columns, e.g. ``cost > 0 AND model = 'x'``.

    Returns:
        The parsed expression (not yet bound to any table).

    Raises:
        ValueError: the text does not parse, is not one expression, or uses a subquery,
            aggregate, window, parameter, unknown function or statement.
    """
    try:
        parsed = [e for e in sqlglot.parse(sql, read="bigquery") if e is not None]
    except SqlglotError as exc:
        raise ValueError(f"filter is not valid BigQuery SQL: {_first_line(exc)}") from None
    if len(parsed) != 1:
        raise ValueError("filter must be one boolean expression, not several statements")
    for node in parsed[0].walk():
        _check_filter_node(node)
    try:
        translate(f"SELECT {parsed[0].sql(dialect='bigquery')} AS f")
    except SqlTranslationError as exc:
        cause = _first_line(exc.__cause__) if exc.__cause__ else str(exc)
        raise ValueError(f"filter cannot run on every warehouse: {cause}") from None
    return parsed[0]


def _check_filter_node(node: exp.Expr) -> None:
    if isinstance(node, exp.Anonymous):
        raise ValueError(f"filter calls unknown function {node.name!r}; use a BigQuery built-in")
    if isinstance(node, _FILTER_FORBIDDEN) or not isinstance(node, _FILTER_NODES):
        kind = "a subquery" if isinstance(node, exp.Query | exp.Subquery) else node.key.upper()
        raise ValueError(
            f"filter may only use columns, literals, operators and scalar functions, not {kind}"
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
