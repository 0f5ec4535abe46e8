"""Judge the one result row of a planned DQ query against the rules: pure, no I/O.

Column-value checks follow Great Expectations: NULLs are skipped (except by the not-null
check), so ``unexpected_percent`` is relative to the non-NULL rows; ``mostly`` is the share of
those rows that must pass. An empty domain passes. Aggregates of an empty table (NULL) and a
freshness check with no rows fail. Sample values keep the query's (ascending) order with
repeats dropped, so a value failing on many rows is listed once.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from lib.config import dq as cfg
from lib.dq.plan import ELEMENT_COUNT, SAMPLE_LIMIT, measure_alias
from lib.errors import DataError


@dataclass(frozen=True)
class DqResult:
    """The outcome of one expectation, shaped for a ``dq_results`` row."""

    name: str
    expectation_type: str
    columns: tuple[str, ...]
    severity: str
    success: bool
    element_count: int
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    observed_value: Any = None
    sample_unexpected: tuple[str, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    details: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DqOutcome:
    """Every result of one table's check."""

    results: tuple[DqResult, ...]

    @property
    def critical_failures(self) -> tuple[DqResult, ...]:
        """Failed expectations of severity ``critical``."""
        return tuple(r for r in self.results if not r.success and r.severity == "critical")

    @property
    def warnings(self) -> tuple[DqResult, ...]:
        """Failed expectations of severity ``warning``."""
        return tuple(r for r in self.results if not r.success and r.severity == "warning")

    @property
    def passed(self) -> bool:
        """True when no critical expectation failed (warnings do not stop a run)."""
        return not self.critical_failures


class _Row:
    """Typed access to the result row, naming the missing column when the row is wrong."""

    def __init__(self, row: Mapping[str, Any], index: int) -> None:
        self.row = row
        self.index = index

    def get(self, measure: str) -> Any:
        key = measure if measure == ELEMENT_COUNT else measure_alias(self.index, measure)
        if key not in self.row:
            raise DataError(
                f"DQ result row has no column {key!r}; evaluate it with the same rules that "
                "planned the query"
            )
        return self.row[key]

    def count(self, measure: str) -> int:
        value = self.get(measure)
        return int(value) if value is not None else 0


def _base(e: Any, row: _Row, success: bool, **extra: Any) -> DqResult:
    return DqResult(
        name=e.label,
        expectation_type=e.expectation_type,
        columns=e.columns,
        severity=e.severity,
        success=success,
        element_count=row.count(ELEMENT_COUNT),
        kwargs=e.kwargs.model_dump(mode="json", exclude_none=True),
        **extra,
    )


def _samples(row: _Row) -> tuple[str, ...]:
    values = row.row.get(measure_alias(row.index, "sample")) or []
    distinct = dict.fromkeys(str(v) for v in values if v is not None)
    return tuple(distinct)[:SAMPLE_LIMIT]


def _column_map(e: Any, row: _Row) -> DqResult:
    unexpected, domain = row.count("unexpected"), row.count("domain")
    mostly = 1.0 if e.kwargs.mostly is None else e.kwargs.mostly
    success = domain == 0 or (domain - unexpected) / domain >= mostly
    return _base(
        e,
        row,
        success,
        unexpected_count=unexpected,
        unexpected_percent=100.0 * unexpected / domain if domain else None,
        sample_unexpected=_samples(row),
        details={"domain_count": domain, "mostly": mostly},
    )


def _within(value: Any, kwargs: cfg.Bounds) -> bool:
    low, high = kwargs.min_value, kwargs.max_value
    if low is not None and (value <= low if kwargs.strict_min else value < low):
        return False
    return not (high is not None and (value >= high if kwargs.strict_max else value > high))


def _row_count(e: Any, row: _Row) -> DqResult:
    observed = row.count("observed")
    return _base(e, row, _within(observed, e.kwargs), observed_value=observed)


def _aggregate(e: Any, row: _Row) -> DqResult:
    observed = row.get("observed")
    return _base(e, row, row.get("ok") is True, observed_value=observed)


def _recent(e: Any, row: _Row) -> DqResult:
    age = row.get("age_seconds")
    age_hours = None if age is None else float(age) / 3600.0
    success = age_hours is not None and age_hours <= e.kwargs.max_age_hours
    return _base(
        e, row, success, observed_value=row.get("observed"), details={"age_hours": age_hours}
    )


_EVALUATORS: dict[type[Any], Callable[[Any, _Row], DqResult]] = {
    cfg.ExpectColumnValuesToNotBeNull: _column_map,
    cfg.ExpectColumnValuesToBeBetween: _column_map,
    cfg.ExpectColumnValuesToBeUnique: _column_map,
    cfg.ExpectColumnValuesToBeInSet: _column_map,
    cfg.ExpectColumnValuesToMatchRegex: _column_map,
    cfg.ExpectCompoundColumnsToBeUnique: _column_map,
    cfg.ExpectTableRowCountToBeBetween: _row_count,
    cfg.ExpectColumnSumToBeBetween: _aggregate,
    cfg.ExpectColumnMinToBeBetween: _aggregate,
    cfg.ExpectColumnMaxToBeBetween: _aggregate,
    cfg.ExpectColumnMaxToBeRecent: _recent,
}


def evaluate(row: Mapping[str, Any], rules: cfg.DqRules) -> DqOutcome:
    """Turn the single row returned by the :func:`lib.dq.plan_dq` query into results.

    Args:
        row: the query's one result row (column name → value).
        rules: the same rules the query was planned from.

    Returns:
        One result per expectation, in file order.

    Raises:
        DataError: the row lacks a column the rules need (it came from other rules).
    """
    results = tuple(
        _EVALUATORS[type(e)](e, _Row(row, index)) for index, e in enumerate(rules.expectations)
    )
    return DqOutcome(results=results)
