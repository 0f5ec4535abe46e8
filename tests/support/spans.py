"""Spans in memory: one in-memory exporter on the process's real provider, on during a test.

The exporter is attached once (a provider cannot drop a processor) and only records while a
test that asked for ``spans`` runs, so the rest of the suite does not pile spans up in memory.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lib import tracing


class _Gate(SimpleSpanProcessor):
    """Exports finished spans only while ``recording``."""

    recording = False

    def on_end(self, span: ReadableSpan) -> None:
        if self.recording:
            super().on_end(span)


_gate: _Gate | None = None
_exporter = InMemorySpanExporter()


def _attached() -> _Gate:
    global _gate
    if _gate is None:
        _gate = _Gate(_exporter)
        tracing.provider().add_span_processor(_gate)
    return _gate


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span that ends during the test (``spans.get_finished_spans()``)."""
    gate = _attached()
    _exporter.clear()
    gate.recording = True
    try:
        yield _exporter
    finally:
        gate.recording = False
        _exporter.clear()
