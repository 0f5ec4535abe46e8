"""Regenerate the golden wire files (run by hand: python -m tests.events.make_golden)."""

import datetime as dt
import json
from pathlib import Path

from events.codec import to_eventarc, to_message, to_push_body
from events.models import RunRequested, StepRef, Window

DATA = Path(__file__).with_name("data")


def golden_event() -> RunRequested:
    return RunRequested(
        event_id="evt-0001-abcdef",
        occurred_at=dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC),
        tenant_id="acme",
        pipeline_id="openai_costs",
        pipeline_logging_id="run-0123456789abcdef",
        window=Window(start=dt.date(2026, 11, 13), end=dt.date(2026, 11, 19)),
        next_step=StepRef(name="ingest_costs", index=0, type="ingest"),
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def main() -> None:
    event = golden_event()
    message = to_message(event)
    publish_time = dt.datetime(2026, 11, 20, 6, 0, 1, tzinfo=dt.UTC)
    push = to_push_body(
        message,
        subscription="projects/demo/subscriptions/ingest-on-run-requested",
        message_id="1234567890",
        publish_time=publish_time,
    )
    eventarc = to_eventarc(
        message,
        topic="projects/demo/topics/run-requested",
        subscription="projects/demo/subscriptions/ingest-on-run-requested",
        message_id="1234567890",
        publish_time=publish_time,
    )
    files = {
        "run_requested.message.json": {
            "data": json.loads(message.data),
            "attributes": message.attributes,
        },
        "run_requested.push.json": push,
        "run_requested.eventarc.json": {
            "attributes": dict(eventarc.get_attributes()),
            "data": eventarc.data,
        },
    }
    for name, content in files.items():
        (DATA / name).write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


if __name__ == "__main__":
    main()
