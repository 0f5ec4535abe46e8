"""One logging setup for every mode, and the spans that carry a run's trace across handlers.

**Logs.** :func:`configure_logging` sends records to stderr as ``CONVERGENCE_LOG_FORMAT`` says:
``json`` (the default in cloud mode) is Cloud Logging's structured shape — ``severity``,
``message``, ``time``, ``logging.googleapis.com/trace`` and ``spanId`` of the current span,
``logging.googleapis.com/labels`` (tenant_id, pipeline_id, run_id, step of the handler
invocation), ``logging.googleapis.com/sourceLocation`` and any ``extra={"fields": {...}}``
at the top level (``jsonPayload`` fields the log-based metrics read). An ERROR record is also
an Error Reporting event: ``@type`` ReportedErrorEvent, ``serviceContext``,
``context.reportLocation``, and, when it carries an exception, the message followed by the
stack (and ``stack_trace``). ``text`` (the local default) is one human line per record.

An exception logged once with the run's labels is marked, and the framework's own
``Exception on / [POST]`` record of the same exception is dropped, so a failure is one line.

The HTTP client libraries log request headers (credentials included) or exceptions quoting
them at DEBUG; the logging setup pins them to WARNING whatever level the rest runs at.

**Spans.** :func:`handler_span` continues the trace in an event's W3C ``traceparent``;
:func:`current_traceparent` stamps the current span on outgoing events, so a run is one trace
across API → handlers → warehouse → provider calls. Exporters: ``lib/tracing.py``.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import json
import logging
import os
import sys
import traceback
from collections.abc import Iterator, Mapping
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

_labels: contextvars.ContextVar[Mapping[str, str] | None] = contextvars.ContextVar(
    "labels", default=None
)
_PROPAGATOR = TraceContextTextMapPropagator()
HEADER_LOGGERS = ("httpx", "httpcore", "h11", "h2", "hpack", "urllib3")
"""Loggers that may show request headers (or errors quoting them) below WARNING."""
LogFormat = Literal["json", "text"]
FORMATS: tuple[LogFormat, ...] = ("json", "text")
ERROR_EVENT_TYPE = (
    "type.googleapis.com/google.devtools.clouderrorreporting.v1beta1.ReportedErrorEvent"
)
_LOGGED = "_convergence_logged"
LABEL_KEYS = ("tenant_id", "pipeline_id", "run_id", "step")


def current_labels() -> dict[str, str]:
    """The log labels of the current handler invocation (empty outside one)."""
    return dict(_labels.get() or {})


@contextlib.contextmanager
def log_labels(labels: Mapping[str, str]) -> Iterator[None]:
    """Set the log labels for the duration of the block."""
    token = _labels.set({k: str(v) for k, v in labels.items() if v is not None})
    try:
        yield
    finally:
        _labels.reset(token)


def mark_logged(exc: BaseException) -> None:
    """Record that ``exc`` was logged with its run's labels (the framework's copy is dropped)."""
    with contextlib.suppress(AttributeError, TypeError):
        setattr(exc, _LOGGED, True)


def _already_logged(record: logging.LogRecord) -> bool:
    exc = record.exc_info[1] if record.exc_info else None
    return bool(exc is not None and getattr(exc, _LOGGED, False))


def _service_context() -> dict[str, str]:
    service = os.environ.get("K_SERVICE") or "convergence"
    version = os.environ.get("K_REVISION") or _code_version()
    return {"service": service, "version": version}


def _code_version() -> str:
    from lib.provenance import code_version

    return code_version()


class CloudLoggingFormatter(logging.Formatter):
    """One JSON object per line in Cloud Logging's shape; ERRORs as Error Reporting events."""

    def __init__(self, project: str = "") -> None:
        super().__init__()
        self.project = project

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as Cloud Logging structured JSON."""
        message = record.getMessage()
        entry: dict[str, Any] = {
            "severity": record.levelname,
            "message": message,
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(),
            "logger": record.name,
            "logging.googleapis.com/labels": current_labels(),
            "logging.googleapis.com/sourceLocation": _location(record),
        }
        entry.update(self._trace())
        fields = getattr(record, "fields", None)
        if isinstance(fields, Mapping):
            entry.update({k: v for k, v in fields.items() if k not in entry})
        if record.exc_info and record.exc_info[0] is not None:
            stack = "".join(traceback.format_exception(*record.exc_info)).rstrip()
            entry["error_type"] = record.exc_info[0].__name__
            entry["stack_trace"] = stack
            entry["message"] = f"{message}\n{stack}"
        if record.levelno >= logging.ERROR:
            entry["@type"] = ERROR_EVENT_TYPE
            entry["serviceContext"] = _service_context()
            entry["context"] = {"reportLocation": _report_location(record)}
        return json.dumps(entry, default=str)

    def _trace(self) -> dict[str, Any]:
        span = trace.get_current_span().get_span_context()
        if not span.is_valid:
            return {}
        trace_id = f"{span.trace_id:032x}"
        return {
            "logging.googleapis.com/trace": (
                f"projects/{self.project}/traces/{trace_id}" if self.project else trace_id
            ),
            "logging.googleapis.com/spanId": f"{span.span_id:016x}",
            "logging.googleapis.com/trace_sampled": bool(span.trace_flags.sampled),
        }


def _location(record: logging.LogRecord) -> dict[str, Any]:
    return {"file": record.pathname, "line": record.lineno, "function": record.funcName}


def _report_location(record: logging.LogRecord) -> dict[str, Any]:
    return {"filePath": record.pathname, "lineNumber": record.lineno,
            "functionName": record.funcName}  # fmt: skip


class TextFormatter(logging.Formatter):
    """``time LEVEL logger [tenant/pipeline/run/step] message``; the stack of an exception
    follows at DEBUG level only (``convergence status`` already shows the error and cause)."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s%(where)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        """Render ``record`` as one human line (and its traceback at DEBUG)."""
        labels = current_labels()
        parts = [labels[k] for k in LABEL_KEYS if labels.get(k)]
        record.where = f" [{'/'.join(parts)}]" if parts else ""
        if record.exc_info and logging.getLogger().getEffectiveLevel() > logging.DEBUG:
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None})
        return super().format(record)


class _Stderr(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler writing to whatever ``sys.stderr`` is when a record is emitted."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass


class _DropLoggedTwice(logging.Filter):
    """Drop the framework's record of an exception the runner already logged."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not _already_logged(record)


