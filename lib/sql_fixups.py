"""DuckDB fix-ups: repair or refuse BigQuery that DuckDB would run with another meaning.

:func:`lib.sql.translate` applies :data:`FIXUPS` to the parsed BigQuery tree, in order, before
rendering it for the target dialect. The first one checks every function against the
allow-list of :mod:`lib.sql_functions`; the others either rewrite a construct so DuckDB
computes BigQuery's answer, or raise :class:`Unfaithful` naming it and what to write instead.
Every rewrite is exercised by the executable function corpus
(``tests/lib/data/bigquery_function_corpus.yml``); a refusal is never a silent fallback.

All fix-ups assume the session time zone is UTC, as BigQuery's default (the DuckDB adapter
sets it when it opens the file).
"""

from __future__ import annotations

from collections.abc import Callable

from sqlglot import exp
from sqlglot.expressions.datatypes import DType
from sqlglot.optimizer.annotate_types import annotate_types

from lib import sql_functions as functions

__all__ = ["FIXUPS", "Fixup", "Unfaithful"]

Fixup = Callable[[exp.Expr], exp.Expr]


class Unfaithful(Exception):
    """sqlglot would translate this, but the result would not mean what BigQuery means."""


def _cast(node: exp.Expr, to: str) -> exp.Expr:
    return exp.Cast(this=node, to=exp.DataType.build(to))


def _call(name: str, *args: exp.Expr) -> exp.Expr:
    return exp.Anonymous(this=name, expressions=list(args))


def _static_type(node: exp.Expr) -> DType | None:
    """The BigQuery type of an expression when it is known without a schema, else None."""
    annotated = annotate_types(node.copy(), dialect="bigquery")
    kind = annotated.type.this if annotated.type else None
    return None if kind in (None, exp.DataType.Type.UNKNOWN) else kind


_TIMESTAMPS = {
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPTZ,
    exp.DataType.Type.DATETIME,
}


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


def exact_numeric(tree: exp.Expr) -> exp.Expr:
    """NUMERIC is DECIMAL(38,9), not DuckDB's DECIMAL(18,3); BIGNUMERIC → DECIMAL(38,18)."""
    for dtype in tree.find_all(exp.DataType):
        kind = dtype.this
        if kind not in (exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL):
            continue
        params = [int(p.name) for p in dtype.expressions]
        if not params:
            params = [38, 9] if kind == exp.DataType.Type.DECIMAL else [38, 18]
        if params[0] > 38:
            raise Unfaithful(f"precision {params[0]} exceeds the embedded engine's 38 digits")
        dtype.replace(exp.DataType.build(f"DECIMAL({', '.join(map(str, params))})"))
    return tree


def _is_float_literal(node: exp.Expr) -> bool:
    if isinstance(node, exp.Neg):
        node = node.this
    text = node.name.lower() if isinstance(node, exp.Literal) and not node.is_string else ""
    return "." in text or "e" in text


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
        if not _is_float_literal(node) or parent is None or isinstance(parent, exp.Neg):
            return node
        if isinstance(parent, exp.Cast | exp.TryCast):
            return node
        if all(_is_constant(c) for c in _operands(parent) if c is not node):
            return _cast(node.copy(), "DOUBLE")
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
        if rounding and _static_type(node.this) in _INTEGERS:
            node.set("this", _cast(node.this.copy(), "DOUBLE"))
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
            return _call("TO_JSON", node.this.copy())  # sqlglot renders TO_JSON as a STRING
        if type(node) is exp.JSONExtract and _static_type(node.this) in exp.DataType.TEXT_TYPES:
            return _done(_cast(node, "VARCHAR"))
        return node

    return tree.transform(fix, copy=False)


