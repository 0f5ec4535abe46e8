"""Pure routing: what a finished step publishes, for several pipeline shapes."""

import datetime as dt

import pytest

from events.models import RunRequested, StepRef, Window
from lib.config.pipeline import PipelineConfig
from lib.steps.base import StepOutcome
from lib.steps.next_events import completion_events

NOW = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
DEST = {"dataset": "raw_x", "table": "t", "schema": "s.json"}


def pipeline(*types, on_failure="stop"):
    steps = []
    for i, kind in enumerate(types):
        step = {"name": f"step_{i}", "type": kind}
        if kind == "ingest":
            step |= {"source": "src.yml", "destination": DEST}
        elif kind == "dq":
            step |= {
                "rules": "dq.yml",
                "table": {"dataset": "raw_x", "table": "t"},
                "on_failure": on_failure,
            }
        else:
            step |= {"sql": "q.sql", "destination": DEST}
        steps.append(step)
    return PipelineConfig.model_validate({"pipeline_id": "pipe_line", "steps": steps})


def cause(config):
    return RunRequested(
        event_id="evt-12345678",
        occurred_at=NOW,
        tenant_id="acme",
        pipeline_id="pipe_line",
        pipeline_logging_id="run-12345678",
        window=Window(start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 2)),
        next_step=config.step_ref(0),
    )


def after(config, index, outcome=None):
    done = config.step_ref(index)
    events = completion_events(
        config, cause(config), done, outcome or StepOutcome(rows=3), now=NOW, traceparent=None
    )
    return [(e.TOPIC, e.next_step_type) for e in events]


def test_single_ingest_pipeline_completes_the_run():
    assert after(pipeline("ingest"), 0) == [("run-completed", "none")]


def test_ingest_then_transform():
    config = pipeline("ingest", "transform")
    assert after(config, 0) == [("ingest-completed", "transform")]
    assert after(config, 1) == [("run-completed", "none")]


def test_ingest_dq_transform_transform():
    config = pipeline("ingest", "dq", "transform", "transform")
    assert after(config, 0) == [("ingest-completed", "dq")]
    assert after(config, 1, StepOutcome(rows=3, expectations=2)) == [("dq-passed", "transform")]
    assert after(config, 2) == [("transform-completed", "transform")]
    assert after(config, 3) == [("run-completed", "none")]


def test_critical_dq_failure_with_stop_fails_the_run():
    config = pipeline("ingest", "dq", "transform")
    outcome = StepOutcome(rows=3, expectations=2, failed=["not_null(amount)"])
    assert after(config, 1, outcome) == [("dq-failed", "none"), ("run-failed", "none")]


def test_critical_dq_failure_with_alert_continues():
    config = pipeline("ingest", "dq", "transform", on_failure="alert")
    outcome = StepOutcome(rows=3, expectations=2, failed=["not_null(amount)"])
    assert after(config, 1, outcome) == [("dq-failed", "transform")]


def test_alert_on_the_last_step_still_completes_the_run():
    config = pipeline("ingest", "dq", on_failure="alert")
    outcome = StepOutcome(rows=3, expectations=2, failed=["x"])
    assert after(config, 1, outcome) == [("dq-failed", "none"), ("run-completed", "none")]


def test_republished_completion_has_the_same_event_id():
    config = pipeline("ingest", "transform")
    first = completion_events(
        config, cause(config), config.step_ref(0), StepOutcome(rows=1), now=NOW, traceparent=None
    )
    again = completion_events(
        config,
        cause(config),
        config.step_ref(0),
        StepOutcome(rows=1),
        now=NOW + dt.timedelta(hours=1),
        traceparent=None,
    )
    assert first[0].event_id == again[0].event_id


@pytest.mark.parametrize("types", [("transform",), ("dq", "transform")])
def test_pipelines_may_start_with_any_step_type(types):
    config = pipeline(*types)
    assert cause(config).next_step == StepRef(name="step_0", index=0, type=types[0])
