"""Every expectation type, passing and failing, executed for real: plan → lib.sql → DuckDB."""

from __future__ import annotations

import datetime as dt

import pytest

from lib.config.dq import EXPECTATION_TYPES
from tests.lib.dq.dq_support import NOW, rules_of, run_dq

# (expectation, unexpected_count on the `bad` run or None for table/aggregate checks,
#  observed value on `good`, observed value on `bad`)
CASES = {
    "expect_column_values_to_not_be_null": ({"column": "model"}, 1, None, None),
    "expect_column_values_to_be_between": (
        {"column": "cost", "min_value": 0, "max_value": 100},
        2,
        None,
        None,
    ),
    "expect_column_values_to_be_unique": ({"column": "id"}, 2, None, None),
    "expect_column_values_to_be_in_set": (
        {"column": "model", "value_set": ["gpt-4o", "claude-3"]},
        1,
        None,
        None,
    ),
    "expect_column_values_to_match_regex": (
        {"column": "model", "regex": r"^[a-z0-9.-]+$"},
        1,
        None,
        None,
    ),
    "expect_compound_columns_to_be_unique": ({"column_list": ["id", "model"]}, 2, None, None),
    "expect_table_row_count_to_be_between": ({"min_value": 1, "max_value": 3}, None, 3, 4),
    "expect_column_sum_to_be_between": (
        {"column": "cost", "min_value": 0, "max_value": 10},
        None,
        "3.750000000",
        "500.500000000",
    ),
    "expect_column_min_to_be_between": (
        {"column": "cost", "min_value": 0},
        None,
        "0.250000000",
        "-3.000000000",
    ),
    "expect_column_max_to_be_between": (
        {"column": "cost", "max_value": 100},
        None,
        "2.000000000",
        "500.000000000",
    ),
    "expect_column_max_to_be_recent": (
        {"column": "ts", "max_age_hours": 24},
        None,
        dt.datetime(2024, 1, 1, 12, 0),
        dt.datetime(2023, 12, 30, 3, 0),
    ),
}


def test_cases_cover_every_expectation_type():
    assert set(CASES) == set(EXPECTATION_TYPES)


@pytest.mark.parametrize("expectation_type", sorted(CASES))
def test_passes_on_clean_rows(con, expectation_type):
    kwargs, _, observed, _ = CASES[expectation_type]
    rules = rules_of({"expectation_type": expectation_type, "kwargs": kwargs})
    [result] = run_dq(con, rules, "good").results
    assert result.success is True
    assert result.element_count == 3
    assert result.unexpected_count in (0, None)
    if observed is not None:
        assert str(result.observed_value) == str(observed)


@pytest.mark.parametrize("expectation_type", sorted(CASES))
def test_fails_on_dirty_rows(con, expectation_type):
    kwargs, unexpected, _, observed = CASES[expectation_type]
    rules = rules_of({"expectation_type": expectation_type, "kwargs": kwargs})
    [result] = run_dq(con, rules, "bad").results
    assert result.success is False
    assert result.element_count == 4
    assert result.unexpected_count == unexpected
    assert result.expectation_type == expectation_type
    if observed is not None:
        assert str(result.observed_value) == str(observed)


def test_column_map_details_on_dirty_rows(con):
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": CASES["expect_column_values_to_be_between"][0],
        },
        {"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}},
        {
            "expectation_type": "expect_compound_columns_to_be_unique",
            "kwargs": {"column_list": ["id", "model"]},
        },
        {
            "expectation_type": "expect_column_values_to_be_in_set",
            "kwargs": CASES["expect_column_values_to_be_in_set"][0],
        },
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "model"}},
    )
    between, unique, compound, in_set, not_null = run_dq(con, rules, "bad").results
    # CAST(NUMERIC AS STRING) as BigQuery renders it, no trailing zeros (lib.sql_fixups.numbers)
    assert between.sample_unexpected == ("-3", "500")
    assert between.unexpected_percent == pytest.approx(50.0)
    assert unique.sample_unexpected == ("1",)  # one duplicated value, listed once
    assert compound.sample_unexpected == ("(1, gpt-4o)",)
    assert in_set.sample_unexpected == ("llama!",)
    assert in_set.unexpected_percent == pytest.approx(100 / 3)  # NULL model is skipped
    assert not_null.sample_unexpected == ()
    assert not_null.unexpected_percent == pytest.approx(25.0)


def test_strict_bounds_exclude_the_bound(con):
    inclusive = {"column": "cost", "min_value": 0.25, "max_value": 2}
    strict = {**inclusive, "strict_min": True, "strict_max": True}
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": inclusive,
            "name": "inclusive",
        },
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": strict,
            "name": "strict",
        },
        {
            "expectation_type": "expect_column_min_to_be_between",
            "kwargs": {"column": "cost", "min_value": 0.25, "strict_min": True},
        },
    )
    loose, tight, agg = run_dq(con, rules, "good").results
    assert loose.success and loose.unexpected_count == 0
    assert not tight.success and tight.unexpected_count == 2
    assert not agg.success


def test_samples_are_capped_at_20_in_ascending_order(con):
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_be_between",
            "kwargs": {"column": "cost", "min_value": 0},
        }
    )
    [result] = run_dq(con, rules, "many").results
    assert result.unexpected_count == 30
    assert len(result.sample_unexpected) == 20
    assert list(result.sample_unexpected) == sorted(result.sample_unexpected)
    assert len(set(result.sample_unexpected)) == 20


