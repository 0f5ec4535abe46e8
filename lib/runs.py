"""Starting runs: build and publish ``run.requested`` (CLI, HTTP API, scheduler, recovery).

A run is recorded REQUESTED, then its ``run.requested`` is published. If the publish fails, the
caller sees the error and the run stays REQUESTED with nothing after it: it becomes STALLED and
``convergence recover`` (or, for a scheduled run, the redelivered trigger) publishes it again
from the record (:func:`requested_event`), with the same event id.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from typing import Any

from events.models import RunRequested, StepRef, Window
from lib import metadata
from lib.config.loader import Pipeline, load_pipeline
from lib.errors import ConfigError, ConfigProblem
from lib.metadata import RunTransition
from lib.observability import current_traceparent
from lib.provenance import Trigger, default_trigger, run_metadata
from lib.states import RunStatus
from lib.step_telemetry import trace_id_of
from lib.tracing import tracer
from lib.wiring import Runtime

_NAMESPACE = uuid.UUID("2b8f6c1e-5d0a-4f3b-9a61-3e7c2d9f4a18")


def new_run_id() -> str:
    """A fresh pipeline_logging_id."""
    return f"run-{uuid.uuid4().hex[:20]}"


def requested_event_id(run_id: str) -> str:
    """The id of a run's ``run.requested``: the same however often it is (re)published."""
    return uuid.uuid5(_NAMESPACE, f"{run_id}:requested").hex


def default_window(rt: Runtime, days: int, today: dt.date | None = None) -> Window:
    """The last ``days`` whole UTC days before ``today`` (default: the clock's today)."""
    today = today or rt.clock.now().date()
    return Window(start=today - dt.timedelta(days=days), end=today - dt.timedelta(days=1))


def enabled_pipeline(rt: Runtime, tenant_id: str, pipeline_id: str) -> Pipeline:
    """The tenant's pipeline, refusing a disabled one.

    Raises:
        InvalidIdentifier: tenant or pipeline id is unsafe.
        ConfigError: the pipeline is missing, invalid or disabled.
    """
    pipeline = load_pipeline(rt.config_dir, tenant_id, pipeline_id)
    if not pipeline.config.enabled:
        raise ConfigError(
            [
                ConfigProblem(
                    str(pipeline.file), "enabled", "the pipeline is disabled", "set enabled: true"
                )
            ]
        )
    return pipeline


def request_run(
    rt: Runtime,
    tenant_id: str,
    pipeline_id: str,
    window: Window | None = None,
    *,
    trigger_by: str = "cli",
    run_id: str | None = None,
    today: dt.date | None = None,
    trigger: Trigger | None = None,
) -> RunRequested:
    """Record REQUESTED (with the run's provenance) and publish ``run.requested``.

    The run's trace starts here: the span ``run.request`` is the root every handler's span
    continues (its ``traceparent`` travels in the events).

    Args:
        rt: the runtime.
        tenant_id: whose pipeline.
        pipeline_id: which pipeline.
        window: the usage days (default: the pipeline's ``default_window_days`` before
            ``today``).
        trigger_by: who asked (``cli``, ``api``, ``cloud-scheduler``, ``demo`` …).
        run_id: a given run id (scheduled runs derive theirs); default a fresh one.
        today: the day the default window ends before (default: the clock's today).
        trigger: what asked and for whom (default: ``trigger_by`` by this process's user).

    Raises:
        InvalidIdentifier: tenant or pipeline id is unsafe.
        ConfigError: the pipeline is missing, invalid or disabled.
    """
    pipeline = enabled_pipeline(rt, tenant_id, pipeline_id)
    first = pipeline.config.step_ref(0)
    assert first is not None  # steps has min_length=1
    window = window or default_window(rt, pipeline.config.default_window_days, today)
    run_id = run_id or new_run_id()
    trigger = trigger or default_trigger(trigger_by)
    attributes = {"tenant_id": tenant_id, "pipeline_id": pipeline_id, "run_id": run_id,
                  "trigger.type": trigger.type, "trigger.by": trigger.by}  # fmt: skip
    with tracer().start_as_current_span("run.request", attributes=attributes):
        event = RunRequested(
            event_id=requested_event_id(run_id),
            occurred_at=rt.clock.now(),
            tenant_id=tenant_id,
            pipeline_id=pipeline_id,
            pipeline_logging_id=run_id,
            window=window,
            next_step=first,
            trigger_by=trigger_by,
            traceparent=current_traceparent(),
        )
        provenance = run_metadata(
            pipeline,
            rt.config_dir,
            trigger,
            trace_id=trace_id_of(event.traceparent),
            traceparent=event.traceparent,
        )
        rt.ensure_tenant(tenant_id)
        metadata.record_run(rt.warehouse, rt.clock, requested_transition(event, provenance))
        rt.bus.publish(event)
    return event


def requested_transition(
    event: RunRequested, provenance: Mapping[str, Any] | None = None
) -> RunTransition:
    """The REQUESTED record of a run about to be published (with its provenance)."""
    return RunTransition(
        tenant_id=event.tenant_id,
        pipeline_id=event.pipeline_id,
        pipeline_logging_id=event.pipeline_logging_id,
        status=RunStatus.REQUESTED,
        trigger_by=event.trigger_by,
        window_start=event.window.start,
        window_end=event.window.end,
        run_metadata=provenance,
    )


def requested_event(
    rt: Runtime, pipeline: Pipeline, run: Mapping[str, Any], *, first: StepRef | None = None
) -> RunRequested:
    """Rebuild a recorded run's ``run.requested`` (same id as the original) to publish again."""
    step = first or pipeline.config.step_ref(0)
    assert step is not None
    return RunRequested(
        event_id=requested_event_id(run["pipeline_logging_id"]),
        occurred_at=rt.clock.now(),
        tenant_id=run["tenant_id"],
        pipeline_id=run["pipeline_id"],
        pipeline_logging_id=run["pipeline_logging_id"],
        window=Window(start=run["window_start"], end=run["window_end"]),
        next_step=step,
        trigger_by=run.get("trigger_by") or "recover",
        traceparent=current_traceparent(),
    )
