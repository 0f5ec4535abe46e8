"""The Warehouse contract: behaviour every adapter must share, tested only through the port.

Adapters are registered in ``conftest.py`` (``WAREHOUSES``); every test here runs on each.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from lib.arrow_schema import arrow_schema
from lib.errors import DataError, SchemaChangeError
from lib.ports import Query, TableRef, Warehouse, WriteSpec
from lib.schema import SchemaField, TableSpec
from lib.sql import table_sql

COSTS = TableSpec(
    fields=(
        SchemaField(name="run", type="STRING", mode="REQUIRED"),
        SchemaField(name="step", type="STRING", mode="REQUIRED"),
        SchemaField(name="day", type="DATE", mode="REQUIRED"),
        SchemaField(name="line_item", type="STRING"),
        SchemaField(name="amount", type="NUMERIC"),
    ),
    partition_field="day",
    cluster_by=("line_item",),
)
D1, D2, D3 = dt.date(2024, 5, 1), dt.date(2024, 5, 2), dt.date(2024, 5, 3)


def batch(spec: TableSpec, rows: Sequence[dict[str, Any]]) -> pa.RecordBatch:
    """Typed Arrow batch of ``rows`` carrying only the columns the rows name."""
    names = list(rows[0])
    return pa.RecordBatch.from_pylist(
        list(rows), schema=arrow_schema([spec.field(n) for n in names])
    )


def cost(run: str, day: dt.date, item: str, amount: str, step: str = "ingest") -> dict[str, Any]:
    return {"run": run, "step": step, "day": day, "line_item": item, "amount": Decimal(amount)}


@pytest.fixture
def costs(warehouse: Warehouse, dataset: str) -> TableRef:
    ref = TableRef(dataset, "costs")
    warehouse.ensure_table(ref, COSTS)
    return ref


def all_rows(warehouse: Warehouse, ref: TableRef, order: str = "run, day, line_item") -> list[Any]:
    return warehouse.query(f"SELECT * FROM {table_sql(ref)} ORDER BY {order}")


def items(warehouse: Warehouse, ref: TableRef) -> list[tuple[str, Decimal]]:
    return [(r["line_item"], r["amount"]) for r in all_rows(warehouse, ref, "line_item")]


# --- datasets and tables ----------------------------------------------------------------


def test_is_a_warehouse(warehouse: Warehouse) -> None:
    assert isinstance(warehouse, Warehouse)
    assert warehouse.name


def test_create_dataset_and_table_idempotently(warehouse: Warehouse, dataset: str) -> None:
    ref = TableRef(dataset, "costs")
    assert not warehouse.table_exists(ref)
    assert warehouse.ensure_table(ref, COSTS) == []
    warehouse.ensure_dataset(dataset)
    assert warehouse.ensure_table(ref, COSTS) == []
    assert warehouse.table_exists(ref)
    assert all_rows(warehouse, ref) == []


def test_list_tables(warehouse: Warehouse, dataset: str) -> None:
    for name in ("zeta", "alpha"):
        warehouse.ensure_table(TableRef(dataset, name), COSTS)
    assert warehouse.list_tables(dataset) == ["alpha", "zeta"]
    assert warehouse.list_tables(f"{dataset}_missing") == []


# --- writes -----------------------------------------------------------------------------


def test_append_streams_batches_and_counts_rows(warehouse: Warehouse, costs: TableRef) -> None:
    batches = (batch(COSTS, [cost("r1", D1, f"i{n}", "1.5")]) for n in range(3))
    assert warehouse.write(costs, batches, WriteSpec()).rows == 3
    assert (
        warehouse.write(costs, [batch(COSTS, [cost("r1", D2, "i9", "2")])], WriteSpec()).rows == 1
    )
    assert [r["line_item"] for r in all_rows(warehouse, costs)] == ["i0", "i1", "i2", "i9"]


def test_missing_nullable_columns_become_null(warehouse: Warehouse, costs: TableRef) -> None:
    rows = [{"run": "r1", "step": "ingest", "day": D1}]
    assert warehouse.write(costs, [batch(COSTS, rows)], WriteSpec()).rows == 1
    [row] = all_rows(warehouse, costs)
    assert row == {"run": "r1", "step": "ingest", "day": D1, "line_item": None, "amount": None}


def test_unknown_columns_are_a_data_error_naming_them(
    warehouse: Warehouse, costs: TableRef
) -> None:
    rogue = pa.RecordBatch.from_pylist([{"run": "r1", "surprise": 1}])
    with pytest.raises(DataError, match="surprise"):
        warehouse.write(costs, [rogue], WriteSpec())


def test_replace_scope_replaces_a_runs_own_rows(warehouse: Warehouse, costs: TableRef) -> None:
    scope = WriteSpec(replace={"run": "r1", "step": "ingest"})
    first = [cost("r1", D1, "a", "1"), cost("r1", D1, "b", "2"), cost("r1", D1, "c", "3")]
    other = [cost("r0", D1, "old", "9"), cost("r1", D1, "dq", "7", step="dq")]
    warehouse.write(costs, [batch(COSTS, other)], WriteSpec())
    warehouse.write(costs, [batch(COSTS, first)], scope)
    again = [cost("r1", D1, "a", "1"), cost("r1", D1, "b", "2.5")]
    assert warehouse.write(costs, [batch(COSTS, again)], scope).rows == 2
    assert items(warehouse, costs) == [
        ("a", Decimal("1")),
        ("b", Decimal("2.5")),
        ("dq", Decimal("7")),
        ("old", Decimal("9")),
    ]


def test_replace_range_overwrites_a_window(warehouse: Warehouse, costs: TableRef) -> None:
    rows = [cost("r1", D1, "d1", "1"), cost("r1", D2, "d2", "2"), cost("r1", D3, "d3", "3")]
    warehouse.write(costs, [batch(COSTS, rows)], WriteSpec())
    window = WriteSpec(replace_range=("day", D2, D3))
    assert warehouse.write(costs, [batch(COSTS, [cost("r2", D2, "new", "5")])], window).rows == 1
    assert [r["line_item"] for r in all_rows(warehouse, costs, "day")] == ["d1", "new"]


def test_replace_scope_and_range_combine_with_and(warehouse: Warehouse, costs: TableRef) -> None:
    rows = [
        cost("r1", D1, "r1-d1", "1"),
        cost("r1", D2, "r1-d2", "2"),
        cost("r2", D2, "r2-d2", "3"),
    ]
    warehouse.write(costs, [batch(COSTS, rows)], WriteSpec())
    both = WriteSpec(replace={"run": "r1"}, replace_range=("day", D2, D3))
    assert warehouse.write(costs, [batch(COSTS, [cost("r1", D2, "new", "5")])], both).rows == 1
    assert sorted(r["line_item"] for r in all_rows(warehouse, costs, "day")) == [
        "new",
        "r1-d1",
        "r2-d2",
    ]


def test_replace_dates_swaps_a_snapshot_of_some_days(warehouse: Warehouse, costs: TableRef) -> None:
    old = [
        cost("r1", D1, "a", "1"),
        cost("r1", D2, "a", "2"),
        cost("r1", D2, "gone", "3"),
        cost("r1", D3, "a", "4"),
    ]
    warehouse.write(costs, [batch(COSTS, old)], WriteSpec())
    snapshot = WriteSpec(replace_dates=("day", (D2, D3)), keys=("day", "line_item"))
    answer = [cost("r2", D2, "a", "2.5"), cost("r2", D3, "a", "4"), cost("r2", D3, "new", "1")]
    result = warehouse.write(costs, [batch(COSTS, answer)], snapshot)
    assert (result.rows, result.replaced, result.removed) == (3, 3, 1)
    assert result.dates == {D2, D3}
    assert sorted((r["day"], r["line_item"], r["amount"]) for r in all_rows(warehouse, costs)) == [
        (D1, "a", Decimal("1")),
        (D2, "a", Decimal("2.5")),
        (D3, "a", Decimal("4")),
        (D3, "new", Decimal("1")),
    ]


def test_replace_dates_combines_with_a_scope(warehouse: Warehouse, costs: TableRef) -> None:
    rows = [cost("r1", D1, "mine", "1"), cost("r9", D1, "other", "2"), cost("r1", D2, "mine", "3")]
    warehouse.write(costs, [batch(COSTS, rows)], WriteSpec())
    spec = WriteSpec(replace={"run": "r1"}, replace_dates=("day", (D1,)))
    result = warehouse.write(costs, [batch(COSTS, [cost("r1", D1, "fresh", "5")])], spec)
    assert (result.replaced, result.dates) == (1, {D1})
    assert sorted(r["line_item"] for r in all_rows(warehouse, costs)) == ["fresh", "mine", "other"]


def test_replace_dates_refuses_rows_outside_its_days(warehouse: Warehouse, costs: TableRef) -> None:
    warehouse.write(costs, [batch(COSTS, [cost("r0", D1, "keep", "1")])], WriteSpec())
    spec = WriteSpec(replace_dates=("day", (D1,)))
    stray = [cost("r1", D1, "a", "1"), cost("r1", D3, "stray", "2")]
    with pytest.raises(DataError) as info:
        warehouse.write(costs, [batch(COSTS, stray)], spec)
    assert str(D3) in str(info.value) and "outside the days" in str(info.value)
    assert items(warehouse, costs) == [("keep", Decimal("1"))]


def test_replace_dates_keeps_duplicate_keys_for_dq_to_find(
    warehouse: Warehouse, costs: TableRef
) -> None:
    spec = WriteSpec(replace_dates=("day", (D1,)), keys=("day", "line_item"))
    twice = [cost("r1", D1, "a", "1"), cost("r1", D1, "a", "2")]
    assert warehouse.write(costs, [batch(COSTS, twice)], spec).rows == 2
    assert len(all_rows(warehouse, costs)) == 2


def test_merge_reports_the_days_it_touched(warehouse: Warehouse, costs: TableRef) -> None:
    merge = WriteSpec(mode="merge", keys=("line_item",), date_column="day")
    warehouse.write(
        costs, [batch(COSTS, [cost("r1", D1, "a", "1"), cost("r1", D2, "b", "2")])], merge
    )
    moved = warehouse.write(costs, [batch(COSTS, [cost("r2", D3, "a", "1")])], merge)
    assert (moved.rows, moved.replaced, moved.dates) == (1, 1, {D1, D3})


def test_overwrite_replaces_everything(warehouse: Warehouse, costs: TableRef) -> None:
    warehouse.write(costs, [batch(COSTS, [cost("r1", D1, "a", "1")] * 3)], WriteSpec())
    spec = WriteSpec(mode="overwrite")
    assert warehouse.write(costs, [batch(COSTS, [cost("r2", D2, "z", "4")])], spec).rows == 1
    assert items(warehouse, costs) == [("z", Decimal("4"))]


def test_merge_upserts_on_keys(warehouse: Warehouse, costs: TableRef) -> None:
    merge = WriteSpec(mode="merge", keys=("day", "line_item"))
    rows = [cost("r1", D1, "a", "1"), cost("r1", D1, "b", "2")]
    assert warehouse.write(costs, [batch(COSTS, rows)], merge).rows == 2
    assert warehouse.write(costs, [batch(COSTS, rows)], merge).rows == 2
    assert items(warehouse, costs) == [("a", Decimal("1")), ("b", Decimal("2"))]
    changed = [cost("r2", D1, "b", "2.25"), cost("r2", D1, "c", "3")]
    warehouse.write(costs, [batch(COSTS, changed)], merge)
    assert items(warehouse, costs) == [
        ("a", Decimal("1")),
        ("b", Decimal("2.25")),
        ("c", Decimal("3")),
    ]
    assert {r["line_item"]: r["run"] for r in all_rows(warehouse, costs)}["b"] == "r2"


def test_merge_refuses_duplicate_source_keys(warehouse: Warehouse, costs: TableRef) -> None:
    warehouse.write(costs, [batch(COSTS, [cost("r0", D1, "keep", "1")])], WriteSpec())
    dupes = [cost("r1", D1, "a", "1"), cost("r1", D1, "a", "2")]
    with pytest.raises(DataError) as info:
        warehouse.write(costs, [batch(COSTS, dupes)], WriteSpec(mode="merge", keys=("line_item",)))
    assert costs.table in str(info.value)
    assert "'a'" in str(info.value)
    assert items(warehouse, costs) == [("keep", Decimal("1"))]


def test_write_from_query(warehouse: Warehouse, costs: TableRef) -> None:
    warehouse.write(costs, [batch(COSTS, [cost("r1", D1, "a", "1.25")] * 4)], WriteSpec())
    daily = TableRef(costs.dataset, "daily")
    warehouse.ensure_table(daily, TableSpec(fields=COSTS.fields))
    sql = (
        f"SELECT 'r2' AS run, 'transform' AS step, day, line_item, SUM(amount) AS amount "
        f"FROM {table_sql(costs)} WHERE run = @run GROUP BY day, line_item"
    )
    assert warehouse.write(daily, Query(sql, {"run": "r1"}), WriteSpec()).rows == 1
    assert items(warehouse, daily) == [("a", Decimal("5.00"))]


class Boom(Exception):
    pass


def test_failing_source_leaves_no_partial_rows(warehouse: Warehouse, costs: TableRef) -> None:
    scope = WriteSpec(replace={"run": "r1", "step": "ingest"})
    warehouse.write(costs, [batch(COSTS, [cost("r1", D1, "earlier", "1")])], scope)

    def pages() -> Iterator[pa.RecordBatch]:
        yield batch(COSTS, [cost("r1", D1, "a", "1")])
        yield batch(COSTS, [cost("r1", D1, "b", "2")])
        raise Boom("provider went away")

    with pytest.raises(Boom):
        warehouse.write(costs, pages(), scope)
    assert items(warehouse, costs) == [("earlier", Decimal("1"))]


def test_bad_row_in_a_later_batch_writes_nothing(warehouse: Warehouse, costs: TableRef) -> None:
    good = batch(COSTS, [cost("r1", D1, "a", "1")])
    no_day = batch(COSTS, [{"run": "r1", "step": "ingest", "day": None, "line_item": "b"}])
    with pytest.raises(DataError):
        warehouse.write(costs, [good, no_day], WriteSpec(mode="overwrite"))
    assert all_rows(warehouse, costs) == []


# --- queries and types ------------------------------------------------------------------

PARAMS = [
    ("s", "text", "STRING"),
    ("i", 42, "INT64"),
    ("f", 1.5, "FLOAT64"),
    ("n", Decimal("12345678901234567890.123456789"), "NUMERIC"),
    ("b", True, "BOOL"),
    ("d", D1, "DATE"),
    ("ts", dt.datetime(2024, 5, 1, 12, 30, tzinfo=dt.UTC), "TIMESTAMP"),
]


@pytest.mark.parametrize(("name", "value", "bq_type"), PARAMS, ids=[p[0] for p in PARAMS])
def test_query_params_round_trip(warehouse: Warehouse, name: str, value: Any, bq_type: str) -> None:
    [row] = warehouse.query(f"SELECT CAST(@{name} AS {bq_type}) AS v", {name: value})
    assert row["v"] == value
    assert type(row["v"]) is type(value)


def test_query_null_and_list_params(warehouse: Warehouse) -> None:
    sql = "SELECT @missing IS NULL AS is_null, 3 IN UNNEST(@xs) AS has3, 4 IN UNNEST(@xs) AS has4"
    assert warehouse.query(sql, {"missing": None, "xs": [1, 2, 3]}) == [
        {"is_null": True, "has3": True, "has4": False}
    ]


def test_numeric_sums_are_exact(warehouse: Warehouse, dataset: str) -> None:
    ref = TableRef(dataset, "tiny")
    spec = TableSpec(fields=(SchemaField(name="amount", type="NUMERIC"),))
    warehouse.ensure_table(ref, spec)
    rows = [{"amount": Decimal("0.000000001")}] * 1000 + [{"amount": Decimal("0.1")}] * 3
    warehouse.write(ref, [batch(spec, rows)], WriteSpec())
    [row] = warehouse.query(f"SELECT SUM(amount) AS total FROM {table_sql(ref)}")
    assert row["total"] == Decimal("0.300001")
    assert isinstance(row["total"], Decimal)


NESTED = TableSpec(
    fields=(
        SchemaField(name="id", type="STRING", mode="REQUIRED"),
        SchemaField(name="metadata", type="JSON"),
        SchemaField(name="at", type="TIMESTAMP"),
        SchemaField(
            name="service",
            type="RECORD",
            fields=(
                SchemaField(name="id", type="STRING"),
                SchemaField(name="description", type="STRING"),
            ),
        ),
        SchemaField(
            name="credits",
            type="RECORD",
            mode="REPEATED",
            fields=(
                SchemaField(name="name", type="STRING"),
                SchemaField(name="amount", type="NUMERIC"),
            ),
        ),
        SchemaField(name="tags", type="STRING", mode="REPEATED"),
    )
)


@pytest.fixture
def nested(warehouse: Warehouse, dataset: str) -> TableRef:
    ref = TableRef(dataset, "billing")
    warehouse.ensure_table(ref, NESTED)
    row = {
        "id": "x1",
        "metadata": json.dumps({"model": "gpt-4o", "tokens": [1, 2], "cached": None}),
        "at": dt.datetime(2024, 5, 1, 23, 59, 59, 123456, tzinfo=dt.UTC),
        "service": {"id": "svc", "description": "Compute"},
        "credits": [
            {"name": "promo", "amount": Decimal("-0.5")},
            {"name": "cud", "amount": Decimal("-0.25")},
        ],
        "tags": ["a", "b"],
    }
    warehouse.write(ref, [batch(NESTED, [row])], WriteSpec())
    return ref


def test_json_record_repeated_and_timestamp_round_trip(
    warehouse: Warehouse, nested: TableRef
) -> None:
    [row] = warehouse.query(f"SELECT * FROM {table_sql(nested)}")
    assert row["metadata"] == {"model": "gpt-4o", "tokens": [1, 2], "cached": None}
    assert row["at"] == dt.datetime(2024, 5, 1, 23, 59, 59, 123456, tzinfo=dt.UTC)
    assert row["at"].utcoffset() == dt.timedelta(0)
    assert row["service"] == {"id": "svc", "description": "Compute"}
    assert row["credits"] == [
        {"name": "promo", "amount": Decimal("-0.5")},
        {"name": "cud", "amount": Decimal("-0.25")},
    ]
    assert row["tags"] == ["a", "b"]


def test_unnest_and_json_functions(warehouse: Warehouse, nested: TableRef) -> None:
    sql = (
        "SELECT b.service.description AS service, JSON_VALUE(b.metadata, '$.model') AS model,"
        " SUM(c.amount) AS credits, COUNT(*) AS n "
        f"FROM {table_sql(nested)} AS b, UNNEST(b.credits) AS c GROUP BY 1, 2"
    )
    assert warehouse.query(sql) == [
        {"service": "Compute", "model": "gpt-4o", "credits": Decimal("-0.75"), "n": 2}
    ]


# --- schema evolution -------------------------------------------------------------------


def test_new_nullable_column_is_added(warehouse: Warehouse, costs: TableRef) -> None:
    warehouse.write(costs, [batch(COSTS, [cost("r1", D1, "a", "1")])], WriteSpec())
    currency = SchemaField(name="currency", type="STRING")
    wider = TableSpec(fields=(*COSTS.fields, currency))
    assert warehouse.ensure_table(costs, wider) == ["currency"]
    assert warehouse.ensure_table(costs, wider) == []
    row = {**cost("r1", D2, "b", "2"), "currency": "USD"}
    warehouse.write(costs, [batch(wider, [row])], WriteSpec())
    assert [r["currency"] for r in all_rows(warehouse, costs)] == [None, "USD"]


def _replace_field(spec: TableSpec, name: str, **changes: Any) -> TableSpec:
    fields = tuple(f.model_copy(update=changes) if f.name == name else f for f in spec.fields)
    return TableSpec(fields=fields)


@pytest.mark.parametrize(
    ("spec", "column"),
    [
        (_replace_field(COSTS, "amount", type="FLOAT64"), "amount"),
        (_replace_field(COSTS, "line_item", mode="REQUIRED"), "line_item"),
        (TableSpec(fields=COSTS.fields[1:]), "run"),
        (
            TableSpec(fields=(*COSTS.fields, SchemaField(name="k", type="INT64", mode="REQUIRED"))),
            "k",
        ),
    ],
    ids=["type-change", "nullable-to-required", "required-removed", "new-required"],
)
def test_incompatible_change_is_refused_with_advice(
    warehouse: Warehouse, costs: TableRef, spec: TableSpec, column: str
) -> None:
    with pytest.raises(SchemaChangeError) as info:
        warehouse.ensure_table(costs, spec)
    message = str(info.value)
    assert str(costs) in message
    assert repr(column) in message
    assert "costs_v2" in message
    assert warehouse.ensure_table(costs, COSTS) == []


def _with_subfield(spec: TableSpec, record: str, sub: SchemaField) -> TableSpec:
    field = spec.field(record)
    return _replace_field(spec, record, fields=(*field.fields, sub))


def test_new_nullable_subfields_of_records_are_added(
    warehouse: Warehouse, nested: TableRef
) -> None:
    tier = SchemaField(name="tier", type="STRING")
    kind = SchemaField(name="kind", type="STRING")
    wider = _with_subfield(_with_subfield(NESTED, "service", tier), "credits", kind)
    assert warehouse.ensure_table(nested, wider) == ["service.tier", "credits.kind"]
    assert warehouse.ensure_table(nested, wider) == []
    [row] = warehouse.query(f"SELECT service, credits FROM {table_sql(nested)}")
    assert row["service"] == {"id": "svc", "description": "Compute", "tier": None}
    assert row["credits"][0] == {"name": "promo", "amount": Decimal("-0.5"), "kind": None}


@pytest.mark.parametrize(
    "sub",
    [
        SchemaField(name="id", type="INT64"),
        SchemaField(name="new_required", type="STRING", mode="REQUIRED"),
    ],
    ids=["subfield-type-change", "new-required-subfield"],
)
def test_incompatible_subfield_change_is_refused(
    warehouse: Warehouse, nested: TableRef, sub: SchemaField
) -> None:
    service = NESTED.field("service")
    fields = (*(f for f in service.fields if f.name != sub.name), sub)
    with pytest.raises(SchemaChangeError, match=f"service.{sub.name}.*billing_v2"):
        warehouse.ensure_table(nested, _replace_field(NESTED, "service", fields=fields))


def test_repeated_becoming_single_is_refused(warehouse: Warehouse, nested: TableRef) -> None:
    with pytest.raises(SchemaChangeError, match="'tags'"):
        warehouse.ensure_table(nested, _replace_field(NESTED, "tags", mode="NULLABLE"))
