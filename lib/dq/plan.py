"""Compile every expectation of one table into ONE aggregate query (BigQuery dialect).

Shape of the statement — one aggregate pass over the (scoped) rows computes every per-row
and table measure; each uniqueness check adds a GROUP BY of its key columns only, keeping
the duplicated keys (``HAVING COUNT(*) > 1``), never a window over whole rows::

    SELECT `__dq_rows`.`element_count`, ..., `__dq_e2`.`e2_unexpected`,
           `__dq_rows`.`e2_domain`, `__dq_e2`.`e2_sample`, ...
    FROM (SELECT COUNT(*) AS element_count,
                 COUNTIF(<unexpected>) AS `e1_unexpected`, COUNT(`col`) AS `e1_domain`,
                 ARRAY_AGG(IF(<unexpected>, CAST(`col` AS STRING), NULL)
                           IGNORE NULLS ORDER BY ... LIMIT 20) AS `e1_sample`, ...
          FROM `ds`.`table` WHERE `pipeline_logging_id` = @scope_pipeline_logging_id) AS __dq_rows
    CROSS JOIN (
        SELECT COALESCE(SUM(IF(__dq_copy = 1, __dq_n, 0)), 0) AS `e2_unexpected`,
               ARRAY_AGG(__dq_v ORDER BY __dq_v LIMIT 20) AS `e2_sample`
        FROM (SELECT CAST(`id` AS STRING) AS __dq_v, COUNT(*) AS __dq_n FROM `ds`.`table`
              WHERE <scope> AND `id` IS NOT NULL GROUP BY `id` HAVING COUNT(*) > 1)
        CROSS JOIN UNNEST(GENERATE_ARRAY(1, LEAST(__dq_n, 20))) AS __dq_copy) AS __dq_e2

A duplicated key counts all its rows (as Great Expectations does); each key is repeated
``min(rows, 20)`` times before sampling, so the sample is exactly the first 20 duplicated
values in ascending order, repeats included, as a row-level sample would be. Without a
uniqueness check the statement is just the inner aggregate. Each pass reads only the
columns it names (both engines are columnar). Reading the table literally once — a CTE
shared by the aggregate and the GROUP BYs — makes DuckDB materialise the scoped rows; it
measured about 2.5 times slower at 10M rows than these key-only passes, so they stay separate.

``ARRAY_AGG(... LIMIT 20)`` keeps BigQuery's memory bounded; plain sqlglot refuses to render
it for DuckDB, and :func:`lib.sql.transpile` rewrites it to ``LIST_SLICE(...)``, so run the
query through a Warehouse (never through raw sqlglot). Result aliases are ``element_count``
and ``e{index}_{measure}`` (see :func:`measure_alias`). Values travel as ``@parameters``;
identifiers are quoted.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping
from typing import Any

from sqlglot import exp

from lib.config import dq as cfg
from lib.dq.sql_filter import parse_filter
from lib.ports import Query, TableRef
from lib.sql import check_identifier

SAMPLE_LIMIT = 20
ELEMENT_COUNT = "element_count"
NOW_PARAM = "now"
_ROWS = "__dq_rows"
_VALUE, _COUNT, _COPY = "__dq_v", "__dq_n", "__dq_copy"


def measure_alias(index: int, measure: str) -> str:
    """The result column of ``measure`` for expectation ``index``, e.g. ``e0_unexpected``."""
    return f"e{index}_{measure}"


def column(path: str) -> exp.Expr:
    """A quoted column reference; ``a.b`` reads field ``b`` of STRUCT column ``a``."""
    first, *rest = path.split(".")
    node: exp.Expr = exp.column(first, quoted=True)
    for part in rest:
        node = exp.Dot(this=node, expression=exp.to_identifier(part, quoted=True))
    return node


class _Plan:
    """Collects measures (each with the pass computing it) and parameters while compiling."""

    def __init__(self, base: exp.Table) -> None:
        self.base = base
        self.where: exp.Expr | None = None
        self.measures: list[tuple[str, exp.Expr, str]] = [
            (ELEMENT_COUNT, exp.Count(this=exp.Star()), _ROWS)
        ]
        self.duplicates: dict[str, exp.Select] = {}
        self.params: dict[str, Any] = {}

    def param(self, name: str, value: Any) -> exp.Expr:
        self.params[name] = value
        return exp.Parameter(this=exp.var(name))

    def measure(self, index: int, name: str, expression: exp.Expr, source: str = _ROWS) -> None:
        self.measures.append((measure_alias(index, name), expression, source))

    def column_map(
        self, index: int, unexpected: exp.Expr, domain: exp.Expr, value: exp.Expr | None
    ) -> None:
        """Measures of a per-row check: unexpected rows, rows checked, sample values."""
        self.measure(index, "unexpected", exp.CountIf(this=unexpected))
        self.measure(index, "domain", domain)
        if value is not None:
            self.measure(index, "sample", _sample(unexpected, value))

    def duplicated(
        self, index: int, keys: list[exp.Expr], present: exp.Expr, text: exp.Expr, domain: exp.Expr
    ) -> None:
        """Measures of a uniqueness check: rows of duplicated keys, rows checked, samples."""
        pass_name = f"__dq_e{index}"
        self.duplicates[pass_name] = _duplicates(index, keys, present, text, self)
        self.measure(index, "unexpected", exp.column(measure_alias(index, "unexpected")), pass_name)
        self.measure(index, "domain", domain)
        self.measure(index, "sample", exp.column(measure_alias(index, "sample")), pass_name)


_SAMPLE_LIMIT = exp.Literal.number(SAMPLE_LIMIT)


def _sample(unexpected: exp.Expr, value: exp.Expr) -> exp.Expr:
    """``ARRAY_AGG(IF(u, v, NULL) IGNORE NULLS ORDER BY IF(u, v, NULL) LIMIT 20)``."""
    flagged = exp.If(this=exp.paren(unexpected.copy()), true=value, false=exp.null())
    ordered = exp.Order(
        this=flagged, expressions=[exp.Ordered(this=flagged.copy(), nulls_first=True)]
    )
    limited = exp.Limit(this=ordered, expression=_SAMPLE_LIMIT.copy())
    return exp.IgnoreNulls(this=exp.ArrayAgg(this=limited))


def _as_string(node: exp.Expr) -> exp.Expr:
    return exp.Cast(this=node.copy(), to=exp.DataType.build("STRING", dialect="bigquery"))


def _outside(index: int, node: exp.Expr, kwargs: cfg.Bounds, plan: _Plan) -> exp.Expr:
    """TRUE when ``node`` lies outside the bounds (NULL when ``node`` is NULL)."""
    parts: list[exp.Expr] = []
    if kwargs.min_value is not None:
        low = plan.param(measure_alias(index, "min"), kwargs.min_value)
        parts.append(node.copy() <= low if kwargs.strict_min else node.copy() < low)
    if kwargs.max_value is not None:
        high = plan.param(measure_alias(index, "max"), kwargs.max_value)
        parts.append(node.copy() >= high if kwargs.strict_max else node.copy() > high)
    return exp.or_(*parts) if len(parts) > 1 else parts[0]


def _not_null(index: int, e: Any, plan: _Plan) -> None:
    col = column(e.kwargs.column)
    plan.column_map(index, col.is_(exp.null()), exp.Count(this=exp.Star()), None)


def _values_between(index: int, e: Any, plan: _Plan) -> None:
    col = column(e.kwargs.column)
    unexpected = _outside(index, col, e.kwargs, plan)
    plan.column_map(index, unexpected, exp.Count(this=col), _as_string(col))


def _in_set(index: int, e: Any, plan: _Plan) -> None:
    col = column(e.kwargs.column)
    values = [
        plan.param(measure_alias(index, f"in{k}"), v) for k, v in enumerate(e.kwargs.value_set)
    ]
    unexpected = exp.not_(exp.In(this=col.copy(), expressions=values))
    plan.column_map(index, unexpected, exp.Count(this=col), _as_string(col))


def _match_regex(index: int, e: Any, plan: _Plan) -> None:
    col = column(e.kwargs.column)
    regex = plan.param(measure_alias(index, "regex"), e.kwargs.regex)
    unexpected = exp.not_(exp.RegexpLike(this=_as_string(col), expression=regex))
    plan.column_map(index, unexpected, exp.Count(this=col), _as_string(col))


def _duplicates(
    index: int, keys: list[exp.Expr], present: exp.Expr, text: exp.Expr, plan: _Plan
) -> exp.Select:
    """One GROUP BY of the key columns: duplicated keys' rows and a 20-value sample."""
    count = exp.Count(this=exp.Star())
    groups = (
        exp.select(exp.alias_(text, _VALUE), exp.alias_(count.copy(), _COUNT))
        .from_(plan.base.copy())
        .where(exp.and_(plan.where.copy(), present) if plan.where is not None else present)
        .group_by(*keys)
        .having(count.copy() > 1)
    )
    copies = exp.GenerateSeries(start=exp.Literal.number(1), end=_least_copies())
    first_copy = exp.column(_COPY).eq(exp.Literal.number(1))
    rows = exp.If(this=first_copy, true=exp.column(_COUNT), false=exp.Literal.number(0))
    unexpected = exp.func("COALESCE", exp.Sum(this=rows), exp.Literal.number(0))
    value = exp.column(_VALUE)
    ordered = exp.Order(this=value, expressions=[exp.Ordered(this=value.copy(), nulls_first=True)])
    sample = exp.ArrayAgg(this=exp.Limit(this=ordered, expression=_SAMPLE_LIMIT.copy()))
    return (
        exp.select(
            exp.alias_(unexpected, measure_alias(index, "unexpected"), quoted=True),
            exp.alias_(sample, measure_alias(index, "sample"), quoted=True),
        )
        .from_(groups.subquery("__dq_groups"))
        .join(
            exp.Unnest(
                expressions=[copies],
                alias=exp.TableAlias(columns=[exp.to_identifier(_COPY)]),
            ),
            join_type="CROSS",
        )
    )


