"""functions-framework source for the cloud end-to-end test: the real handlers, on emulators.

Served as ``functions-framework --target ingest --source tests/integration/cloud_handlers.py``
(likewise ``dq``, ``transform`` and ``notify``). The entry points are the production ones from
``handlers/``, and so is the Runtime: ``lib.wiring.runtime()`` builds it from the environment
the test sets (cloud mode, the emulators' endpoints, env secrets, a fixed clock). The only
test-side change is the emulator's upload content type. The Pub/Sub
emulator ignores subscription filters, so each entry point first applies the filter of the
subscription its push URL names, as Pub/Sub would (``tests/support/push_routes.py``).
"""

from __future__ import annotations

from typing import Any

import flask
import functions_framework

from handlers import dq as dq_handler
from handlers import ingest as ingest_handler
from handlers import notify as notify_handler
from handlers import transform as transform_handler
from tests.support.bigquery import accept_emulator_uploads
from tests.support.push_routes import filter_passes

accept_emulator_uploads()


@functions_framework.cloud_event
def ingest(cloud_event: Any) -> None:
    """The production ``ingest`` entry point behind the emulated filter."""
    if filter_passes(flask.request.path, cloud_event, "ingest"):
        ingest_handler.ingest(cloud_event)


@functions_framework.cloud_event
def dq(cloud_event: Any) -> None:
    """The production ``dq`` entry point behind the emulated filter."""
    if filter_passes(flask.request.path, cloud_event, "dq"):
        dq_handler.dq(cloud_event)


@functions_framework.cloud_event
def transform(cloud_event: Any) -> None:
    """The production ``transform`` entry point behind the emulated filter."""
    if filter_passes(flask.request.path, cloud_event, "transform"):
        transform_handler.transform(cloud_event)


@functions_framework.cloud_event
def notify(cloud_event: Any) -> None:
    """The production ``notify`` entry point behind the emulated filter."""
    if filter_passes(flask.request.path, cloud_event, "notify"):
        notify_handler.notify(cloud_event)


__all__ = ["dq", "ingest", "notify", "transform"]