@pytest.mark.parametrize(("mostly", "success"), [(0.75, True), (0.76, False), (None, False)])
def test_mostly_is_the_share_that_must_pass(con, mostly, success):
    kwargs = {"column": "model"} | ({"mostly": mostly} if mostly is not None else {})
    rules = rules_of({"expectation_type": "expect_column_values_to_not_be_null", "kwargs": kwargs})
    [result] = run_dq(con, rules, "bad").results  # 1 NULL in 4 rows: 75 % pass
    assert result.success is success
    assert result.unexpected_count == 1


def test_mostly_uses_non_null_rows_as_domain(con):
    kwargs = {"column": "model", "value_set": ["gpt-4o"], "mostly": 0.66}
    rules = rules_of({"expectation_type": "expect_column_values_to_be_in_set", "kwargs": kwargs})
    [result] = run_dq(con, rules, "bad").results  # 2 of 3 non-NULL models are gpt-4o
    assert result.success is True
    assert result.details["domain_count"] == 3


@pytest.mark.parametrize(
    ("filter_sql", "good", "bad"),
    [
        ("cost > 1", 2, 3),
        ("model = 'gpt-4o' AND cost BETWEEN 1 AND 2", 2, 1),
        ("REGEXP_CONTAINS(model, r'^claude')", 1, 0),
        ("model IS NULL OR model IN ('llama!')", 0, 2),
    ],
)
def test_row_count_filter_counts_only_matching_rows(con, filter_sql, good, bad):
    kwargs = {"min_value": 1, "filter": filter_sql}
    rules = rules_of({"expectation_type": "expect_table_row_count_to_be_between", "kwargs": kwargs})
    [on_good] = run_dq(con, rules, "good").results
    [on_bad] = run_dq(con, rules, "bad").results
    assert (on_good.observed_value, on_bad.observed_value) == (good, bad)
    assert on_good.success is (good >= 1)
    assert on_bad.success is (bad >= 1)


@pytest.mark.parametrize(
    ("now", "success", "age_hours"),
    [
        (NOW, True, 12.0),
        (dt.datetime(2024, 1, 1, 14, 0, tzinfo=dt.UTC), True, 2.0),
        (dt.datetime(2024, 1, 2, 12, 0, 1, tzinfo=dt.UTC), False, 24.0 + 1 / 3600),
    ],
)
def test_freshness_against_a_fixed_now(con, now, success, age_hours):
    kwargs = {"column": "ts", "max_age_hours": 24}
    rules = rules_of({"expectation_type": "expect_column_max_to_be_recent", "kwargs": kwargs})
    [result] = run_dq(con, rules, "good", now=now).results
    assert result.success is success
    assert result.details["age_hours"] == pytest.approx(age_hours)


def test_freshness_fails_without_rows(con):
    kwargs = {"column": "ts", "max_age_hours": 24}
    rules = rules_of({"expectation_type": "expect_column_max_to_be_recent", "kwargs": kwargs})
    [result] = run_dq(con, rules, "no_such_run").results
    assert result.success is False
    assert result.element_count == 0
    assert result.observed_value is None


def test_aggregates_of_no_rows_fail_and_column_maps_pass(con):
    rules = rules_of(
        {
            "expectation_type": "expect_column_sum_to_be_between",
            "kwargs": {"column": "cost", "min_value": 0},
        },
        {"expectation_type": "expect_column_values_to_not_be_null", "kwargs": {"column": "id"}},
    )
    total, not_null = run_dq(con, rules, "no_such_run").results
    assert total.success is False
    assert not_null.success is True
    assert not_null.unexpected_percent is None


def test_scope_limits_the_check_to_the_runs_rows(con):
    rules = rules_of(
        {"expectation_type": "expect_column_values_to_be_unique", "kwargs": {"column": "id"}}
    )
    [good] = run_dq(con, rules, "good").results
    [everything] = run_dq(con, rules, None).results
    assert (good.element_count, good.success) == (3, True)
    assert everything.element_count == 37
    assert everything.unexpected_count == 5  # id 1 in good + bad twice, id 2 in good + bad


def test_scope_with_several_keys_is_a_conjunction(con):
    from lib.dq import plan_dq
    from lib.sql import translate
    from tests.lib.dq.dq_support import TABLE

    rules = rules_of(
        {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 0}}
    )
    query = plan_dq(TABLE, rules, scope={"pipeline_logging_id": "bad", "model": "gpt-4o"})
    assert query.params == {"scope_model": "gpt-4o", "scope_pipeline_logging_id": "bad"}
    [statement] = translate(query.sql)
    row = con.execute(statement.sql, dict(query.params)).fetchone()
    assert row[0] == 2


def test_critical_and_warning_failures_are_classified(con):
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "model"},
            "severity": "warning",
            "name": "model present",
        },
        {
            "expectation_type": "expect_column_values_to_be_unique",
            "kwargs": {"column": "id"},
            "name": "id unique",
        },
        {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    )
    bad = run_dq(con, rules, "bad")
    assert [r.name for r in bad.critical_failures] == ["id unique"]
    assert [r.name for r in bad.warnings] == ["model present"]
    assert bad.passed is False
    assert [r.severity for r in bad.results] == ["warning", "critical", "critical"]


def test_only_warnings_still_pass(con):
    rules = rules_of(
        {
            "expectation_type": "expect_column_values_to_not_be_null",
            "kwargs": {"column": "model"},
            "severity": "warning",
        },
        {"expectation_type": "expect_table_row_count_to_be_between", "kwargs": {"min_value": 1}},
    )
    outcome = run_dq(con, rules, "bad")
    assert outcome.passed is True
    assert len(outcome.warnings) == 1
    assert outcome.critical_failures == ()
