"""Warehouse adapter for an embedded DuckDB file: the local and test default.

Datasets are DuckDB schemas; SQL arrives in BigQuery dialect and is translated by
:func:`lib.sql.translate` (untranslatable SQL raises, it is never run half-right).

* Types: one table, :data:`DUCKDB_TYPES` (NUMERIC → DECIMAL(38,9), TIMESTAMP → TIMESTAMPTZ,
  JSON → JSON, RECORD → STRUCT, REPEATED → LIST, REQUIRED → NOT NULL). Sub-fields of a
  RECORD cannot be NOT NULL in DuckDB, so REQUIRED is enforced on top-level columns only.
* Partitioning, clustering and labels do not exist here (capability flags below); the table
  comment records the partition field and clustering so nothing is lost silently.
* Writes stream the Arrow batches (one INSERT reading a RecordBatchReader) or a query's
  result (without leaving DuckDB) into a per-call TEMP staging table, then apply delete +
  insert in ONE transaction.
* Query results are Python values: Decimal for NUMERIC, aware UTC datetimes for TIMESTAMP,
  naive datetimes for DATETIME, dates, and parsed JSON (dict/list/…) for top-level JSON
  columns (JSON nested inside a STRUCT or LIST stays JSON text).
* Threads: every call uses its own cursor (DuckDB's per-thread connection); DDL and the
  apply phase of writes take one lock so concurrent tenants never conflict.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import functools
import json
import re
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
from sqlglot import exp

from lib import faultpoints
from lib.adapters.duckdb_schema import (
    column_ddl,
    evolve,
    normalise_type,
    table_comment,
)
from lib.errors import (
    ConvergenceError,
    DataError,
    WarehouseError,
    WarehouseUnavailable,
)
from lib.ports import (
    Capability,
    ColumnKind,
    FileSet,
    Query,
    StagedFiles,
    TableRef,
    WriteResult,
    WriteSpec,
)
from lib.sql import Statement, check_identifier, snippet, table_sql, translate

if TYPE_CHECKING:
    import pyarrow as pa

    from lib.schema import TableSpec

__all__ = ["DuckDBWarehouse"]

_STAGE = '"_convergence_stage"'
FILES_DATASET = "_convergence_files"
"""Schema of the views ``stage_files`` creates (dropped when its block ends)."""
_READERS = {
    "parquet": "read_parquet({paths}, union_by_name = true, filename = true)",
    "csv": "read_csv({paths}, header = true, all_varchar = true, union_by_name = true, "
    "filename = true)",
}
_DML = ("INSERT", "UPDATE", "DELETE", "MERGE", "SELECT", "WITH")
_VALUES_INSERT = re.compile(r"(?is)^\s*INSERT\s+INTO\s+[^()]+\([^()]*\)\s+VALUES\s(?!.*\bSELECT\b)")
"""``INSERT INTO t (columns) VALUES (...)`` with no query inside: an append of literal rows."""
_BATCH = "_convergence_batch"
_ARROW = "<arrow batch>"
Columns = dict[str, tuple[str, bool]]
"""Column name → (normalised DuckDB type, nullable)."""


@functools.lru_cache(maxsize=4096)
def _q(name: str) -> str:
    return exp.to_identifier(name, quoted=True).sql("duckdb")


@contextmanager
def _translated(what: str) -> Iterator[None]:
    """Turn duckdb exceptions into lib.errors classes that name ``what``."""
    try:
        yield
    except ConvergenceError:
        raise
    except duckdb.IOException as exc:
        raise WarehouseUnavailable(
            f"{what}: DuckDB file unavailable ({exc}); retry, or stop the other process using it"
        ) from exc
    except duckdb.TransactionException as exc:
        raise WarehouseUnavailable(f"{what}: conflicting concurrent write ({exc}); retry") from exc
    except (duckdb.ConstraintException, duckdb.ConversionException) as exc:
        raise DataError(f"{what}: the data does not fit the table: {exc}") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"{what}: DuckDB rejected the request: {exc}") from exc


class DuckDBWarehouse:
    """The Warehouse port on a DuckDB file.

    Args:
        path: database file (``":memory:"`` for a throwaway database).
        on_statement: called with every SQL statement just before DuckDB runs it (the
            DuckDB text, after translation), e.g. to assert what the warehouse received.

    Raises:
        WarehouseUnavailable: the file is locked by another process or unreadable.
    """

    name = "duckdb"
    capabilities: frozenset[Capability] = frozenset({Capability.FILES})
    """No partitioning, clustering, labels or wildcard tables: the table comment records the
    partition field and clustering; readers UNION ALL over ``list_tables`` for wildcards."""
    """No ``prefix*`` wildcard tables: readers UNION ALL over ``list_tables`` instead."""

    def __init__(
        self,
        path: Path | str,
        *,
        on_statement: Callable[[str], None] | None = None,
        memory_limit: str = "50%",
        threads: int | None = None,
    ) -> None:
        """Open (or create) the DuckDB file.

        Args:
            path: the database file.
            on_statement: called with every SQL statement sent to DuckDB.
            memory_limit: DuckDB's buffer limit, a size (``4GB``) or a share of the
                machine's memory (``50%``, the default): big loads and queries run in
                memory up to it and spill to disk beyond it, so peak memory stays bounded
                however many rows a load streams.
            threads: threads per statement (default: one per core). One suits many small
                statements from several workers at once; more suit few big queries.
        """
        self._on_statement = on_statement
        self._lock = threading.RLock()
        self._known: dict[TableRef, Columns] = {}
        """Columns of tables this adapter has seen; dropped whenever it changes a table."""
        self._ensured: dict[TableRef, TableSpec] = {}
        """The spec each known table was last ensured with (ensuring it again is a no-op)."""
        self._datasets: set[str] = set()
        with _translated(f"DuckDB file {path}"):
            self._con = duckdb.connect(
                str(path),
                config={
                    "memory_limit": memory_size(memory_limit),
                    **({"threads": threads} if threads else {}),
                    # Never download or load an extension because SQL named one of its
                    # functions: json, icu and parquet (all this adapter needs) are built in.
                    "autoinstall_known_extensions": False,
                    "autoload_known_extensions": False,
                },
            )
            self._run(self._con, "SET GLOBAL TimeZone = 'UTC'")

    # --- plumbing -----------------------------------------------------------------------

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        cur = self._con.cursor()
        try:
            yield cur
        finally:
            cur.close()

    def _run(
        self, cur: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
    ) -> duckdb.DuckDBPyConnection:
        if self._on_statement is not None:
            self._on_statement(sql)
        return cur.execute(sql, dict(params)) if params else cur.execute(sql)

    def _columns(self, cur: duckdb.DuckDBPyConnection, table: TableRef) -> Columns:
        known = self._known.get(table)
        if known is not None:
            return known
        sql = (
            "SELECT column_name, data_type, is_nullable FROM information_schema.columns "
            "WHERE table_catalog = current_database() AND table_schema = $dataset "
            "AND table_name = $table ORDER BY ordinal_position"
        )
        rows = self._run(cur, sql, {"dataset": table.dataset, "table": table.table}).fetchall()
        columns = {name: (normalise_type(kind), nullable == "YES") for name, kind, nullable in rows}
        if columns:
            self._known[table] = columns
        return columns

    # --- datasets and tables ------------------------------------------------------------

    def ensure_dataset(self, dataset: str, labels: Mapping[str, str] | None = None) -> None:
        """Create the schema ``dataset`` if missing (labels are not supported and ignored)."""
        if dataset in self._datasets:
            return
        sql = f"CREATE SCHEMA IF NOT EXISTS {_q(check_identifier(dataset, 'dataset name'))}"
        with self._lock, self._cursor() as cur, _translated(f"dataset {dataset}"):
            self._run(cur, sql)
        self._datasets.add(dataset)

    def ensure_table(self, table: TableRef, spec: TableSpec) -> list[str]:
        """Create ``table`` from ``spec``, or add its new NULLABLE columns.

        Returns:
            Names of the columns added (empty when the table was created or unchanged).

        Raises:
            SchemaChangeError: a type change, a new or removed REQUIRED column, or
                NULLABLE → REQUIRED; the message names the table and column.
        """
        if table in self._known and self._ensured.get(table) == spec:
            return []
        target = table_sql(table, "duckdb")
        with self._lock, self._cursor() as cur, _translated(f"table {table}"):
            existing = self._columns(cur, table)
            if not existing:
                columns = ", ".join(column_ddl(f) for f in spec.fields)
                self._run(cur, f"CREATE TABLE {target} ({columns})")
                self._run(cur, f"COMMENT ON TABLE {target} IS {table_comment(spec)}")
                return []
            statements, added = evolve(table, target, existing, spec)
            if statements:
                self._known.pop(table, None)
                self._ensured.pop(table, None)
            for sql in statements:
                self._run(cur, sql)
            if not statements:
                self._ensured[table] = spec
            return added

    def table_exists(self, table: TableRef) -> bool:
        """Whether ``table`` exists."""
        with self._cursor() as cur, _translated(f"table {table}"):
            return bool(self._columns(cur, table))

    def list_tables(self, dataset: str) -> list[str]:
        """Table names in ``dataset``, sorted (empty if the dataset does not exist)."""
        sql = (
            "SELECT table_name FROM information_schema.tables WHERE table_catalog = "
            "current_database() AND table_schema = $dataset ORDER BY table_name"
        )
        with self._cursor() as cur, _translated(f"dataset {dataset}"):
            return [r[0] for r in self._run(cur, sql, {"dataset": dataset}).fetchall()]

    # --- writes -------------------------------------------------------------------------

    def write(
        self, table: TableRef, source: Iterable[pa.RecordBatch] | Query, spec: WriteSpec
    ) -> WriteResult:
        """Stream ``source`` into ``table`` and apply ``spec`` atomically.

        Returns:
            Rows written, rows replaced or removed, and the days touched (see WriteResult).

        Raises:
            DataError: unknown columns, values that do not fit, duplicate merge keys, rows
                outside ``replace_dates``.
            WarehouseError: the table is missing or DuckDB rejected the write.
            WarehouseUnavailable: the file is locked or a concurrent write conflicted.
        """
        with self._cursor() as cur, _translated(f"write to {table}"):
            columns = self._columns(cur, table)
            if not columns:
                raise WarehouseError(f"table {table} does not exist: call ensure_table first")
            _check_spec(table, spec, columns)
            target = table_sql(table, "duckdb")
            if _in_memory_append(source, spec):
                batches = list(source)  # type: ignore[arg-type]  # a Sequence, checked above
                with self._lock:
                    return self._append(cur, table, target, batches, spec, columns)
            self._run(cur, f"CREATE TEMP TABLE {_STAGE} AS SELECT * FROM {target} LIMIT 0")
            if isinstance(source, Query):
                rows = self._stage_query(cur, table, source, columns)
            else:
                rows = self._stage_batches(cur, table, source, columns)
            with self._lock:
                return self._apply(cur, table, target, spec, rows)

    def _append(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: TableRef,
        target: str,
        batches: list[pa.RecordBatch],
        spec: WriteSpec,
        columns: Columns,
    ) -> WriteResult:
        """A small append of batches already in memory (metadata, DQ results): no staging
        table — the scope's delete and the inserts in one transaction (a lone insert is
        atomic by itself). Each batch is inserted as an Arrow relation, its columns put in
        the table's order first (absent ones NULL)."""
        for batch in batches:
            _check_names(table, batch.schema.names, columns)
        aligned = [_aligned(batch, columns) for batch in batches if batch.num_rows]
        deletes = _deletes(target, spec)
        if not deletes and len(aligned) <= 1:
            faultpoints.at("in_commit")  # nothing is written before the insert completes
            for batch in aligned:
                self._insert_arrow(cur, target, batch)
            return WriteResult(rows=sum(b.num_rows for b in batches))
        self._run(cur, "BEGIN TRANSACTION")
        try:
            for sql, params in deletes:
                self._run(cur, sql, params)
            for batch in aligned:
                self._insert_arrow(cur, target, batch)
            faultpoints.at("in_commit")
            self._run(cur, "COMMIT")
        except BaseException:
            self._run(cur, "ROLLBACK")
            raise
        return WriteResult(rows=sum(b.num_rows for b in batches))

    def _insert_arrow(self, cur: duckdb.DuckDBPyConnection, target: str, batch: Any) -> None:
        """Insert an aligned batch (one statement; the hook sees it as SQL-like text)."""
        if self._on_statement is not None:
            self._on_statement(f"INSERT INTO {target} SELECT * FROM {_ARROW} ({batch.num_rows})")
        cur.from_arrow(batch).insert_into(target)

    def _stage_batches(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: TableRef,
        batches: Iterable[pa.RecordBatch],
        columns: Columns,
    ) -> int:
        """One streaming INSERT per run of same-schema batches (normally one per write).

        DuckDB pulls the batches from a RecordBatchReader, possibly on its own threads, so
        each pull runs in the caller's context (trace, logging) and an exception raised
        by the source (a TransientError while fetching, say) is re-raised as itself.
        """
        stream = _BatchStream(iter(batches), contextvars.copy_context())
        while (reader := stream.next_run()) is not None:
            _check_names(table, reader.schema.names, columns)
            cur.register(_BATCH, reader)
            try:
                self._run(cur, f"INSERT INTO {_STAGE} BY NAME SELECT * FROM {_q(_BATCH)}")
            except duckdb.Error:
                stream.reraise()
                raise
            finally:
                cur.unregister(_BATCH)
        return stream.rows

    def _stage_query(
        self, cur: duckdb.DuckDBPyConnection, table: TableRef, query: Query, columns: Columns
    ) -> int:
        """Stage the query's rows (without leaving DuckDB); return how many.

        The INSERT matches columns by name; only when DuckDB refuses it are the query's
        columns read, so an unknown column is reported as such (a DataError naming it).
        """
        statements = translate(query.sql)
        if len(statements) != 1:
            raise WarehouseError(f"write to {table}: the source query must be one SELECT")
        sql, params = statements[0].sql, _bind(statements[0], query.params)
        try:
            inserted = self._run(cur, f"INSERT INTO {_STAGE} BY NAME SELECT * FROM ({sql})", params)
        except duckdb.BinderException:
            self._run(cur, f"SELECT * FROM ({sql}) LIMIT 0", params)
            _check_names(table, [d[0] for d in cur.description or ()], columns)
            raise
        row = inserted.fetchone()
        return int(row[0]) if row else 0

    def _apply(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: TableRef,
        target: str,
        spec: WriteSpec,
        rows: int,
    ) -> WriteResult:
        self._run(cur, "BEGIN TRANSACTION")
        try:
            result = self._plan(cur, table, target, spec, rows)
            for sql, params in _deletes(target, spec):
                self._run(cur, sql, params)
            self._run(cur, f"INSERT INTO {target} BY NAME SELECT * FROM {_STAGE}")
            faultpoints.at("in_commit")
            self._run(cur, "COMMIT")
        except BaseException:
            self._run(cur, "ROLLBACK")
            raise
        return result

    def _plan(
        self,
        cur: duckdb.DuckDBPyConnection,
        table: TableRef,
        target: str,
        spec: WriteSpec,
        rows: int,
    ) -> WriteResult:
        """Check the staged rows and read what the write is about to do, in ONE query run
        inside its transaction before it does it.

        Refused, in this order: duplicate merge keys in the source, rows outside
        ``replace_dates``. A plain append, or one replacing only a run's own rows, needs
        no reading.
        """
        plan = _plan_sql(target, spec)
        if plan is None:
            return WriteResult(rows=rows)
        sql, params = plan
        row = self._run(cur, sql, params).fetchone()
        found = dict(zip([d[0] for d in cur.description or ()], row or (), strict=True))
        if found.get("duplicate") is not None:
            raise DataError(
                f"merge into {table}: the source has duplicate keys, e.g. "
                f"{dict(found['duplicate'])!r}; deduplicate the source or add key columns"
            )
        if found.get("outside"):
            assert spec.replace_dates is not None
            column, days = spec.replace_dates
            raise DataError(
                f"write to {table}: rows fall on {', '.join(map(str, found['outside']))} "
                f"({column}), outside the days being replaced ({_days_text(days)}); such rows "
                "would never be replaced. Filter the source to those days (transform SQL: "
                "WHERE ... IN UNNEST(@dates))"
            )
        dates = frozenset(d for d in found.get("dates") or () if d is not None)
        return WriteResult(
            rows=rows,
            replaced=int(found.get("replaced") or 0),
            removed=int(found.get("removed") or 0),
            dates=dates,
        )

    # --- files ----------------------------------------------------------------------------

    @contextmanager
    def stage_files(self, files: FileSet) -> Iterator[StagedFiles | None]:
        """Expose every ``files.format`` file under a local folder as a view (None: no file).

        DuckDB reads the files in place (``read_parquet`` / ``read_csv`` with every column as
        text), unioned by column name; the view is dropped when the block ends.

        Raises:
            WarehouseError: the location is not a local folder (``gs://`` needs BigQuery).
        """
        if "://" in files.location:
            raise WarehouseError(
                f"the embedded warehouse reads local folders, not {files.location[:80]!r}; "
                "files in a bucket are read by the BigQuery warehouse (CONVERGENCE_MODE=cloud)"
            )
        folder = Path(files.location)
        found = sorted(p for p in folder.rglob(f"*{files.suffix}") if p.is_file())
        if not found:
            yield None
            return
        view = TableRef(FILES_DATASET, f"files_{uuid.uuid4().hex[:12]}")
        paths = "[" + ", ".join(_string_literal(str(p.resolve())) for p in found) + "]"
        reader = _READERS[files.format].format(paths=paths)
        target = table_sql(view, "duckdb")
        with self._lock, self._cursor() as cur, _translated(f"files under {folder}"):
            self._run(cur, f"CREATE SCHEMA IF NOT EXISTS {_q(FILES_DATASET)}")
            self._run(cur, f"CREATE VIEW {target} AS SELECT * FROM {reader}")
            kinds = {name: _kind(kind) for name, (kind, _) in self._columns(cur, view).items()}
        try:
            file_column = "filename"
            columns = {n: k for n, k in kinds.items() if n != file_column}
            yield StagedFiles(view, columns, file_column, len(found))
        finally:
            self._known.pop(view, None)
            with self._lock, self._cursor() as cur, _translated(f"view {view}"):
                self._run(cur, f"DROP VIEW IF EXISTS {target}")

    # --- queries ------------------------------------------------------------------------

    def query(self, sql: str, params: Mapping[str, Any] | None = None) -> list[dict[str, Any]]:
        """Run BigQuery SQL; return the last statement's rows as dicts of Python values.

        Raises:
            SqlTranslationError: the SQL cannot run here with BigQuery's meaning.
            WarehouseError: DuckDB rejected it (the message shows the SQL's start).
        """
        statements = translate(sql)
        with self._cursor() as cur, _translated(f"query {snippet(sql)!r}"):
            for st in statements:
                self._run(cur, st.sql, _bind(st, params or {}))
            return _rows(cur)

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> None:
        """Run BigQuery statements (a script runs statement by statement, in order).

        Raises:
            SqlTranslationError: the SQL cannot run here with BigQuery's meaning.
            WarehouseError: DuckDB rejected a statement.
        """
        statements = translate(sql)
        if not all(st.sql.lstrip().upper().startswith(_DML) for st in statements):
            self._known.clear()  # a script may create, alter or drop tables
            self._ensured.clear()
            self._datasets.clear()
        # Appending literal rows reads nothing: it needs no turn (DuckDB appends to one
        # table from several transactions without conflict). Anything else takes the lock:
        # a conditional insert (a step claim) must not interleave with another.
        appends = all(_VALUES_INSERT.match(st.sql) for st in statements)
        lock = contextlib.nullcontext() if appends else self._lock
        with lock, self._cursor() as cur, _translated(f"statement {snippet(sql)!r}"):
            for st in statements:
                self._run(cur, st.sql, _bind(st, params or {}))

    def close(self) -> None:
        """Close the database file."""
        with self._lock:
            self._con.close()


