"""DQ benchmark: the table, its ten expectations, this project's check and the hand-written one.

    python benchmarks/dq_runs.py build --rows 1000000 --path F.duckdb   # the table, once
    python benchmarks/dq_runs.py ours  --path F.duckdb                  # plan_dq → evaluate
    python benchmarks/dq_runs.py hand  --path F.duckdb                  # one hand-written query

``main.costs`` (DuckDB's default schema: GX's SQL datasource reads no other) holds ``rows``
cost rows with violations planted at known rows (see
:func:`planted`); every checker must count exactly those. The ten expectations are the same
for this project (``RULES``, a ``_dq.yml`` as data), the hand-written DuckDB query (``HAND``:
what an engineer would write for the same answers, one aggregate plus a GROUP BY per unique
key) and Great Expectations (``gx_dq.py``). Each run prints one JSON line: seconds, peak RSS and
the measures, named alike so the harness compares them.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
VALUES = ["gpt-4o", "claude-3", "gemini"]
# planted violations: row i is bad when i % modulus == residue
NULL_MODEL = (999_983, 5)
BAD_MODEL = (999_979, 3)
NEGATIVE_COST = (1_000_033, 11)
DUPLICATE_ID = (1_000_003, 7)
DUPLICATE_LINE = (1_000_037, 13)

RULES: dict[str, Any] = {
    "expectations": [
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "model"}},
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "cost", "min_value": 0, "max_value": 200},
        },
        {"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "model", "value_set": VALUES},
        },
        {
            "expectation_type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "model", "regex": "^[a-z0-9.-]+$"},
        },
        {
            "expectation_type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["project_id", "line_item"]},
        },
        {
            "expectation_type": "expect_table_row_count_to_be_between",
            "kwargs": {"min_value": 1, "max_value": 10**12},
        },
        {
            "expectation_type": "expect_column_sum_to_be_between",
            "kwargs": {"column": "cost", "min_value": 0, "max_value": 10**12},
        },
        {
            "expectation_type": "expect_column_min_to_be_between",
            "kwargs": {"column": "cost", "min_value": 0},
        },
        {
            "expectation_type": "expect_column_max_to_be_between",
            "kwargs": {"column": "cost", "max_value": 200},
        },
    ]
}
"""The ten expectations, as a ``_dq.yml`` would hold them."""

HAND = """
SELECT * FROM (
    SELECT COUNT(*) AS row_count,
           COUNT(*) FILTER (WHERE model IS NULL) AS not_null,
           COUNT(*) FILTER (WHERE cost < 0 OR cost > 200) AS between,
           COUNT(*) FILTER (WHERE model NOT IN ('gpt-4o', 'claude-3', 'gemini')) AS in_set,
           COUNT(*) FILTER (WHERE NOT regexp_matches(model, '^[a-z0-9.-]+$')) AS regex,
           SUM(cost) AS sum, MIN(cost) AS min, MAX(cost) AS max
    FROM main.costs WHERE pipeline_logging_id = 'run-1')
CROSS JOIN (
    SELECT COALESCE(SUM(n), 0) AS "unique" FROM (
        SELECT COUNT(*) AS n FROM main.costs
        WHERE pipeline_logging_id = 'run-1' AND id IS NOT NULL
        GROUP BY id HAVING COUNT(*) > 1))
CROSS JOIN (
    SELECT COALESCE(SUM(n), 0) AS compound_unique FROM (
        SELECT COUNT(*) AS n FROM main.costs
        WHERE pipeline_logging_id = 'run-1' AND NOT (project_id IS NULL AND line_item IS NULL)
        GROUP BY project_id, line_item HAVING COUNT(*) > 1))