def _least_copies() -> exp.Expr:
    return exp.Least(this=exp.column(_COUNT), expressions=[_SAMPLE_LIMIT.copy()])


def _unique(index: int, e: Any, plan: _Plan) -> None:
    col = column(e.kwargs.column)
    present = exp.not_(col.is_(exp.null()))
    plan.duplicated(index, [col.copy()], present, _as_string(col), exp.Count(this=col.copy()))


def _compound_unique(index: int, e: Any, plan: _Plan) -> None:
    cols = [column(c) for c in e.kwargs.column_list]
    present = exp.not_(exp.paren(exp.and_(*[c.is_(exp.null()) for c in cols])))
    text: list[exp.Expr] = [exp.Literal.string("(")]
    for position, col in enumerate(cols):
        if position:
            text.append(exp.Literal.string(", "))
        text.append(exp.func("COALESCE", _as_string(col), exp.Literal.string("NULL")))
    text.append(exp.Literal.string(")"))
    keys = [c.copy() for c in cols]
    plan.duplicated(
        index, keys, present, exp.Concat(expressions=text), exp.CountIf(this=present.copy())
    )


def _row_count(index: int, e: Any, plan: _Plan) -> None:
    if e.kwargs.filter is None:
        plan.measure(index, "observed", exp.Count(this=exp.Star()))
        return
    condition = parse_filter(e.kwargs.filter)
    for identifier in condition.find_all(exp.Identifier):
        identifier.set("quoted", True)
    plan.measure(index, "observed", exp.CountIf(this=condition))


