"""The Source protocol: one signature for every kind of source the ingest step reads.

An ingest step builds ONE :class:`IngestRequest` — what the run asks for (tenant, run id,
window, now), where the rows go (table, schema, destination), the ports a source may use
(warehouse, secrets) and the two settings sources read (REST base-URL overrides, bucket
folders) — and calls ``source_for(config).ingest(request)`` (``lib.sources.registry``). A
source returns the :class:`~lib.ports.WriteResult` of its one write.

The request carries values and ports only, never the step context: sources sit below the
steps layer and never import it (docs/architecture.md, enforced by import-linter).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from events.models import Window
    from lib.config.pipeline import TableTarget
    from lib.ports import Secrets, TableRef, Warehouse, WriteResult
    from lib.schema import TableSpec

__all__ = ["ConfigSite", "IngestRequest", "Source"]


@dataclass(frozen=True)
class ConfigSite:
    """Where the ingest step is written: for the problems a source reports, and to resolve
    the files its config names.

    Attributes:
        file: the pipeline file (problems about the destination name it).
        field: the step's config path, e.g. ``steps[0]``.
        source: the step's ``source:`` reference as written (e.g. ``@library/…/x.yml``).
        resolve: resolves a config path as the pipeline does (``Pipeline.path``): against
            the pipeline folder or the shared library, confined to it; raises ConfigError.
    """

    file: str
    field: str
    source: str
    resolve: Callable[[str, str], Path]

    @property
    def destination_field(self) -> str:
        """The config path of the step's destination, e.g. ``steps[0].destination``."""
        return f"{self.field}.destination"

    def path(self, relative: str) -> Path:
        """A file the source names (e.g. a price catalog), resolved like the source itself.

        Raises:
            ConfigError: the path leaves its folder or does not exist.
        """
        return self.resolve(relative, f"{self.field}.source")

    def source_file(self) -> Path:
        """The step's source file.

        Raises:
            ConfigError: the path leaves its folder or does not exist.
        """
        return self.path(self.source)


@dataclass(frozen=True)
class IngestRequest:
    """Everything a source reads to load one run's rows into its raw table.

    Attributes:
        tenant_id: the tenant the run belongs to.
        run_id: the run's pipeline_logging_id (stamped on every row).
        window: the run's window of usage days.
        now: the ingestion time (stamped on every row), read once from the Clock.
        table: the raw destination, already ensured (dataset and table exist).
        spec: the destination's schema (ingestion columns included).
        destination: the step's destination config: its write mode decides the WriteSpec.
        warehouse: where the rows are written (and, for in-warehouse sources, read).
        secrets: the tenant's secrets (API keys of REST sources).
        base_url_overrides: provider → base URL replacing the source's (sandboxes, tests).
        bucket_folder: ``(bucket, path)`` → where the warehouse reads that folder
            (``Settings.bucket_folder``).
        site: where the step is written (problems, files the source names).
    """

    tenant_id: str
    run_id: str
    window: Window
    now: dt.datetime
    table: TableRef
    spec: TableSpec
    destination: TableTarget
    warehouse: Warehouse
    secrets: Secrets
    base_url_overrides: Mapping[str, str]
    bucket_folder: Callable[[str, str], str]
    site: ConfigSite


@runtime_checkable
class Source(Protocol):
    """A source of one ``kind``, bound to its config: loads a run's rows in ONE write."""

    def ingest(self, request: IngestRequest) -> WriteResult:
        """Write the rows ``request`` asks for into ``request.table``, atomically.

        Returns:
            The write's result: rows, what it replaced or removed, the usage days touched.

        Raises:
            ConfigError: the config does not fit this source (named with file and field).
            TransientError: a retryable failure (the bus redelivers the step).
            DataError, WarehouseError: terminal failures, as the ports raise them.
        """
        ...
