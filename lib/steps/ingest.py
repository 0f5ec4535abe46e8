"""Ingest step: load a source's rows into its raw table, atomically for the run's window.

The step ensures the raw table, builds ONE :class:`~lib.sources.base.IngestRequest` (tenant,
run, window, now, destination, ports, the settings sources read, where the step is written)
and hands it to the source its config's ``kind`` names (``lib.sources.registry``): every
kind — REST, BigQuery export, FOCUS files, price catalog, budgets — has the same signature.

How the rows land is the destination's ``write_mode`` (``TableTarget.write_spec``): a
snapshot source (``replace_window``: OpenAI and Anthropic answer for a day as a whole)
replaces our rows of the window's days, line items it no longer reports included; a delta
source (``merge``: the billing export) upserts on its keys. The outcome carries the usage days
the write touched, which the runner records in the change log (lib/changes.py) so silver and
gold re-derive exactly those days.
"""

from __future__ import annotations

from lib.config.catalog import destination_spec
from lib.config.pipeline import IngestStep
from lib.ports import TableRef, WriteResult
from lib.sources.base import ConfigSite, IngestRequest
from lib.sources.registry import source_for
from lib.steps.base import StepContext, StepOutcome

__all__ = ["ingest_request", "outcome", "run_ingest"]


def run_ingest(ctx: StepContext) -> StepOutcome:
    """Ensure the step's raw table and let its source load the run's rows in one write."""
    source = source_for(ctx.pipeline.source(ctx.ref.index))
    request = ingest_request(ctx)
    return outcome(request.table, source.ingest(request))


def ingest_request(ctx: StepContext) -> IngestRequest:
    """The request of the context's ingest step; its raw dataset and table are ensured first.

    Raises:
        ConfigError: the source or the destination's schema cannot be resolved.
    """
    step = ctx.step
    assert isinstance(step, IngestStep)
    pipeline, rt = ctx.pipeline, ctx.runtime
    target = step.destination
    table = pipeline.table_ref(target.dataset, target.table)
    spec = destination_spec(pipeline, ctx.ref.index)
    rt.warehouse.ensure_dataset(table.dataset, {"tenant": ctx.event.tenant_id})
    rt.warehouse.ensure_table(table, spec)
    return IngestRequest(
        tenant_id=ctx.event.tenant_id,
        run_id=ctx.run_id,
        window=ctx.event.window,
        now=rt.clock.now(),
        table=table,
        spec=spec,
        destination=target,
        warehouse=rt.warehouse,
        secrets=rt.secrets,
        base_url_overrides=rt.settings.base_url_overrides,
        bucket_folder=rt.settings.bucket_folder,
        site=ConfigSite(str(pipeline.file), ctx.field, step.source, pipeline.path),
    )


def outcome(table: TableRef, result: WriteResult) -> StepOutcome:
    """The step outcome of one write: rows, what it replaced or removed, the days touched."""
    details = {"replaced": result.replaced, "removed": result.removed}
    changes = {str(table): sorted(result.dates)}
    return StepOutcome(rows=result.rows, tables=[str(table)], details=details, changes=changes)
