"""The shared step runner every handler calls: decode → claim → ports → domain → publish.

At-least-once delivery, crashes at any point, and every run still ends in exactly one terminal
record (docs/reliability.md):

* **One execution per step.** A delivery first claims the step (``lib/lifecycle.py``): a
  duplicate of an event whose step another delivery holds is acked without running; a
  redelivery of the same message (the previous attempt died) takes over.
* **Redelivery of a finished step** publishes only what is missing downstream: the next
  step's event if the next step never started, the run's terminal event if the run has no
  terminal record. A run that already ended is never announced twice.
* **Terminal events are published, then recorded.** A crash between the two leaves the record
  missing, so the redelivery publishes again (same event id) and records it; one terminal
  record always exists in the end.
* **Transient faults** (provider 429/5xx, warehouse unavailable) record the step as RETRYING
  with the error, then raise: the bus redelivers, then dead-letters. **Terminal faults** are
  recorded, acked and end the run with ``run.failed``.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from events.codec import CodecError, from_cloudevent
from events.models import Event, RunCompleted, RunFailed, StepRef, StepType
from lib import faultpoints, metadata
from lib.changes import Producer, record_changes
from lib.config.loader import Pipeline, load_pipeline
from lib.errors import (
    ConfigError,
    ConfigProblem,
    MalformedEvent,
    PoisonEvent,
    TerminalError,
    TransientError,
)
from lib.lifecycle import Claim, claim_step, release_claims, step_state
from lib.metadata import RunTransition, StepRecord
from lib.observability import current_traceparent, handler_span, mark_logged
from lib.provenance import step_metadata
from lib.scheduler import is_trigger, start_scheduled_run
from lib.states import RunStatus, StepStatus
from lib.step_telemetry import current_meter, current_trace_id, fail_current_span, step_span
from lib.steps import poison
from lib.steps.base import StepContext, StepOutcome
from lib.steps.next_events import completion_events, run_failed
from lib.wiring import Runtime, runtime

log = logging.getLogger(__name__)
_delivery: contextvars.ContextVar[str | None] = contextvars.ContextVar("delivery", default=None)
Executor = Callable[[StepContext], StepOutcome]


@dataclass(frozen=True)
class Delivery:
    """Which delivery brought an event: its message id (stable across redeliveries of the
    message) and when the message was published (None when not known)."""

    message_id: str
    published_at: dt.datetime | None = None


def executors() -> dict[str, Executor]:
    """Step type → executor (imported lazily so each handler loads only what it runs)."""
    from lib.steps.dq import run_dq
    from lib.steps.ingest import run_ingest
    from lib.steps.transform import run_transform

    return {"ingest": run_ingest, "dq": run_dq, "transform": run_transform}


def handle_cloudevent(cloud_event: Any, step_type: StepType) -> None:
    """Entry point shared by the three handlers.

    A poison message (undecodable, unroutable, or for an unknown tenant) is dead-lettered at
    once with its reason and acked (``lib/steps/poison.py``), never retried.

    Raises:
        MalformedEvent: a poison event that is no Pub/Sub delivery, or whose topic cannot be
            told (non-2xx: Pub/Sub dead-letters it by policy, nothing lost).
        TransientError: retry later.
    """
    try:
        try:
            event = from_cloudevent(cloud_event)
        except CodecError as exc:
            raise MalformedEvent(str(exc)) from exc
        handle(runtime(), event, step_type, delivery_of(cloud_event, event))
    except PoisonEvent as exc:
        poison.reject(runtime(), cloud_event, exc)
    finally:
        from lib.tracing import flush

        flush()  # Cloud Run may idle the CPU once the response is sent


def delivery_of(cloud_event: Any, event: Event) -> Delivery:
    """The delivery a CloudEvent describes: for Pub/Sub (push or Eventarc) the CloudEvent id is
    the message id and its time the message's publish time."""
    message_id = str(cloud_event["id"] or event.event_id)
    published = _time(cloud_event.get("time"))
    return Delivery(message_id, published)


