"""Starting runs: build and publish ``run.requested`` (CLI, HTTP API and tests share this)."""

from __future__ import annotations

import datetime as dt
import uuid

from events.models import RunRequested, StepRef, Window
from lib import metadata
from lib.config.loader import load_pipeline
from lib.errors import ConfigError, ConfigProblem
from lib.metadata import RunTransition
from lib.observability import current_traceparent, tracer
from lib.wiring import Runtime


def new_run_id() -> str:
    """A fresh pipeline_logging_id."""
    return f"run-{uuid.uuid4().hex[:20]}"


def default_window(rt: Runtime, days: int) -> Window:
    """The last ``days`` whole UTC days before today."""
    today = rt.clock.now().date()
    return Window(start=today - dt.timedelta(days=days), end=today - dt.timedelta(days=1))


def request_run(
    rt: Runtime,
    tenant_id: str,
    pipeline_id: str,
    window: Window | None = None,
    *,
    trigger_by: str = "cli",
    run_id: str | None = None,
) -> RunRequested:
    """Record REQUESTED and publish ``run.requested`` for a tenant's pipeline.

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
    first = pipeline.config.step_ref(0)
    assert first is not None  # steps has min_length=1
    window = window or default_window(rt, pipeline.config.default_window_days)
    with tracer().start_as_current_span("run.request", attributes={"tenant_id": tenant_id}):
        return _publish_request(rt, tenant_id, pipeline_id, first, window, trigger_by, run_id)


def _publish_request(
    rt: Runtime,
    tenant_id: str,
    pipeline_id: str,
    first: StepRef,
    window: Window,
    trigger_by: str,
    run_id: str | None,
) -> RunRequested:
    event = RunRequested(
        event_id=uuid.uuid4().hex,
        occurred_at=rt.clock.now(),
        tenant_id=tenant_id,
        pipeline_id=pipeline_id,
        pipeline_logging_id=run_id or new_run_id(),
        window=window,
        next_step=first,
        trigger_by=trigger_by,
        traceparent=current_traceparent(),
    )
    rt.ensure_tenant(tenant_id)
    metadata.record_run(
        rt.warehouse,
        rt.clock,
        RunTransition(
            tenant_id=tenant_id,
            pipeline_id=pipeline_id,
            pipeline_logging_id=event.pipeline_logging_id,
            status="REQUESTED",
            trigger_by=trigger_by,
            window_start=window.start,
            window_end=window.end,
        ),
    )
    rt.bus.publish(event)
    return event
