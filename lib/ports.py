"""Ports: the four Protocols pure logic talks to. Adapters live in ``lib/adapters``.

| port      | cloud adapter    | embedded default       |
|-----------|------------------|------------------------|
| Warehouse | BigQuery         | DuckDB file            |
| EventBus  | Pub/Sub          | in-process bus         |
| Secrets   | Secret Manager   | environment / ``.env`` |
| Clock     | system UTC       | fixed or system        |

All SQL handed to a Warehouse is BigQuery dialect with ``@name`` parameters.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    import pyarrow as pa

    from events.models import Event
    from lib.schema import TableSpec


@dataclass(frozen=True, order=True)
class TableRef:
    """A table in a dataset (a BigQuery dataset, a DuckDB schema). Both names are validated."""

    dataset: str
    table: str

    def __str__(self) -> str:
        return f"{self.dataset}.{self.table}"


@dataclass(frozen=True)
class Query:
    """BigQuery-dialect SQL with named ``@parameters``."""

    sql: str
    params: Mapping[str, Any] = field(default_factory=dict)


WriteMode = Literal["append", "overwrite", "merge"]


@dataclass(frozen=True)
class WriteSpec:
    """How a write lands, applied atomically (all rows or none).

    Attributes:
        mode: ``append`` inserts; ``overwrite`` replaces the whole table; ``merge`` upserts
            on ``keys``.
        keys: merge keys (required for ``merge``). With ``replace_dates`` they identify a
            row only to count the rows a new answer no longer contains (``removed``).
        replace: for ``append``: delete rows whose columns equal these values first, in the
            same transaction (how a (run, step) replaces its own earlier partial rows).
        replace_range: for ``append``: delete rows whose ``column`` lies in
            ``[low, high]`` first.
        replace_dates: for ``append``: ``(column, days)`` — delete rows whose column's UTC
            date is one of ``days`` first; every written row must fall on one of them (a
            row outside is refused: it would never be replaced). How a snapshot source's
            answer for a window replaces ours, and how a transform re-derives exactly the
            days that changed.
            ``replace``, ``replace_range`` and ``replace_dates`` combine with AND: only rows
            in every scope are replaced (e.g. one provider's rows of some days).
        date_column: the column whose UTC date places a row on a usage day; the write then
            reports the days it touched (:attr:`WriteResult.dates`). Defaults to the
            ``replace_dates`` column.
    """

    mode: WriteMode = "append"
    keys: tuple[str, ...] = ()
    replace: Mapping[str, Any] | None = None
    replace_range: tuple[str, Any, Any] | None = None
    replace_dates: tuple[str, tuple[dt.date, ...]] | None = None
    date_column: str | None = None

    @property
    def dated_by(self) -> str | None:
        """The column whose UTC dates the write reports, if any."""
        return self.date_column or (self.replace_dates[0] if self.replace_dates else None)

    @property
    def scoped(self) -> bool:
        """Whether an append first deletes a scope of existing rows."""
        return bool(self.replace or self.replace_range or self.replace_dates)


@dataclass(frozen=True)
class WriteResult:
    """What a write did.

    Attributes:
        rows: rows written (the rows of the source).
        replaced: existing rows the write deleted or updated (its scope, or merge matches).
        removed: with ``replace_dates`` and ``keys``: replaced rows whose key the new rows
            do not contain — line items the provider no longer reports.
        dates: UTC days of every row written or replaced, when the spec names a date
            column (empty otherwise): what downstream steps must re-derive.
    """

    rows: int
    replaced: int = 0
    removed: int = 0
    dates: frozenset[dt.date] = frozenset()


class Capability(StrEnum):
    """What an engine can do that another cannot; code asks ``Warehouse.capabilities``."""

    WILDCARD_TABLES = "wildcard_tables"
    """``FROM `project.dataset.prefix*``` reads every matching table (the billing export)."""
    PARTITIONING = "partitioning"
    """Tables are partitioned by ``TableSpec.partition_field``."""
    CLUSTERING = "clustering"
    """Tables are clustered by ``TableSpec.cluster_by``."""
    LABELS = "labels"
    """Datasets carry labels."""
    FILES = "files"
    """Files in a folder (``gs://`` or local) read in place as a table (:class:`FileReader`)."""


@runtime_checkable
class Warehouse(Protocol):
    """Datasets, tables, atomic writes and BigQuery-dialect queries."""

    name: str
    capabilities: frozenset[Capability]
    """What this engine can do (partitioning, wildcard tables, …): never probe with getattr."""

    def ensure_dataset(self, dataset: str, labels: Mapping[str, str] | None = None) -> None:
        """Create the dataset if missing."""

    def ensure_table(self, table: TableRef, spec: TableSpec) -> list[str]:
        """Create the table, or add new NULLABLE columns; return the columns added.

        Raises:
            SchemaChangeError: an incompatible change (type change, dropped REQUIRED column).
        """

    def table_exists(self, table: TableRef) -> bool:
        """Whether the table exists."""

    def list_tables(self, dataset: str) -> list[str]:
        """Table names in ``dataset`` (empty if the dataset does not exist)."""

    def write(
        self, table: TableRef, source: Iterable[pa.RecordBatch] | Query, spec: WriteSpec
    ) -> WriteResult:
        """Stream Arrow batches (or a query's result) into ``table`` atomically.

        Raises:
            DataError: a row does not fit, merge keys repeat, or a row lies outside
                ``replace_dates``.
        """

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run a BigQuery-dialect query and return its rows as dicts."""

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run BigQuery-dialect statements (DDL/DML, may be a multi-statement script)."""

    def close(self) -> None:
        """Release connections."""


FileFormat = Literal["parquet", "csv"]
ColumnKind = Literal["string", "integer", "float", "decimal", "bool", "date", "timestamp", "other"]


@dataclass(frozen=True)
class FileSet:
    """Files a warehouse reads as one table, in place (no row passes through Python).

    Attributes:
        location: the folder, as the warehouse reads it: ``gs://bucket/path`` (BigQuery) or
            a local folder (the embedded engine); every file below it with ``format``'s
            suffix is read, in any sub-folder.
        format: ``parquet`` or ``csv`` (a header line; every CSV column is read as text, so
            decimals stay exact until the SQL casts them).
    """

    location: str
    format: FileFormat

    @property
    def suffix(self) -> str:
        """The file name suffix read: ``.parquet`` or ``.csv``."""
        return f".{self.format}"


@dataclass(frozen=True)
class StagedFiles:
    """Files exposed as a table for the duration of a ``stage_files`` block.

    Attributes:
        table: the table (a view or an external table) a BigQuery query can read.
        columns: the files' columns (union by name), each with the kind of its values.
        file_column: the (pseudo-)column naming the file of each row.
        files: how many files it reads (0 when the warehouse cannot tell before reading).
    """

    table: TableRef
    columns: Mapping[str, ColumnKind]
    file_column: str
    files: int = 0


@runtime_checkable
class FileReader(Protocol):
    """Capability of a warehouse that reads files in place (FOCUS exports)."""

    def stage_files(self, files: FileSet) -> AbstractContextManager[StagedFiles | None]:
        """Expose the files of ``files`` as a table while the block runs (None: no file).

        Raises:
            WarehouseError: the location cannot be read by this warehouse.
            DataError: a file cannot be read as ``files.format``.
        """


@dataclass(frozen=True)
class DeadLetter:
    """An event that exhausted its delivery attempts."""

    message_id: str
    topic: str
    subscription: str
    attributes: Mapping[str, str]
    data: bytes
    dead_lettered_at: dt.datetime
    attempts: int
    last_error: str = ""


@dataclass(frozen=True)
class DeadLetterFilter:
    """Which dead letters to select for listing or replay."""

    tenant_id: str | None = None
    pipeline_id: str | None = None
    since: dt.datetime | None = None
    until: dt.datetime | None = None

    def matches(self, letter: DeadLetter) -> bool:
        """Whether ``letter`` passes every set criterion."""
        attrs = letter.attributes
        return (
            (self.tenant_id is None or attrs.get("tenant_id") == self.tenant_id)
            and (self.pipeline_id is None or attrs.get("pipeline_id") == self.pipeline_id)
            and (self.since is None or letter.dead_lettered_at >= self.since)
            and (self.until is None or letter.dead_lettered_at <= self.until)
        )


@dataclass(frozen=True)
class Rejected:
    """A delivered message no handler can ever process (a poison message) and why.

    ``topic`` is the topic it was published to; ``subscription`` the one that delivered it
    (empty when the delivery does not say). ``data`` and ``attributes`` are kept as received.
    """

    topic: str
    subscription: str
    message_id: str
    attributes: Mapping[str, str]
    data: bytes
    reason: str


@runtime_checkable
class EventBus(Protocol):
    """Publishes events to their topic; lists and replays dead letters."""

    def publish(self, event: Event) -> str:
        """Publish ``event`` to ``event.TOPIC``; return the message id."""

    def reject(self, rejected: Rejected) -> str:
        """Dead-letter a poison message at once, with its reason; return the letter's id.

        The raw message goes to its topic's dead-letter topic (where ``replay`` finds it), so
        the caller can acknowledge the delivery: nothing is retried, nothing is lost.

        Raises:
            UnknownTopic: the topic has no dead-letter topic in the topology.
            TransientError: the dead letter could not be stored; do not acknowledge.
        """

    def dead_letters(self, selection: DeadLetterFilter) -> Sequence[DeadLetter]:
        """Dead-lettered messages matching ``selection``."""

    def replay(self, selection: DeadLetterFilter, *, dry_run: bool = False) -> list[DeadLetter]:
        """Move matching dead letters back to their source topic; return what moved."""

    def check(self) -> None:
        """Return when the bus can be reached (readiness probes).

        Raises:
            TransientError: the bus (or its state) cannot be reached; names what failed.
            UnknownTopic: the topology is not created where the bus looks for it.
        """

    def close(self) -> None:
        """Release the bus's connections (its runtime is done with it)."""


@runtime_checkable
class Secrets(Protocol):
    """Per-tenant secret values. Never log what this returns."""

    def get(self, tenant_id: str, name: str) -> str:
        """The secret ``name`` of ``tenant_id``.

        Raises:
            SecretNotFound: naming the secret and the tenant, never a value.
        """


@runtime_checkable
class Clock(Protocol):
    """The only source of 'now'."""

    def now(self) -> dt.datetime:
        """Current time, timezone-aware UTC."""
