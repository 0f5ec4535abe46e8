"""Malformed configs: each is reported with file, field and a hint, all at once."""

import shutil
from pathlib import Path

import pytest
import yaml

from lib.config.loader import load_pipeline
from lib.config.validate import validate_tree
from lib.errors import ConfigError

REPO_CONFIGS = Path(__file__).parents[3] / "configs"
PIPE = Path("_library/pipelines/openai_costs")  # the template acme's pipeline extends
TENANT_PIPE = Path("acme/openai/cost/openai_costs")
LIBRARY_SQL = Path("_library/focus/focus_openai.sql")


@pytest.fixture
def tree(tmp_path):
    root = tmp_path / "configs"
    shutil.copytree(REPO_CONFIGS / "metadata", root / "metadata")
    shutil.copytree(REPO_CONFIGS / "_library", root / "_library")
    shutil.copytree(REPO_CONFIGS / TENANT_PIPE, root / TENANT_PIPE)
    return root


def edit_yaml(path, change):
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data, sort_keys=False))


def problems_of(root):
    checked, problems = validate_tree(root)
    assert checked >= 1
    return problems


def one_problem(root):
    problems = problems_of(root)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def pipeline_file(root):
    return root / PIPE / "openai_costs.yml"


def test_the_copied_tree_is_valid(tree):
    assert problems_of(tree) == []


def test_misspelled_top_level_key_suggests_the_right_one(tree):
    edit_yaml(pipeline_file(tree), lambda d: d.update(descripton="x"))
    p = one_problem(tree)
    assert p.file.endswith("openai_costs.yml") and p.field == "descripton"
    assert "did you mean 'description'" in p.hint


def test_missing_steps_says_to_add_them(tree):
    edit_yaml(pipeline_file(tree), lambda d: d.pop("steps"))
    p = one_problem(tree)
    assert p.field == "steps" and p.hint == "add `steps:` here"


def test_unknown_step_type_lists_valid_types(tree):
    edit_yaml(pipeline_file(tree), lambda d: d["steps"][1].update(type="load"))
    p = one_problem(tree)
    assert p.field == "steps[1].type" and p.message == "unknown type 'load'"
    assert "'ingest'" in p.hint and "'transform'" in p.hint


def test_nested_unknown_key_lists_allowed_keys(tree):
    edit_yaml(pipeline_file(tree), lambda d: d["steps"][0]["destination"].update(mergekeys=["a"]))
    p = one_problem(tree)
    assert p.field == "steps[0].destination.mergekeys"
    assert "merge_keys" in p.hint


def test_merge_without_keys_explains_what_keys_are(tree):
    def merge_without_keys(d):
        d["steps"][0]["destination"]["write_mode"] = "merge"
        d["steps"][0]["destination"].pop("merge_keys")

    edit_yaml(pipeline_file(tree), merge_without_keys)
    p = one_problem(tree)
    assert "steps[0]" in p.field and "merge_keys" in p.message


def test_merge_key_not_in_schema_lists_the_columns(tree):
    edit_yaml(
        pipeline_file(tree), lambda d: d["steps"][0]["destination"].update(merge_keys=["nope"])
    )
    p = one_problem(tree)
    assert p.field == "steps[0].destination.merge_keys"
    assert "'nope' is not in the records.columns of @library/pipelines/openai_costs/" in p.message
    assert "amount_value" in p.hint


def test_path_escaping_the_pipeline_folder_is_refused(tree):
    edit_yaml(
        pipeline_file(tree), lambda d: d["steps"][0].update(source="../../../../../etc/passwd")
    )
    p = one_problem(tree)
    assert p.field == "steps[0].source" and "without '..'" in p.message


def test_missing_referenced_file_names_it(tree):
    (tree / PIPE / "openai_costs_dq.yml").unlink()
    p = one_problem(tree)
    assert p.field == "steps[1].rules" and "openai_costs_dq.yml" in p.message
    assert "create it" in p.hint


def test_pipeline_id_must_match_file_name(tree):
    edit_yaml(pipeline_file(tree), lambda d: d.update(pipeline_id="openai_spend"))
    p = one_problem(tree)
    assert p.field == "pipeline_id" and "write pipeline_id: openai_costs" in p.hint


def test_yaml_syntax_error_gives_line_and_column(tree):
    pipeline_file(tree).write_text("pipeline_id: openai_costs\nsteps: [\n  - bad: : x\n")
    p = one_problem(tree)
    assert p.field.startswith("line ") and "invalid YAML" in p.message