def date_results(tree: exp.Expr) -> exp.Expr:
    """DATE_TRUNC/DATE_ADD/DATE_SUB/DATE_FROM_UNIX_DATE return DATE (DuckDB: TIMESTAMP).

    BigQuery's DATE_TRUNC keeps the type of its argument; without a schema the argument is
    assumed to be a DATE, and one known to be a TIMESTAMP or DATETIME is refused.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DateTrunc) and _static_type(node.this) in _TIMESTAMPS:
            raise Unfaithful(
                "function DATE_TRUNC has no faithful DuckDB translation for a TIMESTAMP or "
                "DATETIME (BigQuery keeps that type): use TIMESTAMP_TRUNC or DATETIME_TRUNC"
            )
        if isinstance(node, exp.DateTrunc | exp.DateAdd | exp.DateSub | exp.DateFromUnixDate):
            return _cast(node, "DATE")
        return node

    return tree.transform(fix, copy=False)


def timestamp_results(tree: exp.Expr) -> exp.Expr:
    """PARSE_TIMESTAMP and TIMESTAMP_MILLIS/MICROS are UTC instants, not naive TIMESTAMPs."""

    def fix(node: exp.Expr) -> exp.Expr:
        if type(node) is exp.StrToTime or isinstance(node, exp.UnixToTime):
            return _cast(node, "TIMESTAMPTZ")
        return node

    return tree.transform(fix, copy=False)


_EPOCH_DIVISORS: dict[type[exp.Expr], int] = {exp.UnixSeconds: 1_000_000, exp.UnixMillis: 1_000}


def unix_epochs(tree: exp.Expr) -> exp.Expr:
    """UNIX_SECONDS/UNIX_MILLIS round down (toward the past); DuckDB's epoch functions round."""

    def fix(node: exp.Expr) -> exp.Expr:
        divisor = _EPOCH_DIVISORS.get(type(node))
        if divisor is None:
            return node
        micros = _call("EPOCH_US", node.this.copy())
        quotient = exp.Div(this=micros, expression=exp.Literal.number(divisor))
        return _cast(exp.Floor(this=quotient), "BIGINT")

    return tree.transform(fix, copy=False)


def _as_timestamp(node: exp.Expr) -> exp.Expr:
    return _cast(node.copy(), "TIMESTAMPTZ") if node.is_string else node.copy()


def timestamp_diff(tree: exp.Expr) -> exp.Expr:
    """TIMESTAMP_DIFF counts whole intervals (DuckDB ``date_sub``), not boundaries crossed."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.TimestampDiff):
            return node
        unit = exp.Literal.string(node.unit.name.lower() if node.unit else "day")
        return _call("DATE_SUB", unit, _as_timestamp(node.expression), _as_timestamp(node.this))

    return tree.transform(fix, copy=False)


def weekdays(tree: exp.Expr) -> exp.Expr:
    """BigQuery DAYOFWEEK is 1 (Sunday)..7, DuckDB's 0..6; WEEK numbering differs entirely."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.Extract):
            return node
        part = node.this
        if isinstance(part, exp.WeekStart) or part.name.upper() == "WEEK":
            raise Unfaithful("EXTRACT(WEEK ...) counts weeks differently here; use ISOWEEK")
        if part.name.upper() == "DAYOFWEEK":
            return exp.Paren(this=exp.Add(this=node.copy(), expression=exp.Literal.number(1)))
        if part.name.upper() == "ISOWEEK":  # DuckDB's WEEK is the ISO week
            node.set("this", exp.var("WEEK"))
        return node

    return tree.transform(fix, copy=False)


def safe_prefix(tree: exp.Expr) -> exp.Expr:
    """``SAFE.fn(...)`` returns NULL on error: DuckDB's ``TRY(...)``."""

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.SafeFunc):
            return _call("TRY", node.this)
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
        sliced = _call("LIST_SLICE", new, exp.Literal.number(1), limit.expression.copy())
        target.replace(sliced)
    return tree


_FLOATS = {exp.DataType.Type.DOUBLE, exp.DataType.Type.FLOAT}
_DECIMALS = {exp.DataType.Type.DECIMAL, exp.DataType.Type.BIGDECIMAL}


def _typeof_is(value: exp.Expr, pattern: str) -> exp.Expr:
    return exp.Like(this=_call("TYPEOF", value.copy()), expression=exp.Literal.string(pattern))


def _done(node: exp.Expr) -> exp.Expr:
    """Mark a node this module built, so a later pass leaves it alone."""
    node.meta["convergence_fixed"] = True
    return node


def _int_cast(node: exp.Cast) -> exp.Expr:
    """FLOAT64 → INT64 rounds halfway cases away from zero (DuckDB: to even)."""
    value = node.this
    if _static_type(value) not in (None, *_FLOATS):
        return node
    as_double = exp.TryCast(this=value.copy(), to=exp.DataType.build("DOUBLE"))
    rounded = _done(type(node)(this=exp.Round(this=as_double), to=node.to.copy()))
    is_float = exp.or_(_typeof_is(value, "DOUBLE"), _typeof_is(value, "FLOAT"))
    return exp.If(this=is_float, true=rounded, false=_done(node.copy()))


