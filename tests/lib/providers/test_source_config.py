"""Source files: the example sources load; mistakes name file, field path and a hint."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lib.config.source import (
    BigQueryExportSourceConfig,
    RestSourceConfig,
    load_source,
)
from lib.errors import ConfigError
from tests.lib.providers.support import DATA, SOURCES


@pytest.mark.parametrize("name", SOURCES)
def test_example_sources_load(name):
    loaded = load_source(DATA / f"{name}.source.yml")
    assert isinstance(loaded, RestSourceConfig)
    assert loaded.records.columns
    assert loaded.pagination.type == "cursor"


def _write(tmp_path: Path, data: dict, name: str = "src.yml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data))
    return path


def _example(**changes) -> dict:
    data = yaml.safe_load((DATA / "anthropic_cost_report.source.yml").read_text())
    for dotted, value in changes.items():
        target = data
        *parents, last = dotted.split("__")
        for part in parents:
            target = target[part]
        target[last] = value
    return data


def _problem(tmp_path: Path, data: dict):
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_source(path)
    assert all(p.file == str(path) for p in info.value.problems)
    return info.value.problems


def test_wrong_pagination_type_names_the_field_and_the_choices(tmp_path):
    (problem,) = _problem(tmp_path, _example(pagination__type="scroll"))
    assert problem.field == "pagination.type"
    assert "'cursor'" in problem.hint and "'offset'" in problem.hint


def test_unknown_key_gets_a_did_you_mean_hint(tmp_path):
    data = _example()
    data["pagination"]["max_page"] = 3
    (problem,) = _problem(tmp_path, data)
    assert problem.field == "pagination.max_page"
    assert "max_pages" in problem.hint


def test_missing_and_unknown_kind(tmp_path):
    data = _example()
    del data["kind"]
    (problem,) = _problem(tmp_path, data)
    assert problem.field == "kind" and "'rest'" in problem.hint
    (problem,) = _problem(tmp_path, _example(kind="soap"))
    assert "unknown kind 'soap'" in problem.message


def test_a_key_value_in_auth_secret_is_rejected_without_echoing_it(tmp_path):
    (problem,) = _problem(tmp_path, _example(auth__secret="sk-ant-admin01-abcdef"))
    assert problem.field == "auth.secret"
    assert "secret name" in problem.message
    assert "sk-ant" not in str(problem)


def test_credentials_in_static_headers_are_rejected(tmp_path):
    (problem,) = _problem(tmp_path, _example(headers={"X-Api-Key": "literal"}))
    assert problem.field == "headers"
    assert "auth:" in problem.message


def test_api_key_header_needs_a_header_name(tmp_path):
    data = _example()
    del data["auth"]["header"]
    (problem,) = _problem(tmp_path, data)
    assert problem.field == "auth"
    assert "auth.header" in problem.message


def test_parent_scope_needs_records_each(tmp_path):
    data = _example()
    del data["records"]["each"]
    (problem,) = _problem(tmp_path, data)
    assert problem.field == "records"
    assert "bucket_starting_at" in problem.message


def test_every_problem_is_reported_at_once(tmp_path):
    data = _example(time_format="iso", retry__max_attempts=0)
    fields = {p.field for p in _problem(tmp_path, data)}
    assert fields == {"time_format", "retry.max_attempts"}


def test_bigquery_export_source_defaults(tmp_path):
    path = _write(tmp_path, {"kind": "bigquery_export", "dataset": "billing"})
    loaded = load_source(path)
    assert isinstance(loaded, BigQueryExportSourceConfig)
    assert loaded.table_prefix == "gcp_billing_export_v1_"
    assert loaded.overlap_days == 1


def test_column_shorthand_and_object_forms_are_equivalent():
    loaded = load_source(DATA / "openai_costs.source.yml")
    assert isinstance(loaded, RestSourceConfig)
    columns = loaded.records.columns
    assert columns["project_id"].path == "project_id" and columns["project_id"].scope == "item"
    assert columns["bucket_start_time"].scope == "parent" and columns["bucket_start_time"].required
