"""Load-job payloads for the BigQuery adapter: Arrow batches spooled to Parquet or JSONL.

Batches are written one by one into a spooled temporary file (memory first, disk past a
few MiB) and cut into chunks of at most ``MAX_CHUNK_BYTES``; each chunk is one load job,
so a large source never sits in memory and a small one costs a single job. Tables with a
JSON column are loaded from JSONL because BigQuery cannot load JSON columns from Parquet.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import json
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from lib.errors import DataError

if TYPE_CHECKING:
    import pyarrow as pa

MAX_CHUNK_BYTES = 256 * 1024 * 1024
SPOOL_BYTES = 8 * 1024 * 1024
STAGING_TTL = dt.timedelta(hours=6)


@dataclass
class Chunk:
    """One load job's payload."""

    file: IO[bytes]
    rows: int
    columns: list[str]
    source_format: str  # "PARQUET" or "NEWLINE_DELIMITED_JSON"


def staging_expiry(now: dt.datetime) -> dt.datetime:
    """When an abandoned staging table expires by itself."""
    return now + STAGING_TTL


def chunks(
    batches: Iterable[pa.RecordBatch],
    fields: Mapping[str, Any],
    max_bytes: int = MAX_CHUNK_BYTES,
) -> Iterator[Chunk]:
    """Spool ``batches`` into load-job chunks.

    Args:
        batches: Arrow batches, all with the same column names.
        fields: the target table's ``bigquery.SchemaField`` by column name.
        max_bytes: start a new chunk once a file passes this size.

    Raises:
        DataError: a column is not in the table, or a JSON column holds invalid JSON.
    """
    writer: _Writer | None = None
    for batch in batches:
        if batch.num_rows == 0:
            continue
        check_batch(batch, fields)
        if writer is None:
            writer = _Writer.open(batch, fields)
        writer.write(batch)
        if writer.size() >= max_bytes:
            yield writer.finish()
            writer = None
    if writer is not None and writer.rows:
        yield writer.finish()


def check_batch(batch: pa.RecordBatch, fields: Mapping[str, Any]) -> None:
    """Refuse unknown columns and NULLs in REQUIRED columns before BigQuery sees them.

    Raises:
        DataError: naming the columns.
    """
    check_names(batch.schema.names, fields)
    for name in batch.schema.names:
        if fields[name].mode == "REQUIRED" and batch.column(name).null_count:
            raise DataError(f"column {name!r} is REQUIRED but the data holds NULLs")


def check_names(names: Iterable[str], known: Iterable[str]) -> None:
    """Refuse source columns the table does not have.

    Raises:
        DataError: naming the unknown columns.
    """
    columns = set(known)
    unknown = [name for name in names if name not in columns]
    if unknown:
        raise DataError(
            f"unknown columns {unknown}; add them to the table schema (new NULLABLE columns "
            "are added by ensure_table) or drop them from the source"
        )


def job_config(chunk: Chunk, schema: list[Any]) -> Any:
    """The ``LoadJobConfig`` appending ``chunk`` to a staging table of ``schema``."""
    from google.cloud import bigquery

    config = bigquery.LoadJobConfig(
        source_format=chunk.source_format,
        schema=schema,
        write_disposition=bigquery.WriteDisposition.WRITE_APPEND,
        create_disposition=bigquery.CreateDisposition.CREATE_NEVER,
    )
    if chunk.source_format == "PARQUET":
        options = bigquery.ParquetOptions()  # type: ignore[no-untyped-call]
        options.enable_list_inference = True
        config.parquet_options = options
    return config


class _Writer:
    """Appends batches to one spooled file as Parquet row groups or JSON lines."""

    def __init__(self, columns: list[str], json_columns: set[str], schema: pa.Schema) -> None:
        self.columns = columns
        self.json_columns = json_columns
        self.rows = 0
        # "r+b": the client refuses to upload streams whose mode is not a read mode.
        self.file: IO[bytes] = tempfile.SpooledTemporaryFile(  # noqa: SIM115
            max_size=SPOOL_BYTES, mode="r+b"
        )
        self._schema = schema
        self._parquet: Any = None
        if not json_columns:
            import pyarrow.parquet as pq

            self._parquet = pq.ParquetWriter(self.file, schema)

    @classmethod
    def open(cls, batch: pa.RecordBatch, fields: Mapping[str, Any]) -> _Writer:
        is_json = {n for n in batch.schema.names if fields[n].field_type.upper() == "JSON"}
        return cls(list(batch.schema.names), is_json, batch.schema)

    def write(self, batch: pa.RecordBatch) -> None:
        import pyarrow as pa

        if self._parquet is not None:
            table = pa.Table.from_batches([batch]).select(self.columns).cast(self._schema)
            self._parquet.write_table(table)
        else:
            for row in batch.to_pylist():
                self.file.write(_json_line(row, self.json_columns))
        self.rows += batch.num_rows

    def size(self) -> int:
        return self.file.tell()

    def finish(self) -> Chunk:
        if self._parquet is not None:
            self._parquet.close()
        self.file.seek(0)
        fmt = "NEWLINE_DELIMITED_JSON" if self.json_columns else "PARQUET"
        return Chunk(self.file, self.rows, self.columns, fmt)


def _json_line(row: Mapping[str, Any], json_columns: set[str]) -> bytes:
    """One JSONL record; JSON columns given as text are parsed so they load as JSON."""
    record = {key: _json_value(key, value, key in json_columns) for key, value in row.items()}
    return json.dumps(record, default=_encode, separators=(",", ":")).encode() + b"\n"


def _json_value(key: str, value: Any, is_json: bool) -> Any:
    if not is_json or not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except json.JSONDecodeError as exc:
        raise DataError(f"column {key!r} is JSON-typed but holds invalid JSON: {exc}") from exc


def _encode(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    raise TypeError(f"cannot encode {type(value).__name__} for a JSONL load")