def _time(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if isinstance(value, str) and value:
        try:
            moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    return None


def handle(
    rt: Runtime, event: Event, step_type: StepType, delivery: Delivery | None = None
) -> None:
    """Run the step ``event.next_step`` if it is of ``step_type``; ignore it otherwise."""
    if event.next_step is None or event.next_step.type != step_type:
        log.info("ignoring %s for step type %s", event.TYPE, event.next_step_type)
        return
    delivery = delivery or Delivery(event.event_id)
    if is_trigger(event):  # a Cloud Scheduler tick: start the real run (lib/scheduler.py)
        start_scheduled_run(rt, event, delivery.published_at)
        return
    labels = {
        "tenant_id": event.tenant_id,
        "pipeline_id": event.pipeline_id,
        "run_id": event.pipeline_logging_id,
        "step": event.next_step.name,
    }
    with handler_span(f"{step_type}.handle", event.traceparent, labels):
        try:
            _run(rt, event, step_type, delivery)
        except TransientError as exc:  # redelivered: a warning, with the run's labels
            log.warning("step %s will be retried: %s: %s", labels["step"], type(exc).__name__, exc)
            mark_logged(exc)
            raise
        except PoisonEvent:
            raise
        except Exception as exc:  # a bug: one Error Reporting event with labels and trace
            log.exception("step %s failed unexpectedly: %s", labels["step"], exc)
            mark_logged(exc)
            raise


def _run(rt: Runtime, event: Event, step_type: StepType, delivery: Delivery) -> None:
    assert event.next_step is not None
    ref = event.next_step
    poison.check_tenant(rt.config_dir, event.tenant_id)  # before anything is created
    rt.ensure_tenant(event.tenant_id)
    try:
        pipeline = _pipeline_for(rt, event)
    except TerminalError as exc:
        _fail(rt, event, None, exc)
        return
    prior = step_state(rt.warehouse, event.tenant_id, event.pipeline_logging_id, ref.index)
    if prior.status is StepStatus.COMPLETE:
        assert prior.latest is not None
        _finish_redelivered(rt, pipeline, event, StepOutcome.from_metadata(prior.latest))
        return
    if prior.status is StepStatus.FAILED:
        assert prior.latest is not None
        _ensure_failed(rt, event, ref, str(prior.latest.get("error") or "step failed"))
        return
    claim = claim_step(
        rt.warehouse,
        rt.clock,
        tenant_id=event.tenant_id,
        run_id=event.pipeline_logging_id,
        step_index=ref.index,
        step_name=ref.name,
        delivery_id=delivery.message_id,
    )
    if claim is Claim.DUPLICATE:
        log.info(
            "step %s of run %s is held by another delivery; acking duplicate %s",
            ref.name,
            event.pipeline_logging_id,
            delivery.message_id,
        )
        return
    ctx = StepContext(rt, pipeline, event, ref, pipeline.config.steps[ref.index])
    attempt = prior.attempts + 1
    attributes = {"step": ref.name, "step.type": ref.type, "step.index": ref.index,
                  "step.attempt": attempt, "run_id": event.pipeline_logging_id}  # fmt: skip
    with step_span(f"step {ref.name}", attributes):
        _execute(rt, pipeline, event, step_type, ctx, attempt, delivery.message_id)


def _execute(
    rt: Runtime,
    pipeline: Pipeline,
    event: Event,
    step_type: StepType,
    ctx: StepContext,
    attempt: int,
    delivery_id: str | None = None,
) -> None:
    _delivery.set(delivery_id)
    with faultpoints.step(step_type):
        started = rt.clock.now()
        _record_step(ctx, StepStatus.RUNNING, started, attempt)
        if ctx.ref.index == 0 and attempt == 1:
            _transition(rt, event, RunStatus.RUNNING)
        faultpoints.at("before_write")
        try:
            outcome = executors()[step_type](ctx)
        except TerminalError as exc:
            _record_step(ctx, StepStatus.FAILED, started, attempt, error=str(exc))
            _fail(rt, event, ctx.ref, exc)
            return
        except TransientError as exc:
            _record_step(
                ctx, StepStatus.RETRYING, started, attempt, error=f"{type(exc).__name__}: {exc}"
            )
            # This delivery is over: whichever delivery comes next (a redelivery, a replayed
            # dead letter, a recovery) may run the step.
            release_claims(rt.warehouse, rt.clock, event.tenant_id, ctx.run_id, ctx.ref.index)
            raise
        faultpoints.at("after_write")
        if step_type != "dq":  # before COMPLETE: a redelivered step records the same set again
            record_changes(rt.warehouse, rt.clock, _producer(ctx), outcome.changes)
        _record_step(ctx, StepStatus.COMPLETE, started, attempt, outcome=outcome)
        faultpoints.at("after_record")
        _publish(rt, pipeline, event, outcome)
        faultpoints.at("after_publish")


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
    status: StepStatus,
    started: Any,
    attempt: int,
    *,
    outcome: StepOutcome | None = None,
    error: str | None = None,
) -> None:
    ended = None if status is StepStatus.RUNNING else ctx.runtime.clock.now()
    meter = current_meter()
    extra = step_metadata(
        ctx.pipeline,
        ctx.runtime.config_dir,
        ctx.ref.index,
        None if status is StepStatus.RUNNING or meter is None else meter.snapshot(),
        delivery=_delivery.get(),
        trace_id=current_trace_id(),
    )
    if error:
        fail_current_span(f"{status}: {error}")
    record = StepRecord(
        tenant_id=ctx.event.tenant_id,
        pipeline_id=ctx.event.pipeline_id,
        pipeline_logging_id=ctx.run_id,
        step_name=ctx.ref.name,
        step_index=ctx.ref.index,
        step_type=ctx.ref.type,
        status=status,
        attempt=attempt,
        started_at=started,
        ended_at=ended,
        rows_processed=outcome.rows if outcome else None,
        error=error[:4000] if error else None,
        metadata={**(outcome.to_metadata() if outcome else {}), **extra},
    )
    metadata.record_step(ctx.runtime.warehouse, ctx.runtime.clock, record)


