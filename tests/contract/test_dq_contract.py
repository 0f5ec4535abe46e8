"""The planned DQ statement runs on every warehouse (BigQuery SQL, and its DuckDB rendering).

Same fixture rows, same rules, same outcome on each registered adapter: the SQL ``plan_dq``
writes is valid BigQuery (the emulator) and translates faithfully (DuckDB).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pyarrow as pa

from lib.arrow_schema import arrow_schema
from lib.dq import evaluate, plan_dq
from lib.ports import TableRef, Warehouse, WriteSpec
from lib.schema import SchemaField, TableSpec
from tests.lib.dq.dq_support import BAD, GOOD, MANY, NOW, rules_of
from tests.lib.dq.test_expectations import CASES

SPEC = TableSpec(
    fields=(
        SchemaField(name="id", type="INT64"),
        SchemaField(name="model", type="STRING"),
        SchemaField(name="cost", type="NUMERIC"),
        SchemaField(name="ts", type="TIMESTAMP"),
        SchemaField(name="pipeline_logging_id", type="STRING"),
    )
)


def load(warehouse: Warehouse, dataset: str) -> TableRef:
    ref = TableRef(dataset, "costs")
    warehouse.ensure_table(ref, SPEC)
    rows = [
        {
            "id": i,
            "model": m,
            "cost": Decimal(c),
            "ts": dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC),
            "pipeline_logging_id": run,
        }
        for i, m, c, t, run in GOOD + BAD + MANY
    ]
    batch = pa.RecordBatch.from_pylist(rows, schema=arrow_schema(SPEC.fields))
    warehouse.write(ref, [batch], WriteSpec())
    return ref


def test_every_expectation_type_gives_the_same_outcome(warehouse: Warehouse, dataset: str):
    ref = load(warehouse, dataset)
    rules = rules_of(*({"expectation_type": t, "kwargs": CASES[t][0]} for t in sorted(CASES)))
    for run, failing in (("good", set()), ("bad", set(CASES))):
        query = plan_dq(ref, rules, scope={"pipeline_logging_id": run}, now=NOW)
        [row] = warehouse.query(query.sql, query.params)
        outcome = evaluate(row, rules)
        assert {r.expectation_type for r in outcome.results if not r.success} == failing
        counts = {r.expectation_type: r.unexpected_count for r in outcome.results}
        for kind, (_, unexpected, _, _) in CASES.items():
            if unexpected is not None:
                assert counts[kind] == (unexpected if run == "bad" else 0), kind
        if run == "bad":
            samples = {r.expectation_type: r.sample_unexpected for r in outcome.results}
            assert samples["expect_column_values_to_be_unique"] == ("1",)
            assert samples["expect_compound_columns_to_be_unique"] == ("(1, gpt-4o)",)


def test_uniqueness_by_group_by_gives_the_same_counts_and_samples(
    warehouse: Warehouse, dataset: str
):
    ref = load(warehouse, dataset)
    rules = rules_of(
        {"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {
            "expectation_type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["id", "model"]},
        },
    )
    query = plan_dq(ref, rules, scope={"pipeline_logging_id": "bad"})
    [row] = warehouse.query(query.sql, query.params)
    assert (row["e0_unexpected"], list(row["e0_sample"])) == (2, ["1", "1"])
    assert (row["e1_unexpected"], list(row["e1_sample"])) == (2, ["(1, gpt-4o)", "(1, gpt-4o)"])
    assert (row["e0_domain"], row["e1_domain"]) == (4, 4)
