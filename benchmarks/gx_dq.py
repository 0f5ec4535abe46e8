"""The Great Expectations reference for DQ: a SQL datasource on the same DuckDB file.

Runs in its own venv (``.nox/bench-gx``: great_expectations, duckdb-engine) and imports nothing
from this project: the ten expectations of ``dq_runs.RULES`` are restated here as GX
expectation classes (same columns, bounds and sets), run as one validation of the whole
table. GX runs its metrics as SQL in DuckDB through SQLAlchemy. One JSON line, with the
measures named as ``dq_runs.py`` names them. GX 1.24 has no regex for the DuckDB dialect
("Regex is not supported for dialect duckdb"): that expectation errors (``regex`` is null, the
message is in ``errors``) and the other nine are compared.

    .nox/bench-gx/bin/python benchmarks/gx_dq.py --path F.duckdb
"""

from __future__ import annotations

import argparse
import json
import logging
import resource
import time
from pathlib import Path
from typing import Any

VALUES = ["gpt-4o", "claude-3", "gemini"]
MEASURES = {
    "not_null": "expect_column_values_to_not_be_null",
    "between": "expect_column_values_to_be_between",
    "unique": "expect_column_values_to_be_unique",
    "in_set": "expect_column_values_to_be_in_set",
    "regex": "expect_column_values_to_match_regex",
    "compound_unique": "expect_compound_columns_to_be_unique",
}


def _buffer_results() -> None:
    """GX closes its connection before fetching; duckdb-engine then returns no rows.

    GX's ``execute_query`` returns a cursor result after leaving ``with connection:``;
    engines that buffer results cope, DuckDB's DB-API cursor does not. Buffer the rows
    inside the block (``freeze``) so GX sees them — the queries GX runs are unchanged.
    """
    from great_expectations.execution_engine import sqlalchemy_execution_engine as engine

    def execute_query(self: Any, query: Any) -> Any:
        with self.get_connection() as connection:
            return self._execute_query_with_recovery(connection, query).freeze()()

    engine.SqlAlchemyExecutionEngine.execute_query = execute_query  # type: ignore[method-assign]


def run(path: Path) -> dict[str, Any]:
    """Validate ``main.costs`` with GX; report time, peak RSS and each expectation's result."""
    import great_expectations as gx

    logging.disable(logging.WARNING)
    _buffer_results()
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql(
        name="duck",
        connection_string=f"duckdb:///{path}",
        kwargs={"connect_args": {"read_only": True}},
    )
    asset = source.add_table_asset(name="costs", table_name="costs")
    batch = asset.add_batch_definition_whole_table("all")
    e = gx.expectations
    suite = gx.ExpectationSuite(
        name="costs",
        expectations=[
            e.ExpectColumnValuesToNotBeNull(column="model"),
            e.ExpectColumnValuesToBeBetween(column="cost", min_value=0, max_value=200),
            e.ExpectColumnValuesToBeUnique(column="id"),
            e.ExpectColumnValuesToBeInSet(column="model", value_set=VALUES),
            e.ExpectColumnValuesToMatchRegex(column="model", regex="^[a-z0-9.-]+$"),
            e.ExpectCompoundColumnsToBeUnique(column_list=["project_id", "line_item"]),
            e.ExpectTableRowCountToBeBetween(min_value=1, max_value=10**12),
            e.ExpectColumnSumToBeBetween(column="cost", min_value=0, max_value=10**12),
            e.ExpectColumnMinToBeBetween(column="cost", min_value=0),
            e.ExpectColumnMaxToBeBetween(column="cost", max_value=200),
        ],
    )
    suite = context.suites.add(suite)
    validation = context.validation_definitions.add(
        gx.ValidationDefinition(name="costs", data=batch, suite=suite)
    )
    started = time.perf_counter()
    result = validation.run(result_format="SUMMARY")
    seconds = time.perf_counter() - started
    results = {r.expectation_config.type: r for r in result.results}
    errors = sorted(
        {
            str(info.get("exception_message"))[:200]
            for r in result.results
            for info in r.exception_info.values()
            if isinstance(info, dict) and info.get("raised_exception")
        }
    )
    out: dict[str, Any] = {
        name: results[kind].result.get("unexpected_count") for name, kind in MEASURES.items()
    }

    def observed(kind: str) -> Any:
        return results[kind].result.get("observed_value")

    return {
        "seconds": seconds,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "row_count": observed("expect_table_row_count_to_be_between"),
        **out,
        "sum": str(observed("expect_column_sum_to_be_between")),
        "min": str(observed("expect_column_min_to_be_between")),
        "max": str(observed("expect_column_max_to_be_between")),
        "errors": errors,
        "version": gx.__version__,
    }


def main() -> None:
    """Parse arguments, run once, print the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--path", type=Path, required=True)
    args = parser.parse_args()
    print(json.dumps(run(args.path.resolve()), default=str))


if __name__ == "__main__":
    main()