def _transition(rt: Runtime, event: Event, status: RunStatus, error: str | None = None) -> None:
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


def _events(rt: Runtime, pipeline: Pipeline, event: Event, outcome: StepOutcome) -> list[Event]:
    assert event.next_step is not None
    return completion_events(
        pipeline.config,
        event,
        event.next_step,
        outcome,
        now=rt.clock.now(),
        traceparent=current_traceparent() or event.traceparent,
    )


def _publish(rt: Runtime, pipeline: Pipeline, event: Event, outcome: StepOutcome) -> None:
    """Publish a finished step's events; a terminal event is published, then recorded."""
    for out in _events(rt, pipeline, event, outcome):
        rt.bus.publish(out)
        if isinstance(out, RunCompleted):
            _transition(rt, event, RunStatus.COMPLETE)
        elif isinstance(out, RunFailed):
            _transition(rt, event, RunStatus.FAILED, out.reason)


def _finish_redelivered(
    rt: Runtime, pipeline: Pipeline, event: Event, outcome: StepOutcome
) -> None:
    """A step already COMPLETE was delivered again: publish only what never happened."""
    assert event.next_step is not None
    events = _events(rt, pipeline, event, outcome)
    run = metadata.run_status(rt.warehouse, event.tenant_id, event.pipeline_logging_id)
    ended = run is not None and RunStatus(run["status"]).terminal
    terminal = [e for e in events if isinstance(e, RunCompleted | RunFailed)]
    if terminal:
        if ended:
            log.info("run %s already ended; nothing to publish", event.pipeline_logging_id)
            return
        log.info(
            "step %s COMPLETE but the run has no terminal record: ending it", event.next_step.name
        )
        _publish(rt, pipeline, event, outcome)
        return
    nxt = events[0].next_step if events else None
    if nxt is not None and _started(rt, event, nxt.index):
        log.info("step %s already COMPLETE and its successor started", event.next_step.name)
        return
    log.info(
        "step %s COMPLETE but its successor never started: re-publishing", event.next_step.name
    )
    for out in events:
        rt.bus.publish(out)


def _started(rt: Runtime, event: Event, index: int) -> bool:
    state = step_state(rt.warehouse, event.tenant_id, event.pipeline_logging_id, index)
    return state.latest is not None


def _ensure_failed(rt: Runtime, event: Event, ref: StepRef, reason: str) -> None:
    """A step already FAILED: make sure the run has its terminal record and event."""
    run = metadata.run_status(rt.warehouse, event.tenant_id, event.pipeline_logging_id)
    if run is not None and RunStatus(run["status"]).terminal:
        log.info("step %s already FAILED terminally; nothing to do", ref.name)
        return
    failed = run_failed(
        event, ref, reason, "StepFailed", now=rt.clock.now(), traceparent=event.traceparent
    )
    rt.bus.publish(failed)
    _transition(rt, event, RunStatus.FAILED, reason[:4000])


def _fail(rt: Runtime, event: Event, ref: StepRef | None, exc: TerminalError) -> None:
    # One Error Reporting event per failed run: the message, its cause and the stack.
    log.error("run failed: %s: %s", type(exc).__name__, exc, exc_info=exc)
    mark_logged(exc)
    failed = run_failed(
        event,
        ref,
        str(exc),
        type(exc).__name__,
        now=rt.clock.now(),
        traceparent=current_traceparent() or event.traceparent,
    )
    rt.bus.publish(failed)
    _transition(rt, event, RunStatus.FAILED, str(exc)[:4000])
