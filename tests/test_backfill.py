"""A 30-day backfill run twice gives identical tables (merge keys, no duplicates)."""

from __future__ import annotations

import datetime as dt

import pytest

from events.models import Window
from lib.config.loader import load_pipeline
from lib.config.pipeline import IngestStep, TransformStep
from lib.runs import request_run
from lib.sql import table_sql

WINDOW = Window(start=dt.date(2026, 10, 20), end=dt.date(2026, 11, 18))
RUN_COLUMNS = {
    "ingestion_date",
    "ingestion_timestamp",
    "pipeline_logging_id",
    "x_pipeline_logging_id",
}


def snapshot(platform, pipeline_id):
    rt = platform.rt
    pipeline = load_pipeline(rt.config_dir, "acme", pipeline_id)
    tables = {}
    for step in pipeline.config.steps:
        if not isinstance(step, IngestStep | TransformStep):
            continue
        ref = pipeline.table_ref(step.destination.dataset, step.destination.table)
        rows = rt.warehouse.query(f"SELECT * FROM {table_sql(ref)}")
        kept = [
            tuple(sorted((k, repr(v)) for k, v in r.items() if k not in RUN_COLUMNS)) for r in rows
        ]
        tables[str(ref)] = sorted(kept)
    return tables


@pytest.mark.parametrize("pipeline_id", ["openai_costs", "anthropic_costs"])
def test_thirty_day_backfill_twice_gives_identical_tables(make_platform, pipeline_id):
    platform = make_platform()
    request_run(platform.rt, "acme", pipeline_id, WINDOW)
    platform.drain()
    first = snapshot(platform, pipeline_id)
    assert all(first.values()), {k: len(v) for k, v in first.items()}
    assert sum(len(rows) for rows in first.values()) > 30
    request_run(platform.rt, "acme", pipeline_id, WINDOW)
    platform.drain()
    assert snapshot(platform, pipeline_id) == first
    completed = platform.rt.bus.published_events("run-completed")
    assert len(completed) == 2
