"""Ingest ``kind: price_catalog``: write the tenant's price table from config.

The catalog (``configs/_library/prices/{provider}.yml``) and the tenant's negotiated rates are
flattened (lib/pricing/rows.py) and replace the whole table in one write (``overwrite``). The
write reports as changed exactly the days whose price differs from what the table held, so
the silver transforms that price usage re-derive those days (and gold after them) — a price
correction restates history through the change log like a late billing row. The first load
(an empty table) reports no days: pricing starts with it, like a new pipeline; re-run a window
(``convergence run … --start --end``) to price days derived before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from lib.config.prices import PriceCatalog, PriceCatalogSourceConfig
from lib.config.problems import load_model
from lib.config_tables import check_config_table, config_batch
from lib.ports import TableRef, Warehouse, WriteResult, WriteSpec
from lib.pricing.rows import PRICE_COLUMNS, PriceRow, changed_days, price_rows
from lib.sql import table_sql

if TYPE_CHECKING:
    from lib.schema import TableSpec
    from lib.sources.base import IngestRequest

__all__ = ["PriceCatalogSource", "check_price_destination", "current_rows"]


def check_price_destination(spec: TableSpec, write_mode: str, file: str, field: str) -> None:
    """A price table is overwritten whole and holds every price column.

    Raises:
        ConfigError: naming what to write instead.
    """
    check_config_table(
        "price", PRICE_COLUMNS, "@library/prices/prices_schema.json", spec, write_mode,
        file=file, field=field,
    )  # fmt: skip


def current_rows(warehouse: Warehouse, table: TableRef) -> list[PriceRow]:
    """The price rows ``table`` holds now (empty when it has none)."""
    columns = ", ".join(f"`{c}`" for c in PRICE_COLUMNS)
    found = warehouse.query(f"SELECT {columns} FROM {table_sql(table)}")
    return [PriceRow(**row) for row in found]


@dataclass(frozen=True)
class PriceCatalogSource:
    """A ``kind: price_catalog`` source: the catalog file and the tenant's negotiated rates."""

    config: PriceCatalogSourceConfig

    def ingest(self, request: IngestRequest) -> WriteResult:
        """Replace the price table with the catalog's rows; report the days whose prices
        changed.

        Raises:
            ConfigError: the destination is not an overwrite of a price table, or the
                catalog file is invalid.
        """
        site = request.site
        check_price_destination(
            request.spec, request.destination.write_mode, site.file, site.destination_field
        )
        path = site.path(self.config.catalog)
        catalog = load_model(path, PriceCatalog)
        rows = price_rows(catalog, self.config.contracted, file=str(path))
        warehouse = request.warehouse
        old = current_rows(warehouse, request.table)
        # A first load starts pricing: it restates nothing (re-run a window to price its past).
        days = changed_days(old, rows, request.now.date()) if old else set()
        batch = config_batch(
            [r.as_dict() for r in rows], request.spec.fields, run_id=request.run_id, now=request.now
        )
        result = warehouse.write(request.table, [batch], WriteSpec(mode="overwrite"))
        return WriteResult(rows=result.rows, replaced=result.replaced, dates=frozenset(days))
