"""GCP billing export source: copy export rows into the raw table INSIDE the warehouse.

Google's Cloud Billing export writes ``gcp_billing_export_v1_<ACCOUNT>`` tables into a
BigQuery dataset. Ingesting them never moves a row through Python: :class:`BigQueryExportSource`
builds ONE BigQuery-dialect ``SELECT`` over every export table of the dataset and hands it
to ``Warehouse.write(table, Query(...), WriteSpec(mode="merge", keys=("row_key",)))``, so the
rows go export → staging → raw inside the warehouse (BigQuery: ``CREATE TABLE … AS SELECT``
then ``MERGE``; DuckDB: ``INSERT … SELECT`` then delete + insert in one transaction).

What the query does (see ``docs/gcp_billing.md``):

* **Which tables.** Every table whose name starts with ``table_prefix``. BigQuery reads them
  as one wildcard table (```project.dataset.gcp_billing_export_v1_*```); an engine without
  wildcard tables gets a ``UNION ALL`` over ``Warehouse.list_tables(dataset)`` filtered by the
  prefix. The choice is the warehouse's declared capability
  (``Capability.WILDCARD_TABLES in warehouse.capabilities``), never a test of its name.
* **Which rows.** Rows whose ``usage_start_time`` lies in the run's window, and every row
  exported since the newest ``export_time`` already in the raw table minus ``overlap_days``
  (:func:`scan_from`): whatever its usage day, a row that lands late is read by the next run,
  however many runs were missed. Re-read rows merge in place (same ``row_key``).
* **Faithful raw rows.** Nested RECORD and REPEATED columns are kept as they are. Money
  (``cost``, ``cost_at_list``, ``credits[].amount``) is FLOAT64 in the export and becomes
  NUMERIC with ``CAST(x AS NUMERIC)``: the float rounded half away from zero to 9 decimals,
  which returns exactly the decimal the exporter wrote (it writes at most 6 decimals).
* **Row key.** The export has no id and corrections arrive as NEW rows (a later
  ``export_time``, negated amounts), so ``row_key`` is the SHA-256 of the row's JSON over the
  columns read (export_time and amounts included) plus an occurrence number among identical
  rows. Re-reading a row gives the same key (merge updates it in place, never duplicating);
  a correction gets its own key and stays a separate, negating row.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlglot
from sqlglot import exp

from events.models import Window
from lib.config.loader import INGESTION_FIELDS, tenant_dataset
from lib.config.source import BigQueryExportSourceConfig
from lib.errors import ConfigError, ConfigProblem, InvalidIdentifier
from lib.ports import Capability, Query, TableRef, Warehouse, WriteResult
from lib.sql import check_identifier, table_sql

if TYPE_CHECKING:
    from lib.sources.base import IngestRequest

__all__ = [
    "EXPORT_COLUMNS",
    "ROW_KEY",
    "BigQueryExportSource",
    "ExportLocation",
    "export_location",
    "export_source",
    "ingest_query",
    "output_columns",
    "scan_from",
    "supports_wildcard_tables",
]

EXPORT_COLUMNS = (
    "billing_account_id", "service", "sku", "usage_start_time", "usage_end_time", "project",
    "labels", "system_labels", "location", "export_time", "cost", "currency",
    "currency_conversion_rate", "usage", "credits", "invoice", "cost_type", "adjustment_info",
    "cost_at_list",
)  # fmt: skip
"""Standard-export columns read, in export order (the row key covers exactly these)."""
ROW_KEY = "row_key"
_PROJECT = re.compile(r"^[a-z][a-z0-9\-]{4,28}[a-z0-9]$")
_EXPORT_CTE = "export_rows"

_SELECT = """
WITH export_rows AS (SELECT 1),
windowed AS (
  SELECT x.*, TO_JSON_STRING(x) AS row_identity
  FROM export_rows AS x
  WHERE (x.usage_start_time >= @window_start AND x.usage_start_time < @window_end)
     OR x.export_time >= @scan_from
)
SELECT
  w.billing_account_id, w.service, w.sku, w.usage_start_time, w.usage_end_time, w.project,
  w.labels, w.system_labels, w.location, w.export_time,
  CAST(w.cost AS NUMERIC) AS cost,
  w.currency, w.currency_conversion_rate, w.usage,
  ARRAY(
    SELECT AS STRUCT c.name, CAST(c.amount AS NUMERIC) AS amount, c.full_name, c.id, c.type
    FROM UNNEST(w.credits) AS c WITH OFFSET AS credit_offset
    ORDER BY credit_offset
  ) AS credits,
  w.invoice, w.cost_type, w.adjustment_info,
  CAST(w.cost_at_list AS NUMERIC) AS cost_at_list,
  TO_HEX(SHA256(CONCAT(w.row_identity, '#', CAST(
    ROW_NUMBER() OVER (PARTITION BY w.row_identity) AS STRING)))) AS row_key,
  CAST(@ingestion_date AS DATE) AS ingestion_date,
  CAST(@ingestion_timestamp AS TIMESTAMP) AS ingestion_timestamp,
  CAST(@pipeline_logging_id AS STRING) AS pipeline_logging_id
