"""Fix-ups for dates and times: result types, epochs, differences, weeks, format strings."""

from __future__ import annotations

from sqlglot import exp

from lib.sql_fixups import formats
from lib.sql_fixups._tree import Unfaithful, call, cast, static_type

_TIMESTAMPS = {
    exp.DataType.Type.TIMESTAMP,
    exp.DataType.Type.TIMESTAMPTZ,
    exp.DataType.Type.DATETIME,
}


def date_results(tree: exp.Expr) -> exp.Expr:
    """DATE_TRUNC/DATE_ADD/DATE_SUB/DATE_FROM_UNIX_DATE return DATE (DuckDB: TIMESTAMP).

    BigQuery's DATE_TRUNC keeps the type of its argument; without a schema the argument is
    assumed to be a DATE, and one known to be a TIMESTAMP or DATETIME is refused.
    """

    def fix(node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.DateTrunc) and static_type(node.this) in _TIMESTAMPS:
            raise Unfaithful(
                "function DATE_TRUNC has no faithful DuckDB translation for a TIMESTAMP or "
                "DATETIME (BigQuery keeps that type): use TIMESTAMP_TRUNC or DATETIME_TRUNC"
            )
        if isinstance(node, exp.DateTrunc | exp.DateAdd | exp.DateSub | exp.DateFromUnixDate):
            return cast(node, "DATE")
        return node

    return tree.transform(fix, copy=False)


def timestamp_results(tree: exp.Expr) -> exp.Expr:
    """PARSE_TIMESTAMP and TIMESTAMP_MILLIS/MICROS are UTC instants, not naive TIMESTAMPs."""

    def fix(node: exp.Expr) -> exp.Expr:
        if type(node) is exp.StrToTime or isinstance(node, exp.UnixToTime):
            return cast(node, "TIMESTAMPTZ")
        return node

    return tree.transform(fix, copy=False)


_EPOCH_DIVISORS: dict[type[exp.Expr], int] = {exp.UnixSeconds: 1_000_000, exp.UnixMillis: 1_000}


def unix_epochs(tree: exp.Expr) -> exp.Expr:
    """UNIX_SECONDS/UNIX_MILLIS round down (toward the past); DuckDB's epoch functions round."""

    def fix(node: exp.Expr) -> exp.Expr:
        divisor = _EPOCH_DIVISORS.get(type(node))
        if divisor is None:
            return node
        micros = call("EPOCH_US", node.this.copy())
        quotient = exp.Div(this=micros, expression=exp.Literal.number(divisor))
        return cast(exp.Floor(this=quotient), "BIGINT")

    return tree.transform(fix, copy=False)


def _as_timestamp(node: exp.Expr) -> exp.Expr:
    return cast(node.copy(), "TIMESTAMPTZ") if node.is_string else node.copy()


def timestamp_diff(tree: exp.Expr) -> exp.Expr:
    """TIMESTAMP_DIFF counts whole intervals (DuckDB ``date_sub``), not boundaries crossed."""

    def fix(node: exp.Expr) -> exp.Expr:
        if not isinstance(node, exp.TimestampDiff):
            return node
        unit = exp.Literal.string(node.unit.name.lower() if node.unit else "day")
        return call("DATE_SUB", unit, _as_timestamp(node.expression), _as_timestamp(node.this))

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
        bad = formats.unsupported_time_elements(fmt.name, date_only=date_only, parsing=parsing)
        if bad:
            raise Unfaithful(
                f"function {name} has no faithful DuckDB translation for format element "
                f"{', '.join(bad)}: use only "
                f"{formats.time_elements_help(date_only=date_only, parsing=parsing)}"
            )
    return tree
