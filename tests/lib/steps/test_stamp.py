"""``stamp`` adds the ingestion columns as repeated Arrow scalars: the values a list would give."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa

from lib.providers.rest_source import stamp

NOW = dt.datetime(2025, 1, 16, 3, 4, 5, 678901, tzinfo=dt.UTC)


def test_stamped_columns_equal_python_lists_and_replace_existing_ones():
    first = pa.record_batch({"a": [1, 2, 3]})
    second = pa.record_batch({"a": [4], "pipeline_logging_id": ["stale"]})
    out = list(stamp(iter([first, second, first.slice(0, 0)]), run_id="run-1", now=NOW))
    assert [b.num_rows for b in out] == [3, 1, 0]
    for batch in out:
        n = batch.num_rows
        expected = {
            "ingestion_date": pa.array([NOW.date()] * n, pa.date32()),
            "ingestion_timestamp": pa.array([NOW] * n, pa.timestamp("us", tz="UTC")),
            "pipeline_logging_id": pa.array(["run-1"] * n, pa.string()),
        }
        for name, array in expected.items():
            assert batch.column(name).equals(array)
    assert out[0].schema.names == [
        "a",
        "ingestion_date",
        "ingestion_timestamp",
        "pipeline_logging_id",
    ]
    assert out[1].schema.names == [
        "a",
        "pipeline_logging_id",
        "ingestion_date",
        "ingestion_timestamp",
    ]
