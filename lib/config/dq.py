"""The ``_dq.yml`` model: a table's expectations, Great Expectations style, and its loader.

A file holds ``expectations:``; each is ``{expectation_type, kwargs, severity, name}`` where
``expectation_type`` picks the kwargs model, so a typo'd kwarg or a missing ``column`` is reported
at its exact place (``expectations[2].kwargs.min_value``). Row-count filters are checked by
:func:`lib.dq.sql_filter.parse_filter` (columns, literals, operators, scalar functions only).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from lib.config.problems import load_model

COLUMN_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
Severity = Literal["critical", "warning"]
ColumnName = Annotated[str, Field(pattern=COLUMN_PATTERN, max_length=300)]
Bound = StrictInt | StrictFloat | dt.datetime | dt.date | StrictStr
SetValue = StrictBool | StrictInt | StrictFloat | dt.datetime | dt.date | StrictStr
Mostly = Annotated[float, Field(ge=0, le=1, description="Share of values that must pass.")]


class _Kwargs(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Bounds(_Kwargs):
    """``min_value``/``max_value`` bounds (inclusive unless ``strict_*``); one may be omitted."""

    min_value: Bound | None = None
    max_value: Bound | None = None
    strict_min: bool = False
    strict_max: bool = False

    @field_validator("max_value")
    @classmethod
    def _max_not_below_min(cls, value: Any, info: ValidationInfo) -> Any:
        low = info.data.get("min_value")
        if value is None or low is None:
            return value
        try:
            below = value < low
        except TypeError:
            raise ValueError(
                f"max_value {value!r} and min_value {low!r} are not comparable; "
                "write both as numbers, both as dates or both as strings"
            ) from None
        if below:
            raise ValueError(f"max_value {value!r} is less than min_value {low!r}")
        return value

    @model_validator(mode="after")
    def _some_bound(self) -> Bounds:
        if self.min_value is None and self.max_value is None:
            raise ValueError("give min_value, max_value or both")
        return self


class NotNullKwargs(_Kwargs):
    """Column values are not NULL."""

    column: ColumnName
    mostly: Mostly | None = None


class ValuesBetweenKwargs(Bounds):
    """Non-NULL column values lie within the bounds."""

    column: ColumnName
    mostly: Mostly | None = None


class UniqueKwargs(_Kwargs):
    """Non-NULL column values appear once."""

    column: ColumnName
    mostly: Mostly | None = None


class InSetKwargs(_Kwargs):
    """Non-NULL column values are members of ``value_set``."""

    column: ColumnName
    value_set: list[SetValue] = Field(min_length=1)
    mostly: Mostly | None = None


class RegexKwargs(_Kwargs):
    """Non-NULL column values (as strings) contain a match of ``regex`` (RE2 syntax)."""

    column: ColumnName
    regex: str = Field(min_length=1)
    mostly: Mostly | None = None

    @field_validator("regex")
    @classmethod
    def _valid_regex(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"invalid regular expression: {exc}") from None
        if re.search(r"\(\?<?[=!]|\\[1-9]", value):
            raise ValueError("lookarounds and backreferences are not supported by BigQuery (RE2)")
        return value


class CompoundUniqueKwargs(_Kwargs):
    """Each combination of ``column_list`` appears once (rows with all NULLs are skipped)."""

    column_list: list[ColumnName] = Field(min_length=2)
    mostly: Mostly | None = None


class RowCountKwargs(Bounds):
    """The number of rows (those matching ``filter``, if given) lies within the bounds."""

    min_value: Annotated[StrictInt, Field(ge=0)] | None = None
    max_value: Annotated[StrictInt, Field(ge=0)] | None = None
    filter: str | None = Field(
        default=None, description="BigQuery boolean expression over the table's columns."
    )

    @field_validator("filter")
    @classmethod
    def _valid_filter(cls, value: str | None) -> str | None:
        if value is not None:
            from lib.dq.sql_filter import parse_filter  # lib.dq imports this module

            parse_filter(value)
        return value


class AggregateBetweenKwargs(Bounds):
    """An aggregate (SUM, MIN or MAX) of the column lies within the bounds."""

    column: ColumnName


class RecentKwargs(_Kwargs):
    """The newest value of a DATE/DATETIME/TIMESTAMP column is at most ``max_age_hours`` old."""

    column: ColumnName
    max_age_hours: float = Field(gt=0)


class _Expectation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: Severity = "critical"
    name: str | None = Field(default=None, min_length=1, max_length=200)
    kwargs: Any

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns this expectation reads (empty for a table-level check)."""
        if hasattr(self.kwargs, "column_list"):
            return tuple(self.kwargs.column_list)
        column = getattr(self.kwargs, "column", None)
        return (column,) if column else ()

    @property
    def label(self) -> str:
        """``name``, or ``expectation_type(columns)`` (``expectation_type`` alone for a
        table-level check) when no name is given; unique within a file."""
        if self.name:
            return self.name
        type_ = str(getattr(self, "expectation_type", ""))
        return f"{type_}({', '.join(self.columns)})" if self.columns else type_


class ExpectColumnValuesToNotBeNull(_Expectation):
    """Great Expectations ``expect_column_values_to_not_be_null``."""

    expectation_type: Literal["expect_column_values_to_not_be_null"]
    kwargs: NotNullKwargs


