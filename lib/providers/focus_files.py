"""FOCUS file source: load a provider's FOCUS export files into raw INSIDE the warehouse.

AWS Data Exports (FOCUS 1.0/1.2 with AWS columns) and Azure Cost Management (FOCUS exports)
write CSV or Parquet files to a bucket, one folder per billing period, and re-deliver a
period's files whenever they restate it. A run (:meth:`FocusFilesSource.ingest`):

1. picks the billing periods its window touches, plus ``reload_previous_periods`` before;
2. exposes each period's files as a table (``FileReader.stage_files``: DuckDB reads a local
   folder in place, BigQuery an external table over ``gs://``) — no row passes through Python;
3. builds ONE BigQuery ``SELECT`` (:func:`ingest_query`) mapping the files' columns to the raw
   table's FOCUS 1.2 columns: each cast from what the file holds (text and decimals exactly;
   a binary float to NUMERIC, as the billing export); a column the files lack is NULL or,
   for an older FOCUS version, filled from the provider's convention (:data:`CONVENTIONS`);
   every other column — the provider's ``x_`` columns above all — goes into ``x_extensions``
   (JSON) as delivered;
4. replaces the raw rows of exactly those periods (``replace_window`` on ``BillingPeriodStart``
   within ``replace_scope: {provider: …}``): rows a re-delivered export no longer holds go.
   The write reports the charge days (``ChargePeriodStart``) of every row written or replaced,
   so silver and gold re-derive them.

A period without files (not delivered yet) is left as it is. ``row_key`` is the SHA-256 of a
row's content and its occurrence number: a re-delivered identical row keeps its key.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import re
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, Protocol, cast

from sqlglot import exp

from lib.config.focus_files import FocusFilesSourceConfig, period_folder
from lib.config.loader import INGESTION_FIELDS
from lib.errors import ConfigError, ConfigProblem, WarehouseError
from lib.ports import (
    Capability,
    ColumnKind,
    FileReader,
    FileSet,
    Query,
    StagedFiles,
    TableRef,
    Warehouse,
    WriteResult,
)
from lib.schema import SchemaField

if TYPE_CHECKING:
    from events.models import Window
    from lib.config.pipeline import TableTarget
    from lib.schema import TableSpec
    from lib.sources.base import IngestRequest

__all__ = [
    "CONVENTIONS",
    "PLATFORM_COLUMNS",
    "FocusFilesSource",
    "billing_periods",
    "check_focus_destination",
    "ingest_query",
]


class FileReaderWarehouse(Warehouse, FileReader, Protocol):
    """A warehouse whose capabilities include :attr:`Capability.FILES`."""


PERIOD_COLUMN = "BillingPeriodStart"
CHARGE_COLUMN = "ChargePeriodStart"
PLATFORM_COLUMNS = ("provider", "source_file", "row_key", "x_extensions")
"""Raw columns the ingest fills itself (besides the ingestion columns)."""
CONVENTIONS: Mapping[str, Mapping[str, str]] = {
    "aws": {"SkuMeter": "x_UsageType"},
    "azure": {
        "InvoiceId": "x_InvoiceId",
        "SkuMeter": "x_SkuMeterName",
        "PricingCurrency": "x_PricingCurrency",
    },
    "focus": {},
}
"""FOCUS 1.2 column ← the provider column older exports carry instead (used when absent)."""


def billing_periods(window: Window, reload_previous: int) -> list[dt.date]:
    """First days of the months the window touches, and ``reload_previous`` months before."""
    first = _month(window.start)
    for _ in range(reload_previous):
        first = _month(first - dt.timedelta(days=1))
    periods, month = [], first
    while month <= window.end:
        periods.append(month)
        month = _month(month + dt.timedelta(days=32))
    return periods


def _month(day: dt.date) -> dt.date:
    return day.replace(day=1)


# --- the query (pure) -------------------------------------------------------------------


def _column(name: str) -> exp.Column:
    return exp.column(name, table="f", quoted=True)


def _cast(value: exp.Expr, kind: str) -> exp.Expr:
    return exp.Cast(this=value, to=exp.DataType.build(kind, dialect="bigquery"))


def _read(field: SchemaField, source: str, kind: str) -> exp.Expr:
    """The files' column ``source`` (holding ``kind`` values) as the raw column ``field``."""
    value: exp.Expr = _column(source)
    target = field.canonical_type
    if kind == "string":
        value = exp.Nullif(this=value, expression=exp.Literal.string(""))
        if target == "STRING":
            return value  # already text: no cast (and none of the engine's cast repairs)
    if target == "JSON":
        if kind == "string":
            return exp.func("PARSE_JSON", value)
        return exp.func("TO_JSON", value)
    if target == "BIGNUMERIC" and kind == "float":
        # a binary float holds no decimal: take its shortest decimal (9 places, as BigQuery's
        # CAST(FLOAT64 AS NUMERIC) rounds), exactly what the exporter wrote for amounts
        return _cast(_cast(value, "NUMERIC"), "BIGNUMERIC")
    return _cast(value, target)


