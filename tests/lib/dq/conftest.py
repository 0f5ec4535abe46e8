"""DuckDB fixture for the DQ engine tests: ``ds.costs`` loaded with the runs of dq_support."""

from __future__ import annotations

from collections.abc import Iterator

import duckdb  # noqa: TID251  (tests run planned SQL on DuckDB directly)
import pytest

from tests.lib.dq.dq_support import BAD, GOOD, MANY


@pytest.fixture(scope="module")
def con() -> Iterator[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect(":memory:")
    connection.execute("SET TimeZone = 'UTC'")
    connection.execute("CREATE SCHEMA ds")
    connection.execute(
        "CREATE TABLE ds.costs (id BIGINT, model VARCHAR, cost DECIMAL(38, 9), "
        "ts TIMESTAMP, pipeline_logging_id VARCHAR)"
    )
    connection.executemany("INSERT INTO ds.costs VALUES (?, ?, ?, ?, ?)", GOOD + BAD + MANY)
    yield connection
    connection.close()
