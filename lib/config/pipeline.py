"""The pipeline file model: ``configs/{tenant}/{cloud}/{domain}/{pipeline}/{pipeline}.yml``."""

from __future__ import annotations

import datetime as dt
import decimal
import re
from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from events.ids import SLUG_PATTERN, PipelineId, StepName
from events.models import StepRef
from lib.ports import WriteSpec

_TABLE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_COLUMN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,299}$")


LIBRARY_PREFIX = "@library/"
"""Paths starting with this resolve in ``configs/_library/``: files every tenant shares."""


def _relative_path(value: str) -> str:
    path = PurePosixPath(value.removeprefix(LIBRARY_PREFIX))
    if path.is_absolute() or ".." in path.parts or "\\" in value or not str(path).strip():
        raise ValueError(
            f"{value!r} must be a path relative to the pipeline folder, without '..' "
            "(e.g. 'sql/silver.sql'), or a shared file as '@library/focus/focus_openai.sql'"
        )
    return value


def _table_name(value: str) -> str:
    if not _TABLE.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid table name: use lowercase a-z, 0-9 and _")
    return value


def _dataset_name(value: str) -> str:
    if not _TABLE.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid dataset name: use lowercase a-z, 0-9 and _ (e.g. raw_openai)"
        )
    return value


def _column(value: str) -> str:
    if not _COLUMN.fullmatch(value):
        raise ValueError(f"{value!r} is not a valid column name")
    return value


def _secret_name(value: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value):
        raise ValueError(
            f"{value[:60]!r} is not a secret name: 3-41 of lowercase a-z, 0-9 and _ "
            "(a name, never a key value)"
        )
    return value


