"""Event models: one pydantic class per fact that travels between stages.

Each class declares its CloudEvent ``type`` string and the topic it is published to.
Publishers and handlers import the same classes; nobody builds event dicts by hand.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from events.ids import PipelineId, RunId, StepName, TenantId

StepType = Literal["ingest", "dq", "transform"]
MAX_CHANGED_DAYS = 3660
"""Ten years of days: the most a completion event lists (the step record keeps them all)."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StepRef(_Frozen):
    """A step of a pipeline: its name, its 0-based index in ``steps:`` and its type."""

    name: StepName
    index: int = Field(ge=0)
    type: StepType


def window_problem(start: dt.date, end: dt.date) -> str | None:
    """Why ``start``..``end`` is not a window (None when it is): the one order check."""
    if end < start:
        return f"window end {end} is before start {start}"
    return None


class Window(_Frozen):
    """The usage window a run covers: whole UTC days, ``start`` and ``end`` inclusive."""

    start: dt.date
    end: dt.date

    @model_validator(mode="after")
    def _ordered(self) -> Window:
        problem = window_problem(self.start, self.end)
        if problem:
            raise ValueError(problem)
        return self

    def days(self) -> list[dt.date]:
        """Every day of the window, in order."""
        count = (self.end - self.start).days + 1
        return [self.start + dt.timedelta(days=i) for i in range(count)]


class Event(_Frozen):
    """Fields every event carries."""

    TYPE: ClassVar[str]
    TOPIC: ClassVar[str]

    event_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")
    occurred_at: dt.datetime
    tenant_id: TenantId
    pipeline_id: PipelineId
    pipeline_logging_id: RunId
    window: Window
    step_done: StepRef | None = None
    next_step: StepRef | None = None
    trigger_by: str = Field(default="cli", max_length=100)
    traceparent: str | None = Field(
        default=None, pattern=r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$"
    )

    @property
    def next_step_type(self) -> str:
        """The routing attribute: the type of the next step, or ``none``."""
        return self.next_step.type if self.next_step else "none"


class RunRequested(Event):
    """Somebody (CLI, HTTP API, Cloud Scheduler) asked for a run; ``next_step`` is step 0."""

    TYPE = "convergence.run.requested.v1"
    TOPIC = "run-requested"

    next_step: StepRef


class IngestCompleted(Event):
    """An ingest step loaded its rows."""

    TYPE = "convergence.ingest.completed.v1"
    TOPIC = "ingest-completed"

    step_done: StepRef
    rows_loaded: int = Field(ge=0)
    tables: list[str] = Field(default_factory=list)
    changed_days: list[dt.date] = Field(
        default_factory=list,
        max_length=MAX_CHANGED_DAYS,
        description="UTC usage days whose rows the load added, changed or removed.",
    )


class DqPassed(Event):
    """A DQ step found no critical failure (warnings may be present)."""

    TYPE = "convergence.dq.passed.v1"
    TOPIC = "dq-passed"

    step_done: StepRef
    expectations: int = Field(ge=0)
    warnings: int = Field(ge=0)


class DqFailed(Event):
    """A DQ step found critical failures; ``next_step`` is set only when ``on_failure: alert``."""

    TYPE = "convergence.dq.failed.v1"
    TOPIC = "dq-failed"

    step_done: StepRef
    expectations: int = Field(ge=0)
    failed: list[str]
    on_failure: Literal["stop", "alert"]


class TransformCompleted(Event):
    """A transform step wrote its destination."""

    TYPE = "convergence.transform.completed.v1"
    TOPIC = "transform-completed"

    step_done: StepRef
    rows_written: int = Field(ge=0)
    tables: list[str] = Field(default_factory=list)
    changed_days: list[dt.date] = Field(
        default_factory=list,
        max_length=MAX_CHANGED_DAYS,
        description="UTC usage days the transform re-derived.",
    )


class RunCompleted(Event):
    """The last step of a run finished."""

    TYPE = "convergence.run.completed.v1"
    TOPIC = "run-completed"

    step_done: StepRef
    next_step: None = None


class RunFailed(Event):
    """A run ended because of a terminal fault."""

    TYPE = "convergence.run.failed.v1"
    TOPIC = "run-failed"

    reason: str = Field(max_length=4000)
    error_type: str = Field(max_length=200)
    next_step: None = None


class BudgetCrossed(Event):
    """A budget's month-to-date spend (``actual``) or month-end forecast (``forecast``) reached
    one of its thresholds for the first time this month; published once per budget, month,
    basis and threshold by the step that measures budgets (``step_done``)."""

    TYPE = "convergence.budget.crossed.v1"
    TOPIC = "budget-crossed"

    step_done: StepRef
    next_step: None = None
    budget_name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,59}$")
    month: dt.date = Field(description="First day of the budget month.")
    basis: Literal["actual", "forecast"]
    threshold_percent: int = Field(ge=1, le=1000)
    budget_amount: Decimal = Field(description="The month's budget, exact.")
    value: Decimal = Field(description="Month-to-date spend (actual) or the forecast, exact.")
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    scope: str = Field(max_length=500, description="Which charges count, in words.")
    as_of: dt.date = Field(description="The last day of spend the value includes.")


EVENT_CLASSES: tuple[type[Event], ...] = (
    RunRequested,
    IngestCompleted,
    DqPassed,
    DqFailed,
    TransformCompleted,
    RunCompleted,
    RunFailed,
    BudgetCrossed,
)
BY_TYPE: dict[str, type[Event]] = {cls.TYPE: cls for cls in EVENT_CLASSES}
BY_TOPIC: dict[str, type[Event]] = {cls.TOPIC: cls for cls in EVENT_CLASSES}


def json_schemas() -> dict[str, dict[str, Any]]:
    """The JSON Schema of every event's data, keyed by file name (``<topic>.json``)."""
    out: dict[str, dict[str, Any]] = {}
    for cls in EVENT_CLASSES:
        schema = cls.model_json_schema(mode="validation")
        schema["$id"] = f"https://convergence.dev/events/{cls.TOPIC}.json"
        schema["x-cloudevent-type"] = cls.TYPE
        schema["x-topic"] = cls.TOPIC
        out[f"{cls.TOPIC}.json"] = schema
    return out
