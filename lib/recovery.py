"""``convergence recover``: re-drive runs that stopped progressing, from the metadata alone.

A run stops when the event that should carry it forward never arrives: the process died
between recording a step and publishing its completion, a dead letter was never replayed, a
publish failed. The metadata says how far the run got, so the missing event can be rebuilt
and published again — the same command against Pub/Sub in the cloud and the local bus (after
it has resumed its journal):

* a step FAILED terminally but the run has no terminal record → ``run.failed`` (recorded);
* every step COMPLETE → the last step's completion (``run.completed``, recorded);
* steps 0..k COMPLETE → step k's completion event, whose ``next_step`` is k+1;
* nothing COMPLETE → the run's ``run.requested`` again (same event id).

The step that was in flight is claimed by a delivery that died; ``--force`` releases its claim
at once, otherwise recovery waits until the claim's lease has expired (a stalled run's has).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from events.models import Event, RunCompleted, RunFailed
from lib import metadata
from lib.config.loader import load_pipeline
from lib.lifecycle import (
    DEFAULT_STALL_AFTER,
    RunState,
    release_claims,
    run_state,
    stalled_runs,
)
from lib.metadata import RunTransition
from lib.observability import current_traceparent
from lib.provenance import default_trigger
from lib.runs import requested_event
from lib.states import RunStatus, StepStatus
from lib.steps.base import StepOutcome
from lib.steps.next_events import completion_events, run_failed
from lib.wiring import Runtime

log = logging.getLogger(__name__)

__all__ = ["Recovery", "note_redrive", "plan_recovery", "recover", "run_trace_span"]


@dataclass(frozen=True)
class Recovery:
    """What recovering one run publishes (and which terminal status it records)."""

    tenant_id: str
    run_id: str
    pipeline_id: str
    waiting_on: int
    events: tuple[Event, ...]
    records: RunStatus | None
    reason: str

    def describe(self) -> str:
        """One line for the CLI."""
        kinds = ", ".join(type(e).__name__ for e in self.events) or "nothing"
        return f"{self.tenant_id}/{self.pipeline_id} {self.run_id}: {self.reason} → {kinds}"


def plan_recovery(rt: Runtime, state: RunState) -> Recovery:
    """The events that carry ``state``'s run forward from where its metadata says it stopped."""
    run = state.run
    pipeline = load_pipeline(rt.config_dir, run["tenant_id"], run["pipeline_id"])
    cause = requested_event(rt, pipeline, run)  # stamped with the current span's traceparent
    base = {"tenant_id": run["tenant_id"], "run_id": run["pipeline_logging_id"],
            "pipeline_id": run["pipeline_id"], "waiting_on": state.waiting_on}  # fmt: skip
    failed = [s for s in state.steps if s["status"] == StepStatus.FAILED]
    if failed:
        step = failed[0]
        ref = pipeline.config.step_ref(step["step_index"])
        reason = str(step.get("error") or "step failed")
        event = run_failed(cause, ref, reason, "StepFailed", now=rt.clock.now(),
                           traceparent=current_traceparent())  # fmt: skip
        why = f"step {step['step_name']} failed; the run was never ended"
        return Recovery(**base, events=(event,), records=RunStatus.FAILED, reason=why)
    done = state.waiting_on - 1
    if done < 0:
        return Recovery(**base, events=(cause,), records=None,
                        reason="no step completed: requesting the run again")  # fmt: skip
    record = next(s for s in state.steps if s["step_index"] == done)
    outcome = StepOutcome.from_metadata(record.get("metadata") or {})
    ref = pipeline.config.step_ref(done)
    assert ref is not None
    events = completion_events(
        pipeline.config, cause, ref, outcome, now=rt.clock.now(), traceparent=current_traceparent()
    )
    terminal = next((e for e in events if isinstance(e, RunCompleted | RunFailed)), None)
    records = None
    if isinstance(terminal, RunCompleted):
        records = RunStatus.COMPLETE
    elif isinstance(terminal, RunFailed):
        records = RunStatus.FAILED
    reason = f"step {ref.name} completed; its successor never ran"
    if records is not None:
        reason = f"step {ref.name} completed; the run was never ended"
    return Recovery(**base, events=tuple(events), records=records, reason=reason)


