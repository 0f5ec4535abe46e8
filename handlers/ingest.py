"""Cloud Run handler for ``ingest`` steps (functions-framework target ``ingest``).

A CloudEvent function: Cloud Run sets ``FUNCTION_SIGNATURE_TYPE=cloudevent`` (terraform/run.tf;
the image defaults to it); by hand, ``functions-framework --target ingest --signature-type
cloudevent``. It carries no ``@functions_framework.cloud_event`` decorator: importing
functions_framework loads Flask, and this module imports nothing until its first event (the
step machinery is imported then), so a cold start loads only what the step runs.

Return → 2xx → ack; raise → non-2xx → Pub/Sub redelivers, then dead-letters.
"""

from __future__ import annotations

from typing import Any


def ingest(cloud_event: Any) -> None:
    """Run the pipeline step this event names, if it is an ingest step."""
    from lib.steps.runner import handle_cloudevent

    handle_cloudevent(cloud_event, "ingest")
