"""A Warehouse that traces every statement: one span per call, whatever the engine.

The Runtime wraps its warehouse in :class:`TracedWarehouse`, so each ``query``, ``execute``,
``write``, ``ensure_table`` and ``ensure_dataset`` is a child span of the step (or request)
that made it, named ``warehouse.<operation>``, with:

* ``db.system`` (``duckdb`` | ``bigquery``) and ``db.statement`` (the SQL as written, cut at
  :data:`MAX_STATEMENT` characters; parameter values are never recorded);
* ``db.rows`` — rows returned by a query, rows written by a write;
* ``db.bytes_processed``, ``db.bytes_billed``, ``db.rows_affected``, ``db.jobs`` — when the
  engine reports them (BigQuery's job statistics, ``lib.step_telemetry.observe_job``).

The running step's meter (``lib/step_telemetry.py``) adds them up for the step record.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from opentelemetry.trace import Span, Status, StatusCode

from lib.ports import Query, TableRef, Warehouse, WriteResult, WriteSpec
from lib.step_telemetry import current_meter, statement_stats

if TYPE_CHECKING:
    import pyarrow as pa

    from lib.schema import TableSpec

MAX_STATEMENT = 2000


class TracedWarehouse:
    """The Warehouse port around another Warehouse, one span per call."""

    def __init__(self, inner: Warehouse) -> None:
        self.inner = inner
        self.name = inner.name
        self.capabilities = inner.capabilities

    def __getattr__(self, attribute: str) -> Any:
        # adapter extras (e.g. a test's recorded statements) stay visible
        return getattr(self.inner, attribute)

    @contextlib.contextmanager
    def _span(self, operation: str, attributes: Mapping[str, Any]) -> Iterator[Span]:
        from lib.tracing import tracer

        attrs = {"db.system": self.name, "db.operation": operation, **attributes}
        with (
            tracer().start_as_current_span(f"warehouse.{operation}", attributes=attrs) as span,
            statement_stats() as stats,
        ):
            try:
                yield span
            except Exception as exc:
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
                raise
            finally:
                _finish(span, stats)

    def ensure_dataset(self, dataset: str, labels: Mapping[str, str] | None = None) -> None:
        """Create the dataset if missing."""
        with self._span("ensure_dataset", {"db.dataset": dataset}):
            self.inner.ensure_dataset(dataset, labels)

    def ensure_table(self, table: TableRef, spec: TableSpec) -> list[str]:
        """Create the table or add its new columns."""
        with self._span("ensure_table", {"db.table": str(table)}):
            return self.inner.ensure_table(table, spec)

    def table_exists(self, table: TableRef) -> bool:
        """Whether the table exists (not traced: a metadata lookup)."""
        return self.inner.table_exists(table)

    def list_tables(self, dataset: str) -> list[str]:
        """Table names in ``dataset`` (not traced: a metadata lookup)."""
        return self.inner.list_tables(dataset)

    def write(
        self, table: TableRef, source: Iterable[pa.RecordBatch] | Query, spec: WriteSpec
    ) -> WriteResult:
        """Write atomically; the span records rows written, replaced and removed."""
        attrs: dict[str, Any] = {"db.table": str(table), "db.write_mode": spec.mode}
        if isinstance(source, Query):
            attrs["db.statement"] = source.sql[:MAX_STATEMENT]
        with self._span("write", attrs) as span:
            result = self.inner.write(table, source, spec)
            span.set_attribute("db.rows", result.rows)
            span.set_attribute("db.rows_replaced", result.replaced)
            span.set_attribute("db.rows_removed", result.removed)
            return result

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a query; the span records the rows returned."""
        with self._span("query", {"db.statement": sql[:MAX_STATEMENT]}) as span:
            rows = self.inner.query(sql, params)
            span.set_attribute("db.rows", len(rows))
            return rows

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run statements."""
        with self._span("execute", {"db.statement": sql[:MAX_STATEMENT]}):
            self.inner.execute(sql, params)

    def close(self) -> None:
        """Close the inner warehouse."""
        self.inner.close()


def _finish(span: Span, stats: Any) -> None:
    if stats.jobs:
        span.set_attribute("db.jobs", stats.jobs[:20])
    if stats.bytes_processed or stats.jobs:
        span.set_attribute("db.bytes_processed", stats.bytes_processed)
        span.set_attribute("db.bytes_billed", stats.bytes_billed)
    if stats.rows_affected is not None:
        span.set_attribute("db.rows_affected", stats.rows_affected)
    meter = current_meter()
    if meter is not None:
        meter.add(
            statements=1, bytes_processed=stats.bytes_processed, bytes_billed=stats.bytes_billed
        )


def traced(warehouse: Warehouse) -> Warehouse:
    """``warehouse`` wrapped in a :class:`TracedWarehouse` (once)."""
    return warehouse if isinstance(warehouse, TracedWarehouse) else TracedWarehouse(warehouse)