def _extensions(names: Sequence[str]) -> exp.Expr:
    if not names:
        return _cast(exp.null(), "JSON")
    members = [exp.alias_(_column(n), n, quoted=True) for n in names]
    return exp.func("TO_JSON", exp.Struct(expressions=members))


def ingest_query(
    staged: Sequence[StagedFiles],
    fields: Sequence[SchemaField],
    *,
    provider: str,
    convention: str,
    run_id: str,
    now: dt.datetime,
    folders: Sequence[str] = (),
) -> Query:
    """The BigQuery ``SELECT`` producing the raw rows of ``staged`` files (pure).

    Args:
        staged: the staged files of each period (one ``SELECT`` each, ``UNION ALL``).
        fields: the raw table's columns (FOCUS columns + :data:`PLATFORM_COLUMNS` + ingestion).
        provider: stamped in ``provider`` (the replace scope).
        convention: key of :data:`CONVENTIONS`.
        run_id: the run's pipeline_logging_id (stamped on every row).
        now: the ingestion time (stamped on every row).
        folders: each staged period's folder as ``bucket/prefix/period``: ``source_file`` is
            the file's path from there (a local root or ``gs://`` is never recorded).
    """
    named = [*folders, *[""] * (len(staged) - len(folders))]
    shapes = tuple(
        (s.table, tuple(s.columns.items()), s.file_column, folder)
        for s, folder in zip(staged, named, strict=True)
    )
    params: dict[str, Any] = {
        "provider": provider,
        "ingestion_date": now.date(),
        "ingestion_timestamp": now,
        "pipeline_logging_id": run_id,
    }
    return Query(_query_text(shapes, tuple(fields), convention), params)


@functools.lru_cache(maxsize=256)
def _query_text(
    shapes: tuple[tuple[TableRef, tuple[tuple[str, ColumnKind], ...], str, str], ...],
    fields: tuple[SchemaField, ...],
    convention: str,
) -> str:
    """The SQL of :func:`ingest_query`, memoised: a source reads the same folders every run."""
    selects = [
        _select(StagedFiles(table, dict(columns), file_column), fields, convention, folder)
        for table, columns, file_column, folder in shapes
    ]
    query: exp.Query = selects[0]
    for select in selects[1:]:
        query = exp.union(query, select, distinct=False)
    return query.sql(dialect="bigquery", pretty=True)


_PLATFORM = {*PLATFORM_COLUMNS, *(f.name for f in INGESTION_FIELDS)}


def _source_file(staged: StagedFiles, folder: str) -> exp.Expr:
    """The file's path from ``bucket/prefix/period`` (its name alone without a folder)."""
    path = _cast(exp.column(staged.file_column, table="f"), "STRING")
    if not folder:
        return exp.func("REGEXP_EXTRACT", path, exp.Literal.string(r"([^/]+)$"))
    tail = exp.func("REGEXP_EXTRACT", path, exp.Literal.string(re.escape(folder) + "/(.+)$"))
    return exp.func("CONCAT", exp.Literal.string(folder + "/"), tail)


