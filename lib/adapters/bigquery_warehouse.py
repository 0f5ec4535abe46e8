"""The BigQuery warehouse adapter: the cloud implementation of the Warehouse port.

Datasets are created in one location with labels; tables follow a ``TableSpec`` (DAY
partitioning on ``partition_field``, clustering); writes stream Arrow batches through
**load jobs** (Parquet, or JSONL when a JSON column is loaded, because BigQuery cannot load
JSON columns from Parquet) into a staging table, then land with ONE atomic statement
(see ``bigquery_sql``). Vendor errors are translated here: 5xx, rate limits and timeouts
become ``WarehouseUnavailable`` (retry); everything else a ``WarehouseError`` naming the
table and the cause. ``google.cloud.bigquery`` is imported lazily for fast cold starts.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from lib.adapters import bigquery_load as load
from lib.adapters.bigquery_load import check_names
from lib.adapters.bigquery_schema import evolve, to_bq_field
from lib.adapters.bigquery_sql import (
    key_check_sql,
    measure_statement,
    outside_dates_sql,
    qualified_table,
    query_parameters,
    stage_query_statement,
    write_statement,
)
from lib.clock import SystemClock
from lib.errors import ConvergenceError, DataError, WarehouseError, WarehouseUnavailable
from lib.ports import (
    Capability,
    Clock,
    ColumnKind,
    FileSet,
    Query,
    StagedFiles,
    TableRef,
    WriteResult,
    WriteSpec,
)
from lib.step_telemetry import observe_job

if TYPE_CHECKING:
    import pyarrow as pa
    from google.cloud import bigquery

    from lib.schema import TableSpec

STAGING_PREFIX = "_convergence_staging_"
FILES_DATASET = "_convergence_files"
"""Dataset of the external tables ``stage_files`` creates (deleted when its block ends)."""
FILE_COLUMN = "_FILE_NAME"
"""BigQuery's pseudo-column naming the file of an external table's row."""
_KINDS: dict[str, ColumnKind] = {
    "STRING": "string", "INTEGER": "integer", "INT64": "integer", "FLOAT": "float",
    "FLOAT64": "float", "NUMERIC": "decimal", "BIGNUMERIC": "decimal", "BOOLEAN": "bool",
    "BOOL": "bool", "DATE": "date", "TIMESTAMP": "timestamp", "DATETIME": "timestamp",
}  # fmt: skip
TRANSIENT_REASONS = frozenset(
    {"backendError", "internalError", "rateLimitExceeded", "jobRateLimitExceeded",
     "quotaExceeded", "jobInternalError"}
)  # fmt: skip


class BigQueryWarehouse:
    """Warehouse port on BigQuery through the official client.

    Args:
        client: a ``google.cloud.bigquery.Client``.
        project: the project holding the tenant datasets.
        location: where datasets live and jobs run (``EU``, ``US``, ``europe-west1`` …).
        labels: labels put on every dataset created.
        retry_deadline: seconds the client may retry one API call (tests use a few seconds).
        kms_key_name: optional CMEK key every dataset created defaults to (its tables with it).
    """

    name = "bigquery"
    capabilities: frozenset[Capability] = frozenset(Capability)
    """Partitioning, clustering, dataset labels and wildcard tables (the billing export)."""

    def __init__(
        self,
        client: bigquery.Client,
        *,
        project: str,
        location: str,
        labels: Mapping[str, str] | None = None,
        retry_deadline: float = 600.0,
        kms_key_name: str | None = None,
        clock: Clock | None = None,
    ) -> None:
        from google.cloud import bigquery
        from google.cloud.bigquery.retry import DEFAULT_JOB_RETRY

        self._client = client
        self._project = project
        self._location = location
        self._labels = dict(labels or {})
        self._kms_key_name = kms_key_name
        self._clock = clock or SystemClock()
        self._retry = bigquery.DEFAULT_RETRY.with_deadline(retry_deadline)
        self._job_retry = DEFAULT_JOB_RETRY.with_deadline(retry_deadline)

    # --- datasets and tables ------------------------------------------------------------

    def ensure_dataset(self, dataset: str, labels: Mapping[str, str] | None = None) -> None:
        """Create ``dataset`` in the configured location if missing.

        Raises:
            WarehouseError: the dataset exists in another location.
        """
        from google.cloud import bigquery

        spec = bigquery.Dataset(f"{self._project}.{dataset}")
        spec.location = self._location
        spec.labels = {**self._labels, **(labels or {})}
        if self._kms_key_name:  # CMEK: every table created in the dataset uses this key
            spec.default_encryption_configuration = bigquery.EncryptionConfiguration(
                kms_key_name=self._kms_key_name
            )
        with bigquery_errors(f"dataset {dataset}"):
            found = self._client.create_dataset(spec, exists_ok=True, retry=self._retry)
        if (found.location or "").lower() != self._location.lower():
            raise WarehouseError(
                f"dataset {dataset} is in location {found.location}, but Convergence writes "
                f"to {self._location}; set CONVERGENCE_BQ_LOCATION={found.location} or move "
                "the dataset"
            )

    def ensure_table(self, table: TableRef, spec: TableSpec) -> list[str]:
        """Create ``table`` from ``spec``, or add its new NULLABLE columns.

        Returns:
            The names of the columns added to an existing table.

        Raises:
            SchemaChangeError: the spec changes a column incompatibly.
        """
        live = self._get_table(table)
        if live is None:
            self._create_table(table, spec)
            return []
        from google.cloud import bigquery

        current = [f.to_api_repr() for f in live.schema]
        schema, added = evolve(table, current, spec.fields)
        if schema == current:
            return []
        live.schema = [bigquery.SchemaField.from_api_repr(f) for f in schema]
        with bigquery_errors(f"table {table}"):
            self._client.update_table(live, ["schema"], retry=self._retry)
        return added

    def table_exists(self, table: TableRef) -> bool:
        """Whether ``table`` exists."""
        return self._get_table(table) is not None

    def list_tables(self, dataset: str) -> list[str]:
        """Table names of ``dataset`` (staging tables hidden); empty if it does not exist."""
        from google.api_core.exceptions import NotFound

        ref = f"{self._project}.{dataset}"
        try:
            with bigquery_errors(f"dataset {dataset}"):
                tables = list(self._client.list_tables(ref, retry=self._retry))
        except WarehouseError as exc:
            if isinstance(exc.__cause__, NotFound):
                return []
            raise
        return sorted(t.table_id for t in tables if not t.table_id.startswith(STAGING_PREFIX))

    # --- writes -----------------------------------------------------------------------

    def write(
        self, table: TableRef, source: Iterable[pa.RecordBatch] | Query, spec: WriteSpec
    ) -> WriteResult:
        """Land ``source`` in ``table`` atomically as ``spec`` says.

        Returns:
            Rows written, rows replaced or removed, and the days touched (``WriteResult``).

        Raises:
            DataError: merge keys repeat, or a row lies outside ``replace_dates``.
            WarehouseError: the table is missing, a load was rejected, or the spec is wrong.
            WarehouseUnavailable: BigQuery asked us to back off or failed on its side.
        """
        live = self._get_table(table)
        if live is None:
            raise WarehouseError(
                f"cannot write to {table}: table does not exist; ensure_table first"
            )
        staging = TableRef(table.dataset, f"{STAGING_PREFIX}{table.table}_{uuid.uuid4().hex[:12]}")
        try:
            rows, columns = self._stage(table, staging, live.schema, source)
            if rows == 0 and spec.mode == "append" and not spec.scoped:
                return WriteResult(rows=0)
            statement = write_statement(self._project, table, staging, columns, spec)
            if spec.mode == "merge":
                self._check_keys(table, staging, spec.keys)
            if spec.replace_dates:
                self._check_dates(table, staging, spec.replace_dates)
            result = WriteResult(rows=rows)
            if spec.mode != "append" or spec.scoped or spec.dated_by:
                result = self._measure(table, staging, spec, rows)
            self._run(statement.sql, statement.params, f"write to {table}")
            return result
        finally:
            self._drop_quietly(staging)

    def _stage(
        self,
        table: TableRef,
        staging: TableRef,
        schema: list[Any],
        source: Iterable[pa.RecordBatch] | Query,
    ) -> tuple[int, list[str]]:
        try:
            if isinstance(source, Query):
                return self._stage_query(staging, source, schema)
            return self._stage_batches(staging, schema, source)
        except DataError as exc:
            raise DataError(f"write to {table}: {exc}") from exc

    def _check_keys(self, table: TableRef, staging: TableRef, keys: tuple[str, ...]) -> None:
        rows = self.query(key_check_sql(self._project, staging, keys))
        if not rows:
            return
        sample = {k: rows[0][k] for k in keys}
        raise DataError(
            f"merge into {table}: the source has duplicate keys, e.g. {sample!r}; "
            "deduplicate the source or add key columns"
        )

    def _check_dates(
        self, table: TableRef, staging: TableRef, dates: tuple[str, tuple[Any, ...]]
    ) -> None:
        column, days = dates
        if not days:
            return
        sql = outside_dates_sql(self._project, staging, column)
        outside = [r["d"] for r in self.query(sql, {"replace_dates": sorted(days)})]
        if outside:
            raise DataError(
                f"write to {table}: rows fall on {', '.join(map(str, outside))} ({column}), "
                "outside the days being "
                f"replaced; such rows would never be replaced. Filter the source to those days "
                "(transform SQL: WHERE ... IN UNNEST(@dates))"
            )

    def _measure(
        self, table: TableRef, staging: TableRef, spec: WriteSpec, rows: int
    ) -> WriteResult:
        statement = measure_statement(self._project, table, staging, spec)
        row = self.query(statement.sql, statement.params)[0]
        return WriteResult(
            rows=rows,
            replaced=int(row["replaced"]),
            removed=int(row["removed"]),
            dates=frozenset(row["dates"] or ()),
        )

    def _stage_batches(
        self, staging: TableRef, schema: list[Any], batches: Iterable[pa.RecordBatch]
    ) -> tuple[int, list[str]]:
        chunks = load.chunks(batches, {f.name: f for f in schema})
        first = next(chunks, None)
        columns = first.columns if first else [f.name for f in schema]
        fields = [f for f in schema if f.name in set(columns)]
        self._create_staging(staging, fields)
        rows = 0
        for chunk in [first, *chunks] if first else []:
            config = load.job_config(chunk, fields)
            with bigquery_errors(f"load into {staging}", rejected=DataError):
                job = self._client.load_table_from_file(
                    chunk.file, table_path(self._project, staging), job_config=config,
                    location=self._location, rewind=True,
                )  # fmt: skip
                job.result(retry=self._retry)
            _observe(job)
            rows += chunk.rows
        return rows, columns

    def _stage_query(
        self, staging: TableRef, source: Query, schema: list[Any]
    ) -> tuple[int, list[str]]:
        sql = stage_query_statement(self._project, staging, source.sql)
        self._run(sql, source.params, f"query into {staging}")
        with bigquery_errors(f"table {staging}"):
            created = self._client.get_table(table_path(self._project, staging))
        # BigQuery column names are case-insensitive: name the staged columns as the table does.
        known = {f.name.lower(): f.name for f in schema}
        columns = [known.get(f.name.lower(), f.name) for f in created.schema]
        check_names(columns, known.values())
        count = self.query(f"SELECT COUNT(*) AS n FROM {qualified_table(self._project, staging)}")
        return int(count[0]["n"]), columns

    # --- files --------------------------------------------------------------------------

    @contextmanager
    def stage_files(self, files: FileSet) -> Iterator[StagedFiles | None]:
        """Expose the files under a ``gs://`` folder as an external table (None: no file).

        BigQuery reads the files where they are (no row passes through this process). Parquet
        keeps its types (decimals as NUMERIC/BIGNUMERIC); a CSV's column names come from its
        header and every column is read as STRING, so decimals stay exact until the SQL casts.

        Raises:
            WarehouseError: the location is not a ``gs://`` folder, or BigQuery refused it.
        """
        if not files.location.startswith("gs://"):
            raise WarehouseError(
                f"the BigQuery warehouse reads files from gs:// folders, not "
                f"{files.location[:80]!r}; copy the export into a bucket"
            )
        self.ensure_dataset(FILES_DATASET)
        ref = TableRef(FILES_DATASET, f"files_{uuid.uuid4().hex[:12]}")
        uri = f"{files.location.rstrip('/')}/*{files.suffix}"
        try:
            schema = self._external_table(ref, uri, files.format, None)
            if schema is None:
                yield None
                return
            if files.format == "csv":
                self._drop_quietly(ref)
                schema = self._external_table(ref, uri, "csv", [f.name for f in schema])
                assert schema is not None
            kinds = {f.name: _KINDS.get(f.field_type, "other") for f in schema}
            yield StagedFiles(ref, kinds, FILE_COLUMN)
        finally:
            self._drop_quietly(ref)

    def _external_table(
        self, ref: TableRef, uri: str, file_format: str, text_columns: list[str] | None
    ) -> list[Any] | None:
        """Create the external table; its schema, or None when no file matches ``uri``."""
        from google.api_core.exceptions import NotFound
        from google.cloud import bigquery

        config = bigquery.ExternalConfig("PARQUET" if file_format == "parquet" else "CSV")
        config.source_uris = [uri]
        if file_format == "parquet":
            config.decimal_target_types = ["NUMERIC", "BIGNUMERIC", "STRING"]
            config.autodetect = True
        elif text_columns is None:
            config.autodetect = True
        else:
            config.schema = [bigquery.SchemaField(n, "STRING") for n in text_columns]
            csv_options = config.options
            assert isinstance(csv_options, bigquery.CSVOptions)
            csv_options.skip_leading_rows = 1
        table = bigquery.Table(table_path(self._project, ref))
        table.external_data_configuration = config
        table.expires = load.staging_expiry(self._clock.now())
        try:
            with bigquery_errors(f"files {uri}"):
                created = self._client.create_table(table, retry=self._retry)
        except WarehouseError as exc:
            if isinstance(exc.__cause__, NotFound):
                return None
            raise
        return list(created.schema)

    # --- queries ----------------------------------------------------------------------

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a BigQuery-dialect query; rows as dicts of Python values."""
        rows = self._run(sql, params, "query")
        return [dict(row.items()) for row in rows]

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run statements (DDL, DML or a multi-statement script)."""
        self._run(sql, params, "statement")

    def close(self) -> None:
        """Close the client's HTTP session."""
        self._client.close()  # type: ignore[no-untyped-call]

    # --- internals --------------------------------------------------------------------

    def _run(self, sql: str, params: Mapping[str, Any] | None, what: str) -> Any:
        from google.cloud import bigquery

        config = bigquery.QueryJobConfig(query_parameters=query_parameters(params))
        with bigquery_errors(what):
            job = self._client.query(
                sql, job_config=config, location=self._location, project=self._project,
                retry=self._retry, job_retry=self._job_retry,
            )  # fmt: skip
            result = job.result(retry=self._retry)
        _observe(job)
        return result

    def _get_table(self, table: TableRef) -> Any:
        from google.api_core.exceptions import NotFound

        try:
            with bigquery_errors(f"table {table}"):
                return self._client.get_table(table_path(self._project, table), retry=self._retry)
        except WarehouseError as exc:
            if isinstance(exc.__cause__, NotFound):
                return None
            raise

    def _create_table(self, table: TableRef, spec: TableSpec) -> None:
        from google.cloud import bigquery

        bq_table = bigquery.Table(
            table_path(self._project, table), schema=[to_bq_field(f) for f in spec.fields]
        )
        if spec.partition_field:
            bq_table.time_partitioning = bigquery.TimePartitioning(
                type_=bigquery.TimePartitioningType.DAY, field=spec.partition_field
            )
        if spec.cluster_by:
            bq_table.clustering_fields = list(spec.cluster_by)
        bq_table.description = spec.description or None
        with bigquery_errors(f"table {table}"):
            self._client.create_table(bq_table, exists_ok=True, retry=self._retry)

    def _create_staging(self, staging: TableRef, fields: list[Any]) -> None:
        from google.cloud import bigquery

        bq_table = bigquery.Table(table_path(self._project, staging), schema=fields)
        bq_table.expires = load.staging_expiry(self._clock.now())
        with bigquery_errors(f"table {staging}"):
            self._client.create_table(bq_table, retry=self._retry)

    def _drop_quietly(self, staging: TableRef) -> None:
        # A failed drop is harmless: staging tables expire by themselves.
        with suppress(Exception):
            self._client.delete_table(
                table_path(self._project, staging), not_found_ok=True, retry=self._retry
            )