def _aggregate(index: int, e: Any, plan: _Plan) -> None:
    value = exp.func(e.AGGREGATE, column(e.kwargs.column))
    plan.measure(index, "observed", value.copy())
    plan.measure(index, "ok", exp.not_(exp.paren(_outside(index, value, e.kwargs, plan))))


def _recent(index: int, e: Any, plan: _Plan) -> None:
    newest = exp.Max(this=column(e.kwargs.column))
    now = exp.Parameter(this=exp.var(NOW_PARAM))
    timestamp = exp.Cast(this=newest.copy(), to=exp.DataType.build("TIMESTAMP", dialect="bigquery"))
    age = exp.TimestampDiff(this=now, expression=timestamp, unit=exp.var("SECOND"))
    plan.measure(index, "observed", newest)
    plan.measure(index, "age_seconds", age)


_COMPILERS: dict[type[Any], Callable[[int, Any, _Plan], None]] = {
    cfg.ExpectColumnValuesToNotBeNull: _not_null,
    cfg.ExpectColumnValuesToBeBetween: _values_between,
    cfg.ExpectColumnValuesToBeUnique: _unique,
    cfg.ExpectColumnValuesToBeInSet: _in_set,
    cfg.ExpectColumnValuesToMatchRegex: _match_regex,
    cfg.ExpectCompoundColumnsToBeUnique: _compound_unique,
    cfg.ExpectTableRowCountToBeBetween: _row_count,
    cfg.ExpectColumnSumToBeBetween: _aggregate,
    cfg.ExpectColumnMinToBeBetween: _aggregate,
    cfg.ExpectColumnMaxToBeBetween: _aggregate,
    cfg.ExpectColumnMaxToBeRecent: _recent,
}


