"""Tests for lib.sql: golden BigQuery → DuckDB translations, refusals, tenant qualification."""

from __future__ import annotations

import pytest

from lib.errors import InvalidIdentifier, SqlTranslationError
from lib.ports import TableRef
from lib.sql import qualify_for_tenant, table_sql, translate, transpile

GOLDEN = [
    pytest.param(
        "SELECT DATE_TRUNC(d, MONTH) FROM t",
        "SELECT CAST(DATE_TRUNC('MONTH', d) AS DATE) FROM t",
        id="date_trunc-stays-a-date",
    ),
    pytest.param(
        "SELECT TIMESTAMP_TRUNC(ts, DAY) FROM t",
        "SELECT DATE_TRUNC('DAY', ts) FROM t",
        id="timestamp_trunc",
    ),
    pytest.param(
        "SELECT SAFE_DIVIDE(a, b) FROM t",
        "SELECT CASE WHEN b <> 0 THEN a / b ELSE NULL END FROM t",
        id="safe_divide",
    ),
    pytest.param(
        "SELECT FORMAT_DATE('%Y-%m', d) FROM t",
        "SELECT STRFTIME(CAST(d AS DATE), '%Y-%m') FROM t",
        id="format_date",
    ),
    pytest.param(
        "SELECT DATE_SUB(d, INTERVAL 1 DAY), DATE_ADD(d, INTERVAL 2 MONTH) FROM t",
        "SELECT CAST(d - INTERVAL '1' DAY AS DATE), CAST(d + INTERVAL '2' MONTH AS DATE) FROM t",
        id="date_sub-date_add-stay-dates",
    ),
    pytest.param("SELECT IFNULL(a, 0) FROM t", "SELECT COALESCE(a, 0) FROM t", id="ifnull"),
    pytest.param("SELECT COUNTIF(a > 1) FROM t", "SELECT COUNT_IF(a > 1) FROM t", id="countif"),
    pytest.param(
        "SELECT ARRAY_AGG(x IGNORE NULLS ORDER BY y LIMIT 3) FROM t",
        "SELECT LIST_SLICE(ARRAY_AGG(x ORDER BY y NULLS FIRST) FILTER(WHERE NOT x IS NULL), 1, 3)"
        " FROM t",
        id="array_agg-ignore-nulls-limit",
    ),
    pytest.param(
        "SELECT c.amount FROM t, UNNEST(t.credits) AS c",
        "SELECT c.amount FROM t CROSS JOIN UNNEST(t.credits) AS _t0(c)",
        id="unnest-repeated-record",
    ),
    pytest.param(
        "SELECT JSON_VALUE(j, '$.a') FROM t",
        "SELECT JSON_VALUE(j, '$.a') ->> '$' FROM t",
        id="json_value",
    ),
    pytest.param(
        "SELECT PARSE_DATE('%Y%m%d', s) FROM t",
        "SELECT CAST(STRPTIME('1970 ' || s, '%Y ' || '%Y%m%d') AS DATE) FROM t",
        id="parse_date",
    ),
    pytest.param(
        "SELECT PARSE_TIMESTAMP('%Y-%m-%d', s) FROM t",
        "SELECT CAST(STRPTIME('1970 ' || s, '%Y ' || '%Y-%m-%d') AS TIMESTAMPTZ) FROM t",
        id="parse_timestamp-is-an-instant",
    ),
    pytest.param(
        "SELECT CAST(x AS NUMERIC), CAST(x AS BIGNUMERIC), CAST(x AS NUMERIC(10, 2)) FROM t",
        "SELECT CAST(x AS DECIMAL(38, 9)), CAST(x AS DECIMAL(38, 24)), CAST(x AS DECIMAL(10, 2))"
        " FROM t",
        id="numeric-keeps-scale-9",
    ),
    pytest.param(
        "SELECT EXTRACT(DAYOFWEEK FROM d) FROM t",
        "SELECT (EXTRACT(DAYOFWEEK FROM d) + 1) FROM t",
        id="dayofweek-sunday-is-1",
    ),
    pytest.param(
        "SELECT SAFE.PARSE_DATE('%Y', s) FROM t",
        "SELECT TRY(CAST(STRPTIME('1970 ' || s, '%Y ' || '%Y') AS DATE)) FROM t",
        id="safe-prefix",
    ),
    pytest.param(
        "SELECT * FROM t WHERE a = @a AND b = @b",
        "SELECT * FROM t WHERE a = $a AND b = $b",
        id="named-params",
    ),
]


@pytest.mark.parametrize(("bigquery", "duckdb"), GOLDEN)
def test_golden_translations(bigquery: str, duckdb: str) -> None:
    assert transpile(bigquery) == [duckdb]


