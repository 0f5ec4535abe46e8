"""What a notification says and how it is signed (pure: no I/O).

A webhook receives :func:`webhook_body` — JSON with the event's id, kind, tenant, pipeline,
run, window, a one-line ``summary``, the ``details`` (the run's failure reason, or the DQ
expectations that failed), the trace id and the commands an on-call engineer runs next —
with these headers::

    Content-Type: application/json
    X-Convergence-Event-Id: <event id>          (the same on every retry: dedupe on it)
    X-Convergence-Timestamp: <unix seconds>
    X-Convergence-Signature: sha256=<hex HMAC-SHA256(key, "<timestamp>." + body)>

A receiver recomputes the signature over the raw body with the shared key, compares in
constant time and refuses timestamps older than a few minutes (:func:`verify`). A Slack
incoming webhook receives :func:`slack_body` (``text`` plus ``blocks``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from events.models import BudgetCrossed, DqFailed, Event, RunFailed
from lib.step_telemetry import trace_id_of

SIGNATURE_HEADER = "X-Convergence-Signature"
TIMESTAMP_HEADER = "X-Convergence-Timestamp"
EVENT_ID_HEADER = "X-Convergence-Event-Id"
TOLERANCE_SECONDS = 300


@dataclass(frozen=True)
class Notification:
    """One thing to tell a tenant's channels."""

    event_id: str
    kind: str
    event_type: str
    tenant_id: str
    pipeline_id: str
    run_id: str
    occurred_at: str
    window: dict[str, str]
    summary: str
    details: list[str]
    facts: dict[str, Any] = field(default_factory=dict)
    trace_id: str | None = None

    @property
    def commands(self) -> dict[str, str]:
        """What to run next (docs/operations.md)."""
        scope = f"--tenant {self.tenant_id}"
        return {
            "status": f"convergence status {self.run_id} {scope}",
            "trace": f"convergence trace {self.run_id} {scope}",
            "replay": f"convergence replay {scope} --pipeline {self.pipeline_id} --dry-run",
            "recover": f"convergence recover {scope} --run {self.run_id} --dry-run",
        }


def notification_of(event: Event) -> Notification | None:
    """The notification for a ``run.failed``, ``dq.failed`` or ``budget.crossed`` event
    (None for others)."""
    common: dict[str, Any] = {
        "event_id": event.event_id,
        "event_type": event.TYPE,
        "tenant_id": event.tenant_id,
        "pipeline_id": event.pipeline_id,
        "run_id": event.pipeline_logging_id,
        "occurred_at": event.occurred_at.isoformat(),
        "window": {"start": event.window.start.isoformat(), "end": event.window.end.isoformat()},
        "trace_id": trace_id_of(event.traceparent),
    }
    where = f"{event.tenant_id}/{event.pipeline_id}"
    if isinstance(event, RunFailed):
        step = event.step_done.name if event.step_done else None
        at = f" at step {step}" if step else ""
        return Notification(
            kind="run.failed",
            summary=f"{where}: run {event.pipeline_logging_id} FAILED{at} ({event.error_type})",
            details=[event.reason],
            facts={"error_type": event.error_type, "step": step, "reason": event.reason},
            **common,
        )
    if isinstance(event, DqFailed):
        outcome = "run stopped" if event.on_failure == "stop" else "run continues (alert)"
        return Notification(
            kind="dq.failed",
            summary=(
                f"{where}: {len(event.failed)} critical DQ expectation(s) failed at step "
                f"{event.step_done.name} of run {event.pipeline_logging_id}; {outcome}"
            ),
            details=list(event.failed),
            facts={
                "step": event.step_done.name,
                "expectations": event.expectations,
                "failed": list(event.failed),
                "on_failure": event.on_failure,
            },
            **common,
        )
    if isinstance(event, BudgetCrossed):
        return _budget(event, common)
    return None


def _budget(event: BudgetCrossed, common: dict[str, Any]) -> Notification:
    """A budget threshold crossed: what crossed, by how much, in which scope."""
    what = "month-to-date spend" if event.basis == "actual" else "the month-end forecast"
    summary = (
        f"{event.tenant_id}: budget {event.budget_name} — {what} {event.value:,.2f} "
        f"{event.currency} reached {event.threshold_percent}% of {event.budget_amount:,.2f} "
        f"for {event.month:%Y-%m}"
    )
    details = [f"scope: {event.scope}", f"spend counted up to {event.as_of}"]
    return Notification(
        kind="budget.crossed",
        summary=summary,
        details=details,
        facts={
            "budget_name": event.budget_name,
            "month": event.month.isoformat(),
            "basis": event.basis,
            "threshold_percent": event.threshold_percent,
            "budget_amount": str(event.budget_amount),
            "value": str(event.value),
            "currency": event.currency,
            "scope": event.scope,
            "as_of": event.as_of.isoformat(),
        },
        **common,
    )


def webhook_body(n: Notification) -> bytes:
    """The JSON body a generic webhook receives."""
    body = {
        "id": n.event_id,
        "type": n.kind,
        "event_type": n.event_type,
        "tenant_id": n.tenant_id,
        "pipeline_id": n.pipeline_id,
        "run_id": n.run_id,
        "occurred_at": n.occurred_at,
        "window": n.window,
        "summary": n.summary,
        "details": n.details,
        n.kind.replace(".", "_"): n.facts,
        "trace_id": n.trace_id,
        "commands": n.commands,
    }
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


def _slack_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(n: Notification) -> bytes:
    """The body a Slack-compatible incoming webhook receives (``text`` + ``blocks``)."""
    details = "\n".join(f"• {_slack_escape(d[:500])}" for d in n.details[:10])
    context = f"run `{n.run_id}` · window {n.window['start']} → {n.window['end']}"
    if n.trace_id:
        context += f" · trace `{n.trace_id}`"
    body = {
        "text": f"{n.summary}\n{details}",
        "blocks": [
            {
                "type": "section",
                "text": {"type": "mrkdwn", "text": f"*{_slack_escape(n.summary)}*"},
            },
            {"type": "section", "text": {"type": "mrkdwn", "text": details or "(no details)"}},
            {"type": "context", "elements": [{"type": "mrkdwn", "text": context}]},
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"`{n.commands['status']}`"}],
            },
        ],
    }
    return json.dumps(body, separators=(",", ":")).encode()


def sign(key: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: HMAC-SHA256 with ``key`` over ``"<timestamp>."`` + the raw body."""
    mac = hmac.new(key.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def verify(
    key: str, timestamp: str, body: bytes, signature: str, *, now: int,
    tolerance: int = TOLERANCE_SECONDS,
) -> bool:  # fmt: skip
    """What a receiver checks: a fresh timestamp and the signature, compared in constant time."""
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    if abs(now - sent) > tolerance:
        return False
    return hmac.compare_digest(sign(key, sent, body), signature)


def webhook_headers(key: str, timestamp: int, n: Notification, body: bytes) -> dict[str, str]:
    """The headers of a signed webhook request."""
    return {
        "Content-Type": "application/json",
        EVENT_ID_HEADER: n.event_id,
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: sign(key, timestamp, body),
    }