"""
"""The hand-written check: the same answers, written for DuckDB."""

MEASURES = ("not_null", "between", "unique", "in_set", "regex", "compound_unique")


def _hits(rows: int, rule: tuple[int, int]) -> set[int]:
    modulus, residue = rule
    return set(range(residue, rows, modulus))


def planted(rows: int) -> dict[str, Any]:
    """The violations every checker must find in a table of ``rows`` rows."""
    nulls = _hits(rows, NULL_MODEL)
    bad = _hits(rows, BAD_MODEL) - nulls
    dup_id = {i for i in _hits(rows, DUPLICATE_ID) if i >= 1}
    dup_line = {i for i in _hits(rows, DUPLICATE_LINE) if i >= 1}
    return {
        "row_count": rows,
        "not_null": len(nulls),
        "between": len(_hits(rows, NEGATIVE_COST)),
        "unique": 2 * len(dup_id),
        "in_set": len(bad),
        "regex": len(bad),
        "compound_unique": 2 * len(dup_line),
    }


def build(rows: int, path: Path) -> None:
    """Write ``main.costs`` with ``rows`` rows and the planted violations into ``path``."""
    import duckdb

    def hit(rule: tuple[int, int]) -> str:
        return f"i % {rule[0]} = {rule[1]}"

    path.unlink(missing_ok=True)
    with duckdb.connect(str(path)) as con:
        con.execute(
            f"""
            CREATE TABLE main.costs AS
            SELECT
              CASE WHEN {hit(DUPLICATE_ID)} AND i >= 1 THEN i - 1 ELSE i END AS id,
              CASE WHEN {hit(NULL_MODEL)} THEN NULL WHEN {hit(BAD_MODEL)} THEN 'llama!'
                   ELSE {VALUES!r}[1 + i % 3] END AS model,
              CAST(CASE WHEN {hit(NEGATIVE_COST)} THEN -1 ELSE (i % 10007) / 100 END
                   AS DECIMAL(38, 9)) AS cost,
              'proj_' || (CASE WHEN {hit(DUPLICATE_LINE)} AND i >= 1 THEN i - 1 ELSE i END) % 50
                  AS project_id,
              'line ' || (CASE WHEN {hit(DUPLICATE_LINE)} AND i >= 1 THEN i - 1 ELSE i END)
                  AS line_item,
              DATE '2026-11-01' + CAST(i % 30 AS INTEGER) AS day,
              'run-1' AS pipeline_logging_id
            FROM range({rows}) AS t(i)
            """
        )


def peak_mib() -> float:
    """This process's peak resident memory."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def ours(path: Path) -> dict[str, Any]:
    """Plan the rules, run the one statement through the DuckDB warehouse, evaluate."""
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.config.dq import DqRules
    from lib.dq import evaluate, plan_dq
    from lib.ports import TableRef
    from lib.sql import translate

    rules = DqRules.model_validate(RULES)
    wh = DuckDBWarehouse(path)
    started = time.perf_counter()
    query = plan_dq(TableRef("main", "costs"), rules, scope={"pipeline_logging_id": "run-1"})
    translate(query.sql)  # what the warehouse does first; remembered, so not done twice
    planned = time.perf_counter() - started
    [row] = wh.query(query.sql, query.params)
    outcome = evaluate(row, rules)
    seconds = time.perf_counter() - started
    wh.close()
    results = outcome.results
    measures = {name: results[i].unexpected_count for i, name in enumerate(MEASURES)}
    return {
        "seconds": seconds,
        "plan_seconds": planned,
        "peak_rss_mib": peak_mib(),
        "row_count": results[6].observed_value,
        **measures,
        "sum": str(results[7].observed_value),
        "min": str(results[8].observed_value),
        "max": str(results[9].observed_value),
        "failed": sorted(r.expectation_type for r in results if not r.success),
    }


def hand(path: Path) -> dict[str, Any]:
    """The hand-written query on DuckDB."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        started = time.perf_counter()
        cursor = con.execute(HAND)
        row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
        seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_mib(),
        **{k: int(row[k]) for k in ("row_count", *MEASURES)},
        **{k: str(row[k]) for k in ("sum", "min", "max")},
    }


def main() -> None:
    """Run one mode; print its JSON line (``build`` prints the planted counts)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["build", "ours", "hand"])
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=0)
    parser.add_argument("--plan-only", action="store_true", help="build: the file exists")
    args = parser.parse_args()
    if args.mode == "build":
        if not args.plan_only:
            build(args.rows, args.path)
        result = planted(args.rows)
    else:
        result = ours(args.path) if args.mode == "ours" else hand(args.path)
    print(json.dumps(result, default=lambda v: str(v) if isinstance(v, Decimal) else v))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).parent))
    __import__("use_source").apply()
    main()
