"""Uniqueness by GROUP BY gives the row-level answer: counts and samples with repeats.

The reference is the row-level definition (each row's key counted with a window, the first
20 flagged values in ascending order, repeats included) written by hand for DuckDB.
"""

from __future__ import annotations

import random

import duckdb  # noqa: TID251  (tests run planned SQL on DuckDB directly)
import pytest

from lib.dq import plan_dq
from lib.ports import TableRef
from lib.sql import translate
from tests.lib.dq.dq_support import rules_of

TABLE = TableRef("ds", "keys")
REFERENCE = """
SELECT COUNT(*) FILTER (WHERE {present} AND n > 1) AS unexpected,
       LIST_SLICE(ARRAY_AGG({text} ORDER BY {text}) FILTER (WHERE {present} AND n > 1), 1, 20)
           AS sample
FROM (SELECT *, COUNT(*) OVER (PARTITION BY {keys}) AS n FROM ds.keys WHERE run = 'r')
"""


def keys_table(rows: list[tuple[object, object, str]]) -> duckdb.DuckDBPyConnection:
    con = duckdb.connect(":memory:")
    con.execute("CREATE SCHEMA ds")
    con.execute("CREATE TABLE ds.keys (a BIGINT, b VARCHAR, run VARCHAR)")
    con.executemany("INSERT INTO ds.keys VALUES (?, ?, ?)", rows)
    return con


def planned(con: duckdb.DuckDBPyConnection, expectation: dict) -> tuple[int, list[str] | None]:
    query = plan_dq(TABLE, rules_of(expectation), scope={"run": "r"})
    [statement] = translate(query.sql)
    cursor = con.execute(statement.sql, {n: query.params[n] for n in statement.params})
    row = dict(zip([d[0] for d in cursor.description], cursor.fetchone(), strict=True))
    return row["e0_unexpected"], row["e0_sample"]


def reference(con: duckdb.DuckDBPyConnection, keys: str, present: str, text: str):
    sql = REFERENCE.format(keys=keys, present=present, text=text)
    unexpected, sample = con.execute(sql).fetchone()
    return unexpected, sample


SKEWED = (
    [(1, "x", "r")] * 30
    + [(2, "y", "r")] * 2
    + [(k, "z", "r") for k in range(3, 40) for _ in range(k % 3 + 1)]
    + [(None, None, "r")] * 5
    + [(None, "y", "r")] * 3
    + [(7, "other run", "s")] * 9
)


@pytest.mark.parametrize("seed", [None, 1, 2, 3])
def test_single_and_compound_keys_match_the_row_level_definition(seed):
    rows = list(SKEWED)
    if seed is not None:
        rng = random.Random(seed)
        rows = [
            (rng.choice([None, *range(25)]), rng.choice([None, "p", "q", "r"]), "r")
            for _ in range(rng.randint(0, 120))
        ]
    con = keys_table(rows)
    single = planned(
        con, {"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "a"}}
    )
    assert single == reference(con, "a", "a IS NOT NULL", "CAST(a AS VARCHAR)")
    compound = planned(
        con,
        {
            "expectation_type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["a", "b"]},
        },
    )
    text = "'(' || COALESCE(CAST(a AS VARCHAR), 'NULL') || ', ' || COALESCE(b, 'NULL') || ')'"
    assert compound == reference(con, "a, b", "NOT (a IS NULL AND b IS NULL)", text)
    if seed is None:
        assert single[1][:20] == ["1"] * 20  # repeats kept, as a row-level sample has them
