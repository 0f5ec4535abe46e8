"""Cloud Run handler telling tenants' channels about failures (functions-framework ``notify``).

Subscribed to ``run-failed`` and ``dq-failed`` (``events/topology.json``). Return → 2xx → ack;
raise → non-2xx → Pub/Sub redelivers (a channel was unreachable), then dead-letters.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from lib.notify.handler import handle_notification


@functions_framework.cloud_event
def notify(cloud_event: Any) -> None:
    """Deliver the notification for a failed run or DQ failure to the tenant's channels."""
    handle_notification(cloud_event)
