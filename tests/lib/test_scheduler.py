"""Cloud Scheduler export: jobs from pipeline schedules, messages the handlers' codec decodes."""

from __future__ import annotations

import base64
import datetime as dt
import json
from pathlib import Path

import pytest

from events.codec import from_message, from_push, to_eventarc, to_message
from events.models import RunRequested
from events.topology import load_topology
from lib import metadata
from lib.config.loader import load_pipeline
from lib.scheduler import (
    TRIGGER_BY,
    TRIGGER_RUN_ID,
    export_schedules,
    render,
    trigger_event,
    write_schedules,
)
from lib.steps.runner import handle_cloudevent
from lib.wiring import Runtime
from tests.lib.api import harness

REPO = Path(__file__).resolve().parents[2]


def test_one_job_per_enabled_scheduled_pipeline(tmp_path: Path) -> None:
    config_dir = harness.make_config(tmp_path)
    jobs = {(j.tenant_id, j.pipeline_id): j for j in export_schedules(config_dir)}
    assert ("acme", "openai_costs") in jobs and ("globex", "globex_only") in jobs
    assert ("acme", "acme_paused") not in jobs  # disabled
    job = jobs[("acme", "openai_costs")]
    assert (job.cron, job.time_zone) == ("15 6 * * *", "UTC")
    assert job.topic == "run-requested"
    assert job.topic in {t.name for t in load_topology().topics}
    assert job.name == "convergence-acme-openai-costs"


def test_pipelines_without_schedule_get_no_job(tmp_path: Path) -> None:
    config_dir = harness.make_config(tmp_path)
    path = config_dir / "globex/openai/cost/globex_only/globex_only.yml"
    path.write_text(path.read_text() + "schedule: null\n")  # null drops the template's
    assert load_pipeline(config_dir, "globex", "globex_only").config.schedule is None
    names = {(j.tenant_id, j.pipeline_id) for j in export_schedules(config_dir)}
    assert ("globex", "globex_only") not in names and ("globex", "openai_costs") in names


def test_message_decodes_with_the_handlers_codec(tmp_path: Path) -> None:
    config_dir = harness.make_config(tmp_path)
    for job in export_schedules(config_dir):
        data = base64.b64decode(job.data_base64)
        assert data == job.data_json.encode()
        event = from_message(data, job.attributes)
        assert isinstance(event, RunRequested)
        assert (event.tenant_id, event.pipeline_id) == (job.tenant_id, job.pipeline_id)
        assert event.pipeline_logging_id == TRIGGER_RUN_ID and event.trigger_by == TRIGGER_BY
        pipeline = load_pipeline(config_dir, job.tenant_id, job.pipeline_id)
        assert event.next_step == pipeline.config.step_ref(0)
        assert job.attributes["next_step_type"] == event.next_step.type
        push = {"message": {"data": job.data_base64, "attributes": job.attributes}}
        assert from_push(push) == event


def test_committed_terraform_schedules_match_the_configs() -> None:
    committed = (REPO / "terraform/schedules.json").read_text()
    assert committed == render(export_schedules(REPO / "configs")), (
        "terraform/schedules.json is stale: run `convergence schedules export`"
    )
    assert json.loads(committed)["jobs"]


def test_write_schedules_writes_what_render_gives(tmp_path: Path) -> None:
    config_dir = harness.make_config(tmp_path)
    out = tmp_path / "tf" / "schedules.json"
    jobs = write_schedules(config_dir, out)
    assert out.read_text() == render(jobs)


def _deliver_trigger(
    rt: Runtime, tenant: str, pipeline_id: str, published: dt.datetime | None = None
) -> None:
    event = trigger_event(load_pipeline(rt.config_dir, tenant, pipeline_id))
    cloud_event = to_eventarc(
        to_message(event),
        topic="projects/p/topics/run-requested",
        subscription="projects/p/subscriptions/ingest-on-run-requested",
        message_id="1",
        publish_time=published or rt.clock.now(),
    )
    handle_cloudevent(cloud_event, "ingest")


