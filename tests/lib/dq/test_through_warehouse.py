"""The DQ query through the embedded Warehouse adapter: one statement reaches the engine."""

from __future__ import annotations

import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.dq import evaluate, plan_dq
from tests.lib.dq.dq_support import BAD, GOOD, NOW, TABLE, rules_of
from tests.lib.dq.test_expectations import CASES


@pytest.fixture
def warehouse():
    statements: list[str] = []
    wh = DuckDBWarehouse(":memory:", on_statement=statements.append)
    wh.execute("CREATE SCHEMA ds")
    wh.execute(
        "CREATE TABLE ds.costs (id INT64, model STRING, cost NUMERIC, ts TIMESTAMP, "
        "pipeline_logging_id STRING)"
    )
    for row in GOOD + BAD:
        names = ["id", "model", "cost", "ts", "run"]
        wh.execute(
            "INSERT INTO ds.costs VALUES (@id, @model, CAST(@cost AS NUMERIC), "
            "CAST(@ts AS TIMESTAMP), @run)",
            dict(zip(names, row, strict=True)),
        )
    statements.clear()
    yield wh, statements
    wh.close()


@pytest.mark.parametrize(("run_id", "failing"), [("good", set()), ("bad", set(CASES))])
def test_all_types_in_one_statement_through_the_port(warehouse, run_id, failing):
    wh, statements = warehouse
    rules = rules_of(*({"expectation_type": t, "kwargs": CASES[t][0]} for t in sorted(CASES)))
    query = plan_dq(TABLE, rules, scope={"pipeline_logging_id": run_id}, now=NOW)
    [row] = wh.query(query.sql, query.params)
    outcome = evaluate(row, rules)
    assert len(statements) == 1
    # one aggregate pass, plus one key-only GROUP BY per uniqueness check (two in CASES)
    assert statements[0].count('"ds"."costs"') == 3
    assert {r.expectation_type for r in outcome.results if not r.success} == failing
    assert outcome.passed is (not failing)