RelPath = Annotated[str, AfterValidator(_relative_path)]
SecretName = Annotated[str, AfterValidator(_secret_name)]
TableName = Annotated[str, AfterValidator(_table_name)]
Column = Annotated[str, AfterValidator(_column)]
DatasetName = Annotated[str, AfterValidator(_dataset_name)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class Schedule(_Strict):
    """When Cloud Scheduler starts the pipeline."""

    cron: str = Field(
        description="Five-field unix-cron expression, at most hourly, e.g. '0 6 * * *'."
    )
    time_zone: str = "UTC"

    @model_validator(mode="after")
    def _valid(self) -> Schedule:
        from lib.config.schedule import cron_problem

        problem = cron_problem(self.cron)
        if problem:
            raise ValueError(problem)
        try:
            ZoneInfo(self.time_zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {self.time_zone!r}, e.g. 'Europe/Berlin'") from exc
        return self


WriteModeName = Literal["append", "overwrite", "merge", "replace_window"]


class TableTarget(_Strict):
    """A destination table in one of the tenant's datasets (the tenant prefix is added).

    ``write_mode`` says how a write lands (docs/configuration.md#write-modes):

    * ``replace_window`` — the rows of the step's days (by ``window_column``'s UTC date)
      are replaced by the new rows: a snapshot source's answer for a window replaces ours,
      line items it no longer reports included; a transform re-derives exactly its days.
    * ``merge`` — upsert on ``merge_keys`` (a delta source such as the billing export).
    * ``overwrite`` — the whole table is rewritten.
    * ``append`` — rows are added; a re-run of the same run replaces its own rows.
    """

    dataset: DatasetName = Field(description="Dataset without the tenant prefix, e.g. raw_openai.")
    table: TableName
    schema_file: RelPath | None = Field(
        default=None,
        alias="schema",
        description="BigQuery JSON schema file. Default: a REST ingest's columns come from its "
        "source's records.columns, a transform's from its SQL (types inferred).",
    )
    write_mode: WriteModeName = "append"
    merge_keys: list[Column] = Field(
        default_factory=list,
        description="merge: the upsert key. replace_window: the columns that identify a row "
        "(rows of the old answer whose key is missing from the new one are counted as removed).",
    )
    partition_field: Column | None = None
    cluster_by: list[Column] = Field(default_factory=list, max_length=4)
    window_column: Column | None = Field(
        default=None,
        description="The DATE or TIMESTAMP column whose UTC date puts a row on a usage day. "
        "replace_window: the rows of the step's days are replaced. merge: the days a write "
        "touches are recorded so silver and gold re-derive them.",
    )
    replace_scope: dict[Column, str] = Field(
        default_factory=dict,
        description="replace_window only: replace only the rows whose columns equal these "
        "values, e.g. {x_provider: openai} so one provider never replaces another's rows.",
    )

    @model_validator(mode="after")
    def _keys(self) -> TableTarget:
        if self.write_mode == "merge" and not self.merge_keys:
            raise ValueError("write_mode 'merge' needs merge_keys: the columns that identify a row")
        if self.write_mode not in ("merge", "replace_window") and self.merge_keys:
            raise ValueError("merge_keys are used only with write_mode: merge or replace_window")
        if self.write_mode == "replace_window" and not self.window_column:
            raise ValueError(
                "write_mode 'replace_window' needs window_column: the DATE/TIMESTAMP column "
                "whose UTC date places a row on a day (e.g. bucket_start_time)"
            )
        if self.write_mode in ("append", "overwrite") and self.window_column:
            raise ValueError(
                f"window_column is not used with write_mode {self.write_mode!r}: write "
                "write_mode: replace_window to replace the rows of the step's days"
            )
        if self.replace_scope and self.write_mode != "replace_window":
            raise ValueError("replace_scope needs write_mode: replace_window")
        return self

    def write_spec(self, run_id: str, days: Sequence[dt.date] = ()) -> WriteSpec:
        """The one definition of how a write to this table lands.

        Args:
            run_id: the writing run (``append`` replaces this run's own earlier rows).
            days: the usage days the step writes (``replace_window``).
        """
        keys = tuple(self.merge_keys)
        if self.write_mode == "merge":
            return WriteSpec(mode="merge", keys=keys, date_column=self.window_column)
        if self.write_mode == "overwrite":
            return WriteSpec(mode="overwrite")
        if self.write_mode == "replace_window":
            assert self.window_column is not None  # checked by the validator
            return WriteSpec(
                replace=dict(self.replace_scope) or None,
                replace_dates=(self.window_column, tuple(sorted(set(days)))),
                keys=keys,
            )
        return WriteSpec(replace={"pipeline_logging_id": run_id})


class TableLocator(_Strict):
    """An existing table of the tenant, named without the tenant prefix."""

    dataset: DatasetName
    table: TableName


class _Step(_Strict):
    name: StepName
    description: str = ""


class IngestStep(_Step):
    """Pull a source into a raw table."""

    type: Literal["ingest"]
    source: RelPath = Field(description="Source file (REST provider or BigQuery export).")
    source_overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="Merged onto the source file (same merge rules as templates), e.g. "
        "{retry: {max_attempts: 3}} or {params: {limit: 7}}.",
    )
    destination: TableTarget


class DqStep(_Step):
    """Check a table against a ``_dq.yml`` file, inline expectations and the implied ones.

    The destination ``merge_keys`` of a step of the same pipeline that writes the table imply
    a uniqueness expectation (``unique_merge_keys``, critical) unless ``check_merge_keys`` is
    false; see lib/config/derived.py.
    """

    type: Literal["dq"]
    rules: RelPath | None = Field(default=None, description="A _dq.yml file.")
    expectations: list[dict[str, Any]] = Field(
        default_factory=list,
        description="More expectations, written as in a _dq.yml file (dq.schema.json), checked "
        "after the rules file's (e.g. a tenant's own); validated with the step's rules.",
    )
    table: TableLocator
    on_failure: Literal["stop", "alert"] = "stop"
    check_merge_keys: bool = Field(
        default=True,
        description="also check that the merge_keys of the step writing the table are unique "
        "in the run's rows (expectation unique_merge_keys); false turns that off",
    )


BUILTIN_PARAMETERS = ("window_start", "window_end", "dates", "run_id", "tenant_id", "now")
"""The ``@parameters`` every transform binds (lib/steps/transform.py)."""
_PARAMETER = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
ParameterType = Literal["STRING", "INT64", "NUMERIC", "BOOL", "DATE"]


class SqlParameter(_Strict):
    """A typed value a transform's SQL reads as ``@name`` (e.g. a tolerance, a provider).

    ``NUMERIC`` values are exact decimals (write them quoted, ``"0.01"``) with at most 9
    decimals, as BigQuery's NUMERIC holds.
    """

    type: ParameterType
    value: str | bool | int | dt.date

    @model_validator(mode="after")
    def _fits(self) -> SqlParameter:
        self.python_value()
        return self

    def python_value(self) -> Any:
        """The value as the warehouse binds it (Decimal for NUMERIC).

        Raises:
            ValueError: the value does not fit ``type``.
        """
        value, kind = self.value, self.type
        if kind == "STRING" and isinstance(value, str):
            return value
        if kind == "BOOL" and isinstance(value, bool):
            return value
        if kind == "INT64" and isinstance(value, int) and not isinstance(value, bool):
            return value
        if kind == "DATE" and isinstance(value, dt.date):
            return value
        if kind == "NUMERIC" and isinstance(value, str | int) and not isinstance(value, bool):
            return _numeric(str(value))
        raise ValueError(f"value {value!r} is not a {kind}; e.g. {_EXAMPLES[kind]}")


_EXAMPLES = {
    "STRING": "value: aws",
    "INT64": "value: 14",
    "NUMERIC": 'value: "0.01" (quoted: exact)',
    "BOOL": "value: true",
    "DATE": "value: 2026-11-01",
}


def _numeric(text: str) -> decimal.Decimal:
    try:
        number = decimal.Decimal(text)
    except decimal.InvalidOperation as exc:
        raise ValueError(f"{text!r} is not a decimal number") from exc
    exponent = number.as_tuple().exponent
    if not number.is_finite() or (isinstance(exponent, int) and exponent < -9):
        raise ValueError(f"{text!r} has more than 9 decimals; NUMERIC holds 9")
    return number


def _parameter_names(value: dict[str, SqlParameter]) -> dict[str, SqlParameter]:
    for name in value:
        if not _PARAMETER.fullmatch(name):
            raise ValueError(f"parameter name {name!r}: use 1-40 of lowercase a-z, 0-9 and _")
        if name in BUILTIN_PARAMETERS:
            raise ValueError(f"parameter @{name} is bound by every transform; choose another name")
    return value


class TransformStep(_Step):
    """Run a BigQuery SQL file in the warehouse into a destination table.

    The step derives the run's window days plus every day its source tables changed since
    it last ran (docs/configuration.md#late-data); the SQL reads them as ``@dates``, and each
    of ``parameters`` as ``@name``.
    """

    type: Literal["transform"]
    sql: RelPath
    destination: TableTarget
    trailing_days: int = Field(
        default=0,
        ge=0,
        le=90,
        description="each day this step writes reads this many days before it (e.g. a "
        "14-day baseline): a change on day D re-derives D … D+trailing_days.",
    )
    parameters: Annotated[dict[str, SqlParameter], AfterValidator(_parameter_names)] = Field(
        default_factory=dict,
        description="typed values the SQL reads as @name, e.g. {tolerance: {type: NUMERIC, "
        'value: "0.01"}}; one SQL file then serves tenants with other values.',
    )
    publishes: Literal["budget_crossed"] | None = Field(
        default=None,
        description="budget_crossed: after the write, publish a budget.crossed event for every "
        "threshold first crossed this month (once per budget, month, basis and threshold; "
        "docs/cost_intelligence.md#budgets).",
    )

    @model_validator(mode="before")
    @classmethod
    def _no_lookback(cls, data: Any) -> Any:
        if isinstance(data, dict) and "lookback_days" in data:
            raise ValueError(
                "lookback_days was removed: a transform now re-derives every day its source "
                "tables changed since it last ran, however late the rows arrive; delete it "
                "(use trailing_days if each output day reads earlier days)"
            )
        return data


Step = Annotated[IngestStep | DqStep | TransformStep, Field(discriminator="type")]


class PipelineConfig(_Strict):
    """A pipeline: ordered steps; what comes next is decided by this list alone."""

    pipeline_id: PipelineId
    description: str = ""
    enabled: bool = True
    schedule: Schedule | None = None
    default_window_days: int = Field(default=1, ge=1, le=400)
    labels: dict[str, str] = Field(default_factory=dict)
    secrets: dict[SecretName, SecretName] = Field(
        default_factory=dict,
        description="Secret name the sources use → the name this pipeline reads instead "
        "(e.g. {openai_admin_key: openai_eu_admin_key} for a second OpenAI organisation).",
    )
    steps: list[Step] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_steps(self) -> PipelineConfig:
        seen: set[str] = set()
        for step in self.steps:
            if step.name in seen:
                raise ValueError(
                    f"step name {step.name!r} is used twice; step names must be unique"
                )
            seen.add(step.name)
        return self

    def step_ref(self, index: int) -> StepRef | None:
        """The reference of step ``index``, or None past the last step."""
        if index >= len(self.steps):
            return None
        step = self.steps[index]
        return StepRef(name=step.name, index=index, type=step.type)
