"""Which :class:`~lib.sources.base.Source` implements each source ``kind``: one table.

To add a source kind: write its config model (``kind: Literal["…"]``, added to
``lib.config.source.AnySource``), a class with ``__init__(self, config)`` and
``ingest(self, request: IngestRequest) -> WriteResult`` next to its domain code, and ONE
entry in :data:`SOURCES`. ``tests/lib/sources`` fails while a kind the config union allows
has no entry.

Implementations are imported when first asked for, so a handler loads only the kinds it runs
(the REST client and the SQL builder are large imports).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from lib.sources.base import Source

if TYPE_CHECKING:
    from lib.config.source import AnySource

__all__ = ["SOURCES", "SourceFactory", "source_for"]

SourceFactory = Callable[[Any], Source]
"""Builds the source of one config (the implementation class itself)."""


def _rest() -> SourceFactory:
    from lib.providers.rest_source import RestSource

    return RestSource


def _bigquery_export() -> SourceFactory:
    from lib.providers.gcp_export import BigQueryExportSource

    return BigQueryExportSource


def _focus_files() -> SourceFactory:
    from lib.providers.focus_files import FocusFilesSource

    return FocusFilesSource


def _price_catalog() -> SourceFactory:
    from lib.pricing.load import PriceCatalogSource

    return PriceCatalogSource


def _budgets() -> SourceFactory:
    from lib.budgets.load import BudgetsSource

    return BudgetsSource


SOURCES: Mapping[str, Callable[[], SourceFactory]] = {
    "rest": _rest,
    "bigquery_export": _bigquery_export,
    "focus_files": _focus_files,
    "price_catalog": _price_catalog,
    "budgets": _budgets,
}
"""Source ``kind`` → the loader of its implementation."""


def source_for(config: AnySource) -> Source:
    """The source that ingests ``config``, chosen by its ``kind``.

    Raises:
        LookupError: no implementation is registered for the kind (a programming error:
            register it in :data:`SOURCES`).
    """
    loader = SOURCES.get(config.kind)
    if loader is None:
        raise LookupError(
            f"no Source implements kind {config.kind!r}: add it to SOURCES in "
            "lib/sources/registry.py"
        )
    return loader()(config)
