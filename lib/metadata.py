"""The tenant's metadata dataset: run transitions, step records, DQ results, API keys.

Everything here is insert-only; the newest transition wins. Ties on ``recorded_at`` (a fixed
clock, two writes in one microsecond) are broken by status precedence, so a terminal status
always beats the one it follows.

Every transition and step record is also logged as one INFO line with structured fields
(``event``: ``run.recorded`` | ``step.recorded``, statuses, duration, rows, DQ counts): the
Cloud Monitoring log-based metrics and alerts of ``terraform/monitoring.tf`` count them.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.config.loader import tenant_dataset
from lib.config.schema_files import load_schema_file
from lib.ports import Clock, TableRef, Warehouse
from lib.schema import TableSpec
from lib.sql import table_sql
from lib.states import PRECEDENCE_SQL

TABLES = (
    "pipeline_runs",
    "step_logs",
    "dq_results",
    "api_keys",
    "table_changes",
    "change_consumption",
    "step_claims",
    "budget_alerts",
    "notifications",
)
_PRECEDENCE = PRECEDENCE_SQL
log = logging.getLogger(__name__)


def metadata_table(tenant_id: str, table: str) -> TableRef:
    """A table of the tenant's metadata dataset."""
    return TableRef(tenant_dataset(tenant_id, "metadata"), table)


def ensure_metadata(warehouse: Warehouse, tenant_id: str, schema_dir: Path) -> None:
    """Create ``{tenant}_metadata`` and its tables from ``configs/metadata/schemas``."""
    warehouse.ensure_dataset(tenant_dataset(tenant_id, "metadata"), {"tenant": tenant_id})
    for table in TABLES:
        fields = load_schema_file(schema_dir / f"{table}.json")
        spec = TableSpec(fields=tuple(fields), partition_field=None)
        warehouse.ensure_table(metadata_table(tenant_id, table), spec)


def _json(value: Mapping[str, Any] | None) -> str | None:
    return None if value is None else json.dumps(value, default=str, sort_keys=True)


def _insert(
    warehouse: Warehouse, table: TableRef, row: Mapping[str, Any], json_cols: set[str]
) -> None:
    cols = ", ".join(f"`{c}`" for c in row)
    values = ", ".join(f"PARSE_JSON(@{c})" if c in json_cols else f"@{c}" for c in row)
    sql = f"INSERT INTO {table_sql(table)} ({cols}) VALUES ({values})"
    warehouse.execute(sql, dict(row))


@dataclass(frozen=True)
class RunTransition:
    """One status transition of a run."""

    tenant_id: str
    pipeline_id: str
    pipeline_logging_id: str
    status: str
    trigger_by: str | None = None
    window_start: dt.date | None = None
    window_end: dt.date | None = None
    error: str | None = None
    run_metadata: Mapping[str, Any] | None = None


def record_run(warehouse: Warehouse, clock: Clock, t: RunTransition) -> None:
    """Append a run status transition."""
    row = {
        "pipeline_logging_id": t.pipeline_logging_id,
        "tenant_id": t.tenant_id,
        "pipeline_id": t.pipeline_id,
        "status": t.status,
        "trigger_by": t.trigger_by,
        "window_start": t.window_start,
        "window_end": t.window_end,
        "error": t.error,
        "run_metadata": _json(t.run_metadata),
        "recorded_at": clock.now(),
    }
    _insert(warehouse, metadata_table(t.tenant_id, "pipeline_runs"), row, {"run_metadata"})
    fields = {"event": "run.recorded", "run_status": str(t.status), "tenant_id": t.tenant_id,
              "pipeline_id": t.pipeline_id, "run_id": t.pipeline_logging_id,
              "trigger_by": t.trigger_by}  # fmt: skip
    log.info("run %s is %s", t.pipeline_logging_id, t.status, extra={"fields": fields})


@dataclass(frozen=True)
class StepRecord:
    """One record of a step's life (RUNNING, then COMPLETE or FAILED)."""

    tenant_id: str
    pipeline_id: str
    pipeline_logging_id: str
    step_name: str
    step_index: int
    step_type: str
    status: str
    attempt: int | None = None
    started_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    rows_processed: int | None = None
    error: str | None = None
    metadata: Mapping[str, Any] | None = None

    @property
    def duration_ms(self) -> int | None:
        """Milliseconds between start and end, when both are known."""
        if self.started_at and self.ended_at:
            return int((self.ended_at - self.started_at).total_seconds() * 1000)
        return None


