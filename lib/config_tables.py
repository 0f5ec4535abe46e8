"""Tables written from config (price catalogs, budgets): rows → one stamped Arrow batch.

Such a table is small and rewritten whole by an ingest step; its rows carry the raw-table
ingestion columns like any provider's (``ingestion_date``, ``ingestion_timestamp``,
``pipeline_logging_id``), so DQ and provenance treat it like every other raw table.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import pyarrow as pa

from lib.arrow_schema import arrow_schema
from lib.schema import SchemaField

__all__ = ["config_batch"]


def config_batch(
    rows: Sequence[Mapping[str, Any]],
    fields: Sequence[SchemaField],
    *,
    run_id: str,
    now: dt.datetime,
) -> pa.RecordBatch:
    """One batch of ``rows`` typed by the table's ``fields``, stamped with the run and time."""
    stamp = {
        "ingestion_date": now.date(),
        "ingestion_timestamp": now,
        "pipeline_logging_id": run_id,
    }
    return pa.RecordBatch.from_pylist([{**row, **stamp} for row in rows], arrow_schema(fields))
