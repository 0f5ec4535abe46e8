"""One-command onboarding: a tenant created from library templates runs end to end.

``convergence tenants create newco --pipelines …`` writes the minimal tenant files (one
``extends:`` line each), provisions the datasets and prints the secrets and next commands;
then every pipeline of newco runs against the sandbox to COMPLETE and gold has rows.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest
import yaml

from events.models import Window
from lib import metadata
from lib.cli import main
from lib.config.validate import validate_tree
from lib.demo import demo_pipelines, prepare_sources, split_gold
from lib.ports import TableRef
from lib.runs import request_run
from lib.sql import table_sql
from tests.platform import CONFIGS

PIPELINES = ("openai_costs", "anthropic_costs", "gcp_billing", "spend_reporting")
SPAN = Window(start=dt.date(2026, 11, 16), end=dt.date(2026, 11, 19))


@pytest.fixture
def configs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "configs"
    shutil.copytree(CONFIGS, root)
    monkeypatch.setenv("CONVERGENCE_CONFIG_DIR", str(root))
    monkeypatch.setenv("CONVERGENCE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CONVERGENCE_MODE", "local")
    return root


def create(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    code = main(["tenants", "create", *args])
    out = capsys.readouterr()
    return code, out.out + out.err


def test_create_writes_minimal_files_provisions_and_prints_what_to_do(configs, capsys):
    code, out = create(capsys, "newco", "--pipelines", ",".join(PIPELINES))
    assert code == 0, out
    for name in PIPELINES:
        path = configs / "newco" / name / f"{name}.yml"
        lines = path.read_text().splitlines()
        assert (
            lines[0]
            == "# yaml-language-server: $schema=../../_schemas/pipeline_override.schema.json"
        )
        assert yaml.safe_load(path.read_text()) == {"extends": f"@library/pipelines/{name}"}
        assert f"created configs/newco/{name}/{name}.yml" in out
    assert "dataset newco_raw_openai" in out and "dataset newco_gold_reporting" in out
    assert "convergence-newco-openai_admin_key" in out
    assert "CONVERGENCE_SECRET_NEWCO_ANTHROPIC_ADMIN_KEY" in out
    assert "convergence tenants export" in out and "convergence keys create --tenant newco" in out
    assert validate_tree(configs)[1] == []


def test_create_again_keeps_the_tenants_own_files(configs, capsys):
    assert create(capsys, "newco", "--pipelines", "openai_costs")[0] == 0
    mine = configs / "newco/openai_costs/openai_costs.yml"
    mine.write_text(mine.read_text() + "default_window_days: 5\n")
    code, out = create(capsys, "newco", "--pipelines", "openai_costs,gcp_billing")
    assert code == 0, out
    assert "exists  configs/newco/openai_costs/openai_costs.yml" in out
    assert "created configs/newco/gcp_billing/gcp_billing.yml" in out
    assert mine.read_text().endswith("default_window_days: 5\n")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("newco", "--pipelines", "openai_cost"), "no library template 'openai_cost'"),
        (("newco", "--pipelines", "openai_costs,openai_costs"), "is given twice"),
        (("Newco", "--pipelines", "openai_costs"), "invalid tenant id"),
        (("admin", "--pipelines", "openai_costs"), "is reserved"),
    ],
)
def test_create_refuses_what_it_cannot_onboard_and_writes_nothing(configs, capsys, args, expected):
    code, out = create(capsys, *args)
    assert code == 2 and expected in out, out
    assert not (configs / args[0]).exists()


def test_a_broken_template_writes_nothing(configs, capsys):
    source = configs / "_library/pipelines/openai_costs/openai_costs_source.yml"
    source.write_text(source.read_text().replace("kind: rest", "kind: soap"))
    code, out = create(capsys, "newco", "--pipelines", "openai_costs")
    assert code == 2 and "unknown kind 'soap'" in out and "openai_costs_source.yml" in out
    assert not (configs / "newco").exists()


def test_an_onboarded_tenant_runs_every_pipeline_to_gold(configs, capsys, make_platform, tmp_path):
    assert create(capsys, "newco", "--pipelines", ",".join(PIPELINES))[0] == 0
    platform = make_platform(config_dir=configs, tenants=("newco",), home=tmp_path / "home")
    pipelines = [p for p in demo_pipelines(configs) if p.tenant_id == "newco"]
    assert sorted(p.config.pipeline_id for p in pipelines) == sorted(PIPELINES)
    prepare_sources(platform.rt, pipelines, SPAN, as_of=None)
    providers, gold = split_gold(pipelines)
    for group in (providers, gold):
        events = [request_run(platform.rt, "newco", p.config.pipeline_id, SPAN) for p in group]
        platform.drain()
        for event in events:
            status = metadata.run_status(platform.rt.warehouse, "newco", event.pipeline_logging_id)
            assert status is not None and status["status"] == "COMPLETE", status
    silver = table_sql(TableRef("newco_silver_cost", "focus_daily"))
    providers_seen = platform.rt.warehouse.query(f"SELECT DISTINCT x_provider AS p FROM {silver}")
    assert {r["p"] for r in providers_seen} == {"openai", "anthropic", "gcp"}
    for table in ("daily_spend", "monthly_spend"):
        ref = table_sql(TableRef("newco_gold_reporting", table))
        assert platform.rt.warehouse.query(f"SELECT COUNT(*) AS n FROM {ref}")[0]["n"] > 0


def test_the_api_in_cloud_mode_returns_the_files_to_commit(configs, tmp_path):
    """Cloud configs come from the repository: the files are returned, not written."""
    import json
    from dataclasses import replace

    from lib.api import views
    from lib.api.http import ApiRequest
    from tests.lib.api import harness

    rt = harness.make_runtime(tmp_path / "cloud_home", configs)
    try:
        cloud = replace(rt, settings=replace(rt.settings, mode="cloud"))
        body = json.dumps({"tenant_id": "newco", "pipelines": ["anthropic_costs"]}).encode()
        request = ApiRequest("POST", "/tenants", {"Content-Type": "application/json"}, body=body)
        response = views.create_tenant(cloud, request, "")
        assert response.status == 201 and response.body["written"] is False
        [planned] = response.body["files"]
        assert planned["path"] == "configs/newco/anthropic_costs/anthropic_costs.yml"
        assert 'extends: "@library/pipelines/anthropic_costs"' in planned["content"]
        assert not (configs / "newco").exists()
        assert "newco_raw_anthropic" in response.body["datasets"]
        assert response.body["secrets"] == [
            {
                "name": "anthropic_admin_key",
                "secret_id": "convergence-newco-anthropic_admin_key",
                "variable": "CONVERGENCE_SECRET_NEWCO_ANTHROPIC_ADMIN_KEY",
            }
        ]
        assert response.body["next"][0].startswith("commit the files above")
    finally:
        rt.close()
