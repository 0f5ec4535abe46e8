"""The allow-list checks: how functions are named, what is refused, and with which message."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest
import sqlglot

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.errors import SqlTranslationError
from lib.sql import transpile
from lib.sql_fixups.formats import printf_specifiers, unsupported_time_elements
from lib.sql_functions import ALLOWED, FAITHFUL, function_names, unfaithful_functions


def names(sql: str) -> set[str]:
    return function_names(sqlglot.parse_one(sql, read="bigquery"))


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT IFNULL(a, 0), COALESCE(a, b)", {"IFNULL", "COALESCE"}),
        ("SELECT SAFE.PARSE_DATE('%Y', s)", {"PARSE_DATE"}),
        ("SELECT NET.HOST(u)", {"NET.HOST"}),
        ("SELECT ds.my_udf(1), MY_UDF(2)", {"DS.MY_UDF", "MY_UDF"}),
        ("SELECT MOD(a, 2), DIV(a, 2)", {"MOD", "DIV"}),
        ("SELECT a FROM t WHERE a = 1 AND b OR EXISTS (SELECT 1)", set()),
        ("SELECT JSON '{\"a\": 1}', DATE '2024-01-01'", {"CAST"}),
        ("SELECT DATE_TRUNC(d, WEEK(MONDAY))", {"DATE_TRUNC"}),
        ("SELECT x FROM t WHERE x IN UNNEST(@dates)", {"UNNEST"}),
    ],
)
def test_functions_are_named_as_bigquery_spells_them(sql: str, expected: set[str]) -> None:
    assert names(sql) == expected


@pytest.mark.parametrize(
    ("sql", "function", "hint"),
    [
        ("SELECT FARM_FINGERPRINT('a')", "FARM_FINGERPRINT", "SHA256"),
        ("SELECT NET.HOST('https://x.com/a')", "NET.HOST", "user-defined"),
        ("SELECT acme.fx_rate(1)", "ACME.FX_RATE", "user-defined"),
        ("SELECT APPROX_COUNT_DISTINCT(x) FROM t", "APPROX_COUNT_DISTINCT", "COUNT(DISTINCT"),
        ("SELECT JSON_TYPE(j) FROM t", "JSON_TYPE", "corpus entry"),
        ("SELECT IEEE_DIVIDE(1, 0)", "IEEE_DIVIDE", "corpus entry"),
    ],
)
def test_a_function_off_the_list_is_refused_with_what_to_do(
    sql: str, function: str, hint: str
) -> None:
    with pytest.raises(SqlTranslationError) as info:
        transpile(sql)
    message = str(info.value)
    assert f"function {function} has no faithful DuckDB translation" in message
    assert hint in message


def test_each_refused_function_is_reported_once_in_order() -> None:
    tree = sqlglot.parse_one("SELECT RAND(), FARM_FINGERPRINT(a), RAND(), SUM(1)", read="bigquery")
    assert [m.split(" has")[0] for m in unfaithful_functions(tree)] == [
        "function RAND",
        "function FARM_FINGERPRINT",
    ]


def test_the_bigquery_target_is_not_restricted() -> None:
    assert transpile("SELECT FARM_FINGERPRINT(a) FROM t", write="bigquery") == [
        "SELECT FARM_FINGERPRINT(a) FROM t"
    ]


@pytest.mark.parametrize(
    ("bigquery", "duckdb"),
    [
        ("SELECT FORMAT('%d items', n) FROM t", "SELECT PRINTF('%d items', n) FROM t"),
        (
            "SELECT FORMAT('%s/%05.1f', a, CAST(b AS FLOAT64)) FROM t",
            "SELECT PRINTF('%s/%05.1f', a, CAST(b AS DOUBLE)) FROM t",
        ),
        ("SELECT FORMAT('100%%')", "SELECT PRINTF('100%%')"),
    ],
)
def test_format_becomes_printf(bigquery: str, duckdb: str) -> None:
    assert transpile(bigquery) == [duckdb]


@pytest.mark.parametrize(
    ("fmt", "cause"),
    [
        ("%T", "'%T'"),
        ("%t", "'%t'"),
        ("%'d", "flag"),
        ("%#x", "'%#x'"),
        ("%*d", "digits"),
        ("%.3d", "precision"),
        ("%p", "'%p'"),
        ("50%", "'%'"),
    ],
)
def test_printf_specifiers_refuse_what_duckdb_renders_differently(fmt: str, cause: str) -> None:
    with pytest.raises(ValueError, match=cause):
        printf_specifiers(fmt)


def test_printf_specifiers_name_each_value_kind() -> None:
    assert printf_specifiers("%-5s|%+d|% i|%010.2f|%e|%G|%%") == [
        "string",
        "int",
        "int",
        "float",
        "float",
        "float",
    ]


@pytest.mark.parametrize(
    ("sql", "cause"),
    [
        ("SELECT FORMAT(f, 1) FROM t", "literal"),
        ("SELECT FORMAT('%d %d', 1)", "2 specifiers, 1 values"),
        ("SELECT FORMAT('%.2f', cost) FROM t", "CAST(x AS FLOAT64)"),
        ("SELECT FORMAT_DATE(f, d) FROM t", "literal"),
        ("SELECT FORMAT_DATE('%H', d) FROM t", "%H"),
        ("SELECT FORMAT_TIMESTAMP('%Y', ts, 'Europe/Paris') FROM t", "time zone"),
        ("SELECT PARSE_TIMESTAMP('%Y-%m-%d %H:%M:%S%Ez', s) FROM t", "%Ez"),
        ("SELECT TRIM(s, chars) FROM t", "ASCII literal"),
        ("SELECT x FROM UNNEST([1, 2]) WITH OFFSET", "alias"),
        ("INSTALL inet", "not a BigQuery statement"),
        ("LOAD inet", "not a BigQuery statement"),
        ("SET x = 1", "not a BigQuery statement"),
    ],
)
def test_forms_without_a_faithful_translation_are_refused(sql: str, cause: str) -> None:
    with pytest.raises(SqlTranslationError, match=re.escape(cause)):
        transpile(sql)


def test_time_elements_refused_name_the_bigquery_element() -> None:
    assert unsupported_time_elements("%a %b %e %H", date_only=True, parsing=False) == [
        "%e (or %c, which contains it)",
        "%H",
    ]
    assert unsupported_time_elements("%Y-%m-%d %H:%M:%S.%f", date_only=False, parsing=False) == []
    assert unsupported_time_elements("%Y%%", date_only=True, parsing=True) == []


def test_every_allowed_name_is_upper_case_and_in_one_category() -> None:
    assert all(name == name.upper() for name in ALLOWED)
    assert sum(len(names) for names in FAITHFUL.values()) == len(ALLOWED)


def test_in_unnest_of_an_array_parameter_and_bignumeric_still_run() -> None:
    """The shipped SQL filters usage days with ``IN UNNEST(@dates)`` and casts to BIGNUMERIC."""
    wh = DuckDBWarehouse(":memory:")
    rows = wh.query(
        "SELECT d, CAST(a AS BIGNUMERIC) AS a FROM UNNEST([STRUCT(DATE '2024-01-01' AS d, "
        "'0.123456789012345678' AS a), STRUCT(DATE '2024-01-02', '2'), "
        "STRUCT(DATE '2024-01-03', '3')]) WHERE d IN UNNEST(@dates) ORDER BY d",
        {"dates": [dt.date(2024, 1, 1), dt.date(2024, 1, 3)]},
    )
    wh.close()
    assert rows == [
        {"d": dt.date(2024, 1, 1), "a": Decimal("0.123456789012345678")},
        {"d": dt.date(2024, 1, 3), "a": Decimal("3")},
    ]


def test_docs_list_every_allowed_function() -> None:
    text = (Path(__file__).parents[2] / "docs" / "sql.md").read_text()
    assert {name for name in ALLOWED if f"`{name}`" not in text} == set()


def test_cached_names_equal_names_rendered_from_each_node() -> None:
    """Names are cached per node shape; the cache must never name a call differently."""
    from lib.sql_functions import _calls, _render_name, _rendered_name
    from tests.lib.shipped_sql import shipped_sql
    from tests.lib.sql_corpus import cases, load_entries

    texts = [c.query for c in cases(load_entries())] + list(shipped_sql().values())
    checked = 0
    for text in texts:
        for tree in sqlglot.parse(text, read="bigquery"):
            for _, node in _calls(tree):
                assert _rendered_name(node) == _render_name(node), node.sql("bigquery")
                checked += 1
    assert checked > 500
