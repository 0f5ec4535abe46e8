"""Notifications: what the ``notify`` handler does with a ``budget.crossed`` event.

Delivery to per-tenant channels (DESIGN.md §7) belongs to the Operations work on the notify
handler; what this module guarantees is the contract around it: the event is decoded against
its schema (a poison message is dead-lettered at once with its reason, like a step event),
and every notification is logged as one structured WARNING line — Cloud Logging's shape, with
tenant, budget, basis and threshold as labels — which a log-based alert policy can route.
Nothing here publishes: the handler may publish to no topic (events/topology.json).
"""

from __future__ import annotations

import logging
from typing import Any

from events.codec import CodecError, from_cloudevent
from events.models import BudgetCrossed, Event
from lib.errors import MalformedEvent, PoisonEvent
from lib.observability import handler_span

__all__ = ["describe", "handle_notification"]

log = logging.getLogger(__name__)


def describe(event: Event) -> str:
    """One line a person can act on."""
    if isinstance(event, BudgetCrossed):
        what = "month-to-date spend" if event.basis == "actual" else "the month-end forecast"
        return (
            f"budget {event.budget_name} of tenant {event.tenant_id}: {what} "
            f"{event.value:,.2f} {event.currency} reached {event.threshold_percent}% of "
            f"{event.budget_amount:,.2f} for {event.month:%Y-%m} (as of {event.as_of}; "
            f"{event.scope})"
        )
    return f"{event.TYPE} for tenant {event.tenant_id}"


def handle_notification(cloud_event: Any) -> None:
    """Decode a notification delivery and log it (poison is dead-lettered with its reason).

    Raises:
        MalformedEvent: a poison delivery whose topic cannot be told (Pub/Sub dead-letters it).
        TransientError: the dead letter could not be stored; retry.
    """
    from lib.steps import poison
    from lib.wiring import runtime

    try:
        try:
            event = from_cloudevent(cloud_event)
        except CodecError as exc:
            raise MalformedEvent(str(exc)) from exc
        labels = {"tenant_id": event.tenant_id, "event_type": event.TYPE}
        if isinstance(event, BudgetCrossed):
            labels |= {"budget": event.budget_name, "basis": event.basis,
                       "threshold_percent": str(event.threshold_percent)}  # fmt: skip
        with handler_span("notify.handle", event.traceparent, labels):
            log.warning(describe(event))
    except PoisonEvent as exc:
        poison.reject(runtime(), cloud_event, exc)
