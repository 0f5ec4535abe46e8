"""Fix-ups for strings, JSON and arrays: FORMAT, TRIM, TO_JSON, WITH OFFSET, SAFE., LIMIT."""

from __future__ import annotations

from sqlglot import exp

from lib.sql_fixups import formats
from lib.sql_fixups._tree import Unfaithful, call, cast, done, is_float_literal, static_type


def _is_float64(node: exp.Expr) -> bool:
    if isinstance(node, exp.Cast | exp.TryCast):
        return node.to.is_type(exp.DataType.Type.DOUBLE)
    return is_float_literal(node)


def printf_format(tree: exp.Expr) -> exp.Expr:
    """BigQuery ``FORMAT('%d items', n)`` is DuckDB ``printf`` (DuckDB's ``format`` is ``{}``).

    Only the specifiers both engines render alike are translated (see
    :func:`lib.sql_formats.printf_specifiers`); ``%f``-like ones need a FLOAT64 argument,
    because BigQuery formats a NUMERIC exactly and DuckDB would format a binary double.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Format):
            return node
        fmt, args = node.this, list(node.expressions)
        if not isinstance(fmt, exp.Literal) or not fmt.is_string:
            raise Unfaithful(
                "function FORMAT has no faithful DuckDB translation for a computed format: "
                "write the format string as a literal"
            )
        try:
            kinds = formats.printf_specifiers(fmt.name)
        except ValueError as exc:
            raise Unfaithful(
                f"function FORMAT has no faithful DuckDB translation for {fmt.name!r}: {exc}; "
                f"{formats.PRINTF_HELP}"
            ) from None
        if len(kinds) != len(args):
            raise Unfaithful(f"FORMAT {fmt.name!r} has {len(kinds)} specifiers, {len(args)} values")
        out: list[exp.Expr] = [fmt.copy()]
        for kind, arg in zip(kinds, args, strict=True):
            if kind == "float" and not _is_float64(arg):
                raise Unfaithful(
                    f"function FORMAT has no faithful DuckDB translation for {fmt.name!r} of a "
                    "value that may be NUMERIC (BigQuery formats it exactly, DuckDB through a "
                    "binary double): pass CAST(x AS FLOAT64), the same text on both engines, "
                    "or use CAST(ROUND(x, n) AS STRING)"
                )
            literal = kind == "float" and not isinstance(arg, exp.Cast | exp.TryCast)
            out.append(cast(arg.copy(), "DOUBLE") if literal else arg.copy())
        return call("PRINTF", *out)

    return tree.transform(fix, copy=False)


def trim_sets(tree: exp.Expr) -> exp.Expr:
    """TRIM(s, chars) removes code points in BigQuery, whole graphemes in DuckDB."""
    for node in tree.find_all(exp.Trim):
        chars = node.args.get("expression")
        if chars is None:
            continue
        if not (isinstance(chars, exp.Literal) and chars.is_string and chars.name.isascii()):
            raise Unfaithful(
                "function TRIM (LTRIM, RTRIM) has no faithful DuckDB translation for characters "
                "that are not an ASCII literal (DuckDB trims whole graphemes)"
            )
    return tree


def json_functions(tree: exp.Expr) -> exp.Expr:
    """JSON_QUERY/JSON_EXTRACT of a STRING return a STRING; TO_JSON returns JSON.

    DuckDB returns JSON for both; the STRING case is repaired where the operand is known to
    be a STRING without a schema (a literal, a cast).
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.JSONFormat) and node.args.get("options") is not None:
            raise Unfaithful(
                "function TO_JSON_STRING has no faithful DuckDB translation with pretty_print: "
                "drop the argument"
            )
        if isinstance(node, exp.JSONFormat) and node.args.get("to_json"):
            return call("TO_JSON", node.this.copy())  # sqlglot renders TO_JSON as a STRING
        if type(node) is exp.JSONExtract and static_type(node.this) in exp.DataType.TEXT_TYPES:
            return done(cast(node, "VARCHAR"))
        return node

    return tree.transform(fix, copy=False)


def unnest_offsets(tree: exp.Expr) -> exp.Expr:
    """``UNNEST(a) AS x WITH OFFSET AS o`` counts from 0; DuckDB's ORDINALITY from 1.

    The UNNEST becomes a (lateral) subquery ``(SELECT x, o - 1 AS o FROM UNNEST(a) AS x WITH
    OFFSET AS o)``, so every reference to ``o`` — and ``SELECT *`` — sees BigQuery's offset.
    """
    for index, unnest in enumerate(list(tree.find_all(exp.Unnest))):
        offset = unnest.args.get("offset")
        if not isinstance(offset, exp.Identifier) or not isinstance(
            unnest.parent, exp.From | exp.Join
        ):
            continue
        alias = unnest.args.get("alias")
        columns = alias.columns if isinstance(alias, exp.TableAlias) else []
        if len(columns) != 1:
            raise Unfaithful("UNNEST(...) WITH OFFSET needs an alias for the element: AS x")
        element, name = columns[0].name, offset.name
        shifted = exp.Sub(this=exp.column(name, quoted=True), expression=exp.Literal.number(1))
        inner = exp.select(
            exp.column(element, quoted=True), exp.alias_(shifted, name, quoted=True)
        ).from_(unnest.copy())
        table = exp.TableAlias(this=exp.to_identifier(f"_unnest_offset_{index}"))
        unnest.replace(exp.Subquery(this=inner, alias=table))
    return tree


def safe_prefix(tree: exp.Expr) -> exp.Expr:
    """``SAFE.fn(...)`` returns NULL on error: DuckDB's ``TRY(...)``."""

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.SafeFunc):
            return call("TRY", node.this)
        return node

    return tree.transform(fix, copy=False)


def array_agg_limit(tree: exp.Expr) -> exp.Expr:
    """``ARRAY_AGG(x [IGNORE NULLS] [ORDER BY ..] LIMIT n)`` → slice of an ordered LIST."""
    for agg in list(tree.find_all(exp.ArrayAgg)):
        limit = agg.this
        if not isinstance(limit, exp.Limit):
            continue
        inner = limit.this
        value = inner.this if isinstance(inner, exp.Order) else inner
        new: exp.Expr = exp.ArrayAgg(this=inner.copy())
        target: exp.Expr = agg
        if isinstance(agg.parent, exp.IgnoreNulls):
            target = agg.parent
            not_null = exp.Not(this=exp.Is(this=value.copy(), expression=exp.Null()))
            new = exp.Filter(this=new, expression=exp.Where(this=not_null))
        sliced = call("LIST_SLICE", new, exp.Literal.number(1), limit.expression.copy())
        target.replace(sliced)
    return tree