def test_bad_cron_and_time_zone(tree):
    edit_yaml(
        pipeline_file(tree), lambda d: d.update(schedule={"cron": "every day", "time_zone": "UTC"})
    )
    assert "must have 5 fields" in one_problem(tree).message
    edit_yaml(
        pipeline_file(tree),
        lambda d: d.update(schedule={"cron": "0 6 * * *", "time_zone": "Mars/Olympus"}),
    )
    assert "unknown time zone" in one_problem(tree).message


def test_duplicate_step_names(tree):
    edit_yaml(pipeline_file(tree), lambda d: d["steps"][2].update(name="check_costs"))
    assert "used twice" in one_problem(tree).message


def test_secret_value_in_source_is_refused_without_echoing_it(tree):
    path = tree / PIPE / "openai_costs_source.yml"
    edit_yaml(path, lambda d: d["auth"].update(secret="sk-live-abcdef123456"))
    p = one_problem(tree)
    assert p.file.endswith("openai_costs_source.yml") and p.field == "auth.secret"
    assert "not a key value" in p.message
    assert "sk-live-abcdef123456" not in str(p)


def test_unknown_dq_expectation_suggests_a_name(tree):
    path = tree / PIPE / "openai_costs_dq.yml"
    edit_yaml(
        path,
        lambda d: d["expectations"][0].update(
            expectation_type="expect_column_values_to_not_be_nul"
        ),
    )
    p = one_problem(tree)
    assert p.file.endswith("openai_costs_dq.yml") and "expectations[0]" in p.field
    assert "expect_column_values_to_not_be_null" in str(p)


def test_sql_syntax_error_is_reported_against_the_sql_file(tree):
    (tree / LIBRARY_SQL).write_text("SELECT FROM WHERE (")
    p = one_problem(tree)
    assert p.file.endswith("focus_openai.sql")


def test_sql_reaching_outside_the_tenant_is_refused(tree):
    (tree / LIBRARY_SQL).write_text("SELECT * FROM `other-project.billing.costs`")
    p = one_problem(tree)
    assert p.file.endswith("focus_openai.sql")


def test_schema_file_with_unknown_type(tree):
    path = tree / "_library" / "focus" / "focus_daily_schema.json"
    path.write_text('[{"name": "usage_date", "type": "DAY"}]')
    problems = problems_of(tree)
    assert any("focus_daily_schema.json" in str(p) for p in problems)


def test_every_problem_is_reported_at_once(tree):
    edit_yaml(
        pipeline_file(tree), lambda d: d["steps"][0]["destination"].update(merge_keys=["nope"])
    )
    (tree / PIPE / "openai_costs_dq.yml").unlink()
    fields = {p.field for p in problems_of(tree)}
    assert {"steps[0].destination.merge_keys", "steps[1].rules"} <= fields


def test_invalid_tenant_folder_is_reported(tree):
    shutil.copytree(tree / "acme", tree / "Bad-Tenant")
    assert any("tenant folder" in p.message for p in problems_of(tree))


def test_discovery_is_confined_to_the_tenant(tree):
    shutil.copytree(tree / "acme", tree / "globex")
    shutil.rmtree(tree / "globex" / "openai")
    with pytest.raises(
        ConfigError, match=r"no pipeline file named openai_costs\.yml for tenant 'globex'"
    ):
        load_pipeline(tree, "globex", "openai_costs")
    assert load_pipeline(tree, "acme", "openai_costs").tenant_id == "acme"


@pytest.mark.parametrize("tenant", ["../acme", "ACME", "a", "acme;drop", "metadata"])
def test_unsafe_tenant_ids_never_reach_the_filesystem(tree, tenant):
    with pytest.raises((ConfigError, ValueError)):
        load_pipeline(tree, tenant, "openai_costs")


def test_library_paths_cannot_escape_the_library(tree):
    edit_yaml(pipeline_file(tree), lambda d: d["steps"][5].update(sql="@library/../acme/x.sql"))
    p = one_problem(tree)
    assert p.field == "steps[5].sql" and "without '..'" in p.message


def test_missing_library_file_names_the_library(tree):
    (tree / LIBRARY_SQL).unlink()
    p = one_problem(tree)
    assert p.field == "steps[5].sql" and "@library/focus/focus_openai.sql" in p.message
    assert "configs/_library" in p.hint
