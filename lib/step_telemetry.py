"""What one step did, measured while it runs: its span, API calls, pages, bytes and statements.

The runner opens :func:`step_span` around a step's work. Inside it:

* every provider HTTP call (the ``httpx`` instrumentation's hooks, :func:`http_response_hook`)
  counts an API call, a page when it succeeded, and the bytes its ``Content-Length`` declares;
* every warehouse statement (``lib/traced_warehouse.py``) counts a statement, its rows, and the
  bytes the engine reports (BigQuery's job statistics, :func:`observe_job`).

The totals (:meth:`StepMeter.snapshot`) go into the step record's metadata and onto the span.
Counters live in context variables, so concurrent steps (threads) never mix.

URLs on HTTP spans are reduced to scheme, host and path by :func:`http_request_hook`
(query strings and user info never reach a span).
"""

from __future__ import annotations

import contextlib
import contextvars
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode

URL_ATTRIBUTES = ("url.full", "http.url")


@dataclass
class StepMeter:
    """Counters of one step invocation (thread-safe: a step may fetch on several threads)."""

    api_calls: int = 0
    api_errors: int = 0
    pages: int = 0
    bytes_received: int = 0
    statements: int = 0
    bytes_processed: int = 0
    bytes_billed: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **counts: int) -> None:
        """Add to the named counters."""
        with self._lock:
            for name, value in counts.items():
                setattr(self, name, getattr(self, name) + value)

    def snapshot(self) -> dict[str, int]:
        """The counters as a dict for the step record (zero counters included)."""
        with self._lock:
            return {
                "api_calls": self.api_calls,
                "api_errors": self.api_errors,
                "pages": self.pages,
                "bytes_received": self.bytes_received,
                "warehouse_statements": self.statements,
                "bytes_processed": self.bytes_processed,
                "bytes_billed": self.bytes_billed,
            }


_meter: contextvars.ContextVar[StepMeter | None] = contextvars.ContextVar("meter", default=None)


def current_meter() -> StepMeter | None:
    """The meter of the step running in this context, if any."""
    return _meter.get()


@contextlib.contextmanager
def step_span(name: str, attributes: Mapping[str, Any]) -> Iterator[StepMeter]:
    """A span around one step with a fresh :class:`StepMeter`; its totals end on the span."""
    from lib.tracing import tracer

    meter = StepMeter()
    token = _meter.set(meter)
    try:
        with tracer().start_as_current_span(name, attributes=dict(attributes)) as span:
            try:
                yield meter
            finally:
                for key, value in meter.snapshot().items():
                    span.set_attribute(f"convergence.{key}", value)
    finally:
        _meter.reset(token)


def instrument_http() -> None:
    """Trace every provider ``httpx`` request from now on, counted on the step's meter; once."""
    from lib.tracing import instrument_httpx

    instrument_httpx(http_request_hook, http_response_hook)


def fail_current_span(description: str) -> None:
    """Mark the current span (a step's) as failed, with a short description."""
    span = trace.get_current_span()
    if span.is_recording():
        span.set_status(Status(StatusCode.ERROR, description[:300]))


# --- warehouse statements ---------------------------------------------------------------


@dataclass
class StatementStats:
    """What the engine reported about the statement(s) of one warehouse call."""

    bytes_processed: int = 0
    bytes_billed: int = 0
    rows_affected: int | None = None
    jobs: list[str] = field(default_factory=list)


_statement: contextvars.ContextVar[StatementStats | None] = contextvars.ContextVar(
    "statement", default=None
)


@contextlib.contextmanager
def statement_stats() -> Iterator[StatementStats]:
    """Collect :func:`observe_job` reports made during one warehouse call."""
    stats = StatementStats()
    token = _statement.set(stats)
    try:
        yield stats
    finally:
        _statement.reset(token)


def observe_job(
    *,
    job_id: str | None = None,
    bytes_processed: int | None = None,
    bytes_billed: int | None = None,
    rows_affected: int | None = None,
) -> None:
    """An engine job finished (adapters call it): add its statistics to the warehouse call."""
    stats = _statement.get()
    if stats is None:
        return
    stats.bytes_processed += bytes_processed or 0
    stats.bytes_billed += bytes_billed or 0
    if rows_affected is not None:
        stats.rows_affected = (stats.rows_affected or 0) + rows_affected
    if job_id:
        stats.jobs.append(job_id)


# --- provider HTTP calls ----------------------------------------------------------------


def _plain_url(url: str) -> str:
    parts = urlsplit(url)
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def http_request_hook(span: Span, request: Any) -> None:
    """Count an API call on the running step's meter; reduce the span's URL to scheme, host
    and path (no query, no credentials)."""
    meter = _meter.get()
    if meter is not None:
        meter.add(api_calls=1)
    if span.is_recording():
        url = _plain_url(str(request[1]))
        for key in URL_ATTRIBUTES:
            span.set_attribute(key, url)


def http_response_hook(span: Span, request: Any, response: Any) -> None:
    """Count a page (a 2xx answer) or an API error, and the bytes the answer declares."""
    status = int(response[0])
    if status >= 400 and span.is_recording():
        span.set_status(Status(StatusCode.ERROR, f"HTTP {status}"))
    meter = _meter.get()
    if meter is None:
        return
    ok = 200 <= status < 300
    meter.add(pages=int(ok), api_errors=int(not ok), bytes_received=_content_length(response[1]))


def _content_length(headers: Any) -> int:
    try:
        return int(headers.get("content-length") or 0)
    except (TypeError, ValueError, AttributeError):
        return 0


def trace_id_of(traceparent: str | None) -> str | None:
    """The trace id of a W3C ``traceparent`` (None when absent)."""
    if not traceparent:
        return None
    parts = traceparent.split("-")
    return parts[1] if len(parts) == 4 else None


def current_trace_id() -> str | None:
    """The trace id of the current span, if one is recording or was propagated."""
    context = trace.get_current_span().get_span_context()
    return f"{context.trace_id:032x}" if context.is_valid else None
