"""``_dq.yml`` loading: a valid file, and malformed files each reported precisely."""

from __future__ import annotations

import datetime as dt
import textwrap

import pytest

from lib.config.dq import EXPECTATION_TYPES, DqRules, ExpectColumnValuesToBeBetween, load_dq
from lib.dq.sql_filter import parse_filter
from lib.errors import ConfigError, ConfigProblem, TerminalError

VALID = """
expectations:
  - expectation_type: expect_column_values_to_not_be_null
    kwargs: {column: model}
  - expectation_type: expect_column_values_to_be_between
    name: cost is sane
    severity: warning
    kwargs: {column: cost, min_value: 0, max_value: 1000.5, strict_max: true, mostly: 0.99}
  - expectation_type: expect_column_min_to_be_between
    kwargs: {column: usage_date, min_value: 2024-01-01}
  - expectation_type: expect_table_row_count_to_be_between
    kwargs: {min_value: 1, filter: "model LIKE 'gpt%' AND cost > 0"}
  - expectation_type: expect_column_max_to_be_recent
    kwargs: {column: ingestion_timestamp, max_age_hours: 36}
"""


def write(tmp_path, text):
    path = tmp_path / "_dq.yml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(tmp_path, text) -> list[ConfigProblem]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_dq(path)
    assert isinstance(info.value, TerminalError)
    for problem in info.value.problems:
        assert problem.file == str(path)
    return info.value.problems


def one(tmp_path, text) -> ConfigProblem:
    found = problems(tmp_path, text)
    assert len(found) == 1, [str(p) for p in found]
    return found[0]


def test_valid_file_loads_with_defaults(tmp_path):
    rules = load_dq(write(tmp_path, VALID))
    assert len(rules.expectations) == 5
    null_check, between, minimum, count, fresh = rules.expectations
    assert null_check.severity == "critical"
    assert null_check.label == "expect_column_values_to_not_be_null(model)"
    assert isinstance(between, ExpectColumnValuesToBeBetween)
    assert (between.label, between.severity) == ("cost is sane", "warning")
    assert between.kwargs.max_value == 1000.5 and between.kwargs.strict_max is True
    assert between.kwargs.mostly == 0.99
    assert minimum.kwargs.min_value == dt.date(2024, 1, 1)
    assert count.label == "expect_table_row_count_to_be_between"
    assert fresh.kwargs.max_age_hours == 36


def test_unknown_expectation_type_suggests_the_closest(tmp_path):
    problem = one(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_not_be_nul
            kwargs: {column: model}
        """,
    )
    assert problem.field == "expectations[0].expectation_type"
    assert "unknown expectation type 'expect_column_values_to_not_be_nul'" in problem.message
    assert problem.hint.startswith("did you mean 'expect_column_values_to_not_be_null'?")
    assert all(name in problem.hint for name in EXPECTATION_TYPES)


def test_missing_column_kwarg(tmp_path):
    problem = one(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_be_unique
            kwargs: {}
        """,
    )
    assert problem.field == "expectations[0].kwargs.column"
    assert problem.message == "Field required"
    assert problem.hint == "add `column:` here"


def test_min_greater_than_max(tmp_path):
    problem = one(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_not_be_null
            kwargs: {column: a}
          - expectation_type: expect_column_sum_to_be_between
            kwargs: {column: cost, min_value: 10, max_value: 5}
        """,
    )
    assert problem.field == "expectations[1].kwargs.max_value"
    assert problem.message == "max_value 5 is less than min_value 10"


def test_between_needs_a_bound(tmp_path):
    problem = one(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_be_between
            kwargs: {column: cost}
        """,
    )
    assert problem.field == "expectations[0].kwargs"
    assert problem.message == "give min_value, max_value or both"


@pytest.mark.parametrize(
    ("regex", "message"),
    [
        ("([a-z]+", "invalid regular expression: missing ), unterminated subpattern"),
        ("^(?!tmp)", "lookarounds and backreferences are not supported by BigQuery (RE2)"),
    ],
)
def test_bad_regex(tmp_path, regex, message):
    problem = one(
        tmp_path,
        f"""
        expectations:
          - expectation_type: expect_column_values_to_match_regex
            kwargs: {{column: model, regex: '{regex}'}}
        """,
    )
    assert problem.field == "expectations[0].kwargs.regex"
    assert problem.message.startswith(message)


@pytest.mark.parametrize(
    ("filter_sql", "message"),
    [
        ("cost >", "filter is not valid BigQuery SQL"),
        ("cost > (SELECT MAX(cost) FROM t)", "not a subquery"),
        ("id IN (SELECT id FROM other.t)", "not a subquery"),
        ("EXISTS (SELECT 1)", "not a subquery"),
        ("SUM(cost) > 0", "not SUM"),
        ("cost > 0; DROP TABLE t", "one boolean expression, not several statements"),
        ("my_udf(cost)", "unknown function 'my_udf'"),
        ("model = @secret", "not PARAMETER"),
    ],
)
def test_bad_filter(tmp_path, filter_sql, message):
    problem = one(
        tmp_path,
        f"""
        expectations:
          - expectation_type: expect_table_row_count_to_be_between
            kwargs: {{min_value: 1, filter: "{filter_sql}"}}
        """,
    )
    assert problem.field == "expectations[0].kwargs.filter"
    assert message in problem.message


