"""Cloud Run handler telling tenants' channels about failures and budget alerts
(functions-framework ``notify``).

Subscribed to ``run-failed``, ``dq-failed`` and ``budget-crossed`` (``events/topology.json``).
Return → 2xx → ack; raise → non-2xx → Pub/Sub redelivers (a channel was unreachable), then
dead-letters.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from lib.notify.handler import handle_notification


@functions_framework.cloud_event
def notify(cloud_event: Any) -> None:
    """Deliver the notification for a failed run, DQ failure or crossed budget threshold."""
    handle_notification(cloud_event)
