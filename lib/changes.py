"""The change log: which usage days of which table each step changed, and who re-derived them.

Late rows, restatements and snapshots make "what is current" a question of *what changed*,
not of a fixed look-back. Every step that writes a table records the UTC usage days its write
touched (``{tenant}_metadata.table_changes``, one row per table and day, keyed by the writing
run and step). A transform is a *consumer* (``pipeline_id.step_name``): before it runs it asks
for the changes to the tables its SQL reads that it has not consumed yet, re-derives exactly
those days (plus its run's window), and then records what it consumed
(``{tenant}_metadata.change_consumption``). So a billing row that lands three weeks late
changes raw on its usage day, silver re-derives that day, silver's write records it as a
change of the silver table, and gold re-derives it in turn — by construction, at any delay.

Crash safety: a producer records its changes after its write and before its COMPLETE step
record, replacing its own earlier records (a redelivered step records the same set again); a
consumer records its consumption after its write (a consumer killed before that re-derives
the same days again on redelivery, which is idempotent). Changes written by a run that FAILED
(e.g. a critical data-quality failure) are not consumed: that run's rows stay in raw but do
not reach silver until a later run delivers those days again.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import pyarrow as pa

from lib.metadata import metadata_table
from lib.ports import Clock, Warehouse, WriteSpec
from lib.sql import table_sql

__all__ = ["Change", "pending_changes", "record_changes", "record_consumption"]

_CHANGES = pa.schema(
    [
        ("table_name", pa.string()),
        ("change_date", pa.date32()),
        ("pipeline_logging_id", pa.string()),
        ("pipeline_id", pa.string()),
        ("step_name", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)
_CONSUMED = pa.schema(
    [
        ("consumer", pa.string()),
        ("table_name", pa.string()),
        ("pipeline_logging_id", pa.string()),
        ("step_name", pa.string()),
        ("consumed_by", pa.string()),
        ("recorded_at", pa.timestamp("us", tz="UTC")),
    ]
)


@dataclass(frozen=True, order=True)
class Change:
    """One changed day of one table, written by one (run, step)."""

    table_name: str
    change_date: dt.date
    pipeline_logging_id: str
    step_name: str


@dataclass(frozen=True)
class Producer:
    """The run and step recording changes."""

    tenant_id: str
    pipeline_id: str
    run_id: str
    step_name: str


def record_changes(
    warehouse: Warehouse,
    clock: Clock,
    producer: Producer,
    changes: Mapping[str, Iterable[dt.date]],
) -> None:
    """Record the days each table changed, replacing this (run, step)'s earlier records.

    Args:
        warehouse: where the tenant's metadata lives.
        clock: stamps ``recorded_at``.
        producer: the writing run and step.
        changes: physical table name (``dataset.table``) → the UTC days its write touched.
    """
    now = clock.now()
    rows = [
        {
            "table_name": table,
            "change_date": day,
            "pipeline_logging_id": producer.run_id,
            "pipeline_id": producer.pipeline_id,
            "step_name": producer.step_name,
            "recorded_at": now,
        }
        for table, days in sorted(changes.items())
        for day in sorted(set(days))
    ]
    spec = WriteSpec(
        replace={"pipeline_logging_id": producer.run_id, "step_name": producer.step_name}
    )
    batch = pa.RecordBatch.from_pylist(rows, schema=_CHANGES)
    warehouse.write(metadata_table(producer.tenant_id, "table_changes"), [batch], spec)


def pending_changes(
    warehouse: Warehouse, tenant_id: str, consumer: str, tables: Sequence[str]
) -> list[Change]:
    """Changes to ``tables`` that ``consumer`` has not re-derived yet (oldest day first).

    Changes of runs whose current status is FAILED are left out (see the module docstring).
    """
    if not tables:
        return []
    changes = table_sql(metadata_table(tenant_id, "table_changes"))
    consumed = table_sql(metadata_table(tenant_id, "change_consumption"))
    runs = table_sql(metadata_table(tenant_id, "pipeline_runs"))
    sql = f"""
SELECT c.table_name, c.change_date, c.pipeline_logging_id, c.step_name
FROM {changes} AS c
WHERE c.table_name IN UNNEST(@tables)
  AND NOT EXISTS (
    SELECT 1 FROM {consumed} AS k
    WHERE k.consumer = @consumer AND k.table_name = c.table_name
      AND k.pipeline_logging_id = c.pipeline_logging_id AND k.step_name = c.step_name)
  AND NOT EXISTS (
    SELECT 1 FROM {runs} AS r
    WHERE r.pipeline_logging_id = c.pipeline_logging_id AND r.status = 'FAILED')
ORDER BY c.change_date, c.table_name, c.pipeline_logging_id, c.step_name
"""
    rows = warehouse.query(sql, {"tables": list(tables), "consumer": consumer})
    return [Change(**row) for row in rows]


def record_consumption(
    warehouse: Warehouse,
    clock: Clock,
    tenant_id: str,
    consumer: str,
    run_id: str,
    consumed: Iterable[Change],
) -> None:
    """Record that ``consumer`` (in run ``run_id``) re-derived the days of ``consumed``."""
    sets = sorted({(c.table_name, c.pipeline_logging_id, c.step_name) for c in consumed})
    if not sets:
        return
    now = clock.now()
    rows = [
        {
            "consumer": consumer,
            "table_name": table,
            "pipeline_logging_id": producer_run,
            "step_name": step,
            "consumed_by": run_id,
            "recorded_at": now,
        }
        for table, producer_run, step in sets
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=_CONSUMED)
    warehouse.write(metadata_table(tenant_id, "change_consumption"), [batch], WriteSpec())