class _BatchStream:
    """Splits an iterable of batches into RecordBatchReaders, one per run of equal schemas."""

    def __init__(self, batches: Iterator[pa.RecordBatch], context: contextvars.Context) -> None:
        self._batches = batches
        self._context = context
        self._pending: pa.RecordBatch | None = None
        self._failure: BaseException | None = None
        self.rows = 0
        """Rows pulled so far (all of them once the stream is read to its end)."""

    def _pull(self) -> pa.RecordBatch | None:
        try:
            batch: pa.RecordBatch | None = self._context.run(next, self._batches, None)
        except BaseException as exc:
            self._failure = exc
            raise
        if batch is not None:
            self.rows += batch.num_rows
        return batch

    def next_run(self) -> pa.RecordBatchReader | None:
        """A reader over the next batches sharing one schema, or None when all are read."""
        import pyarrow as pa

        first = self._pending if self._pending is not None else self._pull()
        self._pending = None
        if first is None:
            return None
        return pa.RecordBatchReader.from_batches(first.schema, self._run(first))

    def _run(self, first: pa.RecordBatch) -> Iterator[pa.RecordBatch]:
        yield first
        while (batch := self._pull()) is not None:
            if batch.schema != first.schema:
                self._pending = batch
                return
            yield batch

    def reraise(self) -> None:
        """Raise the source's own exception if it is why DuckDB's read failed."""
        if self._failure is not None:
            raise self._failure


