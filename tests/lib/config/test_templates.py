"""Templates and overrides: the merge rules, origins, and ``convergence config show``."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pytest

from lib.cli import main
from lib.config.derived import step_rules
from lib.config.documents import read_document
from lib.config.layers import Layered, merge_layers
from lib.config.loader import load_pipeline
from lib.config.show import show_pipeline
from lib.errors import ConfigError
from tests.platform import CONFIGS, append_override

ACME_OPENAI = "acme/openai/cost/openai_costs/openai_costs.yml"
TEMPLATE = "_library/pipelines/openai_costs/openai_costs.yml"
NOW = dt.datetime(2026, 11, 20, 7, 0, tzinfo=dt.UTC)


def layer(tmp_path: Path, name: str, text: str) -> Layered:
    path = tmp_path / name
    path.write_text(text)
    return Layered.of(read_document(path))


def merged(tmp_path: Path, base: str, over: str) -> Layered:
    return merge_layers(layer(tmp_path, "base.yml", base), layer(tmp_path, "over.yml", over))


def test_maps_merge_key_by_key_and_keep_each_values_origin(tmp_path):
    out = merged(tmp_path, "a: 1\nm:\n  x: 1\n  y: 2\n", "m:\n  y: 3\n  z: 4\n")
    assert out.data == {"a": 1, "m": {"x": 1, "y": 3, "z": 4}}
    origin = out.origin(("m", "y"))
    assert origin is not None and origin.file.endswith("over.yml") and origin.line == 2
    origin = out.origin(("m", "x"))
    assert origin is not None and origin.file.endswith("base.yml") and origin.line == 3


def test_null_removes_a_key_and_lists_replace(tmp_path):
    out = merged(tmp_path, "a: 1\nl: [1, 2]\nm: {x: 1}\n", "a: null\nl: [3]\nm: {x: null}\n")
    assert out.data == {"l": [3], "m": {}}


def test_add_and_remove_change_a_list_in_place(tmp_path):
    out = merged(tmp_path, "l: [a, b, c]\n", "l: {remove: [b], add: [d, e]}\n")
    assert out.data == {"l": ["a", "c", "d", "e"]}
    assert out.origin(("l", 0)).file.endswith("base.yml")  # type: ignore[union-attr]
    assert out.origin(("l", 2)).file.endswith("over.yml")  # type: ignore[union-attr]
    assert merged(tmp_path, "x: 1\n", "l: {add: [a]}\n").data == {"x": 1, "l": ["a"]}


def test_removing_what_is_not_there_names_the_override_line(tmp_path):
    with pytest.raises(ConfigError) as caught:
        merged(tmp_path, "l: [a]\n", "other: 1\nl: {remove: [z]}\n")
    [problem] = caught.value.problems
    assert problem.file.endswith("over.yml") and problem.line == 2
    assert "cannot remove 'z'" in problem.message and "'a'" in problem.hint


def test_a_merged_pipeline_names_the_file_that_wrote_each_value():
    pipeline = load_pipeline(CONFIGS, "acme", "openai_costs")
    assert pipeline.template == CONFIGS / TEMPLATE
    tenant = pipeline.problem("description", "x")
    assert tenant.file.endswith(ACME_OPENAI) and tenant.line == 3
    library = pipeline.problem("steps[0].destination.merge_keys", "x")
    assert library.file.endswith(TEMPLATE) and library.field == "steps[0].destination.merge_keys"


def test_step_overrides_are_addressed_by_name_and_steps_are_added_after_one(tmp_path):
    root = tmp_path / "configs"
    shutil.copytree(CONFIGS, root)
    append_override(
        root / ACME_OPENAI,
        "steps:\n"
        "  check_usage: {enabled: false}\n"
        "  check_costs: {on_failure: alert}\n"
        "  audit:\n"
        "    type: dq\n"
        "    after: ingest_costs\n"
        "    table: {dataset: raw_openai, table: costs}\n",
    )
    pipeline = load_pipeline(root, "acme", "openai_costs")
    names = [s.name for s in pipeline.config.steps]
    assert names == [
        "ingest_costs",
        "audit",
        "check_costs",
        "ingest_usage",
        "load_prices",
        "silver_focus",
        "price_usage",
        "check_prices",
    ]
    assert pipeline.config.steps[2].on_failure == "alert"  # type: ignore[union-attr]
    problem = pipeline.problem("steps[2].on_failure", "x")
    assert problem.file.endswith(ACME_OPENAI) and problem.field == "steps.check_costs.on_failure"
    assert [e.label for e in step_rules(pipeline, 1).expectations] == ["unique_merge_keys"]


def test_source_overrides_and_secret_renames_reach_the_source(tmp_path):
    root = tmp_path / "configs"
    shutil.copytree(CONFIGS, root)
    append_override(
        root / ACME_OPENAI,
        "secrets: {openai_admin_key: acme_openai_key}\n"
        "steps:\n"
        "  ingest_costs:\n"
        "    source_overrides: {retry: {max_attempts: 2}, params: {limit: 7}}\n",
    )
    pipeline = load_pipeline(root, "acme", "openai_costs")
    costs, usage = pipeline.source(0), pipeline.source(2)
    assert costs.retry.max_attempts == 2 and costs.retry.budget_seconds == 120  # type: ignore[union-attr]
    assert costs.params["limit"] == 7 and costs.params["bucket_width"] == "1d"  # type: ignore[union-attr]
    assert usage.retry.max_attempts == 6  # type: ignore[union-attr]
    assert costs.auth.secret == usage.auth.secret == "acme_openai_key"  # type: ignore[union-attr]


def test_config_show_prints_origins_implied_rules_and_the_next_three_runs():
    text = show_pipeline(load_pipeline(CONFIGS, "acme", "openai_costs"), CONFIGS, NOW)
    lines = text.splitlines()
    description = next(line for line in lines if line.startswith("description:"))
    assert description.endswith(f"# {ACME_OPENAI}:3")
    cron = next(line for line in lines if line.strip().startswith("cron:"))
    assert cron.endswith(f"# {TEMPLATE}:8")
    implied = next(line for line in lines if line.startswith("- unique_merge_keys"))
    assert f"implied by {TEMPLATE}:22 (steps[0].destination.merge_keys)" in implied
    assert "raw_openai.costs  ← records.columns of @library/pipelines/openai_costs/" in text
    assert "amount_value BIGNUMERIC(38,24) REQUIRED" in text
    assert [line for line in lines if "next run:" in line] == [
        "#   next run: 2026-11-21T06:15:00+00:00",
        "#   next run: 2026-11-22T06:15:00+00:00",
        "#   next run: 2026-11-23T06:15:00+00:00",
    ]


def test_config_show_cli(capsys):
    assert (
        main(["config", "show", "gcp_billing", "--tenant", "globex", "--config-dir", str(CONFIGS)])
        == 0
    )
    out = capsys.readouterr().out
    assert "# pipeline gcp_billing of tenant globex" in out
    assert "kind: bigquery_export" in out and "next run:" in out


def test_config_show_of_an_unknown_pipeline_is_an_error(capsys):
    assert main(["config", "show", "nope", "--tenant", "acme", "--config-dir", str(CONFIGS)]) == 2
    assert "no pipeline file named nope.yml" in capsys.readouterr().err
