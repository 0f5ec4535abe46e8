"""Tree helpers shared by the DuckDB fix-ups: building nodes, static types, the error."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from sqlglot import exp
from sqlglot.expressions.datatypes import DType
from sqlglot.optimizer.annotate_types import annotate_types

Fixup = Callable[[exp.Expr], exp.Expr]


class Unfaithful(Exception):
    """sqlglot would translate this, but the result would not mean what BigQuery means."""


@cache
def _data_type(name: str) -> exp.DataType:
    return exp.DataType.build(name)


def cast(node: exp.Expr, to: str) -> exp.Expr:
    """``CAST(node AS to)``."""
    return exp.Cast(this=node, to=_data_type(to).copy())


def call(name: str, *args: exp.Expr) -> exp.Expr:
    """A call of the engine's function ``name`` (rendered as written)."""
    return exp.Anonymous(this=name, expressions=list(args))


def done(node: exp.Expr) -> exp.Expr:
    """Mark a node a fix-up built, so a later pass leaves it alone."""
    node.meta["convergence_fixed"] = True
    return node


_UNKNOWABLE = (exp.Column, exp.Parameter, exp.Placeholder, exp.Dot, exp.Star)


def static_type(node: exp.Expr) -> DType | None:
    """The BigQuery type of an expression when it is known without a schema, else None."""
    if isinstance(node, _UNKNOWABLE):
        return None
    if isinstance(node, exp.Cast):  # SAFE_CAST too
        declared: DType = node.to.this
        return declared
    annotated = annotate_types(node.copy(), dialect="bigquery")
    kind: DType | None = annotated.type.this if annotated.type else None
    return None if kind in (None, exp.DataType.Type.UNKNOWN) else kind


def is_float_literal(node: exp.Expr) -> bool:
    """``2.5``, ``-1e3``: a literal BigQuery types as FLOAT64."""
    if isinstance(node, exp.Neg):
        node = node.this
    text = node.name.lower() if isinstance(node, exp.Literal) and not node.is_string else ""
    return "." in text or "e" in text
