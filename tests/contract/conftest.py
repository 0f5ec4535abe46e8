"""Fixtures for the Warehouse contract: one ``warehouse`` per registered adapter.

To run the contract on another adapter, register a factory that builds a fresh, empty
warehouse (and mark it if it needs a server)::

    WAREHOUSES["bigquery"] = (make_bigquery_emulator, (pytest.mark.integration,))
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.ports import Warehouse
from tests.support.bigquery import make_bigquery_emulator

WarehouseFactory = Callable[[Path], Warehouse]


def _duckdb(tmp_path: Path) -> Warehouse:
    return DuckDBWarehouse(tmp_path / "contract.duckdb")


WAREHOUSES: dict[str, tuple[WarehouseFactory, tuple[pytest.MarkDecorator, ...]]] = {
    "duckdb": (_duckdb, ()),
    "bigquery": (make_bigquery_emulator, (pytest.mark.integration,)),
}
"""Adapter name → (factory taking a scratch directory, pytest marks)."""


@pytest.fixture(params=[pytest.param(name, marks=marks) for name, (_, marks) in WAREHOUSES.items()])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Warehouse]:
    """A fresh warehouse of each registered adapter, closed after the test."""
    factory, _ = WAREHOUSES[request.param]
    wh = factory(tmp_path)
    try:
        yield wh
    finally:
        wh.close()


@pytest.fixture
def dataset(warehouse: Warehouse) -> str:
    """A new, unique dataset in ``warehouse`` (unique so shared engines need no cleanup)."""
    name = f"raw_contract_{uuid.uuid4().hex[:10]}"
    warehouse.ensure_dataset(name)
    return name
