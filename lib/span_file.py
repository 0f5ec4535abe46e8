"""The local span file: finished spans as JSON lines under the home, readable without a service.

``$CONVERGENCE_HOME/traces/spans.jsonl`` gets one object per span::

    {"trace_id": "…32 hex…", "span_id": "…16 hex…", "parent_span_id": "…" | null,
     "name": "step ingest_costs", "kind": "INTERNAL", "start": "2026-11-20T06:00:00.123456Z",
     "end": "…", "duration_ms": 12.5, "status": "OK" | "ERROR" | "UNSET",
     "status_message": "…" | null, "attributes": {…}, "service": "convergence"}

so ``jq 'select(.trace_id == "…")' .convergence/traces/spans.jsonl`` shows one run's trace and
``convergence trace RUN --tenant T`` draws it as a tree. When the file passes
:data:`MAX_BYTES` it is renamed ``spans.1.jsonl`` (replacing the previous one) and a new file is
started, so the home never grows without bound.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import ReadableSpan

MAX_BYTES = 64 * 1024 * 1024
FILE_NAME = "spans.jsonl"


def span_file(home: Path) -> Path:
    """Where the local span file of ``home`` lives."""
    return home / "traces" / FILE_NAME


def _time(nanos: int | None) -> str | None:
    if nanos is None:
        return None
    moment = dt.datetime.fromtimestamp(nanos / 1e9, dt.UTC)
    return moment.isoformat().replace("+00:00", "Z")


def span_record(span: ReadableSpan) -> dict[str, Any]:
    """The JSON object one finished span becomes."""
    context = span.get_span_context()
    parent = span.parent
    start, end = span.start_time, span.end_time
    resource = span.resource.attributes if span.resource else {}
    return {
        "trace_id": f"{context.trace_id:032x}" if context else None,
        "span_id": f"{context.span_id:016x}" if context else None,
        "parent_span_id": f"{parent.span_id:016x}" if parent else None,
        "name": span.name,
        "kind": span.kind.name,
        "start": _time(start),
        "end": _time(end),
        "duration_ms": round((end - start) / 1e6, 3) if start and end else None,
        "status": span.status.status_code.name,
        "status_message": span.status.description,
        "attributes": dict(span.attributes or {}),
        "service": resource.get("service.name"),
    }


class SpanFileExporter(SpanExporter):
    """Appends finished spans to a JSONL file; the file can be moved (a new home) at any time."""

    def __init__(self, path: Path | None = None, max_bytes: int = MAX_BYTES) -> None:
        self._path = path
        self._max_bytes = max_bytes
        self._lock = threading.Lock()

    @property
    def path(self) -> Path | None:
        """The file spans are appended to (None: spans are dropped)."""
        return self._path

    def use(self, path: Path) -> None:
        """Append to ``path`` from now on (the runtime of another home was built)."""
        with self._lock:
            self._path = path

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        """Append ``spans`` as JSON lines (never raises: tracing must not break a run)."""
        lines = "".join(json.dumps(span_record(s), default=str) + "\n" for s in spans)
        with self._lock:
            if self._path is None:
                return SpanExportResult.SUCCESS
            try:
                self._path.parent.mkdir(parents=True, exist_ok=True)
                self._rotate()
                with self._path.open("a", encoding="utf-8") as out:
                    out.write(lines)
            except OSError:
                return SpanExportResult.FAILURE
        return SpanExportResult.SUCCESS

    def _rotate(self) -> None:
        assert self._path is not None
        if self._path.exists() and self._path.stat().st_size >= self._max_bytes:
            self._path.replace(self._path.with_name("spans.1.jsonl"))

    def shutdown(self) -> None:
        """Nothing to release: every export opens and closes the file."""

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        """Spans are written as they end."""
        return True


def read_spans(path: Path, trace_id: str | None = None) -> Iterator[dict[str, Any]]:
    """The span records of ``path`` (and its rotated predecessor), of one trace when given."""
    for file in (path.with_name("spans.1.jsonl"), path):
        if not file.is_file():
            continue
        with file.open(encoding="utf-8") as lines:
            for line in lines:
                try:
                    record = json.loads(line)
                except json.JSONDecodeError:  # a line cut by a crash mid-write
                    continue
                if trace_id is None or record.get("trace_id") == trace_id:
                    yield record
