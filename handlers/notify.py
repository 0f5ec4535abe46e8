"""Cloud Run handler for notifications (functions-framework target ``notify``).

Subscribed to ``budget-crossed`` (events/topology.json). Return → 2xx → ack; raise → non-2xx →
Pub/Sub redelivers, then dead-letters.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from lib.notifications import handle_notification


@functions_framework.cloud_event
def notify(cloud_event: Any) -> None:
    """Deliver the notification this event carries (lib/notifications.py)."""
    handle_notification(cloud_event)