def _select(
    staged: StagedFiles, fields: Sequence[SchemaField], convention: str, folder: str = ""
) -> exp.Select:
    by_lower = {name.lower(): name for name in staged.columns}
    fills = CONVENTIONS[convention]
    used: set[str] = set()
    projections: list[exp.Expr] = []
    for field in fields:
        if field.name in _PLATFORM:
            continue
        source = by_lower.get(field.name.lower())
        if source is None and fills.get(field.name, "").lower() in by_lower:
            source = by_lower[fills[field.name].lower()]
        if source is None:
            value: exp.Expr = _cast(exp.null(), field.canonical_type)
        else:
            used.add(source)
            value = _read(field, source, staged.columns[source])
        projections.append(exp.alias_(value, field.name, quoted=True))
    extra = [n for n in staged.columns if n not in used]
    extra += [n for n in used if n.startswith("x_") and n not in extra]  # conventions keep theirs
    row = exp.Struct(expressions=[exp.alias_(_column(n), n, quoted=True) for n in staged.columns])
    identity = exp.func("TO_JSON_STRING", row)
    occurrence = exp.Window(this=exp.RowNumber(), partition_by=[identity.copy()])
    key = exp.func(
        "TO_HEX",
        exp.func("SHA256", exp.func("CONCAT", identity, exp.Literal.string("#"),
                                    _cast(occurrence, "STRING"))),
    )  # fmt: skip
    projections += [
        exp.alias_(_extensions(sorted(extra)), "x_extensions", quoted=True),
        exp.alias_(exp.Parameter(this=exp.var("provider")), "provider", quoted=True),
        exp.alias_(_source_file(staged, folder), "source_file"),
        exp.alias_(key, "row_key", quoted=True),
        *(
            exp.alias_(_cast(exp.Parameter(this=exp.var(f.name)), f.canonical_type), f.name)
            for f in INGESTION_FIELDS
        ),
    ]
    table = exp.Table(
        this=exp.to_identifier(staged.table.table, quoted=True),
        db=exp.to_identifier(staged.table.dataset, quoted=True),
        alias=exp.TableAlias(this=exp.to_identifier("f")),
    )
    return exp.select(*projections).from_(table)


# --- the shell: ports only ------------------------------------------------------------------


def check_focus_destination(
    source: FocusFilesSourceConfig, spec: TableSpec, target: TableTarget, file: str, field: str
) -> list[ConfigProblem]:
    """Problems of a FOCUS files destination: replace the billing periods of its provider."""
    problems = []
    if target.write_mode != "replace_window" or target.window_column != PERIOD_COLUMN:
        problems.append(
            ConfigProblem(
                file,
                field,
                "a FOCUS export replaces whole billing periods when re-delivered",
                f"write write_mode: replace_window and window_column: {PERIOD_COLUMN}",
            )
        )
    if dict(target.replace_scope) != {"provider": source.provider}:
        problems.append(
            ConfigProblem(
                file,
                f"{field}.replace_scope",
                "each FOCUS source replaces only its own provider's rows",
                f"write replace_scope: {{provider: {source.provider}}}",
            )
        )
    needed = [*PLATFORM_COLUMNS, PERIOD_COLUMN, CHARGE_COLUMN]
    missing = [c for c in needed if c not in spec.names]
    if missing:
        problems.append(
            ConfigProblem(
                file,
                f"{field}.schema",
                f"the raw table schema lacks columns {missing}",
                'use schema: "@library/focus_files/focus_files_schema.json"',
            )
        )
    return problems


@dataclasses.dataclass(frozen=True)
class FocusFilesSource:
    """A ``kind: focus_files`` source: a provider's FOCUS export files in a bucket."""

    config: FocusFilesSourceConfig

    def ingest(self, request: IngestRequest) -> WriteResult:
        """Replace the raw rows of every billing period whose files the bucket holds.

        Raises:
            ConfigError: the destination does not replace billing periods of this provider.
            WarehouseError: the warehouse cannot read files, or refused them.
            DataError: a file does not fit (e.g. a row outside its folder's billing period).
        """
        source, target = self.config, request.destination
        site = request.site
        problems = check_focus_destination(
            source, request.spec, target, site.file, site.destination_field
        )
        if problems:
            raise ConfigError(problems)
        if Capability.FILES not in request.warehouse.capabilities:
            raise WarehouseError(f"the {request.warehouse.name} warehouse cannot read files")
        warehouse = cast(FileReaderWarehouse, request.warehouse)
        periods = billing_periods(request.window, source.reload_previous_periods)
        with ExitStack() as stack:
            staged: dict[dt.date, tuple[StagedFiles, str]] = {}
            for period in periods:
                path = f"{source.prefix.strip('/')}/{period_folder(source.period_path, period)}"
                files = FileSet(request.bucket_folder(source.bucket, path), source.format)
                found = stack.enter_context(warehouse.stage_files(files))
                if found is not None:
                    staged[period] = (found, f"{source.bucket}/{path}")
            if not staged:
                return WriteResult(rows=0)
            query = ingest_query(
                [s for s, _ in staged.values()], request.spec.fields, provider=source.provider,
                convention=source.convention, run_id=request.run_id, now=request.now,
                folders=[folder for _, folder in staged.values()],
            )  # fmt: skip
            write = target.write_spec(request.run_id, sorted(staged))
            write = dataclasses.replace(write, date_column=CHARGE_COLUMN)
            return warehouse.write(request.table, query, write)
