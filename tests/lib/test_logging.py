"""One logging setup for every mode: JSON in Cloud Logging's shape (errors as Error Reporting
events with message and stack) or text, and one line per failure."""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from events.models import Window
from lib import metadata
from lib.adapters.env_secrets import EnvSecrets
from lib.observability import (
    ERROR_EVENT_TYPE,
    CloudLoggingFormatter,
    TextFormatter,
    configure_logging,
    handler_span,
    log_format,
)
from lib.runs import request_run
from lib.step_telemetry import trace_id_of

DATA = Path(__file__).with_name("data")
PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


@pytest.fixture
def json_logs() -> Iterator[None]:
    """The project's JSON setup on the root logger; the previous setup restored afterwards."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(project="demo", level="INFO", fmt="json")
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def entries(stderr: str) -> list[dict]:
    return [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_an_error_with_an_exception_is_an_error_reporting_event_with_message_and_stack():
    try:
        raise ValueError("the export table is missing")
    except ValueError as exc:
        record = logging.LogRecord(
            "lib.steps.runner", logging.ERROR, __file__, 42, "run failed: %s", (exc,), None
        )
        record.exc_info = (type(exc), exc, exc.__traceback__)
        record.funcName = "_fail"
    with handler_span("ingest.handle", PARENT, {"tenant_id": "acme", "step": "ingest_costs"}):
        entry = json.loads(CloudLoggingFormatter("demo").format(record))
    assert entry["severity"] == "ERROR"
    assert entry["@type"] == ERROR_EVENT_TYPE
    assert entry["message"].startswith("run failed: the export table is missing\nTraceback")
    assert "ValueError: the export table is missing" in entry["stack_trace"]
    assert entry["context"]["reportLocation"] == {
        "filePath": __file__,
        "lineNumber": 42,
        "functionName": "_fail",
    }
    assert entry["serviceContext"]["service"] == "convergence"
    assert entry["logging.googleapis.com/labels"] == {"tenant_id": "acme", "step": "ingest_costs"}
    assert entry["logging.googleapis.com/trace"].endswith("0af7651916cd43dd8448eb211c80319c")


def test_warnings_and_infos_are_not_error_events_and_extra_fields_reach_the_payload():
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "slow", (), None)
    record.fields = {"event": "step.recorded", "duration_ms": 12}
    entry = json.loads(CloudLoggingFormatter().format(record))
    assert "@type" not in entry and "stack_trace" not in entry
    assert entry["event"] == "step.recorded" and entry["duration_ms"] == 12


def test_text_lines_name_the_run():
    record = logging.LogRecord("lib.x", logging.WARNING, __file__, 1, "retrying %s", ("a",), None)
    labels = {"tenant_id": "acme", "pipeline_id": "openai_costs", "run_id": "run-1", "step": "s"}
    with handler_span("ingest.handle", None, labels):
        line = TextFormatter().format(record)
    assert line.endswith("WARNING lib.x [acme/openai_costs/run-1/s] retrying a")


def test_the_format_is_json_in_the_cloud_and_text_locally_unless_set():
    assert log_format({}, "cloud") == "json"
    assert log_format({}, "local") == "text"
    assert log_format({"CONVERGENCE_LOG_FORMAT": "JSON"}, "local") == "json"
    with pytest.raises(ValueError, match="CONVERGENCE_LOG_FORMAT must be json or text"):
        log_format({"CONVERGENCE_LOG_FORMAT": "xml"}, "local")


@pytest.mark.integration
def test_a_failed_run_logs_one_error_event_with_its_labels_trace_message_and_stack(
    capsys, make_platform, json_logs
):
    platform = make_platform(tenants=("globex",))
    platform.rt.secrets = EnvSecrets({"CONVERGENCE_SECRET_GLOBEX_OPENAI_ADMIN_KEY": "sk-wrong"})
    window = Window(start=dt.date(2026, 11, 18), end=dt.date(2026, 11, 19))
    event = request_run(platform.rt, "globex", "openai_costs", window)
    platform.drain()
    status = metadata.run_status(platform.rt.warehouse, "globex", event.pipeline_logging_id)
    assert status["status"] == "FAILED" and "401" in status["error"]

    errors = [e for e in entries(capsys.readouterr().err) if e["severity"] == "ERROR"]
    assert len(errors) == 1, errors
    error = errors[0]
    assert error["@type"] == ERROR_EVENT_TYPE
    assert error["logging.googleapis.com/labels"] == {
        "tenant_id": "globex",
        "pipeline_id": "openai_costs",
        "run_id": event.pipeline_logging_id,
        "step": "ingest_costs",
    }
    trace_id = trace_id_of(event.traceparent)
    assert error["logging.googleapis.com/trace"] == f"projects/demo/traces/{trace_id}"
    assert "401" in error["message"] and "Traceback (most recent call last)" in error["message"]
    assert error["context"]["reportLocation"]["functionName"] == "_fail"


def test_the_frameworks_copy_of_an_exception_already_logged_is_dropped(capsys, json_logs):
    from functions_framework import create_app

    app = create_app(target="failing", source=str(DATA / "ff_failing.py"))
    configure_logging(project="demo", level="INFO", fmt="json")  # after the app: as in Cloud Run
    headers = {"ce-id": "1", "ce-source": "/t", "ce-type": "t", "ce-specversion": "1.0"}
    response = app.test_client().post("/", headers=headers, json={})
    assert response.status_code == 500
    lines = [e for e in entries(capsys.readouterr().err) if e["severity"] == "ERROR"]
    assert [e["message"].splitlines()[0] for e in lines] == [
        "step failed unexpectedly: warehouse said no"
    ]
    assert lines[0]["logging.googleapis.com/labels"]["tenant_id"] == "acme"
    assert "RuntimeError: warehouse said no" in lines[0]["stack_trace"]


def test_text_lines_carry_the_stack_at_debug_only():
    try:
        raise ValueError("boom")
    except ValueError as exc:
        record = logging.LogRecord("x", logging.ERROR, __file__, 1, "failed", (), None)
        record.exc_info = (type(exc), exc, exc.__traceback__)
    root = logging.getLogger()
    level = root.level
    try:
        root.setLevel(logging.INFO)
        assert TextFormatter().format(record).endswith("ERROR x failed")
        root.setLevel(logging.DEBUG)
        assert "ValueError: boom" in TextFormatter().format(record)
    finally:
        root.setLevel(level)
