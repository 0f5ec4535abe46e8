"""The planner's shape, tested without a database.

One-query property, as asserted here: the plan is ONE statement; sqlglot parses it as one
SELECT returning one row (no GROUP BY outside); every per-row and table measure comes from
ONE aggregate pass over the base table; each uniqueness check adds exactly one pass that
groups by its key columns only (``GROUP BY key HAVING COUNT(*) > 1``) — no window over whole
rows, no ``SELECT *``, no CTE.
"""

from __future__ import annotations

import datetime as dt
import inspect

import duckdb  # noqa: TID251  (runs the planned SQL on DuckDB directly)
import pytest
import sqlglot
from sqlglot import exp

import lib.dq
from lib.config.dq import EXPECTATION_TYPES
from lib.dq import DqRules, measure_alias, plan_dq
from lib.errors import DataError, InvalidIdentifier
from lib.ports import TableRef
from tests.lib.dq.dq_support import NOW, TABLE, rules_of, run_dq
from tests.lib.dq.test_expectations import CASES


def every_expectation() -> DqRules:
    return rules_of(*({"expectation_type": t, "kwargs": CASES[t][0]} for t in sorted(CASES)))


def base_tables(tree: exp.Expr) -> list[exp.Table]:
    return [t for t in tree.find_all(exp.Table) if (t.db, t.name) == ("ds", "costs")]


UNIQUENESS = {"expect_column_values_to_be_unique", "expect_compound_columns_to_be_unique"}


@pytest.mark.parametrize(
    "rules",
    [
        every_expectation(),
        rules_of(
            {
                "expectation_type": "expect_column_values_to_not_be_null",
                "kwargs": {"column": "model"},
            }
        ),
    ],
    ids=["all-types", "no-uniqueness"],
)
def test_all_expectations_compile_to_one_select_with_one_aggregate_pass(rules):
    query = plan_dq(TABLE, rules, scope={"pipeline_logging_id": "r1"}, now=NOW)
    statements = [s for s in sqlglot.parse(query.sql, read="bigquery") if s is not None]
    assert len(statements) == 1
    [tree] = statements
    assert isinstance(tree, exp.Select)
    assert tree.args.get("group") is None
    assert list(tree.find_all(exp.CTE)) == []
    assert list(tree.find_all(exp.Window)) == []
    assert not [e for sel in tree.find_all(exp.Select) for e in sel.expressions if e.is_star]
    uniqueness = sum(e.expectation_type in UNIQUENESS for e in rules.expectations)
    scans = base_tables(tree)
    assert len(scans) == 1 + uniqueness
    grouped = [
        t.find_ancestor(exp.Select) for t in scans if t.find_ancestor(exp.Select).args.get("group")
    ]
    assert len(grouped) == uniqueness
    [aggregate] = [
        t.find_ancestor(exp.Select) for t in scans if t.find_ancestor(exp.Select) not in grouped
    ]
    assert all(s.find(exp.AggFunc) is not None for s in aggregate.expressions)
    if not uniqueness:
        assert aggregate is tree


def test_uniqueness_groups_by_its_key_columns_only():
    rules = rules_of(
        {"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {
            "expectation_type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["id", "model"]},
        },
    )
    tree = sqlglot.parse_one(
        plan_dq(TABLE, rules, scope={"pipeline_logging_id": "r"}).sql, read="bigquery"
    )
    grouped = [s for s in tree.find_all(exp.Select) if s.args.get("group")]
    keys = [[c.name for c in s.args["group"].expressions] for s in grouped]
    assert keys == [["id"], ["id", "model"]]
    for select in grouped:
        having = select.args["having"].this
        assert isinstance(having, exp.GT) and isinstance(having.this, exp.Count)
        assert having.expression.to_py() == 1
        read = {c.name for c in select.find_all(exp.Column)}
        assert read <= {"id", "model", "pipeline_logging_id"}


def test_one_aggregate_per_measure_with_deterministic_aliases():
    rules = every_expectation()
    query = plan_dq(TABLE, rules, now=NOW)
    tree = sqlglot.parse_one(query.sql, read="bigquery")
    aliases = [s.alias for s in tree.expressions]
    index = {t: i for i, t in enumerate(sorted(CASES))}
    between = index["expect_column_values_to_be_between"]
    assert aliases[0] == "element_count"
    assert {
        measure_alias(between, "unexpected"),
        measure_alias(between, "domain"),
        measure_alias(between, "sample"),
    } <= set(aliases)
    assert len(aliases) == len(set(aliases))
    inner = {
        s.alias: s
        for select in tree.find_all(exp.Select)
        if select is not tree
        for s in select.expressions
    }
    assert all(inner[a].find(exp.AggFunc) is not None for a in aliases)
    assert plan_dq(TABLE, rules, now=NOW) == query  # same rules, same SQL and params


