"""A functions-framework target failing the way the step runner does (used by test_logging)."""

import logging

import functions_framework

from lib.observability import log_labels, mark_logged


@functions_framework.cloud_event
def failing(cloud_event):
    with log_labels({"tenant_id": "acme", "run_id": "run-0123456789abcdef"}):
        try:
            raise RuntimeError("warehouse said no")
        except RuntimeError as exc:
            logging.getLogger("lib.steps.runner").exception("step failed unexpectedly: %s", exc)
            mark_logged(exc)
            raise
