"""Transform step: run a BigQuery SQL file in the warehouse into its destination table."""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlglot
from sqlglot import exp

from lib.config.pipeline import TransformStep
from lib.ports import Query, WriteSpec
from lib.sql import qualify_for_tenant
from lib.steps.base import StepContext, StepOutcome


def used_parameters(sql: str) -> set[str]:
    """Names of the ``@parameters`` a BigQuery SQL text uses."""
    return {
        p.name
        for statement in sqlglot.parse(sql, read="bigquery")
        if statement is not None
        for p in statement.find_all(exp.Parameter)
    }


def window_start(ctx: StepContext) -> dt.date:
    """First day the step derives: the run's window start minus the step's ``lookback_days``."""
    step = ctx.step
    lookback = step.lookback_days if isinstance(step, TransformStep) else 0
    return ctx.event.window.start - dt.timedelta(days=lookback)


def transform_params(ctx: StepContext) -> dict[str, Any]:
    """Parameters every transform SQL may use."""
    return {
        "window_start": window_start(ctx),
        "window_end": ctx.event.window.end,
        "run_id": ctx.run_id,
        "tenant_id": ctx.event.tenant_id,
        "now": ctx.runtime.clock.now(),
    }


def run_transform(ctx: StepContext) -> StepOutcome:
    """Render the step's SQL for the tenant and write its result to the destination."""
    step = ctx.step
    assert isinstance(step, TransformStep)
    pipeline = ctx.pipeline
    sql_text = pipeline.path(step.sql, f"{ctx.field}.sql").read_text()
    sql = qualify_for_tenant(sql_text, ctx.event.tenant_id)
    used = used_parameters(sql)  # parsed once per step, not once per parameter
    params = {k: v for k, v in transform_params(ctx).items() if k in used}
    target = step.destination
    table = pipeline.table_ref(target.dataset, target.table)
    spec = pipeline.table_spec(target, f"{ctx.field}.destination")
    wh = ctx.runtime.warehouse
    wh.ensure_dataset(table.dataset, {"tenant": ctx.event.tenant_id})
    wh.ensure_table(table, spec)
    if target.write_mode == "merge":
        write = WriteSpec(mode="merge", keys=tuple(target.merge_keys))
    elif target.write_mode == "overwrite":
        write = WriteSpec(mode="overwrite")
    elif target.window_column:
        write = WriteSpec(
            mode="append",
            replace=dict(target.replace_scope) or None,
            replace_range=(target.window_column, window_start(ctx), ctx.event.window.end),
        )
    else:
        write = WriteSpec(mode="append", replace={"pipeline_logging_id": ctx.run_id})
    rows = wh.write(table, Query(sql, params), write)
    return StepOutcome(rows=rows, tables=[str(table)])
