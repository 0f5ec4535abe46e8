"""Shared DQ test data and helpers: one table, three runs, and a helper that runs a plan.

Runs in ``ds.costs`` (scope = ``pipeline_logging_id``):

* ``good`` — 3 clean rows;
* ``bad``  — 4 rows: duplicate id 1 (same model twice), a negative and a huge cost, a NULL
  model, a model outside the set and failing the regex, timestamps two days old;
* ``many`` — 30 rows with distinct negative costs (for the 20-sample cap).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import duckdb  # noqa: TID251  (tests run planned SQL on DuckDB directly)

from lib.config.dq import DqRules
from lib.dq import DqOutcome, evaluate, plan_dq
from lib.ports import TableRef
from lib.sql import translate

TABLE = TableRef("ds", "costs")
NOW = dt.datetime(2024, 1, 2, 0, 0, tzinfo=dt.UTC)

GOOD = [
    (1, "gpt-4o", "1.50", "2024-01-01 10:00:00", "good"),
    (2, "gpt-4o", "2.00", "2024-01-01 11:00:00", "good"),
    (3, "claude-3", "0.25", "2024-01-01 12:00:00", "good"),
]
BAD = [
    (1, "gpt-4o", "1.50", "2023-12-30 00:00:00", "bad"),
    (1, "gpt-4o", "-3.00", "2023-12-30 01:00:00", "bad"),
    (2, None, "500.00", "2023-12-30 02:00:00", "bad"),
    (4, "llama!", "2.00", "2023-12-30 03:00:00", "bad"),
]
MANY = [(100 + i, "gpt-4o", f"-{i + 1}", "2024-01-01 00:00:00", "many") for i in range(30)]


def rules_of(*expectations: Mapping[str, Any]) -> DqRules:
    """Rules from expectation dicts, as they would be written in a ``_dq.yml``."""
    return DqRules.model_validate({"expectations": list(expectations)})


def run_row(
    con: duckdb.DuckDBPyConnection,
    rules: DqRules,
    run_id: str | None,
    now: dt.datetime = NOW,
) -> dict[str, Any]:
    """Plan, translate BigQuery→DuckDB with lib.sql, execute, and return the one result row."""
    scope = {"pipeline_logging_id": run_id} if run_id else None
    query = plan_dq(TABLE, rules, scope=scope, now=now)
    [statement] = translate(query.sql)
    params = {name: query.params[name] for name in statement.params}
    cursor = con.execute(statement.sql, params)
    rows = cursor.fetchall()
    assert len(rows) == 1
    return dict(zip([d[0] for d in cursor.description], rows[0], strict=True))


def run_dq(
    con: duckdb.DuckDBPyConnection,
    rules: DqRules,
    run_id: str | None,
    now: dt.datetime = NOW,
) -> DqOutcome:
    """Plan, execute on DuckDB and evaluate."""
    return evaluate(run_row(con, rules, run_id, now), rules)
