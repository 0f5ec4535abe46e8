"""BigQueryWarehouse requests, checked without a server.

A recording stand-in for ``bigquery.Client`` captures the tables, load jobs, statements
and parameters the adapter sends. This covers what the emulator cannot check faithfully
(DDL partitioning/clustering, schema evolution through ``update_table``, REQUIRED and
JSON loads) and the translation of API errors. Behaviour against a real protocol server
is in ``tests/contract`` (bqemulator).
"""

from __future__ import annotations

import datetime as dt
import io
import json
import subprocess
import sys
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from google.api_core import exceptions as gexc
from google.cloud import bigquery

from lib.adapters.bigquery_sql import param_type, query_parameters
from lib.adapters.bigquery_warehouse import BigQueryWarehouse
from lib.errors import DataError, SchemaChangeError, WarehouseError, WarehouseUnavailable
from lib.ports import Query, TableRef, WriteSpec
from lib.schema import SchemaField, TableSpec

PROJECT = "proj"
REF = TableRef("acme_raw_openai", "costs")
SPEC = TableSpec(
    fields=(
        SchemaField(name="run", type="STRING", mode="REQUIRED"),
        SchemaField(name="ingestion_date", type="DATE", mode="REQUIRED"),
        SchemaField(name="model", type="STRING"),
        SchemaField(name="amount", type="NUMERIC"),
    ),
    partition_field="ingestion_date",
    cluster_by=("model",),
    description="OpenAI costs",
)
META = TableSpec(
    fields=(
        SchemaField(name="run", type="STRING", mode="REQUIRED"),
        SchemaField(name="metadata", type="JSON"),
        SchemaField(name="at", type="TIMESTAMP"),
    )
)


class FakeJob:
    def __init__(self, rows: list[dict[str, Any]] | None = None, error: Exception | None = None):
        self.rows, self.error = rows or [], error

    def result(self, **_: Any) -> list[Any]:
        if self.error:
            raise self.error
        return [bigquery.Row(tuple(r.values()), {k: i for i, k in enumerate(r)}) for r in self.rows]


MEASURE = "SELECT (SELECT COUNT(*) FROM `proj`"


class FakeClient:
    """Records every request; tables live in a dict; queries answered by ``answer``."""

    def __init__(self) -> None:
        self.tables: dict[str, bigquery.Table] = {}
        self.calls: list[tuple[str, Any]] = []
        self.loads: list[tuple[str, bytes, bigquery.LoadJobConfig]] = []
        self.queries: list[tuple[str, list[Any], dict[str, Any]]] = []
        self.measures: list[tuple[str, list[Any]]] = []
        self.dataset_location = "EU"
        self.fail: dict[str, Exception] = {}

    def answer(self, sql: str) -> list[dict[str, Any]]:
        return [{"n": 2}] if sql.startswith("SELECT COUNT(*)") else []

    def _maybe_fail(self, method: str) -> None:
        if method in self.fail:
            raise self.fail[method]

    def create_dataset(self, dataset: bigquery.Dataset, **kw: Any) -> bigquery.Dataset:
        self._maybe_fail("create_dataset")
        self.calls.append(("create_dataset", dataset))
        found = bigquery.Dataset(dataset.reference)
        found.location = self.dataset_location
        return found

    def get_table(self, ref: str, **kw: Any) -> bigquery.Table:
        self._maybe_fail("get_table")
        if ref not in self.tables:
            raise gexc.NotFound(f"Not found: Table {ref}")
        return self.tables[ref]

    def create_table(self, table: bigquery.Table, **kw: Any) -> bigquery.Table:
        self.calls.append(("create_table", table))
        self.tables[f"{table.project}.{table.dataset_id}.{table.table_id}"] = table
        return table

    def update_table(self, table: bigquery.Table, fields: list[str], **kw: Any) -> bigquery.Table:
        self.calls.append(("update_table", (table, fields)))
        return table

    def delete_table(self, ref: str, **kw: Any) -> None:
        self.calls.append(("delete_table", ref))
        self.tables.pop(ref, None)

    def list_tables(self, ref: str, **kw: Any) -> list[Any]:
        self._maybe_fail("list_tables")
        prefix = ref + "."
        return [t for name, t in self.tables.items() if name.startswith(prefix)]

    def load_table_from_file(self, file: Any, ref: str, job_config: Any, **kw: Any) -> FakeJob:
        self.loads.append((ref, file.read(), job_config))
        return FakeJob(error=self.fail.get("load"))

    def query(self, sql: str, job_config: Any = None, **kw: Any) -> FakeJob:
        if sql.startswith(MEASURE):  # what a write is about to do (its WriteResult)
            self.measures.append((sql, list(job_config.query_parameters)))
            return FakeJob([{"replaced": 0, "removed": 0, "dates": []}])
        self.queries.append((sql, list(job_config.query_parameters), kw))
        if sql.startswith(("MERGE", "INSERT")) and "statement" in self.fail:
            return FakeJob(error=self.fail["statement"])
        return FakeJob(self.answer(sql), self.fail.get("query"))

    def close(self) -> None:
        self.calls.append(("close", None))


