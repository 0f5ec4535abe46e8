"""Cloud Monitoring in Terraform (terraform/monitoring.tf), checked structurally and against the
log lines the code really writes: every log-based metric's filter matches the structured line
lib/metadata.py logs for the event it counts, and extracts fields that line holds."""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from typing import Any

import pytest

from events.topology import load_topology
from lib import metadata
from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.clock import FixedClock
from lib.metadata import RunTransition, StepRecord
from lib.observability import CloudLoggingFormatter
from tests.deploy.conftest import REPO, TF_VARS
from tests.platform import CONFIGS
from tests.support.terraform import Ref, Terraform

NOW = dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)
POLICIES = "google_monitoring_alert_policy"
METRICS = ("runs", "step_duration", "step_rows", "dq_critical_failures")
_CLAUSE = re.compile(r'^(resource\.type|jsonPayload\.\w+)\s*(=|!=|>)\s*("([^"]*)"|\d+)$')


def matches(log_filter: str, entry: dict[str, Any], resource: str = "cloud_run_revision") -> bool:
    """Evaluate the subset of the Logging query language the metrics use on a JSON entry."""
    for clause in log_filter.split(" AND "):
        found = _CLAUSE.match(clause.strip())
        assert found, f"clause {clause!r} is outside the subset this test evaluates"
        field, op, literal, text = found.groups()
        actual = resource if field == "resource.type" else entry.get(field.split(".", 1)[1])
        wanted: Any = text if text is not None else int(literal)
        ok = {
            "=": actual == wanted,
            "!=": actual != wanted,
            ">": isinstance(actual, int) and actual > wanted,
        }[op]
        if not ok:
            return False
    return True


def extract(extractor: str, entry: dict[str, Any]) -> Any:
    field = re.fullmatch(r"EXTRACT\(jsonPayload\.(\w+)\)", extractor)
    assert field, extractor
    return entry[field.group(1)]


