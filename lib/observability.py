"""Logs in Cloud Logging's JSON shape and one OpenTelemetry span per handler invocation.

The span's context travels in each event's W3C ``traceparent`` so a run is one trace across
API → handlers → warehouse.

The HTTP client libraries log request headers (credentials included) or exceptions quoting
them at DEBUG; the logging setup pins them to WARNING whatever level the rest runs at.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import os
import sys
from collections.abc import Iterator, Mapping
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_labels: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "labels", default=None
)
_PROPAGATOR = TraceContextTextMapPropagator()
HEADER_LOGGERS = ("httpx", "httpcore", "h11", "h2", "hpack", "urllib3")
"""Loggers that may show request headers (or errors quoting them) below WARNING."""
_provider_set = False


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per line with ``severity``, ``message``, trace and labels."""

    def __init__(self, project: str = "") -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as Cloud Logging structured JSON."""
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": record.getMessage(),
            "logger": record.name,
            "logging.googleapis.com/labels": dict(_labels.get() or {}),
        }
        span = trace.get_current_span().get_span_context()
        if span.is_valid:
            trace_id = f"{span.trace_id:032x}"
            entry["logging.googleapis.com/trace"] = (
                f"projects/{self.project}/traces/{trace_id}" if self.project else trace_id
            )
            entry["logging.googleapis.com/spanId"] = f"{span.span_id:016x}"
        if record.exc_info:
            entry["error_type"] = record.exc_info[0].__name__ if record.exc_info[0] else ""
        return json.dumps(entry, default=str)


def quiet_header_loggers() -> None:
    """Pin the loggers of :data:`HEADER_LOGGERS` to WARNING (no request headers, ever)."""
    for name in HEADER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def configure_logging(project: str = "", level: str | None = None) -> None:
    """Send JSON logs to stderr (idempotent); HTTP client loggers stay at WARNING."""
    quiet_header_loggers()
    root = logging.getLogger()
    if any(isinstance(h.formatter, CloudLoggingFormatter) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(CloudLoggingFormatter(project))
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("CONVERGENCE_LOG_LEVEL", "INFO"))


def tracer() -> trace.Tracer:
    """The platform's tracer (a real SDK provider is installed once)."""
    global _provider_set
    if not _provider_set:
        with contextlib.suppress(Exception):
            trace.set_tracer_provider(TracerProvider())
        _provider_set = True
    return trace.get_tracer("convergence")


@contextlib.contextmanager
def handler_span(
    name: str, traceparent: str | None, labels: Mapping[str, str]
) -> Iterator[trace.Span]:
    """A span continuing the trace in ``traceparent``, with log labels set for its duration."""
    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    token = _labels.set(dict(labels))
    try:
        with tracer().start_as_current_span(name, context=parent, attributes=dict(labels)) as span:
            yield span
    finally:
        _labels.reset(token)


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to stamp on outgoing events."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")
