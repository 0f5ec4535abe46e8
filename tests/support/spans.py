"""Spans in memory: one in-memory exporter on the process's real provider, emptied per test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from lib import tracing

_exporter: InMemorySpanExporter | None = None


def memory_exporter() -> InMemorySpanExporter:
    """The in-memory exporter, attached to the provider on first use."""
    global _exporter
    if _exporter is None:
        _exporter = InMemorySpanExporter()
        tracing.provider().add_span_processor(SimpleSpanProcessor(_exporter))
    return _exporter


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    """Every span that ends during the test (``spans.get_finished_spans()``)."""
    exporter = memory_exporter()
    exporter.clear()
    yield exporter
    exporter.clear()
