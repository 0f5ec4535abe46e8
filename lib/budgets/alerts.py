"""``budget.crossed``: publish each threshold a budget first crosses in a month, exactly once.

After a transform with ``publishes: budget_crossed`` writes its budget status table, the step
calls :func:`publish_crossings`: every (budget, month, basis, threshold) the table says is
crossed in the month in progress and that the tenant's ledger (``{tenant}_metadata.
budget_alerts``) does not hold yet is published as a :class:`~events.models.BudgetCrossed`,
then recorded in the ledger. So re-runs, late data that re-derives the month and redelivered
steps publish nothing twice.

Order: publish, then record. A crash between the two re-publishes on the next attempt with
the SAME event id (deterministic from tenant, budget, month, basis and threshold), so a
consumer that remembers ids sees one event; recording first could lose the alert.

Only the month in progress alerts (the month of the status's ``as_of_date``): a backfill of
past months fills the status table but does not page anybody about last year.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from events.models import BudgetCrossed
from lib.metadata import metadata_table
from lib.ports import TableRef, Warehouse, WriteSpec
from lib.sql import table_sql

if TYPE_CHECKING:
    from events.models import Event, StepRef
    from lib.ports import Clock, EventBus

__all__ = ["Crossing", "crossings", "event_id", "publish_crossings"]

_NAMESPACE = uuid.UUID("0b7a4c1e-95d2-4c1f-8a53-61e1a3b6c7d2")
_LEDGER = pa.schema(
    [
        ("budget_name", pa.string()),
        ("month", pa.date32()),
        ("basis", pa.string()),
        ("threshold_percent", pa.int64()),
        ("value", pa.decimal128(38, 24)),
        ("budget_amount", pa.decimal128(38, 24)),
        ("event_id", pa.string()),
        ("pipeline_logging_id", pa.string()),
        ("emitted_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, order=True)
class Crossing:
    """A threshold a budget's month has crossed (as the status table says)."""

    budget_name: str
    month: dt.date
    basis: str
    threshold_percent: int
    value: Decimal
    budget_amount: Decimal
    currency: str
    scope: str
    as_of: dt.date

    @property
    def key(self) -> tuple[str, dt.date, str, int]:
        """What the ledger remembers: budget, month, basis, threshold."""
        return (self.budget_name, self.month, self.basis, self.threshold_percent)


def event_id(tenant_id: str, crossing: Crossing) -> str:
    """The event's id: the same for every publish of the same crossing."""
    name = "|".join([tenant_id, *(str(part) for part in crossing.key)])
    return uuid.uuid5(_NAMESPACE, name).hex


_CROSSED_SQL = """
SELECT s.budget_name, s.month, s.currency, s.scope, s.as_of_date,
  s.budget_amount, s.actual_cost, s.forecast_cost,
  s.actual_thresholds_crossed, s.forecast_thresholds_crossed
FROM {t} AS s
WHERE s.month = (SELECT DATE_TRUNC(MAX(m.as_of_date), MONTH) FROM {t} AS m)
ORDER BY s.budget_name
"""


def crossings(warehouse: Warehouse, status: TableRef) -> list[Crossing]:
    """Every threshold crossed in the month in progress, per the status table."""
    out = []
    for row in warehouse.query(_CROSSED_SQL.format(t=table_sql(status))):
        for basis, value, crossed in (
            ("actual", row["actual_cost"], row["actual_thresholds_crossed"]),
            ("forecast", row["forecast_cost"], row["forecast_thresholds_crossed"]),
        ):
            out += [
                Crossing(
                    budget_name=row["budget_name"],
                    month=row["month"],
                    basis=basis,
                    threshold_percent=int(t),
                    value=Decimal(value),
                    budget_amount=Decimal(row["budget_amount"]),
                    currency=row["currency"],
                    scope=row["scope"],
                    as_of=row["as_of_date"],
                )
                for t in crossed or ()
            ]
    return sorted(out)


def _ledger_keys(warehouse: Warehouse, tenant_id: str) -> set[tuple[Any, ...]]:
    ledger = table_sql(metadata_table(tenant_id, "budget_alerts"))
    rows = warehouse.query(f"SELECT budget_name, month, basis, threshold_percent FROM {ledger}")
    return {(r["budget_name"], r["month"], r["basis"], int(r["threshold_percent"])) for r in rows}


def publish_crossings(
    status: TableRef,
    *,
    cause: Event,
    step: StepRef,
    warehouse: Warehouse,
    bus: EventBus,
    clock: Clock,
) -> list[BudgetCrossed]:
    """Publish every crossing of ``status`` the ledger lacks, then record them.

    Args:
        status: the budget status table the step just wrote.
        cause: the event that ran the step (tenant, run, window, trace carried on).
        step: the step that wrote ``status`` (``step_done`` of every event).
        warehouse: reads ``status`` and the ledger, records what was published.
        bus: where the events go.
        clock: the events' ``occurred_at`` and the ledger's ``emitted_at``.

    Returns:
        The events published by this call (empty when every crossing was announced before).
    """
    seen = _ledger_keys(warehouse, cause.tenant_id)
    fresh = [c for c in crossings(warehouse, status) if c.key not in seen]
    events = [_event(cause, step, c, clock.now()) for c in fresh]
    for event in events:
        bus.publish(event)
    _record(warehouse, clock, cause, fresh, events)
    return events


def _event(cause: Event, step: StepRef, crossing: Crossing, now: dt.datetime) -> BudgetCrossed:
    return BudgetCrossed(
        event_id=event_id(cause.tenant_id, crossing),
        occurred_at=now,
        tenant_id=cause.tenant_id,
        pipeline_id=cause.pipeline_id,
        pipeline_logging_id=cause.pipeline_logging_id,
        window=cause.window,
        trigger_by=cause.trigger_by,
        traceparent=cause.traceparent,
        step_done=step,
        budget_name=crossing.budget_name,
        month=crossing.month,
        basis=crossing.basis,
        threshold_percent=crossing.threshold_percent,
        budget_amount=crossing.budget_amount,
        value=crossing.value,
        currency=crossing.currency,
        scope=crossing.scope[:500],
        as_of=crossing.as_of,
    )


def _record(
    warehouse: Warehouse,
    clock: Clock,
    cause: Event,
    fresh: Sequence[Crossing],
    events: Sequence[BudgetCrossed],
) -> None:
    if not fresh:
        return
    now = clock.now()
    rows = [
        {
            "budget_name": c.budget_name,
            "month": c.month,
            "basis": c.basis,
            "threshold_percent": c.threshold_percent,
            "value": c.value,
            "budget_amount": c.budget_amount,
            "event_id": e.event_id,
            "pipeline_logging_id": cause.pipeline_logging_id,
            "emitted_at": now,
        }
        for c, e in zip(fresh, events, strict=True)
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=_LEDGER)
    table = metadata_table(cause.tenant_id, "budget_alerts")
    warehouse.write(table, [batch], WriteSpec())
