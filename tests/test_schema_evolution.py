"""Table definitions evolve: new NULLABLE columns are added on the next run; breaking changes
fail. The raw table is defined by its source's ``records.columns`` (here changed by acme's
``source_overrides``)."""

from __future__ import annotations

import datetime as dt

import yaml

from events.models import Window
from lib import metadata
from lib.ports import TableRef
from lib.runs import request_run
from lib.sql import table_sql
from tests.platform import copy_configs

WINDOW = Window(start=dt.date(2026, 11, 18), end=dt.date(2026, 11, 19))
ACME = "acme/openai/cost/openai_costs/openai_costs.yml"


def edit_columns(configs, columns):
    """acme's override maps ``columns`` (name → path or mapping) into raw_openai.costs."""
    path = configs / ACME
    data = yaml.safe_load(path.read_text())
    data["steps"] = {"ingest_costs": {"source_overrides": {"records": {"columns": columns}}}}
    path.write_text(yaml.safe_dump(data))


def columns(rt, dataset, table):
    return set(
        rt.warehouse.query(f"SELECT * FROM {table_sql(TableRef(dataset, table))} LIMIT 1")[0]
    )


def run(platform):
    event = request_run(platform.rt, "acme", "openai_costs", WINDOW)
    platform.drain()
    return metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)


def test_new_nullable_column_is_added_on_the_next_run(make_platform, tmp_path):
    configs = copy_configs(tmp_path, "acme/openai")
    platform = make_platform(config_dir=configs)
    assert run(platform)["status"] == "COMPLETE"
    assert "cost_center" not in columns(platform.rt, "acme_raw_openai", "costs")
    edit_columns(configs, {"cost_center": "cost_center"})
    assert run(platform)["status"] == "COMPLETE"
    assert "cost_center" in columns(platform.rt, "acme_raw_openai", "costs")


def test_type_change_fails_naming_the_column_and_a_versioned_table(make_platform, tmp_path):
    configs = copy_configs(tmp_path, "acme/openai")
    platform = make_platform(config_dir=configs)
    assert run(platform)["status"] == "COMPLETE"

    edit_columns(configs, {"line_item": {"path": "line_item", "type": "INT64"}})
    status = run(platform)
    assert status["status"] == "FAILED"
    assert "line_item" in status["error"] and "costs_v2" in status["error"]
