"""A pure codec: event ↔ CloudEvent ↔ Pub/Sub message, plus the push/Eventarc wrappers.

No I/O. On Pub/Sub the message data is the structured-mode JSON CloudEvent and the
attributes copy ``ce-type``, ids, ``next_step_type`` and ``traceparent`` so subscriptions
can filter and traces can follow. Every decode checks the data against the event's JSON
Schema in ``events/schemas/`` before building the model.

Per hop costs are paid once: each event type's validator is built once (``jsonschema`` is
imported on the first decode), and the decoding of one message's bytes is remembered for a
few recent messages, so a hop that looks at its event twice (progress display, then the
handler) parses and validates it once. Events are frozen; treat their lists as read-only.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cloudevents.conversion import to_structured
from cloudevents.http import CloudEvent, from_json
from pydantic import ValidationError

from events.models import BY_TYPE, Event

if TYPE_CHECKING:
    from jsonschema.protocols import Validator

PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"
PUBSUB_SOURCE = re.compile(r"^//pubsub\.googleapis\.com/projects/[^/]+/topics/([^/]+)$")
ROUTING_ATTRIBUTE = "next_step_type"
SCHEMA_DIR = Path(__file__).with_name("schemas")


class CodecError(ValueError):
    """The bytes or envelope do not hold a valid Convergence event."""


@dataclass(frozen=True)
class Message:
    """A Pub/Sub message as published: data bytes plus string attributes."""

    data: bytes
    attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PubSubDelivery:
    """A Pub/Sub message as a handler received it, undecoded (to dead-letter it if poison).

    ``topic`` comes from the CloudEvent source when it names one (Eventarc, the local bus,
    push endpoints whose path holds ``projects/P/topics/T``); ``subscription`` is the short
    name, empty when the delivery does not say.
    """

    topic: str | None
    subscription: str
    message_id: str
    message: Message


def source_of(event: Event) -> str:
    """The CloudEvent ``source`` of an event: where in the platform it happened."""
    return f"/convergence/tenants/{event.tenant_id}/pipelines/{event.pipeline_id}"


def to_cloudevent(event: Event) -> CloudEvent:
    """Wrap an event in a CloudEvents 1.0 envelope (``time`` always given explicitly)."""
    attributes = {
        "type": event.TYPE,
        "source": source_of(event),
        "id": event.event_id,
        "time": event.occurred_at.isoformat(),
        "subject": event.pipeline_logging_id,
        "datacontenttype": "application/json",
        "specversion": "1.0",
    }
    if event.traceparent:
        attributes["traceparent"] = event.traceparent
    return CloudEvent(attributes, event.model_dump(mode="json"))


def attributes_of(event: Event) -> dict[str, str]:
    """The Pub/Sub message attributes used for filtering and tracing."""
    attrs = {
        "ce-type": event.TYPE,
        "tenant_id": event.tenant_id,
        "pipeline_id": event.pipeline_id,
        "run_id": event.pipeline_logging_id,
        "next_step_type": event.next_step_type,
    }
    if event.traceparent:
        attrs["traceparent"] = event.traceparent
    return attrs


def to_message(event: Event) -> Message:
    """Encode an event as a Pub/Sub message (structured JSON CloudEvent + attributes)."""
    _, body = to_structured(to_cloudevent(event))
    return Message(data=body, attributes=attributes_of(event))


def from_message(data: bytes, attributes: dict[str, str] | None = None) -> Event:
    """Decode a Pub/Sub message's data (a structured JSON CloudEvent) into its event.

    Raises:
        CodecError: the data is not a CloudEvent of a known type matching its schema.
    """
    event = _decoded(data.encode() if isinstance(data, str) else bytes(data))
    if attributes and attributes.get("ce-type") not in (None, event.TYPE):
        raise CodecError(
            f"attribute ce-type {attributes['ce-type']!r} disagrees with event type {event.TYPE!r}"
        )
    return event


@lru_cache(maxsize=64)
def _decoded(data: bytes) -> Event:
    """One message's event, decoded and validated once however often it is asked for."""
    try:
        cloud_event = from_json(data)
    except Exception as exc:  # the SDK raises several unrelated classes
        raise CodecError(f"message data is not a structured CloudEvent: {exc}") from exc
    return from_cloudevent(cloud_event)


def from_cloudevent(cloud_event: Any) -> Event:
    """Decode a CloudEvent: one of ours, or Eventarc's Pub/Sub ``messagePublished`` wrapper.

    Raises:
        CodecError: unknown type, missing data, or data that fails the event's schema.
    """
    ce_type = cloud_event["type"]
    if ce_type == PUBSUB_PUBLISHED:
        return from_push(cloud_event.data)
    cls = BY_TYPE.get(ce_type)
    if cls is None:
        raise CodecError(f"unknown event type {ce_type!r}; known: {sorted(BY_TYPE)}")
    data = cloud_event.data
    if isinstance(data, bytes | str):
        data = _json(data, "CloudEvent data")
    return _validated(cls, data)


