"""Cloud Run handler telling tenants' channels about failures and budget alerts
(functions-framework target ``notify``).

Subscribed to ``run-failed``, ``dq-failed`` and ``budget-crossed`` (``events/topology.json``).
A CloudEvent function: Cloud Run sets ``FUNCTION_SIGNATURE_TYPE=cloudevent`` (terraform/run.tf;
the image defaults to it). Like the step handlers it carries no ``@functions_framework``
decorator and imports the notification machinery on its first event, so a run that notifies
nobody (every embedded run loads the handlers) never loads Flask or the channel code.

Return → 2xx → ack; raise → non-2xx → Pub/Sub redelivers (a channel was unreachable), then
dead-letters.
"""

from __future__ import annotations

from typing import Any


def notify(cloud_event: Any) -> None:
    """Deliver the notification for a failed run, DQ failure or crossed budget threshold."""
    from lib.notify.handler import handle_notification

    handle_notification(cloud_event)
