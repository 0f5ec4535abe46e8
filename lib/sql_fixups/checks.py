"""Fix-ups that refuse: statements that are not BigQuery queries, functions off the list."""

from __future__ import annotations

from sqlglot import exp

from lib import sql_functions as functions
from lib.sql_fixups._tree import Unfaithful

_STATEMENTS = (
    exp.Query,
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Transaction,
    exp.Commit,
    exp.Rollback,
)


def statements(tree: exp.Expr) -> exp.Expr:
    """Only queries, DML, DDL and transactions reach the engine.

    Anything else — a command sqlglot could not parse, ``SET``, ``EXPORT DATA``, scripting,
    or text such as ``INSTALL inet`` that parses as a bare expression — would run as DuckDB
    SQL (``INSTALL``/``LOAD`` an extension, ``PRAGMA``, ``COPY``) with no BigQuery meaning.
    """
    if not isinstance(tree, _STATEMENTS):
        word = tree.sql(dialect="bigquery").split(maxsplit=1)[:1] or ["(empty)"]
        raise Unfaithful(f"{word[0].upper()} … is not a BigQuery statement the engine runs")
    return tree


def faithful_functions(tree: exp.Expr) -> exp.Expr:
    """Every function called must be on the allow-list of :mod:`lib.sql_functions`."""
    problems = functions.unfaithful_functions(tree)
    if problems:
        raise Unfaithful("; ".join(problems))
    return tree