def log_format(environ: Mapping[str, str], mode: str) -> LogFormat:
    """``CONVERGENCE_LOG_FORMAT`` (default ``json`` in cloud mode, ``text`` locally).

    Raises:
        ValueError: an unknown format.
    """
    raw = environ.get("CONVERGENCE_LOG_FORMAT", "").strip().lower()
    if not raw:
        return "json" if mode == "cloud" else "text"
    if raw not in FORMATS:
        raise ValueError(f"CONVERGENCE_LOG_FORMAT must be json or text, not {raw!r}")
    return raw


def quiet_header_loggers() -> None:
    """Pin the loggers of :data:`HEADER_LOGGERS` to WARNING (no request headers, ever)."""
    for name in HEADER_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)


def _ours(handler: logging.Handler) -> bool:
    return isinstance(handler.formatter, CloudLoggingFormatter | TextFormatter)


def configure_logging(project: str = "", level: str | None = None, fmt: LogFormat = "json") -> None:
    """Send logs to stderr in ``fmt`` (replacing an earlier setup of ours); HTTP client
    loggers stay at WARNING; Flask's own stderr handler is removed (its records reach ours).

    Args:
        project: the GCP project the trace field names (JSON).
        level: the root level (default ``CONVERGENCE_LOG_LEVEL``, else INFO).
        fmt: ``json`` (Cloud Logging) or ``text``.
    """
    quiet_header_loggers()
    root = logging.getLogger()
    for old in [h for h in root.handlers if _ours(h)]:
        root.removeHandler(old)
    handler = _Stderr()
    handler.setFormatter(CloudLoggingFormatter(project) if fmt == "json" else TextFormatter())
    handler.addFilter(_DropLoggedTwice())
    root.addHandler(handler)
    root.setLevel(level or os.environ.get("CONVERGENCE_LOG_LEVEL", "INFO"))
    _detach_flask_handlers()


def _detach_flask_handlers() -> None:
    flask_logging = sys.modules.get("flask.logging")
    if flask_logging is None:
        return
    default = flask_logging.default_handler
    for logger in list(logging.root.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger) and default in logger.handlers:
            logger.removeHandler(default)


# --- spans --------------------------------------------------------------------------------


@contextlib.contextmanager
def handler_span(
    name: str, traceparent: str | None, labels: Mapping[str, str]
) -> Iterator[trace.Span]:
    """A span continuing the trace in ``traceparent``, with log labels set for its duration."""
    from lib.tracing import tracer

    parent = _PROPAGATOR.extract({"traceparent": traceparent}) if traceparent else None
    with (
        log_labels(labels),
        tracer().start_as_current_span(name, context=parent, attributes=dict(labels)) as span,
    ):
        yield span


def current_traceparent() -> str | None:
    """The W3C traceparent of the current span, to stamp on outgoing events."""
    carrier: dict[str, str] = {}
    _PROPAGATOR.inject(carrier)
    return carrier.get("traceparent")
