"""Schema files evolve: new NULLABLE columns are added on the next run; breaking changes fail."""

from __future__ import annotations

import datetime as dt
import json

from events.models import Window
from lib import metadata
from lib.ports import TableRef
from lib.runs import request_run
from lib.sql import table_sql
from tests.platform import copy_configs

WINDOW = Window(start=dt.date(2026, 11, 18), end=dt.date(2026, 11, 19))
SCHEMA = "acme/openai/cost/openai_costs/openai_costs_output_schema.json"


def edit_schema(configs, change):
    path = configs / SCHEMA
    fields = json.loads(path.read_text())
    change(fields)
    path.write_text(json.dumps(fields))


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
    edit_schema(configs, lambda f: f.append({"name": "cost_center", "type": "STRING"}))
    assert run(platform)["status"] == "COMPLETE"
    assert "cost_center" in columns(platform.rt, "acme_raw_openai", "costs")


def test_type_change_fails_naming_the_column_and_a_versioned_table(make_platform, tmp_path):
    configs = copy_configs(tmp_path, "acme/openai")
    platform = make_platform(config_dir=configs)
    assert run(platform)["status"] == "COMPLETE"

    def retype(fields):
        next(f for f in fields if f["name"] == "line_item")["type"] = "INT64"

    edit_schema(configs, retype)
    status = run(platform)
    assert status["status"] == "FAILED"
    assert "line_item" in status["error"] and "costs_v2" in status["error"]