# --- helpers ------------------------------------------------------------------------------


def memory_size(limit: str) -> str:
    """A DuckDB memory limit: ``limit`` itself, or ``N%`` of the machine's memory in MiB
    (the smaller of physical memory and the cgroup's limit, when the process has one)."""
    text = limit.strip()
    if not text.endswith("%"):
        return text
    share = float(text[:-1]) / 100
    return f"{max(64, int(machine_memory() * share / 2**20))}MiB"


def machine_memory() -> int:
    """Bytes of memory this process may use: physical memory, capped by a cgroup limit."""
    import os

    total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            raw = Path(path).read_text().strip()
        except OSError:
            continue
        if raw.isdigit():
            total = min(total, int(raw))
    return total


def _aligned(batch: pa.RecordBatch, columns: Columns) -> pa.RecordBatch:
    """``batch`` with the table's columns in the table's order (absent ones all NULL)."""
    import pyarrow as pa

    names = batch.schema.names
    arrays = [
        batch.column(names.index(name)) if name in names else pa.nulls(batch.num_rows)
        for name in columns
    ]
    return pa.RecordBatch.from_arrays(arrays, names=list(columns))


def _string_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


_KINDS: tuple[tuple[str, ColumnKind], ...] = (
    ("VARCHAR", "string"),
    ("DECIMAL", "decimal"),
    ("DOUBLE", "float"),
    ("FLOAT", "float"),
    ("REAL", "float"),
    ("BOOLEAN", "bool"),
    ("TIMESTAMP", "timestamp"),
    ("DATE", "date"),
    ("HUGEINT", "integer"),
    ("BIGINT", "integer"),
    ("INTEGER", "integer"),
    ("SMALLINT", "integer"),
    ("TINYINT", "integer"),
)