def _observe(job: Any) -> None:
    """Report a finished job's statistics to the statement's span (lib/step_telemetry.py)."""
    observe_job(
        job_id=getattr(job, "job_id", None),
        bytes_processed=getattr(job, "total_bytes_processed", None),
        bytes_billed=getattr(job, "total_bytes_billed", None),
        rows_affected=getattr(job, "num_dml_affected_rows", None),
    )


def bigquery_client(project: str, location: str, endpoint: str | None = None) -> Any:
    """A ``bigquery.Client``: Google's endpoint with the ambient credentials, or ``endpoint``
    (an emulator's REST address) with anonymous ones."""
    from google.cloud import bigquery

    if endpoint is None:
        return bigquery.Client(project=project, location=location)
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return bigquery.Client(
        project=project,
        location=location,
        credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
        client_options=ClientOptions(api_endpoint=endpoint),
    )


def table_path(project: str, table: TableRef) -> str:
    """The ``project.dataset.table`` string the client's table APIs take."""
    return f"{project}.{table.dataset}.{table.table}"


@contextmanager
def bigquery_errors(
    what: str, rejected: type[WarehouseError] | type[DataError] = WarehouseError
) -> Iterator[None]:
    """Translate BigQuery client errors raised inside the block into our error classes.

    Raises:
        WarehouseUnavailable: 5xx, 429, rate-limit reasons, timeouts, connection failures.
        WarehouseError: any other API error, naming ``what`` and the cause (``rejected``
            picks a more precise terminal class, e.g. DataError for a refused load).
    """
    try:
        yield
    except ConvergenceError:
        raise
    except Exception as exc:
        error = classify(exc, what)
        if isinstance(error, WarehouseError) and rejected is not WarehouseError:
            raise rejected(str(error)) from exc
        raise error from exc