@pytest.fixture(scope="module")
def log_lines(tmp_path_factory) -> list[dict[str, Any]]:
    """What a failed run with a critical DQ failure logs, as Cloud Logging would ingest it."""
    home = tmp_path_factory.mktemp("metrics")
    warehouse = DuckDBWarehouse(home / "m.duckdb")
    clock = FixedClock(NOW)
    metadata.ensure_metadata(warehouse, "acme", CONFIGS / "metadata" / "schemas")
    formatter = CloudLoggingFormatter("p")
    lines: list[str] = []

    class Capture(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    logger = logging.getLogger("lib.metadata")
    capture, level = Capture(), logger.level
    logger.addHandler(capture)
    logger.setLevel(logging.INFO)
    try:
        run = {"tenant_id": "acme", "pipeline_id": "openai_costs", "pipeline_logging_id": "run-1x"}
        step = {**run, "step_name": "check_costs", "step_index": 1, "step_type": "dq"}
        metadata.record_run(warehouse, clock, RunTransition(**run, status="RUNNING"))
        metadata.record_step(warehouse, clock, StepRecord(**step, status="RUNNING", attempt=1))
        metadata.record_step(
            warehouse,
            clock,
            StepRecord(
                **step, status="COMPLETE", attempt=1, started_at=NOW - dt.timedelta(seconds=2),
                ended_at=NOW, rows_processed=42,
                metadata={"expectations": 10, "warnings": 1, "failed": ["amount_not_negative"]},
            ),
        )  # fmt: skip
        metadata.record_run(warehouse, clock, RunTransition(**run, status="FAILED", error="DQ"))
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
        warehouse.close()
    return [json.loads(line) for line in lines]


@pytest.fixture(scope="module")
def tf() -> Terraform:
    return Terraform(REPO / "terraform", TF_VARS)


def metric(tf: Terraform, name: str) -> dict[str, Any]:
    return tf.instances(f"google_logging_metric.{name}")[None]


def test_the_run_metric_counts_each_transition_by_status(tf, log_lines):
    runs = metric(tf, "runs")
    counted = [e for e in log_lines if matches(runs["filter"], e)]
    statuses = [extract(runs["label_extractors"]["status"], e) for e in counted]
    assert statuses == ["RUNNING", "FAILED"]
    assert {extract(runs["label_extractors"]["tenant_id"], e) for e in counted} == {"acme"}


def test_step_metrics_extract_durations_and_rows_of_finished_steps(tf, log_lines):
    duration, rows = metric(tf, "step_duration"), metric(tf, "step_rows")
    [finished] = [e for e in log_lines if matches(duration["filter"], e)]
    assert extract(duration["value_extractor"], finished) == 2000
    assert extract(duration["label_extractors"]["step_type"], finished) == "dq"
    [complete] = [e for e in log_lines if matches(rows["filter"], e)]
    assert extract(rows["value_extractor"], complete) == 42
    for m in (duration, rows):
        assert m["metric_descriptor"][0]["value_type"] == "DISTRIBUTION"


def test_the_dq_metric_counts_steps_with_critical_failures_only(tf, log_lines):
    dq = metric(tf, "dq_critical_failures")
    counted = [e for e in log_lines if matches(dq["filter"], e)]
    assert len(counted) == 1 and counted[0]["dq_critical_failures"] == 1
    assert not matches(dq["filter"], {**counted[0], "dq_critical_failures": 0})


def threshold(tf: Terraform, policy: str) -> dict[str, Any]:
    body = tf.instances(f"{POLICIES}.{policy}")[None]
    return body["conditions"][0]["condition_threshold"][0]


def uses(filter_text: str, name: str) -> bool:
    return f"logging.googleapis.com/user/${{google_logging_metric.{name}.name}}" in filter_text


def test_alerts_on_failed_runs_and_critical_dq_read_the_log_metrics(tf):
    failed = threshold(tf, "failed_runs")
    assert uses(failed["filter"], "runs") and 'metric.label.status="FAILED"' in failed["filter"]
    dq = threshold(tf, "dq_critical")
    assert uses(dq["filter"], "dq_critical_failures")
    for condition in (failed, dq):
        assert condition["comparison"] == "COMPARISON_GT" and condition["threshold_value"] == 0
        assert condition["aggregations"][0]["group_by_fields"] == [
            "metric.label.tenant_id", "metric.label.pipeline_id",
        ]  # fmt: skip


def test_the_dead_letter_alert_watches_every_hold_subscription_of_the_topology(tf):
    condition = threshold(tf, "dead_letters")
    assert "pubsub.googleapis.com/subscription/num_undelivered_messages" in condition["filter"]
    listed = re.search(r"one_of\((.*)\)", condition["filter"]).group(1)
    holds = {t.dead_letter_subscription for t in load_topology().topics}
    assert set(json.loads(f"[{listed}]")) == holds - {None}
    assert condition["threshold_value"] == 0


def test_the_5xx_alert_is_a_ratio_per_service_with_a_variable_threshold():
    tf = Terraform(REPO / "terraform", {**TF_VARS, "run_5xx_ratio_threshold": 0.1})
    condition = threshold(tf, "run_5xx")
    assert 'metric.label.response_code_class="5xx"' in condition["filter"]
    assert "response_code_class" not in condition["denominator_filter"]
    assert condition["threshold_value"] == 0.1 and condition["duration"] == "300s"
    for key in ("aggregations", "denominator_aggregations"):
        assert condition[key][0]["group_by_fields"] == ["resource.label.service_name"]


def test_the_bytes_billed_alert_takes_its_budget_and_window_from_variables():
    tf = Terraform(
        REPO / "terraform",
        {**TF_VARS, "bigquery_bytes_billed_threshold": 5e12,
         "bigquery_bytes_billed_window_seconds": 3600},
    )  # fmt: skip
    condition = threshold(tf, "bigquery_bytes_billed")
    assert "bigquery.googleapis.com/query/scanned_bytes_billed" in condition["filter"]
    assert condition["threshold_value"] == 5e12
    assert condition["aggregations"][0]["alignment_period"] == "3600s"


def test_every_policy_notifies_the_configured_channels_and_links_the_runbook():
    channel = "projects/p/notificationChannels/42"
    tf = Terraform(
        REPO / "terraform",
        {**TF_VARS, "alert_notification_channels": [channel], "alert_emails": ["oncall@x.io"]},
    )
    emails = tf.instances("google_monitoring_notification_channel.email")
    assert emails["oncall@x.io"]["labels"] == {"email_address": "oncall@x.io"}
    for address in [a for a in tf.addresses() if a.startswith(POLICIES)]:
        body = tf.instances(address)[None]
        listed = body["notification_channels"]
        assert listed[0] == channel
        assert isinstance(listed[1], Ref) and listed[1].key == "oncall@x.io"
        assert "docs/operations.md" in body["documentation"][0]["content"]
    names = {a.split(".")[1] for a in tf.addresses() if a.startswith(POLICIES)}
    assert names == {
        "failed_runs",
        "dq_critical",
        "dead_letters",
        "run_5xx",
        "bigquery_bytes_billed",
    }


def test_the_dashboard_shows_runs_durations_rows_and_dead_letters(tf):
    board = json.loads(
        tf.instances("google_monitoring_dashboard.operations")[None]["dashboard_json"]
    )
    tiles = {t["widget"]["title"]: t["widget"] for t in board["mosaicLayout"]["tiles"]}
    filters = {
        title: w["xyChart"]["dataSets"][0]["timeSeriesQuery"]["timeSeriesFilter"]
        for title, w in tiles.items()
    }
    assert uses(filters["Runs by status"]["filter"], "runs")
    assert filters["Runs by status"]["aggregation"]["groupByFields"] == ["metric.label.status"]
    assert uses(filters["Step durations (p95, ms)"]["filter"], "step_duration")
    assert uses(filters["Rows per completed step (mean)"]["filter"], "step_rows")
    assert "num_undelivered_messages" in filters["Dead-letter backlog (messages)"]["filter"]
    for tile in board["mosaicLayout"]["tiles"]:
        assert tile["xPos"] + tile["width"] <= board["mosaicLayout"]["columns"]
    defined = {metric(tf, m)["name"] for m in METRICS}
    assert defined == {f"convergence/{m}" for m in METRICS}
