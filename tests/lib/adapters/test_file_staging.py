"""Warehouses read files in place (``FileReader.stage_files``): BigQuery external tables over
``gs://`` (requests checked against a recording client), the embedded engine local folders."""

from __future__ import annotations

from typing import Any

import pytest

from lib.ports import FileSet


class FakeTable:
    def __init__(self, schema: list[Any]) -> None:
        self.schema = schema


class RecordingClient:
    """Records create/delete requests; answers with the schema BigQuery would detect."""

    def __init__(self, detected: list[tuple[str, str]] | None) -> None:
        self.detected = detected
        self.created: list[Any] = []
        self.deleted: list[str] = []

    def create_dataset(self, spec: Any, exists_ok: bool, retry: Any) -> Any:
        spec.location = "EU"
        return spec

    def create_table(self, table: Any, retry: Any) -> FakeTable:
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        self.created.append(table)
        if self.detected is None:
            raise NotFound("Not found: Uris gs://b/p/*.parquet")
        config = table.external_data_configuration
        if config.schema:
            return FakeTable(list(config.schema))
        return FakeTable([bigquery.SchemaField(n, t) for n, t in self.detected])

    def delete_table(self, ref: str, not_found_ok: bool, retry: Any) -> None:
        self.deleted.append(ref)


def warehouse(client: RecordingClient) -> Any:
    from lib.adapters.bigquery_warehouse import BigQueryWarehouse

    return BigQueryWarehouse(client, project="proj", location="EU")  # type: ignore[arg-type]


def test_bigquery_reads_parquet_in_place_with_exact_decimals():
    client = RecordingClient([("BilledCost", "NUMERIC"), ("ChargePeriodStart", "TIMESTAMP")])
    files = FileSet("gs://acme-exports/aws/BILLING_PERIOD=2026-11", "parquet")
    with warehouse(client).stage_files(files) as staged:
        assert staged is not None
        assert dict(staged.columns) == {"BilledCost": "decimal", "ChargePeriodStart": "timestamp"}
        assert staged.file_column == "_FILE_NAME"
    [table] = client.created
    config = table.external_data_configuration
    assert config.source_uris == ["gs://acme-exports/aws/BILLING_PERIOD=2026-11/*.parquet"]
    assert set(config.decimal_target_types) == {"NUMERIC", "BIGNUMERIC", "STRING"}
    assert table.expires is not None  # an abandoned external table expires by itself
    assert len(client.deleted) == 1


def test_bigquery_reads_csv_columns_as_text_named_by_the_header():
    client = RecordingClient([("BilledCost", "FLOAT"), ("ServiceName", "STRING")])
    with warehouse(client).stage_files(FileSet("gs://b/azure/20261101-20261130", "csv")) as staged:
        assert staged is not None and set(staged.columns.values()) == {"string"}
    detect, text = client.created
    assert detect.external_data_configuration.autodetect is True
    config = text.external_data_configuration
    assert [(f.name, f.field_type) for f in config.schema] == [
        ("BilledCost", "STRING"), ("ServiceName", "STRING"),
    ]  # fmt: skip
    assert config.options.skip_leading_rows == 1


def test_bigquery_without_files_stages_nothing_and_local_paths_are_refused():
    from lib.errors import WarehouseError

    with warehouse(RecordingClient(None)).stage_files(FileSet("gs://b/p", "parquet")) as staged:
        assert staged is None
    with (
        pytest.raises(WarehouseError, match="gs://"),
        warehouse(RecordingClient([])).stage_files(FileSet("/tmp/exports", "csv")),
    ):
        pass


def test_the_embedded_engine_refuses_a_bucket_uri(tmp_path):
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.errors import WarehouseError

    wh = DuckDBWarehouse(tmp_path / "x.duckdb")
    try:
        with (
            pytest.raises(WarehouseError, match="local folders"),
            wh.stage_files(FileSet("gs://b/p", "parquet")),
        ):
            pass
    finally:
        wh.close()
