"""One run as an on-call engineer reads it: provenance, a timeline, the DQ summary, the cause.

:func:`load_run_view` reads the run's transitions, step records and DQ results; the pure
:func:`build_view` turns them into a :class:`RunView` that ``convergence status`` prints:

* **provenance** — trigger and by whom, config hash (and git commit), code version, trace id
  (``lib/provenance.py``);
* **timeline** — every transition and every step record in order, with its attempt,
  duration, rows and what it did (API calls and pages, DQ counts) or the error it met;
* **DQ summary** — expectations checked, passed, failed (critical / warning), and which;
* **error with cause** — the run's terminal error and the step record it came from.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from lib import metadata
from lib.lifecycle import RunState, run_state
from lib.sql import table_sql
from lib.states import RunStatus, StepStatus
from lib.wiring import Runtime


@dataclass(frozen=True)
class TimelineEntry:
    """One thing that happened to a run."""

    at: dt.datetime
    what: str
    status: str
    attempt: int | None = None
    duration_ms: int | None = None
    rows: int | None = None
    detail: str = ""


@dataclass(frozen=True)
class DqSummary:
    """The run's DQ results in numbers, with the failed expectations named."""

    expectations: int = 0
    passed: int = 0
    critical: int = 0
    warnings: int = 0
    failed: list[str] = field(default_factory=list)

    def describe(self) -> str:
        """One line: ``12 expectations: 11 passed, 0 critical, 1 warning (…)``."""
        if not self.expectations:
            return "no expectations checked"
        line = (
            f"{self.expectations} expectations: {self.passed} passed, {self.critical} "
            f"critical failure(s), {self.warnings} warning(s)"
        )
        return f"{line} — {'; '.join(self.failed)}" if self.failed else line


@dataclass(frozen=True)
class RunView:
    """Everything ``status`` shows about one run."""

    tenant_id: str
    run_id: str
    pipeline_id: str
    status: RunStatus
    window: str
    requested_at: dt.datetime
    ended_at: dt.datetime | None
    provenance: dict[str, Any]
    timeline: list[TimelineEntry]
    dq: DqSummary
    error: str | None
    cause: str | None
    stalled_note: str | None = None

    @property
    def duration(self) -> dt.timedelta | None:
        """From the request to the terminal record (None while the run goes on)."""
        return self.ended_at - self.requested_at if self.ended_at else None

    @property
    def trace_id(self) -> str | None:
        """The run's trace id (from its provenance)."""
        value = self.provenance.get("trace_id")
        return str(value) if value else None


def load_run_view(rt: Runtime, tenant_id: str, run_id: str) -> RunView | None:
    """The view of ``run_id`` of ``tenant_id`` (None when the tenant has no such run)."""
    transitions = metadata.run_history(rt.warehouse, tenant_id, run_id)
    if not transitions:
        return None
    steps = metadata.step_history(rt.warehouse, tenant_id, run_id)
    dq_rows = rt.warehouse.query(
        "SELECT step_name, table_name, expectation_name, severity, success, unexpected_count "
        f"FROM {table_sql(metadata.metadata_table(tenant_id, 'dq_results'))} "
        "WHERE pipeline_logging_id = @run_id ORDER BY step_name, expectation_name",
        {"run_id": run_id},
    )
    state = run_state(rt.warehouse, rt.clock, tenant_id, run_id)
    return build_view(transitions, steps, dq_rows, state)