def from_push(body: Any) -> Event:
    """Decode a Pub/Sub push body or the data of an Eventarc ``messagePublished`` event.

    Raises:
        CodecError: the envelope has no base64 ``message.data`` holding an event.
    """
    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise CodecError("push body has no 'message' object")
    message = body["message"]
    encoded = message.get("data")
    if not isinstance(encoded, str):
        raise CodecError("push message has no base64 'data' field")
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CodecError(f"push message data is not valid base64: {exc}") from exc
    attributes = message.get("attributes") or {}
    event = from_message(raw, attributes)
    check_routing(event, attributes)
    return event


def check_routing(event: Event, attributes: dict[str, str]) -> None:
    """Check a delivered message's attributes route its event where it belongs.

    Subscriptions filter on ``next_step_type``, so a message without it reaches no step;
    ids that disagree with the event's would mislead every filter and log.

    Raises:
        CodecError: the routing attribute is missing, or an attribute disagrees.
    """
    if ROUTING_ATTRIBUTE not in attributes:
        raise CodecError(
            f"message has no routing attribute {ROUTING_ATTRIBUTE!r} (the event says "
            f"{event.next_step_type!r}); publish events with events.codec.to_message"
        )
    expected = attributes_of(event)
    wrong = sorted(k for k in expected if k in attributes and attributes[k] != expected[k])
    if wrong:
        raise CodecError(f"message attributes {wrong} disagree with the event's data")


def pubsub_delivery(cloud_event: Any) -> PubSubDelivery | None:
    """The raw message inside Eventarc's ``messagePublished`` CloudEvent, as received.

    Never raises: data that is not base64 is kept as its text, missing parts as empty.
    Returns None when the CloudEvent is not a Pub/Sub delivery.
    """
    try:
        ce_type, source = cloud_event["type"], cloud_event.get("source") or ""
    except (KeyError, TypeError, AttributeError):
        return None
    body = getattr(cloud_event, "data", None)
    if ce_type != PUBSUB_PUBLISHED or not isinstance(body, dict):
        return None
    message = _dict(body.get("message"))
    attributes = _dict(message.get("attributes"))
    topic = PUBSUB_SOURCE.match(str(source))
    return PubSubDelivery(
        topic=topic.group(1) if topic else None,
        subscription=str(body.get("subscription") or "").rpartition("/")[2],
        message_id=str(message.get("messageId") or ""),
        message=Message(
            _raw_data(message.get("data")), {str(k): str(v) for k, v in attributes.items()}
        ),
    )


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _raw_data(encoded: Any) -> bytes:
    if not isinstance(encoded, str):
        return b"" if encoded is None else json.dumps(encoded).encode()
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        return encoded.encode()


def to_push_body(
    message: Message, *, subscription: str, message_id: str, publish_time: dt.datetime
) -> dict[str, Any]:
    """The JSON body Pub/Sub POSTs to a push endpoint for ``message``."""
    return {
        "message": {
            "data": base64.b64encode(message.data).decode(),
            "attributes": dict(message.attributes),
            "messageId": message_id,
            "publishTime": publish_time.isoformat().replace("+00:00", "Z"),
        },
        "subscription": subscription,
    }


def to_eventarc(
    message: Message,
    *,
    topic: str,
    subscription: str,
    message_id: str,
    publish_time: dt.datetime,
) -> CloudEvent:
    """Wrap a Pub/Sub message as Eventarc's ``messagePublished`` CloudEvent.

    ``topic`` and ``subscription`` are full resource names (``projects/P/topics/T``).
    """
    body = to_push_body(
        message, subscription=subscription, message_id=message_id, publish_time=publish_time
    )
    attributes = {
        "type": PUBSUB_PUBLISHED,
        "source": f"//pubsub.googleapis.com/{topic}",
        "id": message_id,
        "time": body["message"]["publishTime"],
        "specversion": "1.0",
        "datacontenttype": "application/json",
    }
    return CloudEvent(attributes, body)


@cache
def schema_for(event_type: str) -> dict[str, Any]:
    """The generated JSON Schema for ``event_type`` (read once from ``events/schemas``)."""
    cls = BY_TYPE[event_type]
    schema: dict[str, Any] = json.loads((SCHEMA_DIR / f"{cls.TOPIC}.json").read_text())
    return schema


@cache
def validator_for(event_type: str) -> Validator:
    """The JSON Schema validator of ``event_type``, built once."""
    import jsonschema

    return jsonschema.Draft202012Validator(schema_for(event_type))


def _validated(cls: type[Event], data: Any) -> Event:
    validator = validator_for(cls.TYPE)
    if not validator.is_valid(data):
        errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        where = "/".join(str(p) for p in errors[0].path) or "(root)"
        raise CodecError(f"{cls.TYPE} data invalid at {where}: {errors[0].message}")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        raise CodecError(f"{cls.TYPE} data invalid: {exc.errors()[0]['msg']}") from exc


def _json(raw: bytes | str, what: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CodecError(f"{what} is not JSON: {exc}") from exc