def test_samples_use_a_bounded_array_agg():
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "model", "value_set": ["a"]},
        }
    )
    tree = sqlglot.parse_one(plan_dq(TABLE, rules).sql, read="bigquery")
    [agg] = tree.find_all(exp.ArrayAgg)
    assert isinstance(agg.this, exp.Limit)
    assert agg.this.expression.to_py() == 20
    assert isinstance(agg.parent, exp.IgnoreNulls)


def test_values_are_parameters_and_identifiers_are_quoted():
    hostile = "x'); DROP TABLE ds.costs; --"
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "model", "value_set": [hostile, 7]},
        },
        {
            "expectation_type": "expect_column_values_to_match_regex",
            "kwargs": {"column": "model", "regex": "^a'b$"},
        },
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "cost", "min_value": 1.5, "max_value": 9},
        },
    )
    query = plan_dq(TABLE, rules, scope={"pipeline_logging_id": "run'1"})
    assert hostile not in query.sql and "run'1" not in query.sql and "a'b" not in query.sql
    assert query.params == {
        "scope_pipeline_logging_id": "run'1",
        "e0_in0": hostile,
        "e0_in1": 7,
        "e1_regex": "^a'b$",
        "e2_min": 1.5,
        "e2_max": 9,
    }
    tree = sqlglot.parse_one(query.sql, read="bigquery")
    assert all(i.quoted for i in tree.find_all(exp.Identifier) if i.name in {"model", "cost"})
    assert "`ds`.`costs`" in query.sql


def test_struct_field_paths_are_quoted_per_part_and_run():
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "service.description", "value_set": ["BigQuery"]},
        }
    )
    assert "`service`.`description`" in plan_dq(TABLE, rules).sql
    with duckdb.connect(":memory:") as con:
        con.execute("CREATE SCHEMA ds")
        con.execute("CREATE TABLE ds.costs (service STRUCT(description VARCHAR))")
        con.execute(
            "INSERT INTO ds.costs VALUES ({'description': 'BigQuery'}), ({'description': 'GCS'})"
        )
        [result] = run_dq(con, rules, None).results
    assert (result.unexpected_count, result.sample_unexpected) == (1, ("GCS",))


def test_freshness_needs_an_aware_now():
    rules = rules_of(
        {
            "expectation_type": "expect_column_max_to_be_recent",
            "kwargs": {"column": "ts", "max_age_hours": 1},
        }
    )
    with pytest.raises(ValueError, match="now="):
        plan_dq(TABLE, rules)
    with pytest.raises(ValueError, match="timezone-aware"):
        plan_dq(TABLE, rules, now=dt.datetime(2024, 1, 1))
    assert plan_dq(TABLE, rules, now=NOW).params == {"now": NOW}


def test_scope_keys_must_be_column_names():
    rules = rules_of(
        {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0}}
    )
    with pytest.raises(ValueError, match="scope key"):
        plan_dq(TABLE, rules, scope={"a = 1 OR TRUE": "x"})


def test_evaluate_names_a_missing_result_column():
    rules = rules_of(
        {"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}
    )
    with pytest.raises(DataError, match="e0_unexpected"):
        lib.dq.evaluate({"element_count": 3}, rules)


def test_evaluate_caps_and_dedupes_samples_from_any_row():
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "kwargs": {"column": "m", "value_set": ["a"]},
        }
    )
    row = {
        "element_count": 40,
        "e0_unexpected": 40,
        "e0_domain": 40,
        "e0_sample": ["x", "x", *[f"v{i:02}" for i in range(30)]],
    }
    [result] = lib.dq.evaluate(row, rules).results
    assert result.sample_unexpected[:2] == ("x", "v00")
    assert len(result.sample_unexpected) == 20
    assert result.unexpected_percent == 100.0


def test_every_type_has_a_compiler_and_an_evaluator():
    from lib.dq.evaluate import _EVALUATORS
    from lib.dq.plan import _COMPILERS

    models = set(EXPECTATION_TYPES.values())
    assert set(_COMPILERS) == models
    assert set(_EVALUATORS) == models


def test_public_names_are_exported():
    public = {
        name
        for name, value in vars(lib.dq).items()
        if not name.startswith("_") and not inspect.ismodule(value)
    }
    assert public == set(lib.dq.__all__)


def test_unsafe_table_names_are_refused():
    rules = rules_of(
        {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0}}
    )
    with pytest.raises(InvalidIdentifier, match="table name"):
        plan_dq(TableRef("ds", "costs` WHERE 1=1 --"), rules)


def test_the_bigquery_text_parses_strictly_and_round_trips():
    query = plan_dq(TABLE, every_expectation(), scope={"pipeline_logging_id": "r1"}, now=NOW)
    tree = sqlglot.parse_one(query.sql, read="bigquery", error_level=sqlglot.ErrorLevel.RAISE)
    assert tree.sql(dialect="bigquery") == query.sql
    assert "GENERATE_ARRAY(1, LEAST(" in query.sql and "HAVING COUNT(*) > 1" in query.sql