def _string_cast(node: exp.Cast) -> exp.Expr:
    """NUMERIC → STRING has no trailing zeros (DuckDB prints every digit of the scale)."""
    value = node.this
    if _static_type(value) not in (None, *_DECIMALS):
        return node
    text = _done(node.copy())
    trimmed = exp.RegexpReplace(
        this=text.copy(),
        expression=exp.Literal.string(r"\.?0+$"),
        replacement=exp.Literal.string(""),
    )
    scaled = exp.and_(_typeof_is(value, "DECIMAL(%"), exp.not_(_typeof_is(value, "%,0)")))
    return exp.If(this=scaled, true=trimmed, false=_done(text.copy()))


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


def _is_float64(node: exp.Expr) -> bool:
    if isinstance(node, exp.Cast | exp.TryCast):
        return node.to.is_type(exp.DataType.Type.DOUBLE)
    return _is_float_literal(node)


def printf_format(tree: exp.Expr) -> exp.Expr:
    """BigQuery ``FORMAT('%d items', n)`` is DuckDB ``printf`` (DuckDB's ``format`` is ``{}``).

    Only the specifiers both engines render alike are translated (see
    :func:`lib.sql_functions.printf_specifiers`); ``%f``-like ones need a FLOAT64 argument,
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
            kinds = functions.printf_specifiers(fmt.name)
        except ValueError as exc:
            raise Unfaithful(
                f"function FORMAT has no faithful DuckDB translation for {fmt.name!r}: {exc}; "
                f"{functions.PRINTF_HELP}"
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
            out.append(_cast(arg.copy(), "DOUBLE") if literal else arg.copy())
        return _call("PRINTF", *out)

    return tree.transform(fix, copy=False)


_FORMATTERS: dict[type[exp.Expr], str] = {
    exp.TsOrDsToDate: "FORMAT_DATE",
    exp.TsOrDsToDatetime: "FORMAT_DATETIME",
    exp.TsOrDsToTimestamp: "FORMAT_TIMESTAMP",
}
_PARSERS: dict[type[exp.Expr], str] = {
    exp.StrToDate: "PARSE_DATE",
    exp.StrToTime: "PARSE_TIMESTAMP",
    exp.ParseDatetime: "PARSE_DATETIME",
}


def _time_function(node: exp.Expr) -> tuple[str, bool] | None:
    """(BigQuery name, formats-a-date-only) of a format/parse node, else None."""
    if isinstance(node, exp.TimeToStr):
        name = _FORMATTERS.get(type(node.this), "FORMAT_TIMESTAMP")
        return name, name == "FORMAT_DATE"
    if type(node) in _PARSERS:
        name = _PARSERS[type(node)]
        return name, name == "PARSE_DATE"
    return None


def time_formats(tree: exp.Expr) -> exp.Expr:
    """FORMAT_*/PARSE_* run only with format elements both engines read alike, in UTC."""
    for node in tree.find_all(exp.TimeToStr, *_PARSERS):
        found = _time_function(node)
        if found is None:
            continue
        name, date_only = found
        if node.args.get("zone") is not None:
            raise Unfaithful(
                f"function {name} has no faithful DuckDB translation with a time zone argument: "
                "format in UTC, or convert first with DATETIME(ts, zone) and FORMAT_DATETIME"
            )
        fmt = node.args.get("format")
        if not isinstance(fmt, exp.Literal) or not fmt.is_string:
            raise Unfaithful(
                f"function {name} has no faithful DuckDB translation for a computed format: "
                "write the format string as a literal"
            )
        parsing = name.startswith("PARSE")
        bad = functions.unsupported_time_elements(fmt.name, date_only=date_only, parsing=parsing)
        if bad:
            raise Unfaithful(
                f"function {name} has no faithful DuckDB translation for format element "
                f"{', '.join(bad)}: use only "
                f"{functions.time_elements_help(date_only=date_only, parsing=parsing)}"
            )
    return tree


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


FIXUPS: dict[str, tuple[Fixup, ...]] = {
    "duckdb": (
        statements,
        faithful_functions,
        exact_numeric,
        float_literals,
        integer_rounding,
        json_functions,
        unnest_offsets,
        casts,
        printf_format,
        time_formats,
        trim_sets,
        date_results,
        timestamp_results,
        unix_epochs,
        timestamp_diff,
        weekdays,
        safe_prefix,
        array_agg_limit,
    ),
}
"""Per target dialect, tree rewrites applied before rendering (one place per engine)."""
