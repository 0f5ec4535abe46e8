"""Fix-ups for numbers: NUMERIC precision, float literals, rounding and CAST rules."""

from __future__ import annotations

import decimal

from sqlglot import exp

from lib.schema import EMBEDDED_BIGNUMERIC
from lib.sql_fixups._tree import Unfaithful, call, cast, done, is_float_literal, static_type


def exact_numeric(tree: exp.Expr) -> exp.Expr:
    """NUMERIC is DECIMAL(38,9), not DuckDB's DECIMAL(18,3); BIGNUMERIC → DECIMAL(38,24).

    A typed decimal literal (``NUMERIC '0.01'``) keeps its own digits (DECIMAL(2,2)): its value
    is exact either way, and DuckDB's decimal arithmetic is exact or raises, so e.g. cents *
    ``NUMERIC '0.01'`` stays exact instead of overflowing 38 digits.
    """
    for dtype in tree.find_all(exp.DataType):
        kind = dtype.this
        if kind not in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL):
            continue
        params = [int(p.name) for p in dtype.expressions]
        literal = _decimal_literal(dtype)
        if literal is not None and kind == exp.DataType.Type.DECIMAL and literal[1] > 9:
            literal = None  # NUMERIC has 9 decimals: BigQuery rounds the literal, so must we
        if not params and literal is not None:
            params = literal
        if not params:
            params = [38, 9] if kind == exp.DataType.Type.DECIMAL else list(EMBEDDED_BIGNUMERIC)
        if params[0] > 38:
            raise Unfaithful(f"precision {params[0]} exceeds the embedded engine's 38 digits")
        dtype.replace(exp.DataType.build(f"DECIMAL({', '.join(map(str, params))})"))
    return tree


def _decimal_literal(dtype: exp.DataType) -> list[int] | None:
    """(precision, scale) of the string literal a DataType casts, e.g. ``NUMERIC '0.01'``."""
    cast = dtype.parent
    if not isinstance(cast, exp.Cast) or cast.args.get("to") is not dtype:
        return None
    value = cast.this
    if not isinstance(value, exp.Literal) or not value.is_string:
        return None
    try:
        number = decimal.Decimal(value.name)
    except decimal.InvalidOperation:
        return None
    if not number.is_finite():
        return None
    exponent = int(number.as_tuple().exponent)
    digits = len(number.as_tuple().digits)
    scale = max(0, -exponent)
    return [max(1, digits if exponent < 0 else digits + exponent, scale), scale]


def _is_constant(node: exp.Expr) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    return isinstance(node, exp.Literal | exp.Null | exp.Boolean | exp.Identifier | exp.Var)


def _operands(parent: exp.Expr) -> list[exp.Expr]:
    if isinstance(parent, exp.If):
        return [a for a in (parent.args.get("true"), parent.args.get("false")) if a is not None]
    return [c for c in parent.iter_expressions() if not isinstance(c, exp.DataType)]


def float_literals(tree: exp.Expr) -> exp.Expr:
    """A literal with a decimal point or exponent is FLOAT64 in BigQuery, DECIMAL in DuckDB.

    BigQuery coerces such a literal to NUMERIC only when a non-literal operand beside it
    asks for NUMERIC; so where every operand beside it is a constant (``ROUND(2.5)``,
    ``SELECT 0.5 AS w``, ``[1.5, 2.5]``) it becomes ``CAST(... AS DOUBLE)``. Literals next
    to a column or an expression keep DuckDB's exact DECIMAL, as BigQuery's NUMERIC.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        parent = node.parent
        if not is_float_literal(node) or parent is None or isinstance(parent, exp.Neg):
            return node
        if isinstance(parent, exp.Cast | exp.TryCast):
            return node
        if all(_is_constant(c) for c in _operands(parent) if c is not node):
            return cast(node.copy(), "DOUBLE")
        return node

    return tree.transform(fix, copy=False)


_INTEGERS = set(exp.DataType.INTEGER_TYPES)


def integer_rounding(tree: exp.Expr) -> exp.Expr:
    """ROUND/TRUNC/CEIL/FLOOR of an INT64 return FLOAT64 in BigQuery (DuckDB: an integer).

    Only an operand whose type is known without a schema (a literal, a cast) is repaired; an
    INT64 column keeps DuckDB's integer result — the same value (see docs/sql.md).
    """

    def fix(node: exp.Expr) -> exp.Expr:
        rounding = isinstance(node, exp.Round | exp.Trunc | exp.Ceil | exp.Floor)
        if rounding and static_type(node.this) in _INTEGERS:
            node.set("this", cast(node.this.copy(), "DOUBLE"))
        return node

    return tree.transform(fix, copy=False)


_FLOATS = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}

_DECIMALS = {exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL}


def _typeof_is(value: exp.Expr, pattern: str) -> exp.Expr:
    return exp.Like(this=call("TYPEOF", value.copy()), expression=exp.Literal.string(pattern))


def _int_cast(node: exp.Cast) -> exp.Expr:
    """FLOAT64 → INT64 rounds halfway cases away from zero (DuckDB: to even)."""
    value = node.this
    if static_type(value) not in (None, *_FLOATS):
        return node
    as_double = exp.TryCast(this=value.copy(), to=exp.DataType.build("DOUBLE"))
    rounded = done(type(node)(this=exp.Round(this=as_double), to=node.to.copy()))
    is_float = exp.or_(_typeof_is(value, "DOUBLE"), _typeof_is(value, "FLOAT"))
    return exp.If(this=is_float, true=rounded, false=done(node.copy()))


def _string_cast(node: exp.Cast) -> exp.Expr:
    """NUMERIC → STRING has no trailing zeros (DuckDB prints every digit of the scale)."""
    value = node.this
    if static_type(value) not in (None, *_DECIMALS):
        return node
    text = done(node.copy())
    trimmed = exp.RegexpReplace(
        this=text.copy(),
        expression=exp.Literal.string(r"\.?0+$"),
        replacement=exp.Literal.string(""),
    )
    scaled = exp.and_(_typeof_is(value, "DECIMAL(%"), exp.not_(_typeof_is(value, "%,0)")))
    return exp.If(this=scaled, true=trimmed, false=done(text.copy()))


def casts(tree: exp.Expr) -> exp.Expr:
    """CAST where DuckDB converts with another rule than BigQuery's, decided by ``typeof``.

    The operand's type is unknown without a schema, so the choice is made at run time by
    DuckDB's ``typeof`` (a constant per query): FLOAT64 → INT64 rounds half away from zero;
    NUMERIC → STRING drops trailing zeros of the fraction.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Cast) or node.meta.get("convergence_fixed"):
            return node
        if node.to.is_type(exp.DataType.Type.BIGINT):
            return _int_cast(node)
        if node.to.is_type(*exp.DataType.TEXT_TYPES):
            return _string_cast(node)
        return node

    return tree.transform(fix, copy=False)
