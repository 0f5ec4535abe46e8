"""Cloud Run handler for ``transform`` steps (functions-framework target ``transform``).

Return → 2xx → ack; raise → non-2xx → Pub/Sub redelivers, then dead-letters.
"""

from __future__ import annotations

from typing import Any

import functions_framework

from lib.steps.runner import handle_cloudevent


@functions_framework.cloud_event
def transform(cloud_event: Any) -> None:
    """Run the pipeline step this event names, if it is a transform step."""
    handle_cloudevent(cloud_event, "transform")
