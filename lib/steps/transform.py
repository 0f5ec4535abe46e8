"""Transform step: run a BigQuery SQL file in the warehouse into its destination table.

Which days a transform derives is decided by what changed, not by a fixed look-back: the
run's window days, plus every usage day that the tables its SQL reads changed on since this
transform last ran (lib/changes.py), each widened by ``trailing_days`` when an output day
reads earlier days. The SQL receives them as ``@dates`` (and their bounds as
``@window_start`` / ``@window_end``); a ``replace_window`` destination replaces exactly those
days. After the write, the step records the changes it consumed, and its own write's days
become changes of its destination for the next layer.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Sequence
from typing import Any

import sqlglot
from sqlglot import exp

from lib.changes import Change, pending_changes, record_consumption
from lib.config.catalog import destination_spec
from lib.config.documents import read_text
from lib.config.pipeline import TransformStep
from lib.ports import Query, TableRef
from lib.sql import qualify_for_tenant
from lib.steps.base import StepContext, StepOutcome
from lib.steps.ingest import outcome


@functools.lru_cache(maxsize=256)
def read_tables(sql: str) -> tuple[TableRef, ...]:
    """The ``dataset.table`` references of (tenant-qualified) SQL (CTE references have none)."""
    found: set[TableRef] = set()
    for statement in sqlglot.parse(sql, read="bigquery"):
        if statement is None:
            continue
        for table in statement.find_all(exp.Table):
            if table.db:  # a CTE reference has no dataset, whatever its name
                found.add(TableRef(table.db, table.name))
    return tuple(sorted(found))


@functools.lru_cache(maxsize=256)
def used_parameters(sql: str) -> frozenset[str]:
    """Names of the ``@parameters`` a BigQuery SQL text uses."""
    return frozenset(
        p.name
        for statement in sqlglot.parse(sql, read="bigquery")
        if statement is not None
        for p in statement.find_all(exp.Parameter)
    )


def derive_days(
    window: Iterable[dt.date], changed: Iterable[dt.date], trailing_days: int
) -> list[dt.date]:
    """The days a transform derives: the window, and each changed day plus ``trailing_days``.

    Days after the later of the window's end and the last changed day are not derived
    (nothing exists there yet).
    """
    window_days = sorted(set(window))
    changed_days = sorted(set(changed))
    last = max([*window_days[-1:], *changed_days[-1:]], default=None)
    days = set(window_days)
    for day in changed_days:
        for offset in range(trailing_days + 1):
            later = day + dt.timedelta(days=offset)
            if last is not None and later <= last:
                days.add(later)
    return sorted(days)


def consumer_id(ctx: StepContext) -> str:
    """This transform's name in the change log: ``pipeline_id.step_name``."""
    return f"{ctx.event.pipeline_id}.{ctx.ref.name}"


def transform_params(ctx: StepContext, days: Sequence[dt.date]) -> dict[str, Any]:
    """Parameters every transform SQL may use (``validate`` checks for exactly these names:
    ``lib.config.sql_check.TRANSFORM_PARAMETERS``)."""
    return {
        "dates": list(days),
        "window_start": days[0],
        "window_end": days[-1],
        "run_id": ctx.run_id,
        "tenant_id": ctx.event.tenant_id,
        "now": ctx.runtime.clock.now(),
    }


def step_parameters(step: TransformStep) -> dict[str, Any]:
    """The step's own ``parameters:`` as the warehouse binds them (``@name``)."""
    return {name: p.python_value() for name, p in step.parameters.items()}


def run_transform(ctx: StepContext) -> StepOutcome:
    """Derive the step's days with its SQL and replace them in the destination."""
    step = ctx.step
    assert isinstance(step, TransformStep)
    pipeline, rt = ctx.pipeline, ctx.runtime
    sql_text = read_text(pipeline.path(step.sql, f"{ctx.field}.sql"))
    sql = qualify_for_tenant(sql_text, ctx.event.tenant_id)
    sources = [str(t) for t in read_tables(sql)]
    pending = pending_changes(rt.warehouse, ctx.event.tenant_id, consumer_id(ctx), sources)
    days = derive_days(
        ctx.event.window.days(), (c.change_date for c in pending), step.trailing_days
    )
    wanted = used_parameters(sql)
    given = {**transform_params(ctx, days), **step_parameters(step)}
    params = {k: v for k, v in given.items() if k in wanted}
    target = step.destination
    table = pipeline.table_ref(target.dataset, target.table)
    spec = destination_spec(pipeline, ctx.ref.index)
    rt.warehouse.ensure_dataset(table.dataset, {"tenant": ctx.event.tenant_id})
    rt.warehouse.ensure_table(table, spec)
    result = rt.warehouse.write(table, Query(sql, params), target.write_spec(ctx.run_id, days))
    alerts = _publish(ctx, step, table)
    record_consumption(
        rt.warehouse, rt.clock, ctx.event.tenant_id, consumer_id(ctx), ctx.run_id, pending
    )
    done = outcome(table, result)
    done.details.update(_derived(days, pending))
    if alerts is not None:
        done.details["budget_alerts"] = alerts
    return done


def _publish(ctx: StepContext, step: TransformStep, table: TableRef) -> int | None:
    """The events a step declares it publishes after its write (``publishes:``); how many."""
    if step.publishes != "budget_crossed":
        return None
    from lib.budgets.alerts import publish_crossings

    rt = ctx.runtime
    published = publish_crossings(
        table, cause=ctx.event, step=ctx.ref, warehouse=rt.warehouse, bus=rt.bus, clock=rt.clock
    )
    return len(published)


def _derived(days: Sequence[dt.date], pending: Sequence[Change]) -> dict[str, Any]:
    """What the step record shows about the days derived and the changes that caused them."""
    change_sets = {(c.table_name, c.pipeline_logging_id, c.step_name) for c in pending}
    return {
        "days_derived": len(days),
        "first_day": days[0].isoformat(),
        "last_day": days[-1].isoformat(),
        "changes_consumed": len(change_sets),
        "source_changed_days": sorted({c.change_date.isoformat() for c in pending}),
    }