def build_view(
    transitions: Sequence[dict[str, Any]],
    steps: Sequence[dict[str, Any]],
    dq_rows: Sequence[dict[str, Any]],
    state: RunState | None,
) -> RunView:
    """Assemble the view from the run's records (pure)."""
    first, last = transitions[0], transitions[-1]
    entries = [_transition_entry(t) for t in transitions] + [_step_entry(s) for s in steps]
    entries.sort(key=lambda e: e.at)
    status = state.status if state is not None else RunStatus(last["status"])
    terminal = RunStatus(last["status"]).terminal
    stalled = None
    if state is not None and state.stalled:
        stalled = (
            f"no progress since {state.last_activity}; waits on step {state.waiting_on} "
            f"(last error: {state.last_error or 'none recorded'})"
        )
    return RunView(
        tenant_id=str(first["tenant_id"]),
        run_id=str(first["pipeline_logging_id"]),
        pipeline_id=str(first["pipeline_id"]),
        status=status,
        window=f"{first.get('window_start')} → {first.get('window_end')}",
        requested_at=first["recorded_at"],
        ended_at=last["recorded_at"] if terminal else None,
        provenance=_provenance(transitions),
        timeline=entries,
        dq=_dq_summary(dq_rows),
        error=last.get("error") if terminal else None,
        cause=_cause(steps),
        stalled_note=stalled,
    )


def _provenance(transitions: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The first transition's provenance (the request), whatever later ones add."""
    for transition in transitions:
        meta = transition.get("run_metadata")
        if isinstance(meta, dict) and "trigger" in meta:
            return meta
    return {}


def _transition_entry(t: dict[str, Any]) -> TimelineEntry:
    meta = t.get("run_metadata") if isinstance(t.get("run_metadata"), dict) else {}
    trigger = meta.get("trigger") if isinstance(meta, dict) else None
    detail = ""
    if isinstance(trigger, dict):
        detail = f"{trigger.get('type')} by {trigger.get('by')}"
    elif isinstance(meta, dict) and meta.get("recovered_by"):
        detail = f"{meta['recovered_by']}"
    if t.get("error"):
        detail = f"{detail} — {t['error']}" if detail else str(t["error"])
    return TimelineEntry(at=t["recorded_at"], what="run", status=str(t["status"]), detail=detail)


def _step_entry(s: dict[str, Any]) -> TimelineEntry:
    return TimelineEntry(
        at=s["recorded_at"],
        what=f"#{s['step_index']} {s['step_name']} ({s['step_type']})",
        status=str(s["status"]),
        attempt=s.get("attempt"),
        duration_ms=s.get("duration_ms"),
        rows=s.get("rows_processed"),
        detail=str(s["error"]) if s.get("error") else _did(s),
    )


def _did(step: dict[str, Any]) -> str:
    """What a finished step did, from its record's metadata."""
    meta = step.get("metadata")
    if not isinstance(meta, dict) or step["status"] == StepStatus.RUNNING:
        return ""
    parts = []
    if meta.get("api_calls"):
        parts.append(f"{meta['api_calls']} API call(s), {meta.get('pages', 0)} page(s)")
    if step["step_type"] == "dq" and "expectations" in meta:
        failed = len(meta.get("failed") or [])
        parts.append(
            f"DQ {meta['expectations']} checked, {failed} critical, "
            f"{meta.get('warnings', 0)} warning(s)"
        )
    if meta.get("bytes_billed"):
        parts.append(f"{meta['bytes_billed']} bytes billed")
    return "; ".join(parts)


def _dq_summary(rows: Sequence[dict[str, Any]]) -> DqSummary:
    failed = [r for r in rows if not r["success"]]
    critical = [r for r in failed if r["severity"] == "critical"]
    return DqSummary(
        expectations=len(rows),
        passed=len(rows) - len(failed),
        critical=len(critical),
        warnings=len(failed) - len(critical),
        failed=[
            f"{r['severity']} {r['expectation_name']} on {r['table_name']} "
            f"({r['unexpected_count'] or 0} unexpected)"
            for r in failed
        ],
    )


def _cause(steps: Sequence[dict[str, Any]]) -> str | None:
    """The step record behind the run's error: its newest FAILED, else RETRYING, record."""
    for wanted in (StepStatus.FAILED, StepStatus.RETRYING):
        found = [s for s in steps if s["status"] == wanted and s.get("error")]
        if found:
            step = found[-1]
            return (
                f"step {step['step_name']} ({step['step_type']}, attempt "
                f"{step.get('attempt') or '?'}) {str(wanted).lower()}: {step['error']}"
            )
    return None
