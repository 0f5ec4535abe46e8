import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from cloudevents.http import CloudEvent

from events import codec
from events.models import (
    EVENT_CLASSES,
    BudgetCrossed,
    DqFailed,
    IngestCompleted,
    RunCompleted,
    RunFailed,
    StepRef,
)
from tests.events.make_golden import golden_event

DATA = Path(__file__).with_name("data")


def load(name):
    return json.loads((DATA / name).read_text())


def test_golden_message_decodes_to_the_event():
    golden = load("run_requested.message.json")
    event = codec.from_message(json.dumps(golden["data"]).encode(), golden["attributes"])
    assert event == golden_event()


def test_encoding_matches_golden_message():
    message = codec.to_message(golden_event())
    golden = load("run_requested.message.json")
    assert json.loads(message.data) == golden["data"]
    assert message.attributes == golden["attributes"]


def test_golden_push_body_decodes():
    assert codec.from_push(load("run_requested.push.json")) == golden_event()


def test_golden_eventarc_cloudevent_decodes():
    golden = load("run_requested.eventarc.json")
    cloud_event = CloudEvent(golden["attributes"], golden["data"])
    assert codec.from_cloudevent(cloud_event) == golden_event()


def test_structured_cloudevent_of_our_type_decodes(make_event):
    event = make_event()
    assert codec.from_cloudevent(codec.to_cloudevent(event)) == event


@pytest.mark.parametrize("cls", EVENT_CLASSES)
def test_every_event_type_round_trips(make_event, cls):
    extra = {
        IngestCompleted: dict(
            step_done=StepRef(name="ingest_costs", index=0, type="ingest"), rows_loaded=3
        ),
        DqFailed: dict(
            step_done=StepRef(name="check", index=1, type="dq"),
            expectations=2,
            failed=["a"],
            on_failure="stop",
            next_step=None,
        ),
        RunCompleted: dict(
            step_done=StepRef(name="silver", index=2, type="transform"), next_step=None
        ),
        RunFailed: dict(reason="boom", error_type="DataError", next_step=None),
        BudgetCrossed: dict(
            step_done=StepRef(name="budget_status", index=5, type="transform"),
            next_step=None,
            budget_name="ai_apis",
            month=dt.date(2026, 11, 1),
            basis="forecast",
            threshold_percent=100,
            budget_amount=Decimal("3000"),
            value=Decimal("3120.123456789012345678"),
            currency="USD",
            scope="providers openai, anthropic",
            as_of=dt.date(2026, 11, 19),
        ),
    }.get(cls, {})
    if cls.__name__ in ("DqPassed",):
        extra = dict(
            step_done=StepRef(name="check", index=1, type="dq"), expectations=2, warnings=0
        )
    if cls.__name__ == "TransformCompleted":
        extra = dict(step_done=StepRef(name="silver", index=2, type="transform"), rows_written=5)
    event = make_event(cls, **extra)
    message = codec.to_message(event)
    assert message.attributes["ce-type"] == cls.TYPE
    assert message.attributes["next_step_type"] == event.next_step_type
    assert codec.from_message(message.data, message.attributes) == event


def test_attributes_carry_routing_and_trace(make_event):
    attrs = codec.to_message(make_event()).attributes
    assert attrs == {
        "ce-type": "convergence.run.requested.v1",
        "tenant_id": "acme",
        "pipeline_id": "openai_costs",
        "run_id": "run-0123456789abcdef",
        "next_step_type": "ingest",
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    }


def test_cloudevent_time_is_the_event_time_not_now(make_event):
    cloud_event = codec.to_cloudevent(make_event())
    assert cloud_event["time"] == "2026-11-20T06:00:00+00:00"


@pytest.mark.parametrize(
    ("mutate", "fragment"),
    [
        (lambda d: d["data"].pop("tenant_id"), "tenant_id"),
        (lambda d: d["data"].update(tenant_id="../etc"), "tenant_id"),
        (
            lambda d: d["data"].update(window={"start": "2026-11-19", "end": "2026-11-01"}),
            "before start",
        ),
        (lambda d: d["data"]["next_step"].update(type="deploy"), "next_step"),
        (lambda d: d["data"].update(surprise=1), "surprise"),
        (lambda d: d.update(type="convergence.nope.v1"), "unknown event type"),
    ],
)
def test_malformed_events_are_rejected_with_a_precise_message(mutate, fragment):
    golden = load("run_requested.message.json")["data"]
    mutate(golden)
    with pytest.raises(codec.CodecError, match=fragment):
        codec.from_message(json.dumps(golden).encode())


def test_garbage_bytes_are_rejected():
    with pytest.raises(codec.CodecError, match="not a structured CloudEvent"):
        codec.from_message(b"{not json")


def test_push_body_without_base64_data_is_rejected():
    with pytest.raises(codec.CodecError, match="base64"):
        codec.from_push({"message": {"data": "***"}, "subscription": "s"})
    with pytest.raises(codec.CodecError, match="message"):
        codec.from_push({"subscription": "s"})


def test_attribute_type_disagreeing_with_data_is_rejected(make_event):
    message = codec.to_message(make_event())
    with pytest.raises(codec.CodecError, match="disagrees"):
        codec.from_message(message.data, {**message.attributes, "ce-type": RunFailed.TYPE})


def test_functions_framework_converts_raw_push_into_the_eventarc_shape(tmp_path, monkeypatch):
    """A raw Pub/Sub push body (no CloudEvent headers) reaches a handler in the Eventarc shape."""
    from functions_framework import create_app

    out = tmp_path / "received.json"
    monkeypatch.setenv("FF_PROBE_OUT", str(out))
    app = create_app(target="probe", source=str(DATA / "ff_probe.py"), signature_type="cloudevent")
    response = app.test_client().post("/", json=load("run_requested.push.json"))
    assert response.status_code == 200
    received = json.loads(out.read_text())
    assert received["type"] == codec.PUBSUB_PUBLISHED
    assert codec.from_push(received["data"]) == golden_event()


def test_a_hop_decodes_its_message_once_and_validators_are_built_once(make_event, monkeypatch):
    message = codec.to_message(
        make_event(RunFailed, reason="provider down", error_type="TransientError", next_step=None)
    )
    calls = []
    real = codec.validator_for

    def counting(event_type):
        calls.append(event_type)
        return real(event_type)

    monkeypatch.setattr(codec, "validator_for", counting)
    first = codec.from_message(message.data, message.attributes)
    again = codec.from_message(message.data, message.attributes)  # e.g. progress, then handler
    assert again is first
    assert calls == [RunFailed.TYPE]
    assert real(RunFailed.TYPE) is real(RunFailed.TYPE)
    bad = message.data.replace(b'"tenant_id"', b'"tenant"', 1)
    for _ in range(2):  # failures are not remembered: each attempt raises
        with pytest.raises(codec.CodecError):
            codec.from_message(bad)