def test_unknown_top_level_key(tmp_path):
    found = problems(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_be_unique
            kwargs: {column: id}
        checks: []
        """,
    )
    assert [(p.field, p.message) for p in found] == [("checks", "Extra inputs are not permitted")]
    assert found[0].hint == "remove this key; allowed keys: expectations"


def test_misspelt_top_level_key_suggests_the_right_one(tmp_path):
    found = problems(tmp_path, "expectation: []\n")
    assert {p.field: p.hint for p in found} == {
        "expectations": "add `expectations:` here",
        "expectation": "did you mean 'expectations'?",
    }


def test_bad_severity(tmp_path):
    problem = one(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_be_unique
            severity: fatal
            kwargs: {column: id}
        """,
    )
    assert problem.field == "expectations[0].severity"
    assert problem.message == "Input should be 'critical' or 'warning'"
    assert problem.hint == "write one of 'critical' or 'warning'"


def test_typo_in_kwarg_suggests_the_right_one(tmp_path):
    problem = one(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_be_between
            kwargs: {column: cost, min_value: 0, max_vlaue: 10}
        """,
    )
    assert problem.field == "expectations[0].kwargs.max_vlaue"
    assert problem.hint == "did you mean 'max_value'?"


def test_mostly_out_of_range_and_bad_column_name(tmp_path):
    found = problems(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_not_be_null
            kwargs: {column: "cost; DROP TABLE x", mostly: 1.5}
        """,
    )
    fields = {p.field: p.message for p in found}
    assert set(fields) == {"expectations[0].kwargs.column", "expectations[0].kwargs.mostly"}
    assert "should match pattern" in fields["expectations[0].kwargs.column"]
    assert "less than or equal to 1" in fields["expectations[0].kwargs.mostly"]


def test_every_problem_is_reported_at_once(tmp_path):
    found = problems(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_column_values_to_be_inset
            kwargs: {column: a, value_set: [x]}
          - expectation_type: expect_column_values_to_be_unique
            kwargs: {}
          - expectation_type: expect_column_values_to_be_unique
            severity: high
            kwargs: {column: b}
        """,
    )
    assert [p.field for p in found] == [
        "expectations[0].expectation_type",
        "expectations[1].kwargs.column",
        "expectations[2].severity",
    ]
    assert "did you mean 'expect_column_values_to_be_in_set'?" in found[0].hint


def test_duplicate_names_are_refused(tmp_path):
    problem = one(
        tmp_path,
        """
        expectations:
          - expectation_type: expect_table_row_count_to_be_between
            kwargs: {min_value: 1}
          - expectation_type: expect_table_row_count_to_be_between
            kwargs: {min_value: 1, filter: "cost > 0"}
        """,
    )
    assert problem.field == "expectations"
    assert "expectations 0 and 1 are both named" in problem.message
    assert "`name:`" in problem.message


@pytest.mark.parametrize(
    ("text", "field", "message"),
    [
        ("- just a list\n", "(root)", "expected a mapping (key: value lines) at the top"),
        ("expectations: [\n", "line 2, column 1", "invalid YAML"),
        ("expectations: []\n", "expectations", "list at least one expectation"),
        (
            "expectations:\n  - kwargs: {column: a}\n",
            "expectations[0].expectation_type",
            "missing `expectation_type`",
        ),
    ],
)
def test_shape_errors(tmp_path, text, field, message):
    problem = one(tmp_path, text)
    assert problem.field == field
    assert problem.message.startswith(message)


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_dq(tmp_path / "nope" / "_dq.yml")


@pytest.mark.parametrize(
    "filter_sql",
    [
        "cost > 0 AND model IN ('a', 'b')",
        "NOT (cost BETWEEN 1 AND 2) OR model IS NULL",
        "REGEXP_CONTAINS(model, r'^gpt')",
        "DATE(ts) >= DATE_SUB(DATE '2024-01-31', INTERVAL 7 DAY)",
        "COALESCE(SAFE_CAST(id AS INT64), 0) > 1",
        "service.description LIKE 'Big%'",
    ],
)
def test_filters_within_the_allowed_shape_are_accepted(filter_sql):
    assert parse_filter(filter_sql) is not None


def test_json_schema_for_editors_lists_every_type():
    schema = DqRules.model_json_schema()
    tags = schema["$defs"]["ExpectColumnValuesToBeBetween"]["properties"]["expectation_type"]
    assert tags["const"] == "expect_column_values_to_be_between"
    mapping = schema["properties"]["expectations"]["items"]["discriminator"]["mapping"]
    assert set(mapping) == set(EXPECTATION_TYPES)