FROM windowed AS w
"""
"""The ingest query; the ``export_rows`` CTE body is replaced by :func:`export_source`."""


def output_columns() -> list[str]:
    """The columns the ingest query produces: what the raw table's schema must hold."""
    return [*EXPORT_COLUMNS, ROW_KEY, *(f.name for f in INGESTION_FIELDS)]


def supports_wildcard_tables(warehouse: Warehouse) -> bool:
    """Whether ``warehouse`` reads ``prefix*`` wildcard tables."""
    return Capability.WILDCARD_TABLES in warehouse.capabilities


@dataclass(frozen=True)
class ExportLocation:
    """Where a tenant's export tables live: ``project`` (None: the warehouse's own)."""

    project: str | None
    dataset: str
    prefix: str

    def table(self, name: str) -> exp.Table:
        """A quoted reference to one table of the export dataset."""
        return exp.Table(
            this=exp.to_identifier(check_identifier(name, "export table"), quoted=True),
            db=exp.to_identifier(check_identifier(self.dataset, "dataset name"), quoted=True),
            catalog=exp.to_identifier(self.project, quoted=True) if self.project else None,
        )

    def wildcard(self) -> exp.Table:
        """The wildcard table ```project.dataset.prefix*``` (BigQuery only).

        Rendered as ONE backtick-quoted path, the form Google documents for wildcard
        tables; every part is validated first.

        Raises:
            InvalidIdentifier: the project, dataset or prefix is unsafe.
        """
        if self.project is not None and not _PROJECT.fullmatch(self.project):
            raise InvalidIdentifier(f"invalid GCP project id {self.project[:40]!r}")
        parts = [self.project] if self.project else []
        parts += [check_identifier(self.dataset, "dataset name")]
        parts += [check_identifier(self.prefix, "table prefix") + "*"]
        return exp.Table(this=exp.to_identifier(".".join(parts), quoted=True))


def export_location(
    source: BigQueryExportSourceConfig, tenant_id: str, source_file: str = "(source)"
) -> ExportLocation:
    """Resolve the export dataset of ``tenant_id``.

    Without ``project`` the export lands in the platform's own project, in the tenant's
    dataset ``{tenant}_{dataset}`` (no tenant can name another's). With ``project`` the
    tenant's own export dataset ``project.dataset`` is read as written.

    Raises:
        ConfigError: ``project`` is not a valid GCP project id.
    """
    if source.project is None:
        return ExportLocation(None, tenant_dataset(tenant_id, source.dataset), source.table_prefix)
    if not _PROJECT.fullmatch(source.project):
        raise ConfigError(
            [
                ConfigProblem(
                    source_file,
                    "project",
                    f"{source.project[:40]!r} is not a GCP project id",
                    "write the project id (6-30 of a-z, 0-9, -), e.g. acme-billing",
                )
            ]
        )
    return ExportLocation(source.project, source.dataset, source.table_prefix)


