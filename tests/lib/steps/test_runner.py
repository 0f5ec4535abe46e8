"""The shared runner: unfiltered deliveries, malformed events, terminal config faults."""

import datetime as dt

import pytest

from events.codec import to_cloudevent
from events.models import RunRequested, StepRef, Window
from lib import metadata
from lib.errors import MalformedEvent
from lib.steps.runner import handle, handle_cloudevent

WINDOW = Window(start=dt.date(2026, 11, 13), end=dt.date(2026, 11, 14))


def event(**overrides):
    fields = dict(
        event_id="evt-12345678",
        occurred_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        tenant_id="acme",
        pipeline_id="openai_costs",
        pipeline_logging_id="run-abcdef12",
        window=WINDOW,
        next_step=StepRef(name="ingest_costs", index=0, type="ingest"),
    )
    fields.update(overrides)
    return RunRequested(**fields)


def test_an_event_for_another_step_type_is_ignored_without_writes(make_platform):
    platform = make_platform()
    platform.statements.clear()
    handle(platform.rt, event(), "transform")  # the emulator ignores filters: tolerate it
    assert platform.statements == []


def test_malformed_cloudevent_raises_so_it_is_redelivered_then_dead_lettered(make_platform):
    make_platform()
    ce = to_cloudevent(event())
    ce.data["tenant_id"] = "Not A Tenant"
    with pytest.raises(MalformedEvent, match="tenant_id"):
        handle_cloudevent(ce, "ingest")


def test_step_mismatch_with_config_fails_the_run_terminally(make_platform):
    platform = make_platform()
    handle(
        platform.rt, event(next_step=StepRef(name="renamed_step", index=0, type="ingest")), "ingest"
    )
    status = metadata.run_status(platform.rt.warehouse, "acme", "run-abcdef12")
    assert status["status"] == "FAILED"
    assert "renamed_step" in status["error"] and "start a new run" in status["error"]
    failed = platform.rt.bus.published_events("run-failed")
    assert [e.error_type for e in failed] == ["ConfigError"]


def test_missing_secret_fails_terminally_naming_secret_and_tenant(make_platform, monkeypatch):
    platform = make_platform(tenants=())  # no sandbox keys configured as secrets
    handle(platform.rt, event(), "ingest")
    status = metadata.run_status(platform.rt.warehouse, "acme", "run-abcdef12")
    assert status["status"] == "FAILED"
    assert "openai_admin_key" in status["error"] and "acme" in status["error"]
    steps = metadata.step_history(platform.rt.warehouse, "acme", "run-abcdef12")
    assert [s["status"] for s in steps] == ["RUNNING", "FAILED"]
