"""`convergence tenants export`: tenants and the exact Secret Manager ids of their secrets."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from lib.adapters.secret_manager import secret_id
from lib.cli import main
from lib.errors import ConfigError
from lib.tenant_export import export_tenants, render

REPO = Path(__file__).resolve().parents[2]
SOURCE = "_library/pipelines/openai_costs/openai_costs_source.yml"
ACME_OPENAI = "acme/openai/cost/openai_costs/openai_costs.yml"


@pytest.fixture
def configs(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "configs", tmp_path / "configs")
    return tmp_path / "configs"


def by_tenant(config_dir: Path) -> dict[str, list[str]]:
    return {t.tenant_id: [s.secret_id for s in t.secrets] for t in export_tenants(config_dir)}


def test_every_tenant_with_the_ids_the_adapter_reads(configs: Path) -> None:
    exported = by_tenant(configs)
    assert set(exported) == {"acme", "globex"}
    assert exported["acme"] == [
        secret_id("acme", "anthropic_admin_key"),
        secret_id("acme", "openai_admin_key"),
    ]
    assert "convergence-acme-openai_admin_key" in exported["acme"]  # underscores kept


def test_a_new_secret_name_in_a_source_is_exported(configs: Path) -> None:
    path = configs / SOURCE
    path.write_text(path.read_text().replace("secret: openai_admin_key", "secret: openai_eu_key"))
    assert "convergence-acme-openai_eu_key" in by_tenant(configs)["acme"]


def test_a_tenant_renaming_a_secret_exports_its_own_name(configs: Path) -> None:
    with (configs / ACME_OPENAI).open("a") as out:
        out.write("secrets: {openai_admin_key: openai_eu_key}\n")
    exported = by_tenant(configs)
    assert exported["acme"] == [
        secret_id("acme", "anthropic_admin_key"),
        secret_id("acme", "openai_eu_key"),
    ]
    assert secret_id("globex", "openai_admin_key") in exported["globex"]


def test_an_invalid_source_is_a_config_error_naming_the_file(configs: Path) -> None:
    path = configs / SOURCE
    path.write_text(path.read_text().replace("secret: openai_admin_key", "secret: sk-live-123"))
    with pytest.raises(ConfigError) as info:
        export_tenants(configs)
    assert "openai_costs_source.yml" in str(info.value)


def test_cli_writes_the_document_terraform_reads(configs: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "tf" / "tenants.json"
    assert main(["tenants", "export", "--config-dir", str(configs), "--output", str(out)]) == 0
    assert out.read_text() == render(export_tenants(configs))
    doc = json.loads(out.read_text())
    assert [t["tenant_id"] for t in doc["tenants"]] == ["acme", "globex"]
    assert "acme: convergence-acme-openai_admin_key" in capsys.readouterr().out


def test_enabled_notification_channels_export_their_secrets_for_notify(configs: Path) -> None:
    path = configs / "acme" / "notifications.yml"
    path.write_text(path.read_text().replace("enabled: false", "enabled: true", 1))
    [acme] = [t for t in export_tenants(configs) if t.tenant_id == "acme"]
    readers = {s.name: s.readers for s in acme.secrets}
    assert readers["oncall_webhook_key"] == ["notify"]  # the webhook, now enabled
    assert "finops_slack_webhook_url" not in readers  # still disabled
    assert readers["openai_admin_key"] == ["ingest"]