def _requested(rt: Runtime) -> list[RunRequested]:
    events = rt.bus.published_events("run-requested")  # type: ignore[attr-defined]
    return [e for e in events if e.pipeline_logging_id != TRIGGER_RUN_ID]


def test_trigger_starts_a_run_with_the_window_resolved_at_delivery(rt: Runtime) -> None:
    _deliver_trigger(rt, "acme", "openai_costs")
    [run] = _requested(rt)
    assert run.tenant_id == "acme" and run.trigger_by == TRIGGER_BY
    assert (run.window.start, run.window.end) == (dt.date(2025, 3, 7), dt.date(2025, 3, 9))
    status = metadata.run_status(rt.warehouse, "acme", run.pipeline_logging_id)
    assert status is not None and status["status"] == "REQUESTED"

    rt.clock.advance(days=1)  # type: ignore[attr-defined]
    _deliver_trigger(rt, "acme", "openai_costs")
    later = _requested(rt)[-1]
    assert later.pipeline_logging_id != run.pipeline_logging_id
    assert (later.window.start, later.window.end) == (dt.date(2025, 3, 8), dt.date(2025, 3, 10))


def test_a_redelivered_trigger_names_the_same_run_across_an_hour_boundary(rt: Runtime) -> None:
    tick = rt.clock.now()
    _deliver_trigger(rt, "acme", "openai_costs", published=tick)
    [run] = _requested(rt)
    assert run.pipeline_logging_id.endswith(f"{tick.astimezone(dt.UTC):%Y%m%d}0615")  # the tick
    metadata.record_step(  # the run's first step starts
        rt.warehouse,
        rt.clock,
        metadata.StepRecord("acme", "openai_costs", run.pipeline_logging_id, "ingest_costs", 0,
                            "ingest", "RUNNING", attempt=1),
    )  # fmt: skip
    rt.clock.advance(hours=3)  # type: ignore[attr-defined]  # redelivered hours later
    _deliver_trigger(rt, "acme", "openai_costs", published=tick)
    assert _requested(rt) == [run], "the same tick's run, not started twice"


def test_a_tick_whose_publish_failed_is_published_by_the_redelivered_trigger(
    rt: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lib.errors import TransientError

    real = rt.bus.publish

    def down(event):  # type: ignore[no-untyped-def]
        raise TransientError("Pub/Sub unavailable")

    monkeypatch.setattr(rt.bus, "publish", down)
    with pytest.raises(TransientError):
        _deliver_trigger(rt, "acme", "openai_costs")
    assert _requested(rt) == []  # recorded REQUESTED, never published
    monkeypatch.setattr(rt.bus, "publish", real)
    _deliver_trigger(rt, "acme", "openai_costs")  # Pub/Sub redelivers the trigger
    [run] = _requested(rt)
    transitions = rt.warehouse.query(
        "SELECT status FROM `acme_metadata`.`pipeline_runs` WHERE pipeline_logging_id = @r",
        {"r": run.pipeline_logging_id},
    )
    assert [t["status"] for t in transitions] == ["REQUESTED"], "recorded once, published once"


def test_trigger_of_a_disabled_pipeline_starts_nothing(rt: Runtime) -> None:
    pipeline = load_pipeline(rt.config_dir, "acme", "acme_paused")
    event = trigger_event(pipeline)
    from lib.steps.runner import handle

    handle(rt, event, "ingest")
    assert _requested(rt) == []


@pytest.fixture
def rt(tmp_path: Path):  # type: ignore[no-untyped-def]
    runtime = harness.make_runtime(tmp_path / "home", harness.make_config(tmp_path))
    with harness.installed(runtime):
        yield runtime
    runtime.close()


def test_cli_exports_schedules(tmp_path: Path) -> None:
    from lib.cli import main

    config_dir = harness.make_config(tmp_path)
    out = tmp_path / "schedules.json"
    assert main(["schedules", "export", "--config-dir", str(config_dir), "--output", str(out)]) == 0
    assert out.read_text() == render(export_schedules(config_dir))
