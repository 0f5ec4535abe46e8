"""DQ step: one aggregate query per table in the warehouse, results into ``dq_results``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

import pyarrow as pa

from lib.config.derived import step_rules
from lib.config.pipeline import DqStep
from lib.metadata import metadata_table
from lib.ports import TableRef, WriteSpec
from lib.steps.base import StepContext, StepOutcome

if TYPE_CHECKING:
    from lib.dq import DqResult


def run_dq(ctx: StepContext) -> StepOutcome:
    """Check the step's table (this run's rows) against its rules (file, inline, implied)."""
    from lib.dq import evaluate, plan_dq

    step = ctx.step
    assert isinstance(step, DqStep)
    rt = ctx.runtime
    rules = step_rules(ctx.pipeline, ctx.ref.index)
    table = ctx.pipeline.table_ref(step.table.dataset, step.table.table)
    query = plan_dq(table, rules, scope={"pipeline_logging_id": ctx.run_id}, now=rt.clock.now())
    row = rt.warehouse.query(query.sql, query.params)[0]
    outcome = evaluate(row, rules)
    _write_results(ctx, table, outcome.results)
    failed = [r.name for r in outcome.critical_failures]
    warnings = len(outcome.warnings)
    return StepOutcome(
        rows=int(row.get("element_count") or 0),
        tables=[str(table)],
        expectations=len(outcome.results),
        warnings=warnings,
        failed=failed,
    )


def _write_results(ctx: StepContext, table: TableRef, results: Sequence[DqResult]) -> None:
    now = ctx.runtime.clock.now()
    rows = [
        {
            "pipeline_logging_id": ctx.run_id,
            "tenant_id": ctx.event.tenant_id,
            "pipeline_id": ctx.event.pipeline_id,
            "step_name": ctx.ref.name,
            "table_name": str(table),
            "expectation_name": r.name,
            "expectation_type": r.expectation_type,
            "severity": r.severity,
            "success": r.success,
            "element_count": r.element_count,
            "unexpected_count": r.unexpected_count,
            "unexpected_percent": r.unexpected_percent,
            "observed_value": None if r.observed_value is None else str(r.observed_value),
            "metadata": json.dumps(
                {"kwargs": r.kwargs, "sample_unexpected": r.sample_unexpected}, default=str
            ),
            "recorded_at": now,
        }
        for r in results
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=_RESULT_SCHEMA)
    spec = WriteSpec(
        mode="append", replace={"pipeline_logging_id": ctx.run_id, "step_name": ctx.ref.name}
    )
    ctx.runtime.warehouse.write(metadata_table(ctx.event.tenant_id, "dq_results"), [batch], spec)


_RESULT_SCHEMA = pa.schema(
    [
        ("pipeline_logging_id", pa.string()),
        ("tenant_id", pa.string()),
        ("pipeline_id", pa.string()),
        ("step_name", pa.string()),
        ("table_name", pa.string()),
        ("expectation_name", pa.string()),
        ("expectation_type", pa.string()),
        ("severity", pa.string()),
        ("success", pa.bool_()),
        ("element_count", pa.int64()),
        ("unexpected_count", pa.int64()),
        ("unexpected_percent", pa.float64()),
        ("observed_value", pa.string()),
        ("metadata", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)
