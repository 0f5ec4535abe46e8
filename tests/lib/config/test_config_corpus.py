"""The config corpus: broken variants of the real configs, one defect each.

Every variant is a copy of the shipped configs (the acme tenant, the shared library with its
pipeline templates, and the metadata schemas) with one mutation: in a template, a library
file, or acme's overrides. ``convergence validate`` (run in-process through the CLI's
``main``) must exit 1 and print a problem naming the file (and, where the defect sits on one,
its line) with the expected message: none accepted silently, no traceback, no internal error.
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from lib.cli import main
from tests.platform import CONFIGS

OAI = "_library/pipelines/openai_costs/"  # the OpenAI template and its files
OP, OS = OAI + "openai_costs.yml", OAI + "openai_costs_source.yml"
ODQ = OAI + "openai_costs_dq.yml"
OUDQ, OUS = OAI + "openai_usage_dq.yml", OAI + "openai_usage_source.yml"
A = "_library/pipelines/anthropic_costs/"
AP, AS = A + "anthropic_costs.yml", A + "anthropic_cost_report_source.yml"
G = "_library/pipelines/gcp_billing/"
GP, GS = G + "gcp_billing.yml", G + "gcp_billing_source.yml"
GDQ, GSCH = G + "gcp_billing_dq.yml", G + "gcp_billing_output_schema.json"
R = "_library/pipelines/spend_reporting/spend_reporting.yml"
TOAI = "acme/openai/cost/openai_costs/"  # acme's override of the OpenAI template
TP = TOAI + "openai_costs.yml"
TR = "acme/reporting/spend/spend_reporting/spend_reporting.yml"
L_OPENAI, L_GCP = "_library/focus/focus_openai.sql", "_library/focus/focus_gcp.sql"
L_ANTHROPIC = "_library/focus/focus_anthropic.sql"
L_DAILY, L_MONTHLY = "_library/gold/daily_spend.sql", "_library/gold/monthly_spend.sql"
DAILY_SCHEMA = DSCH = "_library/gold/daily_spend_schema.json"
META = "metadata/schemas/step_logs.json"

Mutation = Callable[[Path], None]


@dataclass(frozen=True)
class Case:
    """One defect: how to make it, which file is blamed, what the message says."""

    id: str
    mutate: Mutation
    file: str
    expect: str
    line: bool = True


def sub(rel: str, old: str, new: str) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / rel
        text = path.read_text()
        assert old in text, f"{old!r} not in {rel}"
        path.write_text(text.replace(old, new, 1))

    return mutate


def write(rel: str, text: str) -> Mutation:
    return lambda root: (root / rel).write_text(text)


def append_bytes(rel: str, data: bytes) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / rel
        path.write_bytes(path.read_bytes() + data)

    return mutate


def move(rel: str, new: str) -> Mutation:
    def mutate(root: Path) -> None:
        (root / new).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).rename(root / new)

    return mutate


def copy_dir(rel: str, new: str) -> Mutation:
    return lambda root: shutil.copytree(root / rel, root / new)


def both(*mutations: Mutation) -> Mutation:
    def mutate(root: Path) -> None:
        for mutation in mutations:
            mutation(root)

    return mutate


def add(rel: str, text: str) -> Mutation:
    """Append YAML to a file (a tenant's override). Step overrides join the file's own
    ``steps:`` mapping when it has one (acme's OpenAI file overrides ``load_prices``): the
    other keys go before it, the steps after it."""

    def mutate(root: Path) -> None:
        path = root / rel
        current = path.read_text()
        head, marker, steps = text.partition("steps:\n")
        if marker and "\nsteps:\n" in current:
            before, _, existing = current.partition("\nsteps:\n")
            path.write_text(f"{before}\n{head}steps:\n{existing}{steps}")
        else:
            path.write_text(current + text)

    return mutate


def delete(rel: str) -> Mutation:
    return lambda root: (root / rel).unlink()


def yedit(rel: str, change: Callable[[dict], object]) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / rel
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    return mutate


def jedit(rel: str, change: Callable[[list], object]) -> Mutation:
    def mutate(root: Path) -> None:
        path = root / rel
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=1))

    return mutate


def step(index: int, **values: object) -> Callable[[dict], object]:
    return lambda d: d["steps"][index].update(values)


def dest(index: int, **values: object) -> Callable[[dict], object]:
    return lambda d: d["steps"][index]["destination"].update(values)


def expectation(**kwargs: object) -> Callable[[dict], object]:
    return lambda d: d["expectations"].append(kwargs)


def cron(expr: str) -> Mutation:
    return sub(OP, 'cron: "15 6 * * *"', f'cron: "{expr}"')


COSTS_SCHEMA = [  # raw_openai.costs as a schema file (the template derives it instead)
    {"name": "bucket_start_time", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "bucket_end_time", "type": "TIMESTAMP", "mode": "REQUIRED"},
    {"name": "organization_id", "type": "STRING"},
    {"name": "project_id", "type": "STRING"},
    {"name": "line_item", "type": "STRING"},
    {
        "name": "amount_value",
        "type": "BIGNUMERIC",
        "mode": "REQUIRED",
        "precision": 38,
        "scale": 24,
    },
    {"name": "amount_currency", "type": "STRING", "mode": "REQUIRED"},
]


def field_of(rows: list, name: str) -> dict:
    return next(f for f in rows if f["name"] == name)


PIPELINE_CASES = [
    Case(
        "dup-key-nested",
        sub(OP, "      table: costs\n", "      table: costs\n      table: costs_v2\n"),
        OP,
        "key 'table' is written twice (lines 19 and 20)",
    ),
    Case(
        "dup-key-top",
        sub(
            OP,
            "pipeline_id: openai_costs\n",
            "pipeline_id: openai_costs\npipeline_id: openai_costs\n",
        ),
        OP,
        "key 'pipeline_id' is written twice",
    ),
    Case(
        "dup-key-step",
        sub(OP, "    on_failure: stop\n", "    on_failure: stop\n    on_failure: alert\n"),
        OP,
        "key 'on_failure' is written twice",
    ),
    Case("cron-out-of-range", cron("99 99 * * *"), OP, "bad minute field '99'"),
    Case("cron-letters", cron("a b c d e"), OP, "bad minute field 'a'"),
    Case(
        "cron-every-minute",
        cron("* * * * *"),
        OP,
        "runs every minute: a pipeline may run at most once an hour",
    ),
    Case("cron-every-15-minutes", cron("*/15 * * * *"), OP, "runs every 15 minutes"),
    Case("cron-twice-an-hour", cron("0,30 6 * * *"), OP, "runs every 30 minutes"),
    Case("cron-six-fields", cron("0 0 6 * * *"), OP, "must have 5 fields"),
    Case("cron-quartz-L", cron("0 6 L * *"), OP, "uses an extension (L, W, #, ?)"),
    Case("cron-never-fires", cron("0 0 30 2 *"), OP, "bad day-of-month field '30'"),
    Case("cron-hour-24", cron("0 24 * * *"), OP, "bad hour field '24'"),
    Case("cron-month-13", cron("0 6 1 13 *"), OP, "bad month field '13'"),
    Case("cron-weekday-9", cron("0 6 * * 9"), OP, "bad day-of-week field '9'"),
    Case(
        "time-zone",
        sub(OP, "time_zone: UTC", "time_zone: Mars/Olympus"),
        OP,
        "unknown time zone 'Mars/Olympus'",
    ),
    Case("misspelt-key", sub(OP, "description:", "descripton:"), OP, "did you mean 'description'?"),
    Case(
        "missing-steps",
        yedit(OP, lambda d: d.pop("steps")),
        OP,
        "steps: Field required (hint: add `steps:` here)",
    ),
    Case(
        "empty-steps",
        yedit(OP, lambda d: d.update(steps=[])),
        OP,
        "List should have at least 1 item",
    ),
    Case(
        "unknown-step-type",
        yedit(OP, step(1, type="load")),
        OP,
        "steps[1].type: unknown type 'load'",
    ),
    Case(
        "missing-step-type",
        yedit(OP, lambda d: d["steps"][1].pop("type")),
        OP,
        "steps[1].type: missing `type`",
    ),
    Case(
        "duplicate-step-name",
        yedit(OP, step(2, name="check_costs")),
        OP,
        "step name 'check_costs' is used twice",
    ),
    Case(
        "bad-step-name",
        yedit(OP, step(0, name="Ingest-Costs")),
        OP,
        "invalid step name 'Ingest-Costs'",
    ),
    Case(
        "template-id-mismatch",
        yedit(OP, lambda d: d.update(pipeline_id="openai_spend")),
        OP,
        "'openai_spend' does not match the template folder 'openai_costs'",
    ),
    Case(
        "bad-table-name", yedit(OP, dest(0, table="Costs")), OP, "'Costs' is not a valid table name"
    ),
    Case(
        "bad-dataset-name",
        yedit(OP, dest(0, dataset="raw-openai")),
        OP,
        "'raw-openai' is not a valid dataset name",
    ),
    Case(
        "bad-write-mode",
        yedit(OP, dest(0, write_mode="upsert")),
        OP,
        "steps[0].destination.write_mode: Input should be",
    ),
    Case(
        "merge-without-keys",
        yedit(
            OP,
            lambda d: (
                d["steps"][0]["destination"].update(write_mode="merge"),
                d["steps"][0]["destination"].pop("merge_keys"),
            ),
        ),
        OP,
        "needs merge_keys",
    ),
    Case(
        "merge-key-unknown",
        yedit(OP, dest(0, merge_keys=["nope"])),
        OP,
        "column 'nope' is not in the records.columns of "
        "@library/pipelines/openai_costs/openai_costs_source.yml",
    ),
    Case(
        "too-many-cluster-columns",
        yedit(OP, dest(0, cluster_by=["a", "b", "c", "d", "e"])),
        OP,
        "at most 4 items",
    ),
    Case(
        "cluster-column-unknown",
        yedit(OP, dest(0, cluster_by=["zz"])),
        OP,
        "steps[0].destination.cluster_by: column 'zz' is not in",
    ),
    Case(
        "partition-column-unknown",
        yedit(OP, dest(5, partition_field="day")),
        OP,
        "steps[5].destination.partition_field: column 'day' is not in",
    ),
    Case(
        "window-column-unknown",
        yedit(OP, dest(5, window_column="day")),
        OP,
        "steps[5].destination.window_column: column 'day' is not in",
    ),
    Case(
        "replace-window-without-column",
        yedit(OP, lambda d: d["steps"][5]["destination"].pop("window_column")),
        OP,
        "write_mode 'replace_window' needs window_column",
    ),
    Case(
        "replace-scope-without-replace-window",
        yedit(
            OP,
            lambda d: (
                d["steps"][5]["destination"].update(write_mode="overwrite"),
                d["steps"][5]["destination"].pop("window_column"),
            ),
        ),
        OP,
        "replace_scope needs write_mode: replace_window",
    ),
    Case(
        "window-column-with-append",
        yedit(OP, dest(5, write_mode="append", replace_scope={})),
        OP,
        "window_column is not used with write_mode 'append'",
    ),
    Case(
        "transform-lookback-removed",
        yedit(OP, step(5, lookback_days=3)),
        OP,
        "lookback_days was removed",
    ),
    Case(
        "source-path-escapes",
        yedit(OP, step(0, source="../../../../../etc/passwd")),
        OP,
        "without '..'",
    ),
    Case(
        "source-file-missing",
        yedit(OP, step(0, source="nope_source.yml")),
        OP,
        "file '@library/pipelines/openai_costs/nope_source.yml' not found",
    ),
    Case(
        "rules-file-missing",
        delete(ODQ),
        OP,
        "steps[1].rules: file '@library/pipelines/openai_costs/openai_costs_dq.yml' not found",
    ),
    Case(
        "schema-file-missing",
        yedit(OP, dest(0, schema="nope.json")),
        OP,
        "file '@library/pipelines/openai_costs/nope.json' not found",
    ),
    Case(
        "library-file-missing",
        yedit(OP, step(5, sql="@library/focus/nope.sql")),
        OP,
        "file '@library/focus/nope.sql' not found",
    ),
    Case(
        "library-path-escapes", yedit(OP, step(5, sql="@library/../acme/x.sql")), OP, "without '..'"
    ),
    Case(
        "window-days-zero",
        yedit(OP, lambda d: d.update(default_window_days=0)),
        OP,
        "default_window_days: Input should be greater than or equal to 1",
    ),
    Case(
        "enabled-not-bool",
        yedit(OP, lambda d: d.update(enabled="maybe")),
        OP,
        "Input should be a valid boolean",
    ),
    Case(
        "labels-not-a-map",
        yedit(OP, lambda d: d.update(labels=["a"])),
        OP,
        "labels: Input should be a valid dictionary",
    ),
    Case("top-level-list", write(OP, "- pipeline_id: openai_costs\n"), OP, "expected a mapping"),
    Case(
        "yaml-syntax",
        write(OP, "pipeline_id: openai_costs\nsteps: [\n  - bad: : x\n"),
        OP,
        "invalid YAML",
    ),
    Case(
        "two-yaml-documents",
        sub(OP, "steps:", "---\nsteps:"),
        OP,
        "invalid YAML: but found another document",
    ),
    Case(
        "non-utf8-pipeline",
        append_bytes(OP, b"# caf\xe9\n"),
        OP,
        "not UTF-8: byte 0xe9 at byte offset",
    ),
    Case(
        "dq-table-unknown",
        yedit(OP, step(1, table={"dataset": "raw_openai", "table": "costz"})),
        OP,
        "table raw_openai.costz is not written by any step of the library's templates",
    ),
    Case(
        "bad-on-failure",
        yedit(OP, step(1, on_failure="ignore")),
        OP,
        "Input should be 'stop' or 'alert'",
    ),
    Case(
        "unknown-step-key",
        yedit(OP, step(5, lookback="3")),
        OP,
        "steps[5].lookback: Extra inputs are not permitted",
    ),
]

DISCOVERY_CASES = [
    Case(
        "misnamed-pipeline-file",
        move(TP, TOAI + "openai_cost.yml"),
        TOAI + "openai_cost.yml",
        "a pipeline file must be named after its folder",
        line=False,
    ),
    Case(
        "yaml-extension",
        move(TP, TOAI + "openai_costs.yaml"),
        TOAI + "openai_costs.yaml",
        "pipeline files end in .yml",
        line=False,
    ),
    Case(
        "duplicate-pipeline-id",
        copy_dir(TOAI, "acme/other/openai_costs"),
        "acme/other/openai_costs/openai_costs.yml",
        "pipeline id 'openai_costs' is also defined by",
    ),
    Case(
        "tenant-folder-with-space",
        move("acme", "acme corp"),
        "acme corp",
        "invalid tenant folder name 'acme corp'",
        line=False,
    ),
    Case(
        "tenant-folder-uppercase",
        move("acme", "Acme"),
        "Acme",
        "invalid tenant folder name 'Acme'",
        line=False,
    ),
    Case(
        "tenant-folder-too-short",
        move("acme", "ac"),
        "/ac:",
        "invalid tenant folder name 'ac'",
        line=False,
    ),
    Case(
        "unused-file",
        write(TOAI + "notes.sql", "SELECT 1"),
        TOAI + "notes.sql",
        "no pipeline of tenant 'acme' uses this file",
        line=False,
    ),
]

SOURCE_CASES = [
    Case(
        "provider-not-a-slug",
        sub(OS, "provider: openai", "provider: Open AI"),
        OS,
        "'Open AI' is not a valid provider name",
    ),
    Case("source-kind-missing", sub(OS, "kind: rest\n", ""), OS, "kind: missing `kind`"),
    Case("source-kind-unknown", sub(OS, "kind: rest", "kind: soap"), OS, "unknown kind 'soap'"),
    Case(
        "secret-value",
        sub(OS, "secret: openai_admin_key", "secret: sk-live-abcdef123456"),
        OS,
        "auth.secret: auth.secret must be a secret name",
    ),
    Case(
        "pagination-type",
        sub(OS, "type: cursor", "type: scroll"),
        OS,
        "pagination.type: Input should be 'cursor'",
    ),
    Case(
        "pagination-misspelt",
        sub(OS, "max_pages: 500", "max_page: 500"),
        OS,
        "did you mean 'max_pages'?",
    ),
    Case(
        "record-column-not-in-schema",
        both(
            yedit(OP, dest(0, schema="costs_schema.json")),
            write(OAI + "costs_schema.json", json.dumps(COSTS_SCHEMA[:-1])),
        ),
        OS,
        "records.columns.amount_currency: column is not in the table schema",
    ),
    Case(
        "record-column-type-disagrees",
        both(
            yedit(OP, dest(0, schema="costs_schema.json")),
            write(
                OAI + "costs_schema.json",
                json.dumps(
                    [*COSTS_SCHEMA[:5], {"name": "amount_value", "type": "STRING"}, COSTS_SCHEMA[6]]
                ),
            ),
        ),
        OS,
        "records.columns.amount_value.type: type BIGNUMERIC(38,24) disagrees with the table "
        "schema (STRING)",
    ),
    Case(
        "base-url",
        sub(OS, "base_url: https://api.openai.com", "base_url: api.openai.com"),
        OS,
        "base_url: String should match pattern",
    ),
    Case(
        "endpoint-query",
        sub(OS, "endpoint: /v1/organization/costs", "endpoint: /v1/organization/costs?x=1"),
        OS,
        "endpoint: String should match pattern",
    ),
    Case(
        "credential-header",
        sub(OS, "params:", "headers: {Authorization: x}\nparams:"),
        OS,
        "carries credentials",
    ),
    Case(
        "api-key-header-without-header",
        sub(OS, "type: bearer", "type: api_key_header"),
        OS,
        "needs auth.header",
    ),
    Case(
        "parent-scope-without-each", sub(OS, "  each: results\n", ""), OS, "records.each is not set"
    ),
    Case(
        "source-dup-key",
        sub(OS, "  burst: 10\n", "  burst: 10\n  burst: 20\n"),
        OS,
        "key 'burst' is written twice",
    ),
    Case("non-utf8-source", append_bytes(OS, b"\x80"), OS, "not UTF-8: byte 0x80"),
    Case(
        "negative-rate",
        sub(OS, "requests_per_minute: 600", "requests_per_minute: -1"),
        OS,
        "rate_limit.requests_per_minute: Input should be greater than 0",
    ),
    Case(
        "export-overlap-too-long",
        sub(GS, "overlap_days: 1", "overlap_days: 365"),
        GS,
        "less than or equal to 30",
    ),
    Case(
        "export-lookback-removed",
        sub(GS, "overlap_days: 1", "lookback_days: 3"),
        GS,
        "lookback_days was removed",
    ),
    Case(
        "export-not-merged-on-row-key",
        yedit(GP, dest(0, merge_keys=["billing_account_id"])),
        GP,
        "must merge on its row key",
    ),
    Case(
        "export-schema-lacks-column",
        jedit(GSCH, lambda rows: rows.remove(field_of(rows, "currency_conversion_rate"))),
        GP,
        "lacks the export columns ['currency_conversion_rate']",
    ),
]

DQ_CASES = [
    Case(
        "dq-unknown-column",
        sub(ODQ, "{column: amount_value}", "{column: amount_valeu}"),
        ODQ,
        "column 'amount_valeu' not found in raw_openai.costs: 'amount_valeu' is not a column "
        "of the table (did you mean 'amount_value'?)",
    ),
    Case(
        "dq-unknown-nested-field",
        sub(GDQ, "{column: service.description}", "{column: service.descr}"),
        GDQ,
        "'descr' is not a column of service",
    ),
    Case(
        "dq-column-list-unknown",
        yedit(
            OUDQ,
            expectation(
                expectation_type="expect_compound_columns_to_be_unique",
                kwargs={"column_list": ["model", "tier"]},
            ),
        ),
        OUDQ,
        "column 'tier' not found in raw_openai.usage_completions",
    ),
    Case(
        "dq-filter-unknown-column",
        yedit(
            ODQ,
            expectation(
                expectation_type="expect_table_row_count_to_be_between",
                kwargs={"min_value": 1, "filter": "costs > 0"},
            ),
        ),
        ODQ,
        "filter column 'costs' not found",
    ),
    Case(
        "dq-recent-on-string",
        yedit(
            ODQ,
            expectation(
                expectation_type="expect_column_max_to_be_recent",
                kwargs={"column": "line_item", "max_age_hours": 36},
            ),
        ),
        ODQ,
        "column 'line_item' of raw_openai.costs is STRING; "
        "this expectation needs DATE or DATETIME or TIMESTAMP",
    ),
    Case(
        "dq-sum-on-string",
        yedit(
            ODQ,
            expectation(
                expectation_type="expect_column_sum_to_be_between",
                kwargs={"column": "line_item", "min_value": 0},
            ),
        ),
        ODQ,
        "this expectation needs BIGNUMERIC or FLOAT64 or INT64 or NUMERIC",
    ),
    Case(
        "dq-unknown-type",
        sub(ODQ, "expect_column_values_to_be_in_set", "expect_column_values_in_set"),
        ODQ,
        "unknown expectation type 'expect_column_values_in_set'",
    ),
    Case(
        "dq-missing-column",
        sub(ODQ, "{column: bucket_start_time}", "{}"),
        ODQ,
        "kwargs.column: Field required (hint: add `column:` here)",
    ),
    Case(
        "dq-min-above-max",
        sub(ODQ, "min_value: 0, max_value: 100000", "min_value: 10, max_value: 5"),
        ODQ,
        "max_value 5 is less than min_value 10",
    ),
    Case(
        "dq-dup-key",
        sub(ODQ, "    severity: warning\n", "    severity: warning\n    severity: critical\n"),
        ODQ,
        "key 'severity' is written twice",
    ),
    Case(
        "dq-bad-severity",
        sub(ODQ, "severity: warning", "severity: low"),
        ODQ,
        "write one of 'critical' or 'warning'",
    ),
    Case(
        "dq-bad-regex",
        sub(GDQ, "regex: '^[0-9]{4}(0[1-9]|1[0-2])$'", "regex: '^([0-9]'"),
        GDQ,
        "invalid regular expression",
    ),
    Case(
        "dq-record-column",
        sub(GDQ, "{column: service.description}", "{column: service}"),
        GDQ,
        "column 'service' of raw_gcp.billing_export is a RECORD",
    ),
    Case(
        "dq-repeated-path",
        sub(GDQ, "{column: service.description}", "{column: labels.key}"),
        GDQ,
        "'labels' is REPEATED",
    ),
    Case(
        "dq-no-expectations", write(ODQ, "expectations: []\n"), ODQ, "list at least one expectation"
    ),
    Case(
        "dq-misspelt-kwarg",
        sub(ODQ, "max_value: 100000", "max_vlaue: 100000"),
        ODQ,
        "did you mean 'max_value'?",
    ),
]

SCHEMA_CASES = [
    Case(
        "schema-duplicate-column",
        jedit(DSCH, lambda rows: rows.append({"name": "provider", "type": "STRING"})),
        DSCH,
        "column 'provider' is defined twice (also at position 2)",
    ),
    Case(
        "schema-duplicate-column-case",
        jedit(DSCH, lambda rows: rows.append({"name": "Provider", "type": "STRING"})),
        DSCH,
        "column 'Provider' is defined twice",
    ),
    Case(
        "schema-duplicate-nested",
        jedit(
            GSCH,
            lambda rows: field_of(rows, "service")["fields"].append(
                {"name": "id", "type": "STRING"}
            ),
        ),
        GSCH,
        "[1].fields[2].name: column 'id' is defined twice",
    ),
    Case(
        "schema-unknown-type",
        jedit(DSCH, lambda rows: rows[2].update(type="STRNG")),
        DSCH,
        "[2].type: Input should be 'STRING'",
    ),
    Case(
        "schema-record-without-fields",
        jedit(DSCH, lambda rows: rows[2].update(type="RECORD")),
        DSCH,
        "needs `fields`",
    ),
    Case(
        "schema-fields-on-scalar",
        jedit(DSCH, lambda rows: rows[2].update(fields=[{"name": "a", "type": "STRING"}])),
        DSCH,
        "only RECORD columns have `fields`",
    ),
    Case(
        "schema-precision-on-string",
        jedit(DSCH, lambda rows: rows[2].update(precision=10)),
        DSCH,
        "precision/scale apply to NUMERIC and BIGNUMERIC only",
    ),
    Case(
        "schema-numeric-scale",
        jedit(DSCH, lambda rows: rows[8].update(type="NUMERIC", precision=38, scale=12)),
        DSCH,
        "NUMERIC scale must be 0..9, got 12",
    ),
    Case(
        "schema-bignumeric-precision",
        jedit(DSCH, lambda rows: rows[8].update(precision=80, scale=24)),
        DSCH,
        "BIGNUMERIC precision must be 24..62 with scale 24, got 80",
    ),
    Case("schema-json-syntax", sub(DSCH, "]", ",]"), DSCH, "invalid JSON"),
    Case(
        "schema-json-dup-key",
        sub(DSCH, '{"name": "provider", ', '{"name": "provider", "name": "x", '),
        DSCH,
        "key 'name' is written twice",
    ),
    Case(
        "schema-not-a-list",
        write(DSCH, '{"name": "x", "type": "STRING"}'),
        DSCH,
        "expected a JSON list of columns",
    ),
    Case(
        "schema-bad-mode",
        jedit(DSCH, lambda rows: rows[2].update(mode="OPTIONAL")),
        DSCH,
        "Input should be 'NULLABLE', 'REQUIRED' or 'REPEATED'",
    ),
    Case(
        "schema-bad-column-name",
        jedit(DSCH, lambda rows: rows[2].update(name="org id")),
        DSCH,
        "[2].name: String should match pattern",
    ),
    Case(
        "schema-unknown-key",
        jedit(DSCH, lambda rows: rows[2].update(nullable=True)),
        DSCH,
        "[2].nullable: Extra inputs are not permitted",
    ),
    Case(
        "metadata-schema-duplicate",
        jedit(META, lambda rows: rows.append(dict(rows[0]))),
        META,
        "is defined twice",
    ),
    Case("non-utf8-schema", append_bytes(DSCH, b"\xc3\x28"), DSCH, "not UTF-8: byte 0xc3"),
]

SQL_CASES = [
    Case(
        "sql-unknown-column",
        sub(L_OPENAI, "CAST(amount_value AS BIGNUMERIC)", "CAST(amount_valu AS BIGNUMERIC)"),
        L_OPENAI,
        "unknown column 'amount_valu': not in the tables in its FROM "
        "(hint: did you mean 'amount_value'?",
    ),
    Case(
        "sql-unknown-qualified-column",
        sub(L_OPENAI, "AND u.model = c.model", "AND u.modle = c.model"),
        L_OPENAI,
        "unknown column 'modle': not in u",
    ),
    Case(
        "sql-unknown-table",
        sub(L_OPENAI, "FROM raw_openai.costs", "FROM raw_openai.costz"),
        L_OPENAI,
        "unknown table raw_openai.costz: no step of this tenant's pipelines writes it "
        "(hint: did you mean raw_openai.costs?",
    ),
    Case(
        "sql-two-statements",
        write(L_MONTHLY, "SELECT 1 AS a;\nSELECT 2 AS a\n"),
        L_MONTHLY,
        "the file holds 2 statements; a transform is exactly one query",
    ),
    Case(
        "sql-not-a-query",
        write(L_MONTHLY, "DELETE FROM gold_reporting.monthly_spend WHERE TRUE\n"),
        L_MONTHLY,
        "a transform is a query, not DELETE",
    ),
    Case(
        "sql-unknown-parameter",
        sub(L_DAILY, "IN UNNEST(@dates)", "IN UNNEST(@date)"),
        L_DAILY,
        "unknown parameter @date (hint: did you mean @dates?",
    ),
    Case(
        "sql-ambiguous-column",
        sub(L_OPENAI, "ON u.charge_date = c.charge_date", "ON u.charge_date = charge_date"),
        L_OPENAI,
        "column 'charge_date' is ambiguous: c, u all have it",
    ),
    Case(
        "sql-unknown-struct-field",
        sub(L_GCP, "service.description AS ServiceName", "service.descr AS ServiceName"),
        L_GCP,
        "unknown field 'descr' of struct",
    ),
    Case(
        "sql-output-not-in-destination",
        sub(L_DAILY, "COUNT(*) AS charge_rows,", "COUNT(*) AS charge_rows, 1 AS extra_col,"),
        L_DAILY,
        "output column 'extra_col' is not in the destination gold_reporting.daily_spend",
    ),
    Case(
        "sql-required-output-missing",
        jedit(
            DAILY_SCHEMA,
            lambda rows: rows.append({"name": "region", "type": "STRING", "mode": "REQUIRED"}),
        ),
        L_DAILY,
        "never writes REQUIRED column(s) region",
    ),
    Case(
        "sql-duplicate-output",
        sub(L_DAILY, "COUNT(*) AS charge_rows,", "COUNT(*) AS charge_rows, 2 AS charge_rows,"),
        L_DAILY,
        "output column 'charge_rows' is written twice",
    ),
    Case(
        "sql-syntax-error",
        write(L_MONTHLY, "SELECT FROM WHERE (\n"),
        L_MONTHLY,
        "invalid SQL: Expected table name",
    ),
    Case(
        "sql-three-part-name",
        sub(L_OPENAI, "FROM raw_openai.costs", "FROM `other-project.raw_openai.costs`"),
        L_OPENAI,
        "three-part name other-project.raw_openai.costs",
    ),
    Case(
        "sql-table-without-dataset",
        sub(L_MONTHLY, "FROM silver_cost.focus_daily", "FROM focus_daily"),
        L_MONTHLY,
        "table 'focus_daily' needs a dataset",
    ),
    Case(
        "sql-other-tenant-dataset",
        sub(L_MONTHLY, "FROM silver_cost.focus_daily", "FROM globex_silver_cost.focus_daily"),
        L_MONTHLY,
        "unknown table globex_silver_cost.focus_daily: no step of this tenant's pipelines "
        "writes it (hint: did you mean silver_cost.focus_daily?",
    ),
    Case("non-utf8-sql", append_bytes(L_MONTHLY, b"-- \xff\n"), L_MONTHLY, "not UTF-8: byte 0xff"),
    Case(
        "sql-unknown-table-in-join",
        sub(L_ANTHROPIC, "FROM raw_anthropic.usage_messages", "FROM raw_anthropic.usage_mesages"),
        L_ANTHROPIC,
        "did you mean raw_anthropic.usage_messages?",
    ),
]

STEP = "steps:\n  {}\n"
EXTRA = "steps:\n  check_costs:\n    expectations:\n      - {}\n"
NOT_NULL = "expectation_type: expect_column_values_to_not_be_null"

TEMPLATE_CASES = [  # acme's overrides, and the library's templates themselves
    Case(
        "override-unknown-template",
        sub(TP, "@library/pipelines/openai_costs", "@library/pipelines/openai_cost"),
        TP,
        "extends: no template '@library/pipelines/openai_cost'",
    ),
    Case(
        "override-extends-not-a-template",
        sub(TP, '"@library/pipelines/openai_costs"', '"openai_costs"'),
        TP,
        "extends: String should match pattern",
    ),
    Case("override-misspelt-key", add(TP, "descripton: x\n"), TP, "did you mean 'description'?"),
    Case(
        "override-steps-as-a-list",
        write(TP, 'extends: "@library/pipelines/openai_costs"\nsteps:\n  - name: check_costs\n'),
        TP,
        "steps: Input should be a valid dictionary",
    ),
    Case(
        "override-unknown-step",
        add(TP, STEP.format("check_cost: {on_failure: alert}")),
        TP,
        "steps.check_cost: no step 'check_cost' in the template",
    ),
    Case(
        "override-bad-step-value",
        add(TP, STEP.format("check_costs: {on_failure: ignore}")),
        TP,
        "steps.check_costs.on_failure: Input should be 'stop' or 'alert'",
    ),
    Case(
        "override-misspelt-step-key",
        add(TP, STEP.format("check_costs: {on_falure: alert}")),
        TP,
        "did you mean 'on_failure'?",
    ),
    Case(
        "override-bad-cron",
        add(TP, 'schedule: {cron: "*/5 * * * *"}\n'),
        TP,
        "schedule: cron '*/5 * * * *'",
    ),
    Case(
        "override-window-days",
        add(TP, "default_window_days: 0\n"),
        TP,
        "default_window_days: Input should be greater than or equal to 1",
    ),
    Case(
        "override-label-not-a-string",
        add(TP, "labels: {team: [a]}\n"),
        TP,
        "labels.team: Input should be a valid string",
    ),
    Case(
        "override-remove-absent-item",
        add(TP, STEP.format("ingest_costs: {destination: {cluster_by: {remove: [model]}}}")),
        TP,
        "cannot remove 'model': the template's list does not hold it",
    ),
    Case(
        "override-add-not-a-list",
        add(TP, STEP.format("ingest_costs: {destination: {cluster_by: {add: model}}}")),
        TP,
        "add: expects a list",
    ),
    Case(
        "override-add-unknown-column",
        add(TP, STEP.format("ingest_costs: {destination: {cluster_by: {add: [modle]}}}")),
        TP,
        "steps.ingest_costs.destination.cluster_by: column 'modle' is not in the records.columns",
    ),
    Case(
        "override-disable-unknown-step",
        add(TP, STEP.format("nope: {enabled: false}")),
        TP,
        "no step 'nope' to disable",
    ),
    Case(
        "override-rename-step",
        add(TP, STEP.format("check_costs: {name: check}")),
        TP,
        "a step override cannot rename the step",
    ),
    Case(
        "override-after-on-template-step",
        add(TP, STEP.format("check_costs: {after: ingest_usage}")),
        TP,
        "after: places a NEW step",
    ),
    Case(
        "override-after-unknown-step",
        add(
            TP,
            STEP.format(
                "audit: {type: dq, table: {dataset: raw_openai, table: costs}, after: nope}"
            ),
        ),
        TP,
        "no step 'nope' to place 'audit' after",
    ),
    Case(
        "override-new-step-incomplete",
        add(TP, STEP.format("audit: {type: dq}")),
        TP,
        "steps.audit.table: Field required",
    ),
    Case(
        "override-new-dq-step-checks-nothing",
        add(
            TP, STEP.format("audit: {type: dq, table: {dataset: silver_cost, table: focus_daily}}")
        ),
        TP,
        "steps.audit: this DQ step has no expectation",
    ),
    Case(
        "override-disables-the-writer",
        add(TP, STEP.format("ingest_costs: {enabled: false}")),
        OP,
        "table raw_openai.costs is not written by any step of tenant 'acme'",
    ),
    Case(
        "override-extra-expectation-unknown-column",
        add(TP, EXTRA.format("{" + NOT_NULL + ", kwargs: {column: amount_valeu}}")),
        TP,
        "column 'amount_valeu' not found in raw_openai.costs",
    ),
    Case(
        "override-extra-expectation-unknown-type",
        add(TP, EXTRA.format("{expectation_type: expect_nothing, kwargs: {}}")),
        TP,
        "unknown expectation type 'expect_nothing'",
    ),
    Case(
        "override-extra-expectation-name-clash",
        add(TP, EXTRA.format("{" + NOT_NULL + ", kwargs: {column: amount_value}}")),
        TP,
        "an expectation named 'expect_column_values_to_not_be_null(amount_value)' is already "
        "checked",
    ),
    Case(
        "override-source-bad-retry",
        add(TP, STEP.format("ingest_costs: {source_overrides: {retry: {max_attempts: 0}}}")),
        TP,
        "source_overrides.retry.max_attempts: Input should be greater than or equal to 1",
    ),
    Case(
        "override-source-misspelt",
        add(TP, STEP.format("ingest_costs: {source_overrides: {rety: {max_attempts: 2}}}")),
        TP,
        "did you mean 'retry'?",
    ),
    Case(
        "override-source-on-a-dq-step",
        add(TP, STEP.format("check_costs: {source_overrides: {retry: {}}}")),
        TP,
        "steps.check_costs.source_overrides: Extra inputs are not permitted",
    ),
    Case(
        "override-secret-unused",
        add(TP, "secrets: {anthropic_admin_key: acme_key}\n"),
        TP,
        "secrets.anthropic_admin_key: no source of this pipeline uses the secret",
    ),
    Case(
        "override-secret-value",
        add(TP, 'secrets: {openai_admin_key: "sk-live-123456"}\n'),
        TP,
        "is not a secret name",
    ),
    Case(
        "override-pipeline-id",
        add(TP, "pipeline_id: openai_spend\n"),
        TP,
        "'openai_spend' does not match the file name",
    ),
    Case(
        "override-dup-key",
        add(TP, "description: again\n"),
        TP,
        "key 'description' is written twice",
    ),
    Case("override-non-utf8", append_bytes(TP, b"# caf\xe9\n"), TP, "not UTF-8: byte 0xe9"),
    Case(
        "template-extends-a-template",
        sub(OP, "pipeline_id: openai_costs\n", 'extends: "@library/pipelines/gcp_billing"\n'),
        OP,
        "extends: a template cannot extend another template",
    ),
    Case(
        "template-unused-file",
        write(OAI + "notes.sql", "SELECT 1"),
        OAI + "notes.sql",
        "no pipeline of the library's templates or any tenant uses this file",
        line=False,
    ),
    Case(
        "template-misnamed",
        move(OP, OAI + "openai.yml"),
        OAI + "openai.yml",
        "a pipeline file must be named after its folder",
        line=False,
    ),
    Case(
        "template-yaml-extension",
        move(OP, OAI + "openai_costs.yaml"),
        OAI + "openai_costs.yaml",
        "templates end in .yml",
        line=False,
    ),
    Case(
        "reserved-admin-folder",
        copy_dir("acme", "admin"),
        "admin",
        "'admin' is reserved",
        line=False,
    ),
]

DEFINE_ONCE_CASES = [  # raw schemas from records.columns, implied rules, inferred outputs
    Case(
        "column-type-unknown",
        sub(OS, "type: BIGNUMERIC(38,24)", "type: BIGNUMBER"),
        OS,
        "unknown column type 'BIGNUMBER': did you mean BIGNUMERIC?",
    ),
    Case(
        "column-type-precision",
        sub(OS, "BIGNUMERIC(38,24)", "BIGNUMERIC(80,24)"),
        OS,
        "BIGNUMERIC precision must be 24..62 with scale 24, got 80",
    ),
    Case(
        "column-type-params-on-int",
        sub(OUS, "type: INT64}", "type: INT64(10)}"),
        OUS,
        "INT64 takes no (precision, scale)",
    ),
    Case("column-type-record", sub(OS, "type: TIMESTAMP", "type: RECORD"), OS, "'RECORD'"),
    Case(
        "export-without-schema",
        yedit(GP, lambda d: d["steps"][0]["destination"].pop("schema")),
        GP,
        "a bigquery_export source has no records.columns to derive the raw table from",
    ),
    Case(
        "window-column-not-derived",
        yedit(OP, dest(0, window_column="bucket_start")),
        OP,
        "column 'bucket_start' is not in the records.columns",
    ),
    Case(
        "inferred-output-missing-required-use",
        both(
            yedit(R, lambda d: d["steps"][1]["destination"].pop("schema")),
            delete("_library/gold/monthly_spend_schema.json"),
            sub(L_MONTHLY, "SUM(BilledCost) AS billed_cost", "SUM(BilledCosts) AS billed_cost"),
        ),
        L_MONTHLY,
        "unknown column 'BilledCosts'",
    ),
]

L_PRICES, L_PRICE_SOURCE = "_library/prices/openai.yml", "_library/prices/openai_source.yml"
BUDGETS = "acme/reporting/cost/cost_intelligence/budgets.yml"
CIP = "_library/pipelines/cost_intelligence/cost_intelligence.yml"
AWS = "_library/pipelines/aws_focus/"
AWSP, AWSS = AWS + "aws_focus.yml", AWS + "aws_focus_source.yml"

COST_CASES = [
    Case(
        "price-negative",
        sub(
            L_PRICES, 'input: "2.50", cached_input: "1.25"', 'input: "-2.50", cached_input: "1.25"'
        ),
        L_PRICES,
        "greater than or equal to 0",
    ),
    Case(
        "price-entries-out-of-order",
        sub(L_PRICES, "- effective_from: 2025-06-10", "- effective_from: 2025-03-10"),
        L_PRICES,
        "entries must be in effective_from order",
    ),
    Case(
        "price-too-many-decimals",
        sub(L_PRICES, 'input: "0.15",', 'input: "0.1500000000001",'),
        L_PRICES,
        "more than 12 decimals",
    ),
    Case(
        "contracted-unknown-model",
        sub(TP, "models: [gpt-5-2025-08-07,", "models: [gpt-5-2025-08-08,"),
        TP,
        "model 'gpt-5-2025-08-08' is not in the openai catalog, so no rate applies to it "
        "(hint: did you mean 'gpt-5-2025-08-07'?",
    ),
    Case(
        "contracted-without-rate",
        sub(TP, '          discount_percent: "15"\n', ""),
        TP,
        "write discount_percent (off list) or prices (per 1M tokens)",
    ),
    Case(
        "catalog-outside-library",
        sub(L_PRICE_SOURCE, '"@library/prices/openai.yml"', "openai.yml"),
        L_PRICE_SOURCE,
        "name a catalog of configs/_library/prices",
    ),
    Case(
        "price-table-not-overwritten",
        sub(
            OP,
            '      schema: "@library/prices/prices_schema.json"\n      write_mode: overwrite',
            '      schema: "@library/prices/prices_schema.json"\n      write_mode: append',
        ),
        OP,
        "a price table is rewritten whole from config (hint: write write_mode: overwrite)",
    ),
    Case(
        "budget-names-twice",
        sub(BUDGETS, "  - name: cloud\n", "  - name: ai_apis\n"),
        BUDGETS,
        "budget names must be unique; ['ai_apis'] appear twice",
    ),
    Case(
        "budget-thresholds-unordered",
        sub(BUDGETS, "actual: [50, 80, 100]", "actual: [80, 50]"),
        BUDGETS,
        "thresholds must be increasing",
    ),
    Case(
        "parameter-not-numeric",
        sub(
            CIP,
            'tolerance_absolute: {type: NUMERIC, value: "0.01"}',
            'tolerance_absolute: {type: NUMERIC, value: "a cent"}',
        ),
        CIP,
        "'a cent' is not a decimal number",
    ),
    Case(
        "parameter-undeclared",
        sub(CIP, '      tolerance_relative: {type: NUMERIC, value: "0.001"}\n', ""),
        "_library/gold/cost_reconciliation.sql",
        "unknown parameter @tolerance_relative (hint: did you mean @tolerance_absolute? this "
        "step binds",
        line=False,
    ),
    Case(
        "parameter-shadows-builtin",
        sub(CIP, "      tolerance_absolute:", "      dates:"),
        CIP,
        "parameter @dates is bound by every transform",
    ),
    Case(
        "publishes-unknown-event",
        sub(CIP, "publishes: budget_crossed", "publishes: budget_alert"),
        CIP,
        "steps[5].publishes: Input should be 'budget_crossed'",
    ),
    Case(
        "focus-period-path-without-period",
        sub(AWSS, 'period_path: "BILLING_PERIOD={start:%Y-%m}"', "period_path: current"),
        AWSS,
        "name the billing period with {start:%Y-%m}",
    ),
    Case(
        "focus-destination-scope",
        sub(AWSP, "replace_scope: {provider: aws}", "replace_scope: {provider: azure}"),
        AWSP,
        "each FOCUS source replaces only its own provider's rows",
    ),
]

CASES = (
    PIPELINE_CASES
    + DISCOVERY_CASES
    + SOURCE_CASES
    + DQ_CASES
    + SCHEMA_CASES
    + SQL_CASES
    + TEMPLATE_CASES
    + DEFINE_ONCE_CASES
    + COST_CASES
)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    for part in ("metadata", "_library", "acme"):
        shutil.copytree(CONFIGS / part, root / part)
    return root


def validate(root: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str], str]:
    code = main(["validate", str(root)])
    out = capsys.readouterr()
    problems = [line for line in out.err.splitlines() if line.startswith("✗ ")]
    return code, problems, out.out + out.err


def test_the_corpus_is_large_and_distinct():
    assert len(CASES) >= 80
    assert len({c.id for c in CASES}) == len(CASES)


def test_the_shipped_configs_have_no_problem(capsys):
    code, problems, output = validate(CONFIGS, capsys)
    assert (code, problems) == (0, []), output
    assert "config file(s) valid" in output


def test_the_copied_tree_is_valid(tree, capsys):
    code, problems, output = validate(tree, capsys)
    assert (code, problems) == (0, []), output


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_broken_config_is_reported(case: Case, tree: Path, capsys):
    case.mutate(tree)
    code, problems, output = validate(tree, capsys)
    assert code == 1, f"silently accepted: {case.id}\n{output}"
    assert "Traceback" not in output and "internal error" not in output, output
    file = str(tree / case.file) if not case.file.startswith("/") else case.file
    named = [p for p in problems if file in p]
    assert named, f"no problem names {case.file}:\n{output}"
    matching = [p for p in named if case.expect in p]
    assert matching, f"expected {case.expect!r} in:\n" + "\n".join(named)
    if case.line:
        assert any(re.match(rf"✗ {re.escape(file)}:\d+: ", p) for p in matching), matching


ACCEPTED = [
    ("hourly-cron", cron("0 * * * *")),
    ("weekday-names", cron("15 6 * * MON-FRI")),
    ("free-provider-name", sub(OS, "provider: openai", "provider: mistral_ai")),
    ("override-disables-a-step", add(TP, STEP.format("check_usage: {enabled: false}"))),
    ("override-null-removes-a-label", add(TP, "labels: {provider: null}\n")),
    ("override-schedule-off", add(TP, "schedule: null\n")),
    (
        "override-everything-at-once",
        add(
            TP,
            'schedule: {cron: "0 7 * * 1-5", time_zone: Europe/Berlin}\n'
            "default_window_days: 5\n"
            "labels: {team: finops}\n"
            "secrets: {openai_admin_key: acme_openai_key}\n"
            "steps:\n"
            "  ingest_costs:\n"
            "    destination: {cluster_by: {add: [organization_id]}}\n"
            "    source_overrides: {retry: {max_attempts: 3}, params: {limit: 7}}\n"
            "  check_costs:\n"
            "    on_failure: alert\n"
            "    expectations:\n"
            "      - {" + NOT_NULL + ", kwargs: {column: project_id}, severity: warning}\n"
            "  audit_usage:\n"
            "    type: dq\n"
            "    after: check_costs\n"
            "    table: {dataset: raw_openai, table: usage_completions}\n",
        ),
    ),
    (
        "dq-step-with-only-the-implied-rule",
        both(yedit(OP, lambda d: d["steps"][1].pop("rules")), delete(ODQ)),
    ),
    (
        "gold-output-schema-inferred",
        both(
            yedit(R, lambda d: d["steps"][1]["destination"].pop("schema")),
            delete("_library/gold/monthly_spend_schema.json"),
        ),
    ),
    (
        "window-bound-parameters",
        sub(
            L_DAILY,
            "WHERE x_charge_date IN UNNEST(@dates)",
            "WHERE x_charge_date BETWEEN @window_start AND @window_end",
        ),
    ),
]


@pytest.mark.parametrize("mutate", [m for _, m in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_valid_variants_are_accepted(mutate, tree, capsys):
    mutate(tree)
    code, problems, output = validate(tree, capsys)
    assert (code, problems) == (0, []), output
