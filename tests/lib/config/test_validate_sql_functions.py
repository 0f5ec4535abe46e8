"""``convergence validate`` reports SQL the embedded engine would run with another meaning.

A config tree is built in ``tmp_path``: the shipped OpenAI pipeline (which writes
``silver_cost.focus_daily``) and a small pipeline whose transform SQL (and DQ row filter) read
that table with functions or forms that have no faithful DuckDB translation. Validation must
name the file and the function before anything runs; the faithful form validates cleanly.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from lib.cli import main
from lib.config.validate import validate_tree

REPO_CONFIGS = Path(__file__).parents[3] / "configs"
SOURCE = Path("acme/openai/cost/openai_costs")
PIPELINE = Path("acme/analytics/reporting/mini")


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    for part in ("metadata", "_library", SOURCE):
        shutil.copytree(REPO_CONFIGS / part, root / part)
    folder = root / PIPELINE
    folder.mkdir(parents=True)
    (folder / "mini.yml").write_text(
        yaml.safe_dump(
            {
                "pipeline_id": "mini",
                "description": "One transform whose SQL is under test.",
                "steps": [
                    {
                        "name": "shape",
                        "type": "transform",
                        "sql": "mini.sql",
                        "destination": {
                            "dataset": "gold_reporting",
                            "table": "mini",
                            "schema": "mini_schema.json",
                            "write_mode": "overwrite",
                        },
                    },
                    {
                        "name": "check",
                        "type": "dq",
                        "rules": "mini_dq.yml",
                        "table": {"dataset": "gold_reporting", "table": "mini"},
                    },
                ],
            },
            sort_keys=False,
        )
    )
    (folder / "mini_schema.json").write_text(
        '[{"name": "label", "type": "STRING", "mode": "NULLABLE"},'
        ' {"name": "pipeline_logging_id", "type": "STRING", "mode": "NULLABLE"}]'
    )
    write_filter(root, "label != ''")
    write_sql(root, "SELECT FORMAT('%d items', COUNT(*)) AS label FROM silver_cost.focus_daily")
    return root


def write_sql(root: Path, sql: str) -> None:
    (root / PIPELINE / "mini.sql").write_text(
        sql.replace(" AS label ", " AS label, @run_id AS pipeline_logging_id ", 1)
    )


def write_filter(root: Path, condition: str) -> None:
    rules = {
        "expectations": [
            {
                "expectation_type": "expect_table_row_count_to_be_between",
                "kwargs": {"min_value": 0, "filter": condition},
            }
        ]
    }
    (root / PIPELINE / "mini_dq.yml").write_text(yaml.safe_dump(rules))


def test_faithful_sql_validates(tree: Path) -> None:
    checked, problems = validate_tree(tree)
    assert checked >= 1
    assert [str(p) for p in problems] == []


@pytest.mark.parametrize(
    ("sql", "function"),
    [
        ("SELECT FORMAT('%T', COUNT(*)) AS label FROM silver_cost.focus_daily", "FORMAT"),
        ('SELECT FORMAT("%\'d", COUNT(*)) AS label FROM silver_cost.focus_daily', "FORMAT"),
        (
            "SELECT FORMAT('%.2f', SUM(BilledCost)) AS label FROM silver_cost.focus_daily",
            "FORMAT",
        ),
        (
            "SELECT CAST(FARM_FINGERPRINT(ServiceName) AS STRING) AS label "
            "FROM silver_cost.focus_daily",
            "FARM_FINGERPRINT",
        ),
        ("SELECT NET.HOST(ResourceId) AS label FROM silver_cost.focus_daily", "NET.HOST"),
        (
            "SELECT FORMAT_DATE('%e', x_charge_date) AS label FROM silver_cost.focus_daily",
            "FORMAT_DATE",
        ),
        (
            "SELECT CAST(DATE_TRUNC(TIMESTAMP '2024-05-02 10:00:00+00', MONTH) AS STRING) "
            "AS label FROM silver_cost.focus_daily",
            "DATE_TRUNC",
        ),
    ],
)
def test_unfaithful_transform_sql_is_reported_naming_file_and_function(
    tree: Path, sql: str, function: str
) -> None:
    write_sql(tree, sql)
    [problem] = validate_tree(tree)[1]
    assert problem.file.endswith(str(PIPELINE / "mini.sql"))
    assert f"function {function} has no faithful DuckDB translation" in problem.message
    assert "docs/sql.md" in problem.hint


def test_unfaithful_dq_filter_is_reported_naming_the_rules_file(tree: Path) -> None:
    write_filter(tree, "MOD(FARM_FINGERPRINT(label), 2) = 0")
    [problem] = validate_tree(tree)[1]
    assert problem.file.endswith("mini_dq.yml")
    assert "function FARM_FINGERPRINT has no faithful DuckDB translation" in problem.message


def test_cli_validate_fails_and_prints_file_and_function(tree: Path, capsys) -> None:
    write_sql(tree, "SELECT FORMAT('%t', CURRENT_DATE()) AS label FROM silver_cost.focus_daily")
    assert main(["validate", str(tree)]) == 1
    captured = capsys.readouterr()
    out = " ".join((captured.out + captured.err).split())
    assert "mini.sql" in out
    assert "function FORMAT has no faithful DuckDB translation" in out