def window_bounds(window: Window) -> tuple[dt.datetime, dt.datetime]:
    """``[start, end + 1 day)`` as UTC instants: the usage the run window covers."""
    start = dt.datetime.combine(window.start, dt.time(), dt.UTC)
    end = dt.datetime.combine(window.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    return start, end


def scan_from(window: Window, newest_export: dt.datetime | None, overlap_days: int) -> dt.datetime:
    """The ``export_time`` from which a run re-reads every exported row.

    The earlier of the window's start and the newest export time already loaded minus
    ``overlap_days`` (rows can become visible a little after rows exported later).
    """
    start, _ = window_bounds(window)
    if newest_export is None:
        return start
    return min(start, newest_export - dt.timedelta(days=overlap_days))


def _select_export(table: exp.Table) -> exp.Select:
    return exp.select(*(exp.column(c, quoted=True) for c in EXPORT_COLUMNS)).from_(table)


def export_source(location: ExportLocation, tables: Sequence[str] | None) -> exp.Query:
    """The export rows: the wildcard table (``tables`` None) or a UNION ALL of ``tables``.

    Raises:
        InvalidIdentifier: a dataset or table name is unsafe.
        ValueError: ``tables`` is empty.
    """
    if tables is None:
        return _select_export(location.wildcard())
    if not tables:
        raise ValueError("export_source needs at least one table")
    selects = [_select_export(location.table(name)) for name in tables]
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query


def ingest_query(
    source: exp.Query,
    *,
    window: Window,
    read_from: dt.datetime,
    run_id: str,
    now: dt.datetime,
) -> Query:
    """The BigQuery SELECT producing the raw rows of one run (pure; nothing is executed).

    Args:
        source: the export rows, from :func:`export_source`.
        window: the run's window (rows of its usage days are read).
        read_from: rows exported at or after this instant are read too (:func:`scan_from`).
        run_id: the run's pipeline_logging_id (stamped on every row).
        now: the ingestion time (stamped on every row).

    Returns:
        The query and its parameters, columns as :func:`output_columns`.
    """
    window_start, window_end = window_bounds(window)
    params: dict[str, Any] = {
        "window_start": window_start,
        "window_end": window_end,
        "scan_from": read_from,
        "ingestion_date": now.date(),
        "ingestion_timestamp": now,
        "pipeline_logging_id": run_id,
    }
    return Query(_ingest_sql(source), params)


def _ingest_sql(source: exp.Query) -> str:
    """:data:`_SELECT` reading ``source``, rendered once per source (runs differ only in
    their parameters)."""
    key = source.sql(dialect="bigquery")
    sql = _RENDERED.get(key)
    if sql is None:
        tree = sqlglot.parse_one(_SELECT, read="bigquery")
        cte = next(c for c in tree.find_all(exp.CTE) if c.alias_or_name == _EXPORT_CTE)
        cte.set("this", source.copy())
        sql = tree.sql(dialect="bigquery", pretty=True)
        if len(_RENDERED) >= 256:
            _RENDERED.clear()
        _RENDERED[key] = sql
    return sql


_RENDERED: dict[str, str] = {}


# --- the shell: ports only ----------------------------------------------------------------


def _problem(file: str, field: str, message: str, hint: str) -> ConfigError:
    return ConfigError([ConfigProblem(file, field, message, hint)])


def _source_rows(warehouse: Warehouse, location: ExportLocation, file: str) -> exp.Query:
    """Pick the engine's way of reading every export table (the one engine difference)."""
    if supports_wildcard_tables(warehouse):
        return export_source(location, None)
    if location.project is not None:
        raise _problem(
            file, "project", f"the {warehouse.name} warehouse cannot read another project",
            "leave project unset for local runs (the export is then read from "
            "{tenant}_{dataset} in the warehouse itself)",
        )  # fmt: skip
    tables = [t for t in warehouse.list_tables(location.dataset) if t.startswith(location.prefix)]
    if not tables:
        raise _problem(
            file, "table_prefix",
            f"no table named {location.prefix}* in dataset {location.dataset}",
            "enable the Cloud Billing export into this dataset, or fix dataset/table_prefix",
        )  # fmt: skip
    return export_source(location, tables)


def _check_destination(request: IngestRequest) -> None:
    file, field = request.site.file, request.site.destination_field
    target = request.destination
    if target.write_mode != "merge" or list(target.merge_keys) != [ROW_KEY]:
        raise _problem(
            file, field, "a billing export destination must merge on its row key",
            f"write write_mode: merge and merge_keys: [{ROW_KEY}]",
        )  # fmt: skip
    if target.window_column != "usage_start_time":
        raise _problem(
            file, f"{field}.window_column",
            "a billing export destination must date rows by their usage",
            "write window_column: usage_start_time (silver and gold re-derive those days)",
        )  # fmt: skip
    missing = [c for c in output_columns() if c not in request.spec.names]
    if missing:
        raise _problem(
            file, f"{field}.schema", f"the raw table schema lacks columns {missing}",
            "start from configs/_library/pipelines/gcp_billing/gcp_billing_output_schema.json",
        )  # fmt: skip


def newest_export(warehouse: Warehouse, table: TableRef) -> dt.datetime | None:
    """The newest ``export_time`` already in the raw table (None when it is empty)."""
    rows = warehouse.query(f"SELECT MAX(export_time) AS newest FROM {table_sql(table)}")
    return rows[0]["newest"] if rows else None


@dataclass(frozen=True)
class BigQueryExportSource:
    """A ``kind: bigquery_export`` source: the tenant's Cloud Billing export tables."""

    config: BigQueryExportSourceConfig

    def ingest(self, request: IngestRequest) -> WriteResult:
        """Merge the window's export rows and every row exported since the last load.

        The rows go into ``request.table``, whose schema (``request.spec``) must hold every
        column the query produces.

        Returns:
            The write's result: rows written (new and re-read), and the usage days they
            fall on.

        Raises:
            ConfigError: the destination is not a merge on ``row_key``, its schema lacks a
                column, the project id is invalid or unreadable here, or no export table
                exists.
            SqlTranslationError: the query cannot run faithfully on the embedded engine.
            WarehouseError: the warehouse rejected the statements.
        """
        source_file = str(request.site.source_file())
        _check_destination(request)
        warehouse = request.warehouse
        location = export_location(self.config, request.tenant_id, source_file)
        rows = _source_rows(warehouse, location, source_file)
        newest = newest_export(warehouse, request.table)
        read_from = scan_from(request.window, newest, self.config.overlap_days)
        query = ingest_query(
            rows,
            window=request.window,
            read_from=read_from,
            run_id=request.run_id,
            now=request.now,
        )
        write = request.destination.write_spec(request.run_id)
        return warehouse.write(request.table, query, write)