def recover(
    rt: Runtime,
    tenant_id: str,
    *,
    run_id: str | None = None,
    force: bool = False,
    dry_run: bool = False,
    stall_after: dt.timedelta = DEFAULT_STALL_AFTER,
) -> list[Recovery]:
    """Re-drive a tenant's stalled runs (or one run, stalled or not, when ``run_id`` is given).

    Args:
        rt: the runtime (its bus receives the events).
        tenant_id: whose runs.
        run_id: only this run; it is recovered even if it is not stalled yet.
        force: release the claim of the step the run waits on (its holder is known dead).
        dry_run: plan only; publish and record nothing.
        stall_after: how long without progress makes a run stalled.

    Returns:
        What was (or would be) published per run.
    """
    rt.ensure_tenant(tenant_id)
    if run_id is not None:
        state = run_state(rt.warehouse, rt.clock, tenant_id, run_id, stall_after=stall_after)
        states = (
            [state] if state is not None and not RunStatus(state.run["status"]).terminal else []
        )
    else:
        states = stalled_runs(rt.warehouse, rt.clock, tenant_id, stall_after=stall_after)
    plans = []
    for state in states:
        with run_trace_span(rt, tenant_id, state.run["pipeline_logging_id"], "run.recover"):
            plan = plan_recovery(rt, state)
            plans.append(plan)
            if not dry_run:
                _apply(rt, state, plan, force=force or state.stalled)
    return plans


def _apply(rt: Runtime, state: RunState, plan: Recovery, *, force: bool) -> None:
    if force:
        release_claims(rt.warehouse, rt.clock, plan.tenant_id, plan.run_id, plan.waiting_on)
    metadata.record_run(rt.warehouse, rt.clock, _transition(state, RunStatus.RUNNING, "recover"))
    for event in plan.events:
        rt.bus.publish(event)
    if plan.records is not None:
        reason = next((e.reason for e in plan.events if isinstance(e, RunFailed)), None)
        metadata.record_run(rt.warehouse, rt.clock, _transition(state, plan.records, None, reason))
    log.warning("recovered %s", plan.describe())


def _transition(
    state: RunState,
    status: RunStatus,
    trigger: str | None,
    error: str | None = None,
) -> RunTransition:
    run = state.run
    return RunTransition(
        tenant_id=run["tenant_id"],
        pipeline_id=run["pipeline_id"],
        pipeline_logging_id=run["pipeline_logging_id"],
        status=status,
        trigger_by=run.get("trigger_by"),
        window_start=run.get("window_start"),
        window_end=run.get("window_end"),
        error=error,
        run_metadata=_redrive_metadata(trigger) if trigger else None,
    )


def _redrive_metadata(kind: str) -> dict[str, Any]:
    trigger = default_trigger(kind)
    return {"recovered_by": kind, "trigger": {"type": trigger.type, "by": trigger.by}}


@contextlib.contextmanager
def run_trace_span(rt: Runtime, tenant_id: str, run_id: str, name: str) -> Iterator[None]:
    """A span in the run's own trace (its REQUESTED record's traceparent), so what a recovery
    or replay publishes continues the trace the run started with."""
    from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

    from lib.tracing import tracer

    first = next(iter(metadata.run_history(rt.warehouse, tenant_id, run_id)), None)
    meta = first.get("run_metadata") if first else None
    parent = meta.get("traceparent") if isinstance(meta, dict) else None
    context = TraceContextTextMapPropagator().extract({"traceparent": parent}) if parent else None
    attributes = {"tenant_id": tenant_id, "run_id": run_id}
    with tracer().start_as_current_span(name, context=context, attributes=attributes):
        yield


def note_redrive(rt: Runtime, tenant_id: str, run_id: str, kind: str) -> bool:
    """Record on a run that it was re-driven (``replay``, ``recover``) and by whom: a transition
    with its current status (a run that has ended is left alone). Returns whether recorded."""
    run = metadata.run_status(rt.warehouse, tenant_id, run_id)
    if run is None or RunStatus(run["status"]).terminal:
        return False
    transition = RunTransition(
        tenant_id=tenant_id,
        pipeline_id=run["pipeline_id"],
        pipeline_logging_id=run_id,
        status=run["status"],
        trigger_by=run.get("trigger_by"),
        window_start=run.get("window_start"),
        window_end=run.get("window_end"),
        run_metadata=_redrive_metadata(kind),
    )
    metadata.record_run(rt.warehouse, rt.clock, transition)
    return True