def _kind(duckdb_type: str) -> ColumnKind:
    upper = duckdb_type.upper()
    return next((kind for prefix, kind in _KINDS if upper.startswith(prefix)), "other")


def _in_memory_append(source: object, spec: WriteSpec) -> bool:
    """Batches already in a list or tuple, appended (optionally replacing a run's own rows)."""
    return (
        isinstance(source, list | tuple)
        and spec.mode == "append"
        and not (spec.replace_dates or spec.replace_range or spec.dated_by)
    )


def _check_names(table: TableRef, names: Iterable[str], columns: Columns) -> None:
    unknown = [n for n in names if n not in columns]
    if unknown:
        raise DataError(
            f"write to {table}: unknown columns {unknown}; add them to the table schema "
            "(new NULLABLE columns are added by ensure_table) or drop them from the source"
        )


def _check_spec(table: TableRef, spec: WriteSpec, columns: Columns) -> None:
    named = (
        list(spec.keys)
        + list(spec.replace or ())
        + ([spec.replace_range[0]] if spec.replace_range else [])
        + ([spec.dated_by] if spec.dated_by else [])
    )
    missing = [n for n in named if n not in columns]
    if missing:
        raise WarehouseError(f"write to {table}: {missing} are not columns of the table")
    if spec.mode == "merge" and not spec.keys:
        raise WarehouseError(f"write to {table}: mode merge needs keys")
    if spec.mode != "append" and spec.scoped:
        raise WarehouseError(
            f"write to {table}: replace/replace_range/replace_dates apply to append only"
        )


