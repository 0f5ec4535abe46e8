"""The pipeline file model: ``configs/{tenant}/{cloud}/{domain}/{pipeline}/{pipeline}.yml``."""

from __future__ import annotations

import re
from pathlib import PurePosixPath
from typing import Annotated, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from events.ids import PipelineId, StepName
from events.models import StepRef

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


RelPath = Annotated[str, AfterValidator(_relative_path)]
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


class TableTarget(_Strict):
    """A destination table in one of the tenant's datasets (the tenant prefix is added)."""

    dataset: DatasetName = Field(description="Dataset without the tenant prefix, e.g. raw_openai.")
    table: TableName
    schema_file: RelPath = Field(alias="schema", description="BigQuery JSON schema file.")
    write_mode: Literal["append", "overwrite", "merge"] = "append"
    merge_keys: list[Column] = Field(default_factory=list)
    partition_field: Column | None = None
    cluster_by: list[Column] = Field(default_factory=list, max_length=4)
    window_column: Column | None = Field(
        default=None,
        description="append only: rows whose column lies in the run's window are replaced.",
    )
    replace_scope: dict[Column, str] = Field(
        default_factory=dict,
        description="with window_column: only window rows whose columns equal these values "
        "are replaced, e.g. {x_provider: openai} so one provider never replaces another's rows.",
    )

    @model_validator(mode="after")
    def _keys(self) -> TableTarget:
        if self.write_mode == "merge" and not self.merge_keys:
            raise ValueError("write_mode 'merge' needs merge_keys: the columns that identify a row")
        if self.write_mode != "merge" and self.merge_keys:
            raise ValueError("merge_keys are used only with write_mode: merge")
        if self.replace_scope and not self.window_column:
            raise ValueError("replace_scope needs window_column (write_mode: append)")
        return self


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
    destination: TableTarget


class DqStep(_Step):
    """Check a table against a ``_dq.yml`` file."""

    type: Literal["dq"]
    rules: RelPath
    table: TableLocator
    on_failure: Literal["stop", "alert"] = "stop"


class TransformStep(_Step):
    """Run a BigQuery SQL file in the warehouse into a destination table."""

    type: Literal["transform"]
    sql: RelPath
    destination: TableTarget
    lookback_days: int = Field(
        default=0,
        ge=0,
        le=90,
        description="also re-derive this many days before the run's window (late source "
        "rows): @window_start and the replaced window start that many days earlier.",
    )


Step = Annotated[IngestStep | DqStep | TransformStep, Field(discriminator="type")]


class PipelineConfig(_Strict):
    """A pipeline: ordered steps; what comes next is decided by this list alone."""

    pipeline_id: PipelineId
    description: str = ""
    enabled: bool = True
    schedule: Schedule | None = None
    default_window_days: int = Field(default=1, ge=1, le=400)
    labels: dict[str, str] = Field(default_factory=dict)
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