def _scope_filter(scope: Mapping[str, object], plan: _Plan) -> exp.Expr | None:
    predicates: list[exp.Expr] = []
    for key, value in sorted(scope.items()):
        if not re.fullmatch(cfg.COLUMN_PATTERN, key) or "." in key:
            raise ValueError(f"scope key {key!r} is not a plain column name")
        col = exp.column(key, quoted=True)
        if value is None:
            predicates.append(col.is_(exp.null()))
        else:
            predicates.append(col.eq(plan.param(f"scope_{key}", value)))
    return exp.and_(*predicates) if predicates else None


def _assemble(plan: _Plan) -> exp.Select:
    main = [
        exp.alias_(e, name, quoted=name != ELEMENT_COUNT)
        for name, e, s in plan.measures
        if s == _ROWS
    ]
    rows = exp.select(*main).from_(plan.base.copy()).where(plan.where)
    if not plan.duplicates:
        return rows
    outer = [
        exp.alias_(exp.column(name, table=source, quoted=True), name, quoted=name != ELEMENT_COUNT)
        for name, _, source in plan.measures
    ]
    query = exp.select(*outer).from_(rows.subquery(_ROWS))
    for name, duplicates in plan.duplicates.items():
        query = query.join(duplicates.subquery(name), join_type="CROSS")
    return query


def plan_dq(
    table: TableRef,
    rules: cfg.DqRules,
    *,
    scope: Mapping[str, object] | None = None,
    now: dt.datetime | None = None,
) -> Query:
    """Compile all expectations of ``table`` into one BigQuery aggregate query.

    Args:
        table: the checked table (dataset and table already validated).
        rules: the table's expectations.
        scope: column → value equality predicates limiting the rows checked, typically
            ``{"pipeline_logging_id": run_id}`` so a run checks only its own rows.
        now: the run's clock time; required when a freshness check is present.

    Returns:
        One SELECT statement returning one row; read it with :func:`lib.dq.evaluate`.

    Raises:
        InvalidIdentifier: the dataset or table name is unsafe.
        ValueError: a scope key is not a column name, or ``now`` is missing for a
            freshness check.
    """
    scope = dict(scope or {})
    shape = tuple(sorted((key, value is None) for key, value in scope.items()))
    key = (table, rules.model_dump_json(), shape)
    planned = _PLANNED.get(key)
    if planned is None:  # the SQL depends only on the table, the rules and the scope's keys
        planned = _plan(table, rules, {k: (None if null else "") for k, null in shape})
        _PLANNED[key] = planned
    sql, fixed = planned
    params = {**fixed, **{f"scope_{k}": v for k, v in scope.items() if v is not None}}
    if any(isinstance(e, cfg.ExpectColumnMaxToBeRecent) for e in rules.expectations):
        if now is None or now.tzinfo is None:
            raise ValueError("a freshness expectation needs now= (a timezone-aware datetime)")
        params[NOW_PARAM] = now
    return Query(sql=sql, params=params)


_PLANNED: dict[tuple[TableRef, str, tuple[tuple[str, bool], ...]], tuple[str, dict[str, Any]]] = {}
"""Plans already compiled: a DQ step checks the same rules every run (only values change)."""


def _plan(
    table: TableRef, rules: cfg.DqRules, scope: Mapping[str, object]
) -> tuple[str, dict[str, Any]]:
    dataset = check_identifier(table.dataset, "dataset name")
    plan = _Plan(exp.table_(check_identifier(table.table, "table name"), db=dataset, quoted=True))
    plan.where = _scope_filter(scope, plan)
    for index, expectation in enumerate(rules.expectations):
        _COMPILERS[type(expectation)](index, expectation, plan)
    sql = _assemble(plan).sql(dialect="bigquery", copy=False)
    fixed = {k: v for k, v in plan.params.items() if not k.startswith("scope_")}
    return sql, fixed