def classify(exc: BaseException, what: str) -> WarehouseError | WarehouseUnavailable:
    """The Convergence error for a BigQuery client exception raised while doing ``what``."""
    from google.api_core import exceptions as gexc

    cause = describe(exc)
    transient = (
        isinstance(exc, gexc.ServerError | gexc.TooManyRequests | gexc.RetryError | TimeoutError)
        or _is_connection_error(exc)
        or bool(reasons(exc) & TRANSIENT_REASONS)
    )
    if transient:
        return WarehouseUnavailable(f"BigQuery unavailable during {what}: {cause}; retry later")
    return WarehouseError(f"BigQuery rejected {what}: {cause}")


def reasons(exc: BaseException) -> set[str]:
    """The ``reason`` codes of a Google API error (empty for other exceptions)."""
    errors = getattr(exc, "errors", None) or []
    return {str(e.get("reason")) for e in errors if isinstance(e, dict) and e.get("reason")}


def describe(exc: BaseException) -> str:
    """A one-line cause: the first API error message and reason, else the exception text."""
    errors = getattr(exc, "errors", None) or []
    first = errors[0] if errors and isinstance(errors[0], dict) else None
    if first and first.get("message"):
        return f"{first['message']} (reason: {first.get('reason', 'unknown')})"
    message = getattr(exc, "message", None) or str(exc)
    return message.splitlines()[0] if message else type(exc).__name__


def _is_connection_error(exc: BaseException) -> bool:
    import requests

    return isinstance(exc, requests.ConnectionError | requests.Timeout | ConnectionError)
