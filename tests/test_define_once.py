"""Define once: raw tables from ``records.columns``, transform outputs inferred from their SQL,
merge keys implying uniqueness — at run time, not only in ``validate``."""

from __future__ import annotations

import datetime as dt
import shutil
from decimal import Decimal

import yaml

from events.models import Window
from lib import metadata
from lib.config.catalog import destination_spec
from lib.config.infer import infer_fields
from lib.config.loader import INGESTION_FIELDS, load_pipeline
from lib.config.schema_files import load_schema_file
from lib.config.source import load_source
from lib.demo import demo_pipelines, prepare_sources, split_gold
from lib.ports import TableRef
from lib.runs import request_run
from lib.schema import SchemaField, TableSpec
from lib.sql import table_sql
from tests.platform import CONFIGS

SPAN = Window(start=dt.date(2026, 11, 17), end=dt.date(2026, 11, 19))
SPEND = "_library/pipelines/spend_reporting/spend_reporting.yml"
MONTHLY_SCHEMA = "_library/gold/monthly_spend_schema.json"


def test_the_raw_table_is_the_sources_columns_plus_the_ingestion_columns():
    pipeline = load_pipeline(CONFIGS, "acme", "anthropic_costs")
    source = load_source(
        CONFIGS / "_library/pipelines/anthropic_costs/anthropic_cost_report_source.yml"
    )
    spec = destination_spec(pipeline, 0)
    assert spec.names == [*source.records.columns, *(f.name for f in INGESTION_FIELDS)]  # type: ignore[union-attr]
    cents = spec.field("amount_cents")
    assert (cents.type, cents.precision, cents.scale, cents.mode) == (
        "BIGNUMERIC",
        38,
        22,
        "REQUIRED",
    )
    assert (
        spec.field("workspace_id").mode == "NULLABLE" and spec.partition_field == "ingestion_date"
    )


def test_types_are_inferred_from_the_sql():
    tables = {
        "raw.t": TableSpec(
            fields=(
                SchemaField(name="day", type="DATE"),
                SchemaField(name="cost", type="BIGNUMERIC", precision=38, scale=24),
                SchemaField(name="name", type="STRING"),
            )
        )
    }
    sql = (
        "SELECT day, SUM(cost) AS cost, COUNT(*) AS n, @now AS at, @run_id AS run,"
        " ARRAY_AGG(name) AS names, STRUCT(day AS d, MAX(name) AS m) AS s"
        " FROM raw.t WHERE day IN UNNEST(@dates) GROUP BY day"
    )
    fields, problems = infer_fields(sql, tables)
    assert problems == [] and fields is not None
    shown = {f.name: (f.type, f.mode) for f in fields}
    assert shown == {
        "day": ("DATE", "NULLABLE"),
        "cost": ("BIGNUMERIC", "NULLABLE"),
        "n": ("INT64", "NULLABLE"),
        "at": ("TIMESTAMP", "NULLABLE"),
        "run": ("STRING", "NULLABLE"),
        "names": ("STRING", "REPEATED"),
        "s": ("RECORD", "NULLABLE"),
    }
    assert [m.name for m in fields[-1].fields] == ["d", "m"]


def test_an_untyped_output_is_a_problem_naming_the_column_and_the_fix():
    tables = {"raw.t": TableSpec(fields=(SchemaField(name="a", type="STRING"),))}
    fields, [problem] = infer_fields("SELECT\n  my_udf(a) AS u\nFROM raw.t", tables)
    assert fields is None and problem.line == 2
    assert "cannot infer the type of output column 'u'" in problem.message
    assert "CAST(… AS type) AS u" in problem.hint


def test_a_gold_table_without_a_schema_file_runs_with_its_inferred_columns(make_platform, tmp_path):
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    declared = [f.name for f in load_schema_file(configs / MONTHLY_SCHEMA)]
    template = configs / SPEND
    data = yaml.safe_load(template.read_text())
    del data["steps"][1]["destination"]["schema"]
    template.write_text(yaml.safe_dump(data, sort_keys=False))
    (configs / MONTHLY_SCHEMA).unlink()
    platform = make_platform(config_dir=configs, tenants=("acme",))
    pipelines = [p for p in demo_pipelines(configs) if p.tenant_id == "acme"]
    prepare_sources(platform.rt, pipelines, SPAN, as_of=None)
    for group in split_gold(pipelines):
        events = [request_run(platform.rt, "acme", p.config.pipeline_id, SPAN) for p in group]
        platform.drain()
        for event in events:
            status = metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)
            assert status is not None and status["status"] == "COMPLETE", status
    monthly = table_sql(TableRef("acme_gold_reporting", "monthly_spend"))
    rows = platform.rt.warehouse.query(f"SELECT * FROM {monthly}")
    assert rows and list(rows[0]) == declared
    assert all(
        isinstance(r["billed_cost"], Decimal) and isinstance(r["charge_rows"], int) for r in rows
    )
    assert all(isinstance(r["month"], dt.date) for r in rows)
