"""Tenant onboarding: metadata and every dataset the tenant's pipelines use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from lib.config.loader import tenant_dataset
from lib.errors import ConfigError, InvalidIdentifier
from lib.metadata import TABLES, metadata_table
from lib.tenants import pipeline_datasets, provision_tenant, tenant_pipelines
from lib.wiring import Runtime
from tests.lib.api import harness


@pytest.fixture
def rt(tmp_path: Path) -> Iterator[Runtime]:
    runtime = harness.make_runtime(tmp_path / "home", harness.make_config(tmp_path))
    yield runtime
    runtime.close()


def test_provisions_metadata_and_pipeline_datasets(rt: Runtime) -> None:
    expected = {"acme_metadata"} | {
        tenant_dataset("acme", d)
        for p in tenant_pipelines(rt.config_dir, "acme")
        for d in pipeline_datasets(p)
    }
    assert {"acme_raw_openai", "acme_silver_cost"} <= expected
    assert provision_tenant(rt, "acme") == sorted(expected)
    for table in TABLES:
        assert rt.warehouse.table_exists(metadata_table("acme", table))
    assert provision_tenant(rt, "acme") == sorted(expected)  # idempotent
    assert rt.warehouse.list_tables("globex_metadata") == []


def test_tenant_without_configs_gets_metadata_only(rt: Runtime) -> None:
    assert provision_tenant(rt, "initech") == ["initech_metadata"]
    assert rt.warehouse.table_exists(metadata_table("initech", "api_keys"))


@pytest.mark.parametrize("tenant", ["metadata", "../etc", "Acme", "a", "acme; DROP TABLE x"])
def test_unsafe_or_reserved_tenant_is_refused(rt: Runtime, tenant: str) -> None:
    with pytest.raises(InvalidIdentifier):
        provision_tenant(rt, tenant)


def test_invalid_pipeline_config_is_reported_not_half_provisioned(rt: Runtime) -> None:
    bad = rt.config_dir / "acme/openai/cost/openai_costs/openai_costs.yml"
    bad.write_text(bad.read_text() + "default_window_days: 0\n")  # acme's override
    with pytest.raises(ConfigError, match="default_window_days"):
        provision_tenant(rt, "acme")
    assert not rt.warehouse.table_exists(metadata_table("acme", "pipeline_runs"))