def _match(keys: Iterable[str]) -> str:
    """NULL-safe key equality of target row ``t`` and staged row ``s``."""
    return " AND ".join(f"t.{_q(k)} IS NOT DISTINCT FROM s.{_q(k)}" for k in keys)


def _matches(keys: Iterable[str]) -> str:
    """Target rows ``t`` a merge replaces: those whose key is staged."""
    return f"EXISTS (SELECT 1 FROM {_STAGE} AS s WHERE {_match(keys)})"


def _scope(spec: WriteSpec) -> tuple[str, dict[str, Any]]:
    """The condition on target rows ``t`` an append/overwrite replaces ("FALSE": none)."""
    if spec.mode == "overwrite":
        return "TRUE", {}
    # replace, replace_range and replace_dates combine with AND: rows in every scope.
    clauses: list[str] = []
    params: dict[str, Any] = {}
    for i, (column, value) in enumerate((spec.replace or {}).items()):
        clauses.append(f"t.{_q(column)} IS NOT DISTINCT FROM $r{i}")
        params[f"r{i}"] = value
    if spec.replace_range:
        column, low, high = spec.replace_range
        clauses.append(f"t.{_q(column)} BETWEEN $low AND $high")
        params.update(low=low, high=high)
    if spec.replace_dates:
        column, days = spec.replace_dates
        clauses.append(f"list_contains($days, CAST(t.{_q(column)} AS DATE))")
        params["days"] = list(days)
    return (" AND ".join(clauses) if clauses else "FALSE"), params


