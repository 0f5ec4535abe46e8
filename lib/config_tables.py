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
from lib.errors import ConfigError, ConfigProblem
from lib.schema import SchemaField, TableSpec

__all__ = ["check_config_table", "config_batch"]


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


def check_config_table(
    what: str, columns: Sequence[str], schema: str, spec: TableSpec, write_mode: str, *, file: str,
    field: str,
) -> None:  # fmt: skip
    """A ``what`` table (``"price"``, ``"budget"``) is overwritten whole and holds ``columns``.

    Args:
        what: the table's kind, as messages name it.
        columns: the columns its rows carry.
        schema: the library schema to point at (``"@library/prices/prices_schema.json"``).
        spec: the destination's schema.
        write_mode: the destination's write mode.
        file: the pipeline file, for problems.
        field: the step's destination field, for problems.

    Raises:
        ConfigError: naming what to write instead.
    """
    problems = []
    if write_mode != "overwrite":
        problems.append(
            ConfigProblem(
                file,
                f"{field}.write_mode",
                f"a {what} table is rewritten whole from config",
                "write write_mode: overwrite",
            )
        )
    missing = [c for c in columns if c not in spec.names]
    if missing:
        problems.append(
            ConfigProblem(
                file,
                f"{field}.schema",
                f"the {what} table schema lacks columns {missing}",
                f'use schema: "{schema}"',
            )
        )
    if problems:
        raise ConfigError(problems)
