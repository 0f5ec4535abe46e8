"""The BigQuery functions the embedded engine (DuckDB) runs with BigQuery's meaning.

This module is data plus the pure checks that read it:

* :data:`FAITHFUL` — the allow-list, by category. A function is on it only when every example
  of ``tests/lib/data/bigquery_function_corpus.yml`` (BigQuery's documented results) passes
  through :func:`lib.sql.translate` on DuckDB. Argument forms that are known to differ are
  refused by the DuckDB fix-ups in :mod:`lib.sql`, never translated.
* :data:`REFUSED` — functions known to be unfaithful, with what to write instead.
* :func:`function_names` / :func:`unfaithful_functions` — which functions a parsed BigQuery
  tree calls, named as BigQuery spells them, and which of them have no faithful translation.

A function is named by rendering its sqlglot node back to BigQuery, so aliases sqlglot
normalises (``STRPOS`` → ``INSTR``, ``CEIL`` → ``CEILING``…) appear under one name; every
spelling used by the corpus is what decides coverage. Dotted names (``NET.HOST``,
``dataset.udf``) are kept whole; ``SAFE.f`` is checked as ``f`` (DuckDB's ``TRY``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from sqlglot import exp

__all__ = [
    "ALLOWED",
    "FAITHFUL",
    "REFUSED",
    "function_names",
    "unfaithful_functions",
]

FAITHFUL: Mapping[str, frozenset[str]] = {
    "conditional": frozenset({"CASE", "COALESCE", "IF", "IFNULL", "NULLIF"}),
    "conversion": frozenset({"CAST", "SAFE_CAST"}),
    "date": frozenset(
        {
            "CURRENT_DATE",
            "DATE",
            "DATE_ADD",
            "DATE_DIFF",
            "DATE_FROM_UNIX_DATE",
            "DATE_SUB",
            "DATE_TRUNC",
            "EXTRACT",
            "FORMAT_DATE",
            "GENERATE_DATE_ARRAY",
            "LAST_DAY",
            "PARSE_DATE",
            "UNIX_DATE",
        }
    ),
    "timestamp and datetime": frozenset(
        {
            "CURRENT_TIMESTAMP",
            "DATETIME",
            "DATETIME_ADD",
            "DATETIME_DIFF",
            "DATETIME_SUB",
            "DATETIME_TRUNC",
            "FORMAT_DATETIME",
            "FORMAT_TIMESTAMP",
            "PARSE_DATETIME",
            "PARSE_TIMESTAMP",
            "TIMESTAMP",
            "TIMESTAMP_ADD",
            "TIMESTAMP_DIFF",
            "TIMESTAMP_MICROS",
            "TIMESTAMP_MILLIS",
            "TIMESTAMP_SECONDS",
            "TIMESTAMP_SUB",
            "TIMESTAMP_TRUNC",
            "UNIX_MICROS",
            "UNIX_MILLIS",
            "UNIX_SECONDS",
        }
    ),
    "string": frozenset(
        {
            "ASCII",
            "CHAR_LENGTH",
            "CONCAT",
            "ENDS_WITH",
            "FORMAT",
            "INITCAP",
            "INSTR",
            "LEFT",
            "LENGTH",
            "LOWER",
            "LPAD",
            "LTRIM",
            "REGEXP_CONTAINS",
            "REGEXP_EXTRACT",
            "REGEXP_EXTRACT_ALL",
            "REGEXP_REPLACE",
            "REPEAT",
            "REPLACE",
            "REVERSE",
            "RIGHT",
            "RPAD",
            "RTRIM",
            "SPLIT",
            "STARTS_WITH",
            "SUBSTR",
            "SUBSTRING",
            "TRIM",
            "UPPER",
        }
    ),
    "hash and encoding": frozenset(
        {"FROM_BASE64", "FROM_HEX", "MD5", "SHA1", "SHA256", "TO_BASE64", "TO_HEX"}
    ),
    "math": frozenset(
        {
            "ABS",
            "CEIL",
            "CEILING",
            "DIV",
            "EXP",
            "FLOOR",
            "GREATEST",
            "LEAST",
            "LN",
            "LOG",
            "MOD",
            "POW",
            "POWER",
            "ROUND",
            "SAFE_DIVIDE",
            "SQRT",
            "TRUNC",
        }
    ),
    "aggregate": frozenset(
        {
            "ANY_VALUE",
            "ARRAY_AGG",
            "AVG",
            "COUNT",
            "COUNTIF",
            "LOGICAL_AND",
            "LOGICAL_OR",
            "MAX",
            "MIN",
            "STDDEV",
            "STDDEV_POP",
            "STDDEV_SAMP",
            "STRING_AGG",
            "SUM",
            "VARIANCE",
            "VAR_POP",
            "VAR_SAMP",
        }
    ),
    "window": frozenset(
        {
            "CUME_DIST",
            "DENSE_RANK",
            "FIRST_VALUE",
            "LAG",
            "LAST_VALUE",
            "LEAD",
            "NTH_VALUE",
            "NTILE",
            "PERCENT_RANK",
            "RANK",
            "ROW_NUMBER",
        }
    ),
    "array and struct": frozenset(
        {
            "ARRAY",
            "ARRAY_CONCAT",
            "ARRAY_LENGTH",
            "ARRAY_REVERSE",
            "ARRAY_TO_STRING",
            "GENERATE_ARRAY",
            "STRUCT",
            "UNNEST",
        }
    ),
    "json": frozenset(
        {
            "JSON_EXTRACT",
            "JSON_EXTRACT_SCALAR",
            "JSON_QUERY",
            "JSON_VALUE",
            "PARSE_JSON",
            "TO_JSON",
            "TO_JSON_STRING",
        }
    ),
}
"""BigQuery functions (as BigQuery names them) the embedded engine runs faithfully."""

ALLOWED: frozenset[str] = frozenset().union(*FAITHFUL.values())

_ADD_ONE = (
    "use a function of the allow-list (docs/sql.md), or add this one to lib/sql_functions.py "
    "with a corpus entry (tests/lib/data/bigquery_function_corpus.yml) proving BigQuery's "
    "documented result"
)

REFUSED: Mapping[str, str] = {
    "FARM_FINGERPRINT": "DuckDB has no FarmHash; for a stable key use TO_HEX(SHA256(...))",
    "SHA512": "the engine has no SHA-512; use SHA256",
    "SIGN": "the engine returns an integer for FLOAT64 and 0 for NaN; write a CASE",
    "APPROX_COUNT_DISTINCT": "the engine's sketch differs from BigQuery's; use COUNT(DISTINCT …)",
    "APPROX_QUANTILES": "the engine's sketch differs from BigQuery's; use PERCENTILE_CONT",
    "RAND": "random values cannot be reproduced; derive them from a hash of the row",
    "GENERATE_UUID": "random values cannot be reproduced; derive ids from a hash of the row",
}
"""Functions known to have no faithful DuckDB translation, and what to write instead."""

# Functions sqlglot parses into operator nodes (BigQuery has no ``%`` or integer-``/``).
_OPERATOR_FUNCTIONS: Mapping[type[exp.Expr], str] = {exp.Mod: "MOD", exp.IntDiv: "DIV"}
_CALL = re.compile(r"([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)\s*\(")
_WORD = re.compile(r"[A-Za-z_]\w*")


_NAMES: dict[tuple[object, ...], str] = {}
"""Rendered names by node shape: rendering copies the whole subtree, so do it once per shape."""


def _arg_key(value: object) -> object:
    if isinstance(value, exp.Expr):
        leaf = not any(isinstance(v, exp.Expr | list) for v in value.args.values())
        return (type(value), value.this if leaf else None)
    if isinstance(value, list):
        return tuple(type(v) for v in value)
    return value if isinstance(value, str | bool | int | type(None)) else type(value)


def _rendered_name(node: exp.Expr) -> str:
    spelled = tuple(sorted((k, str(v)) for k, v in node.meta.items() if k.endswith("name")))
    key = (type(node), spelled, *((k, _arg_key(v)) for k, v in sorted(node.args.items())))
    name = _NAMES.get(key)
    if name is None:
        name = _NAMES[key] = _render_name(node)
    return name


def _render_name(node: exp.Expr) -> str:
    text = node.sql(dialect="bigquery")
    call = _CALL.match(text)
    if call:
        return call.group(1).upper()
    word = _WORD.match(text)
    if word:
        return word.group(0).upper()
    return "ARRAY" if isinstance(node, exp.Array) else type(node).__name__.upper()


def _name(node: exp.Expr) -> str | None:
    if isinstance(node, exp.SafeFunc) or isinstance(node.parent, exp.NetFunc):
        return None
    if isinstance(node, exp.ParseJSON) and node.args.get("is_literal"):
        return None  # JSON '...' is a literal, not a call
    if type(node) in _OPERATOR_FUNCTIONS:
        return _OPERATOR_FUNCTIONS[type(node)]
    if isinstance(node, exp.NetFunc):
        return "NET." + _rendered_name(node.this)
    base = node.name.upper() if isinstance(node, exp.Anonymous) else _rendered_name(node)
    parent = node.parent
    if isinstance(parent, exp.Dot) and parent.expression is node:
        return f"{parent.this.sql(dialect='bigquery').upper()}.{base}"
    return base


def _calls(tree: exp.Expr) -> Iterator[tuple[str, exp.Expr]]:
    for node in tree.walk():
        if isinstance(node, exp.Connector | exp.Exists | exp.WeekStart):
            continue  # operators and the WEEK(<day>) date part, which sqlglot models as functions
        if isinstance(node, exp.Func | exp.Mod | exp.IntDiv):
            name = _name(node)
            if name is not None:
                yield name, node


def function_names(tree: exp.Expr) -> set[str]:
    """Every function a parsed BigQuery tree calls, named as BigQuery spells it.

    Args:
        tree: a statement or expression parsed with ``read="bigquery"``.

    Returns:
        Upper-case names, e.g. ``{"DATE_TRUNC", "SUM", "NET.HOST"}``.
    """
    return {name for name, _ in _calls(tree)}


def unfaithful_functions(tree: exp.Expr) -> list[str]:
    """Describe every function of ``tree`` the embedded engine cannot run faithfully.

    Args:
        tree: a statement or expression parsed with ``read="bigquery"``.

    Returns:
        One message per distinct function, in order of appearance, each reading
        ``function X has no faithful DuckDB translation: <what to do>``; empty if all
        functions are on the allow-list.
    """
    messages: dict[str, str] = {}
    for name, _ in _calls(tree):
        if name in ALLOWED or name in messages:
            continue
        hint = REFUSED.get(name, _ADD_ONE)
        if "." in name and name not in REFUSED:
            hint = f"dotted and user-defined functions do not exist in the engine; {_ADD_ONE}"
        messages[name] = f"function {name} has no faithful DuckDB translation: {hint}"
    return list(messages.values())
