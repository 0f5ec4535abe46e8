"""Pure: the events a finished step publishes, decided by the pipeline's ``steps:`` list."""

from __future__ import annotations

import uuid
from typing import Any

from events.models import (
    MAX_CHANGED_DAYS,
    DqFailed,
    DqPassed,
    Event,
    IngestCompleted,
    RunCompleted,
    RunFailed,
    StepRef,
    TransformCompleted,
)
from lib.config.pipeline import DqStep, PipelineConfig
from lib.steps.base import StepOutcome

_NAMESPACE = uuid.UUID("6f1c1b8e-2f6c-4f57-9a53-8d1f3c1b2a10")


def event_id(run_id: str, index: int, event_type: str) -> str:
    """Deterministic id: a re-published completion carries the same id as the first."""
    return uuid.uuid5(_NAMESPACE, f"{run_id}:{index}:{event_type}").hex


def _common(
    cause: Event, done: StepRef, event_type: str, now: Any, tp: str | None
) -> dict[str, Any]:
    return {
        "event_id": event_id(cause.pipeline_logging_id, done.index, event_type),
        "occurred_at": now,
        "tenant_id": cause.tenant_id,
        "pipeline_id": cause.pipeline_id,
        "pipeline_logging_id": cause.pipeline_logging_id,
        "window": cause.window,
        "trigger_by": cause.trigger_by,
        "traceparent": tp,
        "step_done": done,
    }


def completion_events(
    pipeline: PipelineConfig,
    cause: Event,
    done: StepRef,
    outcome: StepOutcome,
    *,
    now: Any,
    traceparent: str | None,
) -> list[Event]:
    """The events to publish after step ``done`` finished with ``outcome``."""
    nxt = pipeline.step_ref(done.index + 1)
    step = pipeline.steps[done.index]

    def common(cls: type[Event]) -> dict[str, Any]:
        return _common(cause, done, cls.TYPE, now, traceparent)

    if isinstance(step, DqStep) and outcome.failed:
        stop = step.on_failure == "stop"
        failed = DqFailed(
            **common(DqFailed),
            next_step=None if stop else nxt,
            expectations=outcome.expectations,
            failed=outcome.failed,
            on_failure=step.on_failure,
        )
        if stop:
            reason = f"critical data-quality failures in step {done.name}: " + ", ".join(
                outcome.failed
            )
            return [
                failed,
                run_failed(cause, done, reason, "DqFailed", now=now, traceparent=traceparent),
            ]
        return [failed] if nxt else [failed, RunCompleted(**common(RunCompleted))]
    if nxt is None:
        return [RunCompleted(**common(RunCompleted))]
    if done.type == "ingest":
        return [
            IngestCompleted(
                **common(IngestCompleted),
                next_step=nxt,
                rows_loaded=outcome.rows,
                tables=outcome.tables,
                changed_days=outcome.changed_days[:MAX_CHANGED_DAYS],
            )
        ]
    if done.type == "dq":
        return [
            DqPassed(
                **common(DqPassed),
                next_step=nxt,
                expectations=outcome.expectations,
                warnings=outcome.warnings,
            )
        ]
    return [
        TransformCompleted(
            **common(TransformCompleted),
            next_step=nxt,
            rows_written=outcome.rows,
            tables=outcome.tables,
            changed_days=outcome.changed_days[:MAX_CHANGED_DAYS],
        )
    ]


def run_failed(
    cause: Event,
    done: StepRef | None,
    reason: str,
    error_type: str,
    *,
    now: Any,
    traceparent: str | None,
) -> RunFailed:
    """The ``run.failed`` event for a terminal fault at step ``done``."""
    index = done.index if done else -1
    return RunFailed(
        event_id=event_id(cause.pipeline_logging_id, index, RunFailed.TYPE),
        occurred_at=now,
        tenant_id=cause.tenant_id,
        pipeline_id=cause.pipeline_id,
        pipeline_logging_id=cause.pipeline_logging_id,
        window=cause.window,
        trigger_by=cause.trigger_by,
        traceparent=traceparent,
        step_done=done,
        reason=reason[:4000],
        error_type=error_type[:200],
    )