def record_step(warehouse: Warehouse, clock: Clock, r: StepRecord) -> None:
    """Append a step record."""
    row = {
        "pipeline_logging_id": r.pipeline_logging_id,
        "tenant_id": r.tenant_id,
        "pipeline_id": r.pipeline_id,
        "step_name": r.step_name,
        "step_index": r.step_index,
        "step_type": r.step_type,
        "status": r.status,
        "attempt": r.attempt,
        "started_at": r.started_at,
        "ended_at": r.ended_at,
        "duration_ms": r.duration_ms,
        "rows_processed": r.rows_processed,
        "error": r.error,
        "metadata": _json(r.metadata),
        "recorded_at": clock.now(),
    }
    _insert(warehouse, metadata_table(r.tenant_id, "step_logs"), row, {"metadata"})
    log.info(
        "step %s of run %s is %s",
        r.step_name,
        r.pipeline_logging_id,
        r.status,
        extra={"fields": _step_fields(r)},
    )


def _step_fields(r: StepRecord) -> dict[str, Any]:
    meta = r.metadata or {}
    fields: dict[str, Any] = {
        "event": "step.recorded",
        "step_status": str(r.status),
        "tenant_id": r.tenant_id,
        "pipeline_id": r.pipeline_id,
        "run_id": r.pipeline_logging_id,
        "step_name": r.step_name,
        "step_type": r.step_type,
        "attempt": r.attempt,
        "duration_ms": r.duration_ms,
        "rows": r.rows_processed,
    }
    if r.step_type == "dq" and "expectations" in meta:
        fields["dq_expectations"] = meta.get("expectations", 0)
        fields["dq_warnings"] = meta.get("warnings", 0)
        fields["dq_critical_failures"] = len(meta.get("failed") or [])
    for key in ("api_calls", "pages", "bytes_billed"):
        if key in meta:
            fields[key] = meta[key]
    return fields


def latest_step(
    warehouse: Warehouse, tenant_id: str, run_id: str, step_index: int
) -> dict[str, Any] | None:
    """The newest record of step ``step_index`` of a run, or None."""
    rows = warehouse.query(
        f"SELECT * FROM {table_sql(metadata_table(tenant_id, 'step_logs'))} "
        "WHERE pipeline_logging_id = @run_id AND step_index = @step_index "
        f"ORDER BY recorded_at DESC, {_PRECEDENCE} DESC LIMIT 1",
        {"run_id": run_id, "step_index": step_index},
    )
    return rows[0] if rows else None


def run_status(warehouse: Warehouse, tenant_id: str, run_id: str) -> dict[str, Any] | None:
    """The newest transition of a run, or None if the run is unknown to this tenant."""
    rows = warehouse.query(
        f"SELECT * FROM {table_sql(metadata_table(tenant_id, 'pipeline_runs'))} "
        "WHERE pipeline_logging_id = @run_id "
        f"ORDER BY recorded_at DESC, {_PRECEDENCE} DESC LIMIT 1",
        {"run_id": run_id},
    )
    return rows[0] if rows else None


def run_history(warehouse: Warehouse, tenant_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every transition of a run, oldest first."""
    return warehouse.query(
        f"SELECT * FROM {table_sql(metadata_table(tenant_id, 'pipeline_runs'))} "
        f"WHERE pipeline_logging_id = @run_id ORDER BY recorded_at, {_PRECEDENCE}",
        {"run_id": run_id},
    )


def step_history(warehouse: Warehouse, tenant_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every step record of a run, oldest first."""
    return warehouse.query(
        f"SELECT * FROM {table_sql(metadata_table(tenant_id, 'step_logs'))} "
        "WHERE pipeline_logging_id = @run_id "
        f"ORDER BY step_index, recorded_at, {_PRECEDENCE}",
        {"run_id": run_id},
    )


def list_runs(
    warehouse: Warehouse,
    tenant_id: str,
    *,
    status: str | None = None,
    since: dt.datetime | None = None,
    limit: int = 50,
) -> list[dict[str, Any]]:
    """Runs of a tenant with their current status and first-seen time, newest first."""
    table = table_sql(metadata_table(tenant_id, "pipeline_runs"))
    filters: list[str] = ["rn = 1"]
    params: dict[str, Any] = {}
    if status is not None:
        filters.append("status = @status")
        params["status"] = status
    if since is not None:
        filters.append("requested_at >= @since")
        params["since"] = since
    sql = (
        "WITH ranked AS (SELECT *, MIN(recorded_at) OVER (PARTITION BY pipeline_logging_id) "
        "AS requested_at, ROW_NUMBER() OVER (PARTITION BY pipeline_logging_id "
        f"ORDER BY recorded_at DESC, {_PRECEDENCE} DESC) AS rn FROM {table}) "
        f"SELECT * EXCEPT (rn) FROM ranked WHERE {' AND '.join(filters)} "
        f"ORDER BY requested_at DESC LIMIT {int(limit)}"
    )
    return warehouse.query(sql, params)
