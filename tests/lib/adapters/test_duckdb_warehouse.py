"""DuckDB-specific behaviour: statement hook, threads, error translation, SQL semantics.

Behaviour every warehouse shares is in tests/contract/test_warehouse_contract.py.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import re
import subprocess
import sys
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.arrow_schema import arrow_schema
from lib.errors import (
    DataError,
    InvalidIdentifier,
    SqlTranslationError,
    WarehouseError,
    WarehouseUnavailable,
)
from lib.ports import Capability, Query, TableRef, WriteSpec
from lib.schema import SchemaField, TableSpec
from lib.sql import table_sql

SPEC = TableSpec(
    fields=(
        SchemaField(name="k", type="STRING", mode="REQUIRED"),
        SchemaField(name="v", type="NUMERIC"),
    ),
    partition_field="k",
    cluster_by=("k",),
    description="test table",
)
REF = TableRef("raw_test", "t")


def rows(*pairs: tuple[str, str]) -> pa.RecordBatch:
    data = [{"k": k, "v": Decimal(v)} for k, v in pairs]
    return pa.RecordBatch.from_pylist(data, schema=arrow_schema(SPEC.fields))


@pytest.fixture
def statements() -> list[str]:
    return []


@pytest.fixture
def wh(tmp_path: Path, statements: list[str]) -> Any:
    warehouse = DuckDBWarehouse(tmp_path / "w.duckdb", on_statement=statements.append)
    warehouse.ensure_dataset(REF.dataset)
    warehouse.ensure_table(REF, SPEC)
    statements.clear()
    yield warehouse
    warehouse.close()


def test_capabilities_and_recorded_partitioning(wh: DuckDBWarehouse) -> None:
    assert wh.name == "duckdb"
    assert wh.capabilities == frozenset({Capability.FILES})  # local folders; no partitions
    [row] = wh._con.execute(  # DuckDB's own catalog: not BigQuery SQL, so not via query()
        "SELECT comment FROM duckdb_tables() WHERE schema_name = $s AND table_name = $t",
        {"s": REF.dataset, "t": REF.table},
    ).fetchall()
    assert json.loads(row[0]) == {
        "cluster_by": ["k"],
        "description": "test table",
        "partition_field": "k",
    }


def test_statements_hook_sees_translated_sql(wh: DuckDBWarehouse, statements: list[str]) -> None:
    wh.query("SELECT IFNULL(@x, 'd') AS v", {"x": None})
    assert statements == ["SELECT COALESCE($x, 'd') AS v"]


def test_query_write_moves_no_rows_through_python(
    wh: DuckDBWarehouse, statements: list[str]
) -> None:
    wh.write(REF, [rows(("a", "1"), ("b", "2"))], WriteSpec())
    statements.clear()
    copy = TableRef(REF.dataset, "copy")
    wh.ensure_table(copy, SPEC)
    source = Query(f"SELECT k, v * 2 AS v FROM {table_sql(REF)} WHERE k = @k", {"k": "b"})
    assert wh.write(copy, source, WriteSpec()).rows == 1
    assert not any("_convergence_batch" in s for s in statements)
    assert any(
        s.startswith('INSERT INTO "_convergence_stage" BY NAME SELECT * FROM (SELECT k, v * 2')
        for s in statements
    )
    assert wh.query(f"SELECT v FROM {table_sql(copy)}") == [{"v": Decimal("4")}]


def test_batches_stream_in_one_insert_then_apply_in_one_transaction(
    wh: DuckDBWarehouse, statements: list[str]
) -> None:
    wh.write(REF, iter([rows(("a", "1")), rows(("b", "2"))]), WriteSpec(replace={"k": "a"}))
    staged = [s for s in statements if "_convergence_batch" in s]
    assert len(staged) == 1
    begin, commit = statements.index("BEGIN TRANSACTION"), statements.index("COMMIT")
    assert begin > statements.index(staged[-1])
    applied = statements[begin:commit]
    assert any(
        s.startswith('DELETE FROM "raw_test"."t" AS t WHERE t."k" IS NOT DISTINCT') for s in applied
    )
    assert any(s.startswith('INSERT INTO "raw_test"."t" BY NAME') for s in applied)
    assert wh.query(f"SELECT k FROM {table_sql(REF)} ORDER BY k") == [{"k": "a"}, {"k": "b"}]


def test_a_change_of_batch_schema_starts_a_new_insert(
    wh: DuckDBWarehouse, statements: list[str]
) -> None:
    only_k = pa.RecordBatch.from_pylist([{"k": "c"}], schema=pa.schema([("k", pa.string())]))
    batches = [rows(("a", "1")), rows(("b", "2")), only_k, rows(("d", "4"))]
    assert wh.write(REF, iter(batches), WriteSpec()).rows == 4
    assert len([s for s in statements if "_convergence_batch" in s]) == 3
    got = wh.query(f"SELECT k, v FROM {table_sql(REF)} ORDER BY k")
    assert [(r["k"], r["v"]) for r in got] == [
        ("a", Decimal(1)),
        ("b", Decimal(2)),
        ("c", None),
        ("d", Decimal(4)),
    ]


WHO = contextvars.ContextVar("who", default="nobody")


def test_the_source_is_read_in_the_callers_context_and_its_errors_surface_as_raised(
    wh: DuckDBWarehouse,
) -> None:
    """DuckDB may pull batches on its own threads: context and exceptions still hold."""
    seen: set[str] = set()

    class ProviderDown(Exception):
        pass

    def pages(fail_at: int | None) -> Any:
        for i in range(3000):
            seen.add(WHO.get())
            if i == fail_at:
                raise ProviderDown("page 2999")
            yield rows((f"k{i}", str(i)))

    WHO.set("caller")
    assert wh.write(REF, pages(None), WriteSpec()).rows == 3000
    with pytest.raises(ProviderDown, match="page 2999"):
        wh.write(REF, pages(2999), WriteSpec(mode="overwrite"))
    assert seen == {"caller"}
    assert wh.query(f"SELECT COUNT(*) AS n FROM {table_sql(REF)}") == [{"n": 3000}]


def test_failed_apply_rolls_back(wh: DuckDBWarehouse, statements: list[str]) -> None:
    wh.write(REF, [rows(("a", "1"))], WriteSpec())
    with pytest.raises(DataError, match="NULL"):
        wh.write(
            REF,
            [pa.RecordBatch.from_pylist([{"k": None}], schema=pa.schema([("k", pa.string())]))],
            WriteSpec(mode="overwrite"),
        )
    assert "ROLLBACK" in statements
    assert wh.query(f"SELECT k FROM {table_sql(REF)}") == [{"k": "a"}]


def test_merge_matches_null_keys_null_safely(wh: DuckDBWarehouse) -> None:
    spec = TableSpec(fields=(SchemaField(name="k", type="STRING"), SPEC.fields[1]))
    ref = TableRef(REF.dataset, "nullable_keys")
    wh.ensure_table(ref, spec)
    batch = pa.RecordBatch.from_pylist(
        [{"k": None}, {"k": "a"}], schema=pa.schema([("k", pa.string())])
    )
    for _ in range(2):
        wh.write(ref, [batch], WriteSpec(mode="merge", keys=("k",)))
    assert wh.query(f"SELECT COUNT(*) AS n FROM {table_sql(ref)}") == [{"n": 2}]


def test_two_threads_write_different_tables(wh: DuckDBWarehouse) -> None:
    refs = [TableRef(REF.dataset, f"tenant_{n}") for n in range(2)]
    for ref in refs:
        wh.ensure_table(ref, SPEC)
    errors: list[BaseException] = []

    def work(ref: TableRef) -> None:
        try:
            for n in range(20):
                batches = (rows((f"{n}-{i}", str(i))) for i in range(5))
                wh.write(ref, batches, WriteSpec(replace={"k": f"{n}-0"}))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(ref,)) for ref in refs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    for ref in refs:
        assert wh.query(f"SELECT COUNT(*) AS n FROM {table_sql(ref)}") == [{"n": 100}]


def test_locked_file_is_transient(tmp_path: Path) -> None:
    path = tmp_path / "locked.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb, sys; c = duckdb.connect({str(path)!r}); print('ok', flush=True); "
            "sys.stdin.read()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "ok"
        with pytest.raises(WarehouseUnavailable, match=r"locked\.duckdb"):
            DuckDBWarehouse(path)
    finally:
        holder.communicate("", timeout=10)


def test_missing_table_errors_name_it(wh: DuckDBWarehouse) -> None:
    missing = TableRef(REF.dataset, "nope")
    with pytest.raises(WarehouseError, match=r"raw_test\.nope.*ensure_table"):
        wh.write(missing, [rows(("a", "1"))], WriteSpec())
    with pytest.raises(WarehouseError, match=re.escape("SELECT * FROM `raw_test`.`nope`")):
        wh.query("SELECT * FROM `raw_test`.`nope`")


def test_bad_value_is_a_data_error_naming_table(wh: DuckDBWarehouse) -> None:
    bad = pa.RecordBatch.from_pylist([{"k": "a", "v": "not a number"}])
    with pytest.raises(DataError, match=r"raw_test\.t"):
        wh.write(REF, [bad], WriteSpec())


def test_untranslatable_sql_never_reaches_duckdb(
    wh: DuckDBWarehouse, statements: list[str]
) -> None:
    with pytest.raises(SqlTranslationError, match="ISOWEEK"):
        wh.query("SELECT EXTRACT(WEEK FROM CURRENT_DATE()) AS w")
    with pytest.raises(SqlTranslationError):
        wh.execute("SELEC 1")
    assert statements == []


def test_missing_parameter_is_named(wh: DuckDBWarehouse) -> None:
    with pytest.raises(WarehouseError, match="@day"):
        wh.query("SELECT @day AS d", {})


def test_write_spec_is_checked(wh: DuckDBWarehouse) -> None:
    with pytest.raises(WarehouseError, match="needs keys"):
        wh.write(REF, [rows(("a", "1"))], WriteSpec(mode="merge"))
    with pytest.raises(WarehouseError, match="nope"):
        wh.write(REF, [rows(("a", "1"))], WriteSpec(replace={"nope": 1}))


def test_identifiers_are_validated(wh: DuckDBWarehouse) -> None:
    with pytest.raises(InvalidIdentifier):
        wh.ensure_dataset('x"; DROP TABLE y; --')
    with pytest.raises(InvalidIdentifier):
        wh.ensure_table(TableRef(REF.dataset, "bad name"), SPEC)


def test_execute_runs_a_script(wh: DuckDBWarehouse) -> None:
    wh.execute(
        f"INSERT INTO {table_sql(REF)} (k, v) VALUES (@a, 1); "
        f"INSERT INTO {table_sql(REF)} (k, v) VALUES (@b, CAST(@v AS NUMERIC))",
        {"a": "x", "b": "y", "v": Decimal("0.000000001")},
    )
    assert wh.query(f"SELECT k, v FROM {table_sql(REF)} ORDER BY k") == [
        {"k": "x", "v": Decimal("1")},
        {"k": "y", "v": Decimal("0.000000001")},
    ]


SEMANTICS = [
    ("DATE_TRUNC(DATE '2024-03-15', MONTH)", dt.date(2024, 3, 1)),
    ("DATE_TRUNC(DATE '2024-03-15', WEEK)", dt.date(2024, 3, 10)),
    ("DATE_SUB(DATE '2024-03-01', INTERVAL 1 DAY)", dt.date(2024, 2, 29)),
    ("DATE_ADD(DATE '2024-01-31', INTERVAL 1 MONTH)", dt.date(2024, 2, 29)),
    ("CAST(DATE_TRUNC(DATE '2024-03-15', MONTH) AS STRING)", "2024-03-01"),
    (
        "TIMESTAMP_TRUNC(TIMESTAMP '2024-03-15 10:11:12+00', DAY)",
        dt.datetime(2024, 3, 15, tzinfo=dt.UTC),
    ),
    ("EXTRACT(DAYOFWEEK FROM DATE '2024-03-17')", 1),
    ("SAFE_DIVIDE(1, 0)", None),
    ("FORMAT_DATE('%Y-%m', DATE '2024-03-15')", "2024-03"),
    ("IFNULL(NULL, 3)", 3),
    ("PARSE_DATE('%Y%m%d', '20240229')", dt.date(2024, 2, 29)),
    ("SAFE.PARSE_DATE('%Y%m%d', 'garbage')", None),
    (
        "PARSE_TIMESTAMP('%Y-%m-%d %H:%M:%S', '2024-01-02 03:04:05')",
        dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
    ),
    ("CAST('1.123456789' AS NUMERIC)", Decimal("1.123456789")),
    ("JSON_VALUE(JSON '{\"a\": {\"b\": 7}}', '$.a.b')", "7"),
    ("(SELECT COUNTIF(x > 1) FROM UNNEST([1, 2, 3]) AS x)", 2),
    (
        "(SELECT ARRAY_AGG(x IGNORE NULLS ORDER BY x DESC LIMIT 2) "
        "FROM UNNEST([1, NULL, 3, 2]) AS x)",
        [3, 2],
    ),
]


@pytest.mark.parametrize(("expr", "expected"), SEMANTICS, ids=[s[0][:40] for s in SEMANTICS])
def test_bigquery_semantics_hold_on_duckdb(wh: DuckDBWarehouse, expr: str, expected: Any) -> None:
    [row] = wh.query(f"SELECT {expr} AS v")
    assert row["v"] == expected
    assert type(row["v"]) is type(expected)