class ExpectColumnValuesToBeBetween(_Expectation):
    """Great Expectations ``expect_column_values_to_be_between``."""

    expectation_type: Literal["expect_column_values_to_be_between"]
    kwargs: ValuesBetweenKwargs


class ExpectColumnValuesToBeUnique(_Expectation):
    """Great Expectations ``expect_column_values_to_be_unique``."""

    expectation_type: Literal["expect_column_values_to_be_unique"]
    kwargs: UniqueKwargs


class ExpectColumnValuesToBeInSet(_Expectation):
    """Great Expectations ``expect_column_values_to_be_in_set``."""

    expectation_type: Literal["expect_column_values_to_be_in_set"]
    kwargs: InSetKwargs


class ExpectColumnValuesToMatchRegex(_Expectation):
    """Great Expectations ``expect_column_values_to_match_regex``."""

    expectation_type: Literal["expect_column_values_to_match_regex"]
    kwargs: RegexKwargs


class ExpectCompoundColumnsToBeUnique(_Expectation):
    """Great Expectations ``expect_compound_columns_to_be_unique``."""

    expectation_type: Literal["expect_compound_columns_to_be_unique"]
    kwargs: CompoundUniqueKwargs


class ExpectTableRowCountToBeBetween(_Expectation):
    """Great Expectations ``expect_table_row_count_to_be_between``, with an optional filter."""

    expectation_type: Literal["expect_table_row_count_to_be_between"]
    kwargs: RowCountKwargs


class ExpectColumnSumToBeBetween(_Expectation):
    """Great Expectations ``expect_column_sum_to_be_between``."""

    AGGREGATE: ClassVar[str] = "SUM"
    expectation_type: Literal["expect_column_sum_to_be_between"]
    kwargs: AggregateBetweenKwargs


class ExpectColumnMinToBeBetween(_Expectation):
    """Great Expectations ``expect_column_min_to_be_between``."""

    AGGREGATE: ClassVar[str] = "MIN"
    expectation_type: Literal["expect_column_min_to_be_between"]
    kwargs: AggregateBetweenKwargs


class ExpectColumnMaxToBeBetween(_Expectation):
    """Great Expectations ``expect_column_max_to_be_between``."""

    AGGREGATE: ClassVar[str] = "MAX"
    expectation_type: Literal["expect_column_max_to_be_between"]
    kwargs: AggregateBetweenKwargs


class ExpectColumnMaxToBeRecent(_Expectation):
    """Freshness: the column's newest value is no older than ``max_age_hours`` at ``@now``."""

    expectation_type: Literal["expect_column_max_to_be_recent"]
    kwargs: RecentKwargs


EXPECTATION_MODELS: tuple[type[_Expectation], ...] = (
    ExpectColumnValuesToNotBeNull,
    ExpectColumnValuesToBeBetween,
    ExpectColumnValuesToBeUnique,
    ExpectColumnValuesToBeInSet,
    ExpectColumnValuesToMatchRegex,
    ExpectCompoundColumnsToBeUnique,
    ExpectTableRowCountToBeBetween,
    ExpectColumnSumToBeBetween,
    ExpectColumnMinToBeBetween,
    ExpectColumnMaxToBeBetween,
    ExpectColumnMaxToBeRecent,
)
EXPECTATION_TYPES: dict[str, type[_Expectation]] = {
    model.model_fields["expectation_type"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in EXPECTATION_MODELS
}

Expectation = Annotated[
    ExpectColumnValuesToNotBeNull
    | ExpectColumnValuesToBeBetween
    | ExpectColumnValuesToBeUnique
    | ExpectColumnValuesToBeInSet
    | ExpectColumnValuesToMatchRegex
    | ExpectCompoundColumnsToBeUnique
    | ExpectTableRowCountToBeBetween
    | ExpectColumnSumToBeBetween
    | ExpectColumnMinToBeBetween
    | ExpectColumnMaxToBeBetween
    | ExpectColumnMaxToBeRecent,
    Field(discriminator="expectation_type"),
]


class DqRules(BaseModel):
    """A ``_dq.yml`` file: the expectations one table must meet."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    expectations: tuple[Expectation, ...]

    @field_validator("expectations")
    @classmethod
    def _unique_labels(cls, value: tuple[_Expectation, ...]) -> tuple[_Expectation, ...]:
        if not value:
            raise ValueError("list at least one expectation")
        seen: dict[str, int] = {}
        for index, expectation in enumerate(value):
            if expectation.label in seen:
                raise ValueError(
                    f"expectations {seen[expectation.label]} and {index} are both named "
                    f"{expectation.label!r}; give one of them a distinct `name:`"
                )
            seen[expectation.label] = index
        return value


def load_dq(path: Path) -> DqRules:
    """Read and validate a ``_dq.yml`` file.

    Args:
        path: the rules file.

    Returns:
        The validated rules.

    Raises:
        ConfigError: every problem in the file, each with its line, field path and a hint.
    """
    return load_model(path, DqRules)


def kwargs_keys(expectation_type: str) -> list[str]:
    """The kwargs an expectation type accepts (for hints and docs)."""
    kwargs_model = EXPECTATION_TYPES[expectation_type].model_fields["kwargs"].annotation
    assert isinstance(kwargs_model, type) and issubclass(kwargs_model, BaseModel)
    return sorted(kwargs_model.model_fields)