def _plan_sql(target: str, spec: WriteSpec) -> tuple[str, dict[str, Any]] | None:
    """The apply phase's one reading query (see ``DuckDBWarehouse._plan``), or None.

    Columns, each present only when the spec needs it: ``duplicate`` (a struct of one
    duplicated merge key of the staged rows), ``outside`` (up to three staged days outside
    ``replace_dates``), ``replaced`` and ``removed`` (counts of target rows), ``dates`` (the
    days of staged and replaced rows).
    """
    if spec.mode == "append" and not (spec.replace_dates or spec.replace_range or spec.dated_by):
        return None
    scope, params = _scope(spec)
    if spec.mode == "merge":
        scope, params = _matches(spec.keys), {}
    parts: list[str] = []
    if spec.mode == "merge":
        keys = ", ".join(f"{_q(k)} := {_q(k)}" for k in spec.keys)
        parts.append(
            f"(SELECT struct_pack({keys}) FROM {_STAGE} GROUP BY ALL HAVING COUNT(*) > 1 "
            "LIMIT 1) AS duplicate"
        )
    if spec.replace_dates:
        day = f"CAST({_q(spec.replace_dates[0])} AS DATE)"
        parts.append(
            f"(SELECT list(d ORDER BY d NULLS FIRST) FROM (SELECT DISTINCT {day} AS d "
            f"FROM {_STAGE} WHERE d IS NULL OR NOT list_contains($days, d) "
            "ORDER BY d NULLS FIRST LIMIT 3)) AS outside"
        )
        params = {**params, "days": list(spec.replace_dates[1])}
    parts.append(f"(SELECT COUNT(*) FROM {target} AS t WHERE {scope}) AS replaced")
    if spec.replace_dates and spec.keys:
        gone = f"{scope} AND NOT EXISTS (SELECT 1 FROM {_STAGE} AS s WHERE {_match(spec.keys)})"
        parts.append(f"(SELECT COUNT(*) FROM {target} AS t WHERE {gone}) AS removed")
    if spec.dated_by:
        day = f"CAST({_q(spec.dated_by)} AS DATE)"
        parts.append(
            f"(SELECT list(d) FROM (SELECT {day} AS d FROM {_STAGE} UNION "
            f"SELECT {day} FROM {target} AS t WHERE {scope})) AS dates"
        )
    return "SELECT " + ", ".join(parts), params


