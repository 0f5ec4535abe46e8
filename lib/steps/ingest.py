"""Ingest step: stream a source's pages into its raw table, atomically for the run's window.

How the rows land is the destination's ``write_mode`` (``TableTarget.write_spec``): a
snapshot source (``replace_window``: OpenAI and Anthropic answer for a day as a whole)
replaces our rows of the window's days, line items it no longer reports included; a delta
source (``merge``: the billing export) upserts on its keys. The outcome carries the usage days
the write touched, which the runner records in the change log (lib/changes.py) so silver and
gold re-derive exactly those days.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from lib.config.catalog import destination_spec
from lib.config.loader import INGESTION_FIELDS
from lib.config.pipeline import IngestStep
from lib.ports import TableRef, WriteResult
from lib.schema import SchemaField
from lib.steps.base import StepContext, StepOutcome

if TYPE_CHECKING:
    from lib.config.source import RestSourceConfig


def stamp(
    batches: Iterable[pa.RecordBatch], *, run_id: str, now: dt.datetime
) -> Iterator[pa.RecordBatch]:
    """Add ``ingestion_date``, ``ingestion_timestamp`` and ``pipeline_logging_id`` to each batch."""
    constants = {
        "ingestion_date": pa.scalar(now.date(), pa.date32()),
        "ingestion_timestamp": pa.scalar(now, pa.timestamp("us", tz="UTC")),
        "pipeline_logging_id": pa.scalar(run_id, pa.string()),
    }
    for batch in batches:
        columns = {name: pa.repeat(value, batch.num_rows) for name, value in constants.items()}
        arrays = list(batch.columns)
        names = list(batch.schema.names)
        for name, array in columns.items():
            if name in names:
                arrays[names.index(name)] = array
            else:
                arrays.append(array)
                names.append(name)
        yield pa.RecordBatch.from_arrays(arrays, names=names)


def run_ingest(ctx: StepContext) -> StepOutcome:
    """Fetch the window day by day from the step's source and load it in one atomic write."""
    step = ctx.step
    assert isinstance(step, IngestStep)
    pipeline = ctx.pipeline
    source = pipeline.source(ctx.ref.index)
    target = step.destination
    table = pipeline.table_ref(target.dataset, target.table)
    spec = destination_spec(pipeline, ctx.ref.index)
    wh = ctx.runtime.warehouse
    wh.ensure_dataset(table.dataset, {"tenant": ctx.event.tenant_id})
    wh.ensure_table(table, spec)
    if source.kind == "rest":
        result = _ingest_rest(ctx, source, table, spec.fields)
    elif source.kind == "bigquery_export":
        from lib.providers.gcp_export import ingest_export

        result = ingest_export(ctx, source, table, spec)
    elif source.kind == "focus_files":
        from lib.providers.focus_files import ingest_focus_files

        result = ingest_focus_files(ctx, source, table, spec)
    elif source.kind == "price_catalog":
        from lib.pricing.load import ingest_prices

        result = ingest_prices(ctx, source, table, spec)
    else:
        from lib.budgets.load import ingest_budgets

        result = ingest_budgets(ctx, source, table, spec)
    return outcome(table, result)


def outcome(table: TableRef, result: WriteResult) -> StepOutcome:
    """The step outcome of one write: rows, what it replaced or removed, the days touched."""
    details = {"replaced": result.replaced, "removed": result.removed}
    changes = {str(table): sorted(result.dates)}
    return StepOutcome(rows=result.rows, tables=[str(table)], details=details, changes=changes)


def _ingest_rest(
    ctx: StepContext, source: RestSourceConfig, table: TableRef, fields: Sequence[SchemaField]
) -> WriteResult:
    from lib.providers.rest import fetch_batches

    rt = ctx.runtime
    step = ctx.step
    assert isinstance(step, IngestStep)
    stamped = {f.name for f in INGESTION_FIELDS}
    payload = [f for f in fields if f.name not in stamped]
    base_url = rt.settings.base_url_overrides.get(source.provider)
    days = ctx.event.window.days()

    def pages() -> Iterator[pa.RecordBatch]:
        for day in days:
            yield from fetch_batches(
                source,
                day,
                tenant_id=ctx.event.tenant_id,
                secrets=rt.secrets,
                schema=payload,
                base_url=base_url,
            )

    batches = stamp(pages(), run_id=ctx.run_id, now=rt.clock.now())
    return rt.warehouse.write(table, batches, step.destination.write_spec(ctx.run_id, days))