def test_script_yields_one_statement_each_with_its_params() -> None:
    statements = translate("SELECT @a, @b, @a; DELETE FROM t WHERE x = @c;")
    assert [s.sql for s in statements] == ["SELECT $a, $b, $a", "DELETE FROM t WHERE x = $c"]
    assert [s.params for s in statements] == [("a", "b"), ("c",)]


def test_bigquery_target_round_trips() -> None:
    assert transpile("SELECT IFNULL(a, 0) FROM `ds`.`t`", write="bigquery") == [
        "SELECT IFNULL(a, 0) FROM `ds`.`t`"
    ]


@pytest.mark.parametrize(
    ("sql", "cause"),
    [
        ("SELECT FROM WHERE (", "Expected"),
        ("SELECT EXTRACT(WEEK FROM d) FROM t", "ISOWEEK"),
        ("SELECT EXTRACT(WEEK(MONDAY) FROM d) FROM t", "ISOWEEK"),
        ("SELECT CAST(x AS BIGNUMERIC(50, 20)) FROM t", "precision 50"),
        ("", "no statement"),
    ],
)
def test_untranslatable_sql_raises_naming_statement_and_cause(sql: str, cause: str) -> None:
    with pytest.raises(SqlTranslationError) as info:
        transpile(sql)
    assert cause in str(info.value)
    assert sql[:20] in str(info.value)


def test_error_names_only_the_first_120_characters() -> None:
    sql = "SELECT EXTRACT(WEEK FROM d) FROM t WHERE " + " AND ".join(["a = 1"] * 100)
    with pytest.raises(SqlTranslationError) as info:
        transpile(sql)
    message = str(info.value)
    assert repr(sql[:120]) in message
    assert sql[:121] not in message


def test_table_sql_quotes_per_dialect() -> None:
    ref = TableRef("acme_raw_openai", "costs")
    assert table_sql(ref) == "`acme_raw_openai`.`costs`"
    assert table_sql(ref, "duckdb") == '"acme_raw_openai"."costs"'


@pytest.mark.parametrize("bad", ["costs; DROP TABLE x", "1costs", "a-b", "", "x" * 1025])
def test_table_sql_rejects_unsafe_names(bad: str) -> None:
    with pytest.raises(InvalidIdentifier):
        table_sql(TableRef("raw", bad))


def test_qualify_rewrites_two_part_names_and_leaves_ctes() -> None:
    sql = (
        "WITH daily AS (SELECT * FROM raw_openai.costs WHERE day = @day) "
        "SELECT * FROM daily JOIN silver_cost.focus_daily AS f ON TRUE, UNNEST(f.tags) AS tag"
    )
    out = qualify_for_tenant(sql, "acme")
    assert "FROM `acme_raw_openai`.`costs`" in out
    assert "JOIN `acme_silver_cost`.`focus_daily` AS f" in out
    assert "FROM daily" in out
    assert "@day" in out


def test_qualify_handles_scripts_and_dml_targets() -> None:
    out = qualify_for_tenant(
        "DELETE FROM gold_reporting.monthly WHERE TRUE; "
        "INSERT INTO gold_reporting.monthly SELECT * FROM metadata.step_logs",
        "acme",
    )
    assert out.count("`acme_gold_reporting`.`monthly`") == 2
    assert "`acme_metadata`.`step_logs`" in out


@pytest.mark.parametrize(
    ("sql", "cause"),
    [
        ("SELECT * FROM proj.raw_openai.costs", "three-part"),
        ("SELECT * FROM costs", "needs a dataset"),
        ("SELECT * FROM globex_raw_openai.costs", "not one of this tenant's datasets"),
        ("SELECT * FROM raw_x_raw_openai.costs", "not one of this tenant's datasets"),
        ("SELECT * FROM raw_x_metadata.step_logs", "not one of this tenant's datasets"),
        ("SELECT raw_openai.costs.amount FROM raw_openai.costs", "use an alias"),
    ],
)
def test_qualify_rejects_escapes(sql: str, cause: str) -> None:
    with pytest.raises(SqlTranslationError, match=cause):
        qualify_for_tenant(sql, "acme")


@pytest.mark.parametrize("tenant", ["Acme", "a", "acme; --", "acme-corp"])
def test_qualify_validates_tenant(tenant: str) -> None:
    with pytest.raises(InvalidIdentifier):
        qualify_for_tenant("SELECT 1 FROM raw_x.y", tenant)


def test_qualify_rejects_unsafe_table_names() -> None:
    with pytest.raises(InvalidIdentifier):
        qualify_for_tenant("SELECT * FROM raw_x.`a-b`", "acme")