@pytest.fixture
def client() -> FakeClient:
    return FakeClient()


@pytest.fixture
def warehouse(client: FakeClient) -> BigQueryWarehouse:
    return BigQueryWarehouse(
        client, project=PROJECT, location="EU", labels={"app": "convergence"}, retry_deadline=5
    )  # type: ignore[arg-type]


def batch(rows: list[dict[str, Any]], spec: TableSpec = SPEC) -> pa.RecordBatch:
    types = {"STRING": pa.string(), "DATE": pa.date32(), "NUMERIC": pa.decimal128(38, 9),
             "JSON": pa.string(), "TIMESTAMP": pa.timestamp("us", tz="UTC")}  # fmt: skip
    names = list(rows[0])
    schema = pa.schema([(n, types[spec.field(n).canonical_type]) for n in names])
    return pa.RecordBatch.from_pylist(rows, schema=schema)


def row(run: str = "r1", model: str = "gpt-4o", amount: str = "1.5") -> dict[str, Any]:
    return {"run": run, "ingestion_date": dt.date(2024, 5, 1), "model": model,
            "amount": Decimal(amount)}  # fmt: skip


def statements(client: FakeClient) -> list[str]:
    return [sql for sql, _, _ in client.queries]


# --- datasets and tables -----------------------------------------------------------------


def test_dataset_gets_location_and_merged_labels(warehouse, client):
    warehouse.ensure_dataset("acme_raw_openai", labels={"tenant": "acme"})
    (_, dataset), = client.calls  # fmt: skip
    assert dataset.project == PROJECT and dataset.dataset_id == "acme_raw_openai"
    assert dataset.location == "EU"
    assert dataset.labels == {"app": "convergence", "tenant": "acme"}


def test_dataset_has_no_cmek_unless_a_key_is_configured(warehouse, client):
    warehouse.ensure_dataset("acme_raw_openai")
    (_, dataset), = client.calls  # fmt: skip
    assert dataset.default_encryption_configuration is None


def test_dataset_defaults_to_the_configured_cmek_key(client):
    key = "projects/p/locations/europe-west1/keyRings/r/cryptoKeys/k"
    wh = BigQueryWarehouse(client, project=PROJECT, location="EU", kms_key_name=key)  # type: ignore[arg-type]
    wh.ensure_dataset("acme_raw_openai")
    (_, dataset), = client.calls  # fmt: skip
    assert dataset.default_encryption_configuration.kms_key_name == key


def test_dataset_in_another_location_is_a_terminal_error(warehouse, client):
    client.dataset_location = "US"
    with pytest.raises(WarehouseError, match=r"acme_raw_openai is in location US.*EU"):
        warehouse.ensure_dataset("acme_raw_openai")


