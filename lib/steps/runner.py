"""The shared step runner every handler calls: decode → ports → domain → publish.

Idempotent under at-least-once delivery: a step already COMPLETE re-publishes its completion
events and writes nothing; a transient fault raises (the bus retries, then dead-letters); a
terminal fault is recorded, acked and ends the run with ``run.failed``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from events.codec import CodecError, from_cloudevent
from events.models import Event, StepRef, StepType
from lib import metadata
from lib.changes import Producer, record_changes
from lib.config.loader import Pipeline, load_pipeline
from lib.errors import ConfigError, ConfigProblem, MalformedEvent, TerminalError
from lib.metadata import RunTransition, StepRecord
from lib.observability import current_traceparent, handler_span
from lib.scheduler import is_trigger, start_scheduled_run
from lib.steps.base import StepContext, StepOutcome
from lib.steps.next_events import completion_events, run_failed
from lib.wiring import Runtime, runtime

log = logging.getLogger(__name__)
Executor = Callable[[StepContext], StepOutcome]


def executors() -> dict[str, Executor]:
    """Step type → executor (imported lazily so each handler loads only what it runs)."""
    from lib.steps.dq import run_dq
    from lib.steps.ingest import run_ingest
    from lib.steps.transform import run_transform

    return {"ingest": run_ingest, "dq": run_dq, "transform": run_transform}


def handle_cloudevent(cloud_event: Any, step_type: StepType) -> None:
    """Entry point shared by the three handlers.

    Raises:
        MalformedEvent: the event does not match its contract (non-2xx: it ends up
            dead-lettered, nothing lost).
        TransientError: retry later.
    """
    try:
        event = from_cloudevent(cloud_event)
    except CodecError as exc:
        log.error("rejected malformed event: %s", exc)
        raise MalformedEvent(str(exc)) from exc
    handle(runtime(), event, step_type)


def handle(rt: Runtime, event: Event, step_type: StepType) -> None:
    """Run the step ``event.next_step`` if it is of ``step_type``; ignore it otherwise."""
    if event.next_step is None or event.next_step.type != step_type:
        log.info("ignoring %s for step type %s", event.TYPE, event.next_step_type)
        return
    if is_trigger(event):  # a Cloud Scheduler tick: start the real run (lib/scheduler.py)
        start_scheduled_run(rt, event)
        return
    labels = {
        "tenant_id": event.tenant_id,
        "pipeline_id": event.pipeline_id,
        "run_id": event.pipeline_logging_id,
        "step": event.next_step.name,
    }
    with handler_span(f"{step_type}.handle", event.traceparent, labels):
        _run(rt, event, step_type)


def _run(rt: Runtime, event: Event, step_type: StepType) -> None:
    assert event.next_step is not None
    ref = event.next_step
    rt.ensure_tenant(event.tenant_id)
    try:
        pipeline = _pipeline_for(rt, event)
    except TerminalError as exc:
        _fail(rt, event, None, exc)
        return
    prior = metadata.latest_step(
        rt.warehouse, event.tenant_id, event.pipeline_logging_id, ref.index
    )
    if prior and prior["status"] == "COMPLETE":
        log.info("step %s already COMPLETE; re-publishing its completion", ref.name)
        outcome = StepOutcome.from_metadata(prior.get("metadata") or {})
        _publish(rt, pipeline, event, outcome, record=False)
        return
    if prior and prior["status"] == "FAILED":
        log.info("step %s already FAILED terminally; nothing to do", ref.name)
        return
    ctx = StepContext(rt, pipeline, event, ref, pipeline.config.steps[ref.index])
    started = rt.clock.now()
    _record_step(ctx, "RUNNING", started)
    if ref.index == 0 and prior is None:
        _transition(rt, event, "RUNNING")
    try:
        outcome = executors()[step_type](ctx)
    except TerminalError as exc:
        _record_step(ctx, "FAILED", started, error=str(exc))
        _fail(rt, event, ref, exc)
        return
    if step_type != "dq":  # before COMPLETE: a redelivered step records the same set again
        record_changes(rt.warehouse, rt.clock, _producer(ctx), outcome.changes)
    _record_step(ctx, "COMPLETE", started, outcome=outcome)
    _publish(rt, pipeline, event, outcome, record=True)


def _producer(ctx: StepContext) -> Producer:
    return Producer(ctx.event.tenant_id, ctx.event.pipeline_id, ctx.run_id, ctx.ref.name)


def _pipeline_for(rt: Runtime, event: Event) -> Pipeline:
    assert event.next_step is not None
    pipeline = load_pipeline(rt.config_dir, event.tenant_id, event.pipeline_id)
    ref = event.next_step
    actual = pipeline.config.step_ref(ref.index)
    if actual != ref:
        raise ConfigError(
            [
                ConfigProblem(
                    str(pipeline.file),
                    f"steps[{ref.index}]",
                    f"the event asks for step {ref.name!r} ({ref.type}) at index {ref.index} "
                    f"but the pipeline has {_describe(actual)}",
                    "the pipeline changed while the run was in flight; start a new run",
                )
            ]
        )
    return pipeline


def _describe(ref: StepRef | None) -> str:
    return f"{ref.name!r} ({ref.type})" if ref else "no such step"


def _record_step(
    ctx: StepContext,
    status: str,
    started: Any,
    *,
    outcome: StepOutcome | None = None,
    error: str | None = None,
) -> None:
    ended = None if status == "RUNNING" else ctx.runtime.clock.now()
    record = StepRecord(
        tenant_id=ctx.event.tenant_id,
        pipeline_id=ctx.event.pipeline_id,
        pipeline_logging_id=ctx.run_id,
        step_name=ctx.ref.name,
        step_index=ctx.ref.index,
        step_type=ctx.ref.type,
        status=status,
        started_at=started,
        ended_at=ended,
        rows_processed=outcome.rows if outcome else None,
        error=error[:4000] if error else None,
        metadata=outcome.to_metadata() if outcome else None,
    )
    metadata.record_step(ctx.runtime.warehouse, ctx.runtime.clock, record)


def _transition(rt: Runtime, event: Event, status: str, error: str | None = None) -> None:
    metadata.record_run(
        rt.warehouse,
        rt.clock,
        RunTransition(
            tenant_id=event.tenant_id,
            pipeline_id=event.pipeline_id,
            pipeline_logging_id=event.pipeline_logging_id,
            status=status,
            trigger_by=event.trigger_by,
            window_start=event.window.start,
            window_end=event.window.end,
            error=error,
        ),
    )


def _publish(
    rt: Runtime, pipeline: Pipeline, event: Event, outcome: StepOutcome, *, record: bool
) -> None:
    assert event.next_step is not None
    events = completion_events(
        pipeline.config,
        event,
        event.next_step,
        outcome,
        now=rt.clock.now(),
        traceparent=current_traceparent() or event.traceparent,
    )
    for out in events:
        if record and out.TYPE.startswith("convergence.run.completed"):
            _transition(rt, event, "COMPLETE")
        if record and out.TYPE.startswith("convergence.run.failed"):
            _transition(rt, event, "FAILED", getattr(out, "reason", None))
        rt.bus.publish(out)


def _fail(rt: Runtime, event: Event, ref: Any, exc: TerminalError) -> None:
    log.error("terminal failure: %s", exc)
    _transition(rt, event, "FAILED", str(exc)[:4000])
    failed = run_failed(
        event,
        ref,
        str(exc),
        type(exc).__name__,
        now=rt.clock.now(),
        traceparent=current_traceparent() or event.traceparent,
    )
    rt.bus.publish(failed)