def _deletes(target: str, spec: WriteSpec) -> list[tuple[str, dict[str, Any]]]:
    if spec.mode == "merge":
        # NULL-safe: a NULL key (e.g. Anthropic's default workspace) matches NULL, as in
        # the BigQuery adapter's MERGE, so re-running a window never duplicates such rows.
        return [(f"DELETE FROM {target} AS t WHERE {_matches(spec.keys)}", {})]
    scope, params = _scope(spec)
    if scope == "FALSE":
        return []
    return [(f"DELETE FROM {target} AS t WHERE {scope}", params)]


def _days_text(days: Iterable[Any]) -> str:
    ordered = sorted(days)
    shown = ", ".join(str(d) for d in ordered[:5])
    return shown + (f" … {len(ordered)} days" if len(ordered) > 5 else "")


def _bind(statement: Statement, params: Mapping[str, Any]) -> dict[str, Any]:
    missing = [n for n in statement.params if n not in params]
    if missing:
        raise WarehouseError(
            f"statement {snippet(statement.sql)!r} uses @{', @'.join(missing)}: pass a value"
        )
    return {
        n: list(v) if isinstance(v, tuple) else v
        for n, v in params.items()
        if n in statement.params
    }


def _converter(kind: str) -> Callable[[Any], Any] | None:
    if kind == "JSON":
        return lambda v: None if v is None else json.loads(v)
    if kind == "TIMESTAMP WITH TIME ZONE":
        return lambda v: None if v is None else v.astimezone(dt.UTC)
    return None


def _rows(cur: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    if cur.description is None:
        return []
    names = [d[0] for d in cur.description]
    converters = [_converter(str(d[1])) for d in cur.description]
    out = []
    for raw in cur.fetchall():
        values = [c(v) if c else v for c, v in zip(converters, raw, strict=True)]
        out.append(dict(zip(names, values, strict=True)))
    return out