def test_table_is_day_partitioned_and_clustered_from_the_spec(warehouse, client):
    assert warehouse.ensure_table(REF, SPEC) == []
    (_, table), = client.calls  # fmt: skip
    assert table.time_partitioning.type_ == "DAY"
    assert table.time_partitioning.field == "ingestion_date"
    assert table.clustering_fields == ["model"]
    assert table.description == "OpenAI costs"
    assert [(f.name, f.field_type, f.mode) for f in table.schema] == [
        ("run", "STRING", "REQUIRED"),
        ("ingestion_date", "DATE", "REQUIRED"),
        ("model", "STRING", "NULLABLE"),
        ("amount", "NUMERIC", "NULLABLE"),
    ]


def test_new_nullable_columns_go_through_update_table(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    wider = TableSpec(fields=(*SPEC.fields, SchemaField(name="currency", type="STRING")))
    assert warehouse.ensure_table(REF, wider) == ["currency"]
    _, (table, fields) = client.calls[-1]
    assert fields == ["schema"]
    assert [f.name for f in table.schema][-1] == "currency"
    assert table.schema[-1].mode == "NULLABLE"


def test_unchanged_schema_sends_no_update(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    assert warehouse.ensure_table(REF, SPEC) == []
    assert [name for name, _ in client.calls] == ["create_table"]


def test_required_column_is_relaxed_when_the_spec_says_nullable(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    nullable_run = SPEC.field("run").model_copy(update={"mode": "NULLABLE"})
    relaxed = TableSpec(fields=(nullable_run, *SPEC.fields[1:]))
    assert warehouse.ensure_table(REF, relaxed) == []
    _, (table, _) = client.calls[-1]
    assert table.schema[0].mode == "NULLABLE"


def test_record_subfields_are_added_by_dotted_name(warehouse, client):
    service = SchemaField(name="service", type="RECORD",
                          fields=(SchemaField(name="id", type="STRING"),))  # fmt: skip
    warehouse.ensure_table(REF, TableSpec(fields=(service,)))
    tier = SchemaField(name="tier", type="STRING")
    wider = TableSpec(fields=(service.model_copy(update={"fields": (*service.fields, tier)}),))
    assert warehouse.ensure_table(REF, wider) == ["service.tier"]
    _, (table, _) = client.calls[-1]
    assert [f.name for f in table.schema[0].fields] == ["id", "tier"]


@pytest.mark.parametrize(
    ("change", "column"),
    [
        ({"type": "FLOAT64"}, "amount"),
        ({"mode": "REQUIRED"}, "amount"),
        ({"mode": "REPEATED"}, "amount"),
    ],
    ids=["type", "nullable-to-required", "to-repeated"],
)
def test_incompatible_changes_name_the_column_and_a_versioned_table(
    warehouse, client, change, column
):
    warehouse.ensure_table(REF, SPEC)
    fields = tuple(f.model_copy(update=change) if f.name == column else f for f in SPEC.fields)
    with pytest.raises(SchemaChangeError, match=rf"{REF}.*'{column}'.*costs_v2"):
        warehouse.ensure_table(REF, TableSpec(fields=fields))
    assert [name for name, _ in client.calls] == ["create_table"]


def test_list_tables_hides_staging_and_tolerates_a_missing_dataset(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    warehouse.ensure_table(TableRef(REF.dataset, "_convergence_staging_costs_1"), SPEC)
    assert warehouse.list_tables(REF.dataset) == ["costs"]
    client.fail["list_tables"] = gexc.NotFound("Not found: Dataset proj:nope")
    assert warehouse.list_tables("nope") == []


# --- writes ------------------------------------------------------------------------------


def test_append_loads_parquet_into_staging_then_one_insert(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    assert warehouse.write(REF, [batch([row()]), batch([row(model="o1")])], WriteSpec()).rows == 2
    (dest, payload, config), = client.loads  # fmt: skip
    assert dest.startswith(f"{PROJECT}.{REF.dataset}._convergence_staging_costs_")
    assert config.source_format == "PARQUET"
    assert config.write_disposition == "WRITE_APPEND"
    assert pq.read_table(io.BytesIO(payload)).column("model").to_pylist() == ["gpt-4o", "o1"]
    (sql, params, kw), = client.queries  # fmt: skip
    assert sql.startswith("INSERT INTO `proj`.`acme_raw_openai`.`costs` (`run`, ")
    assert "FROM `proj`.`acme_raw_openai`.`_convergence_staging_costs_" in sql
    assert params == [] and kw["location"] == "EU" and kw["project"] == PROJECT
    assert client.calls[-1][0] == "delete_table" and client.calls[-1][1] == dest


def test_replace_scope_is_one_merge_with_typed_parameters(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    spec = WriteSpec(replace={"run": "r1"}, replace_range=("ingestion_date",
                     dt.date(2024, 5, 1), dt.date(2024, 5, 3)))  # fmt: skip
    warehouse.write(REF, [batch([row()])], spec)
    (sql, params, _), = client.queries  # fmt: skip
    assert sql.startswith("MERGE `proj`.`acme_raw_openai`.`costs` AS T USING ")
    assert "ON FALSE" in sql
    assert (
        "WHEN NOT MATCHED BY SOURCE AND (T.`run` = @replace_0 AND T.`ingestion_date` "
        "BETWEEN @replace_low AND @replace_high) THEN DELETE" in sql
    )
    assert {(p.name, p.type_, p.value) for p in params} == {
        ("replace_0", "STRING", "r1"),
        ("replace_low", "DATE", dt.date(2024, 5, 1)),
        ("replace_high", "DATE", dt.date(2024, 5, 3)),
    }


def test_replace_with_no_rows_still_deletes_the_scope(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    assert warehouse.write(REF, [], WriteSpec(replace={"run": "r1"})).rows == 0
    assert client.loads == []
    assert "NOT MATCHED BY SOURCE AND (T.`run` = @replace_0)" in statements(client)[0]


def test_empty_plain_append_sends_nothing(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    assert warehouse.write(REF, [], WriteSpec()).rows == 0
    assert client.queries == []


def test_overwrite_deletes_every_unmatched_row(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    warehouse.write(REF, [batch([row()])], WriteSpec(mode="overwrite"))
    assert "WHEN NOT MATCHED BY SOURCE AND (TRUE) THEN DELETE" in statements(client)[0]


def test_merge_checks_keys_then_upserts_in_one_statement(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    warehouse.write(REF, [batch([row()])], WriteSpec(mode="merge", keys=("run", "model")))
    check, merge = statements(client)
    assert "GROUP BY `run`, `model` HAVING COUNT(*) > 1" in check
    assert "ON T.`run` IS NOT DISTINCT FROM S.`run` AND T.`model` IS NOT DISTINCT FROM" in merge
    assert "WHEN MATCHED THEN UPDATE SET `ingestion_date` = S.`ingestion_date`, " in merge
    assert "WHEN NOT MATCHED THEN INSERT (`run`, `ingestion_date`, `model`, `amount`)" in merge


def test_merge_with_duplicate_keys_is_a_data_error_and_writes_nothing(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    client.answer = lambda sql: [{"run": "r1", "n": 2}] if "HAVING" in sql else []
    with pytest.raises(DataError, match=r"costs: the source has duplicate keys.*'r1'"):
        warehouse.write(REF, [batch([row(), row()])], WriteSpec(mode="merge", keys=("run",)))
    assert not any(s.startswith("MERGE") for s in statements(client))
    assert client.calls[-1][0] == "delete_table"


def test_json_columns_load_as_jsonl_with_parsed_json(warehouse, client):
    ref = TableRef("acme_metadata", "step_logs")
    warehouse.ensure_table(ref, META)
    at = dt.datetime(2024, 5, 1, 6, 0, tzinfo=dt.UTC)
    rows = [{"run": "r1", "metadata": json.dumps({"rows": 3, "pages": [1, 2]}), "at": at}]
    warehouse.write(ref, [batch(rows, META)], WriteSpec())
    (_, payload, config), = client.loads  # fmt: skip
    assert config.source_format == "NEWLINE_DELIMITED_JSON"
    assert [json.loads(line) for line in payload.splitlines()] == [
        {"run": "r1", "metadata": {"rows": 3, "pages": [1, 2]}, "at": "2024-05-01T06:00:00+00:00"}
    ]


def test_null_in_a_required_column_is_refused_before_loading(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    bad = batch([{**row(), "run": None}])
    with pytest.raises(
        DataError, match=r"write to acme_raw_openai.costs: column 'run' is REQUIRED"
    ):
        warehouse.write(REF, [batch([row()]), bad], WriteSpec(mode="overwrite"))
    assert client.queries == []


def test_rejected_load_is_a_data_error_naming_the_table_and_cause(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    client.fail["load"] = gexc.BadRequest(
        "Error while reading data", errors=[{"reason": "invalid", "message": "bad NUMERIC"}]
    )
    with pytest.raises(DataError, match=r"costs.*bad NUMERIC \(reason: invalid\)"):
        warehouse.write(REF, [batch([row()])], WriteSpec())
    assert client.queries == []


def test_write_from_query_materialises_it_with_its_parameters(warehouse, client):
    warehouse.ensure_table(REF, SPEC)
    staging_table = bigquery.Table(
        f"{PROJECT}.{REF.dataset}.x", schema=[bigquery.SchemaField("run", "STRING")]
    )
    client.get_table = lambda ref, **kw: client.tables.get(ref, staging_table)
    query = Query("SELECT run FROM acme_raw_openai.src WHERE run = @run", {"run": "r1"})
    assert warehouse.write(REF, query, WriteSpec()).rows == 2
    (create, params, _), _, (insert, _, _) = client.queries
    assert create.startswith("CREATE TABLE `proj`.`acme_raw_openai`.`_convergence_staging_costs_")
    assert create.endswith("AS\nSELECT run FROM acme_raw_openai.src WHERE run = @run")
    assert [(p.name, p.value) for p in params] == [("run", "r1")]
    assert insert.startswith("INSERT INTO `proj`.`acme_raw_openai`.`costs` (`run`)")


def test_writing_to_a_missing_table_names_it(warehouse):
    with pytest.raises(WarehouseError, match=r"acme_raw_openai\.costs: table does not exist"):
        warehouse.write(REF, [batch([row()])], WriteSpec())


# --- errors ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        gexc.ServiceUnavailable("backend down"),
        gexc.InternalServerError("oops"),
        gexc.TooManyRequests("slow down"),
        gexc.Forbidden("quota", errors=[{"reason": "rateLimitExceeded", "message": "too fast"}]),
        gexc.BadRequest("job", errors=[{"reason": "backendError", "message": "retry"}]),
        ConnectionError("reset"),
    ],
    ids=["503", "500", "429", "rate-limit-403", "backend-error", "connection"],
)
def test_transient_failures_become_warehouse_unavailable(warehouse, client, error):
    client.fail["query"] = error
    with pytest.raises(WarehouseUnavailable, match="retry later"):
        warehouse.query("SELECT 1")


@pytest.mark.parametrize(
    "error",
    [
        gexc.BadRequest("q", errors=[{"reason": "invalidQuery", "message": "Syntax error"}]),
        gexc.NotFound("q", errors=[{"reason": "notFound", "message": "Table x not found"}]),
        gexc.Forbidden("q", errors=[{"reason": "accessDenied", "message": "no access"}]),
    ],
    ids=["bad-request", "not-found", "forbidden"],
)
def test_permanent_failures_are_terminal_with_the_cause(warehouse, client, error):
    client.fail["statement"] = error
    warehouse.ensure_table(REF, SPEC)
    with pytest.raises(WarehouseError, match=r"write to acme_raw_openai.costs: .*\(reason: "):
        warehouse.write(REF, [batch([row()])], WriteSpec())
    assert client.calls[-1][0] == "delete_table"


# --- parameters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "bq_type"),
    [
        ("x", "STRING"), (None, "STRING"), (3, "INT64"), (1.5, "FLOAT64"),
        (Decimal("1.25"), "NUMERIC"), (True, "BOOL"), (dt.date(2024, 1, 1), "DATE"),
        (dt.datetime(2024, 1, 1, tzinfo=dt.UTC), "TIMESTAMP"),
        (dt.datetime(2024, 1, 1), "DATETIME"), (b"\x00", "BYTES"),
    ],
)  # fmt: skip
def test_parameter_types_follow_python_values(value, bq_type):
    assert param_type(value) == bq_type
    [param] = query_parameters({"p": value})
    assert (param.name, param.type_, param.value) == ("p", bq_type, value)


def test_lists_become_array_parameters_typed_by_their_items():
    [ints, empty] = query_parameters({"xs": [1, 2], "none": []})
    assert isinstance(ints, bigquery.ArrayQueryParameter)
    assert (ints.array_type, ints.values) == ("INT64", [1, 2])
    assert (empty.array_type, empty.values) == ("STRING", [])


def test_unsupported_parameter_values_are_refused():
    with pytest.raises(WarehouseError, match="parameter of type dict is not supported"):
        query_parameters({"d": {"a": 1}})


def test_queries_send_typed_parameters_and_return_dicts(warehouse, client):
    client.answer = lambda sql: [{"a": 1, "b": "x"}]
    assert warehouse.query("SELECT @a AS a", {"a": 1}) == [{"a": 1, "b": "x"}]
    (_, [param], _), = client.queries  # fmt: skip
    assert (param.name, param.type_) == ("a", "INT64")


def test_the_module_imports_the_sdk_lazily():
    code = (
        "import sys, lib.adapters.bigquery_warehouse, lib.adapters.pubsub_bus, "
        "lib.adapters.secret_manager; "
        "print(sorted(m for m in sys.modules if m.startswith(('google.cloud.', 'google.pubsub'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


@pytest.mark.integration
def test_merge_matches_null_keys_null_safely_on_the_emulator():
    from tests.support.bigquery import emulator_warehouse

    wh = emulator_warehouse()
    try:
        wh.ensure_dataset(REF.dataset)
        wh.ensure_table(REF, SPEC)
        rows = [row(model=None), row(model="o1")]  # type: ignore[arg-type]
        for _ in range(2):
            wh.write(REF, [batch(rows)], WriteSpec(mode="merge", keys=("run", "model")))
        assert wh.query("SELECT COUNT(*) AS n FROM `acme_raw_openai`.`costs`") == [{"n": 2}]
    finally:
        wh.close()


# --- statistics for traces -------------------------------------------------------------


class StatsJob(FakeJob):
    job_id = "job-7"
    total_bytes_processed = 2048
    total_bytes_billed = 10 * 1024 * 1024
    num_dml_affected_rows = 3


def test_job_statistics_reach_the_statement_span_and_the_step_meter(client, spans):
    from lib.step_telemetry import step_span
    from lib.traced_warehouse import TracedWarehouse

    client.query = lambda sql, job_config=None, **kw: StatsJob([{"n": 1}])
    wh = TracedWarehouse(
        BigQueryWarehouse(client, project=PROJECT, location="EU", retry_deadline=5)  # type: ignore[arg-type]
    )
    with step_span("step s", {}) as meter:
        assert wh.query("SELECT 1 AS n") == [{"n": 1}]
        wh.execute("DELETE FROM t WHERE TRUE")
    finished = {s.name: s for s in spans.get_finished_spans()}
    query = finished["warehouse.query"]
    assert query.attributes["db.system"] == "bigquery"
    assert query.attributes["db.bytes_billed"] == 10 * 1024 * 1024
    assert query.attributes["db.bytes_processed"] == 2048
    assert list(query.attributes["db.jobs"]) == ["job-7"]
    assert finished["warehouse.execute"].attributes["db.rows_affected"] == 3
    totals = meter.snapshot()
    assert totals["bytes_billed"] == 2 * 10 * 1024 * 1024 and totals["warehouse_statements"] == 2
    assert finished["step s"].attributes["convergence.bytes_billed"] == totals["bytes_billed"]
