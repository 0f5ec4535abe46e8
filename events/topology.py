"""The topology as typed data: topics, subscriptions, filters, dead letters, retry policy.

``topology.json`` beside this module is the single declaration; the in-process bus, the
Pub/Sub topology command and Terraform all read it.
"""

from __future__ import annotations

import json
import re
from functools import cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

TOPOLOGY_FILE = Path(__file__).with_name("topology.json")

_CLAUSE = re.compile(r'^attributes\.([A-Za-z_][A-Za-z0-9_-]*)\s*=\s*"([^"\\]*)"$')
_ABSENT = re.compile(r"^NOT\s+attributes:([A-Za-z_][A-Za-z0-9_-]*)$")
_PRESENT = re.compile(r"^attributes:([A-Za-z_][A-Za-z0-9_-]*)$")
PRESENT = object()
"""The value :func:`parse_filter` gives an ``attributes:KEY`` clause (any value will do)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Defaults(_Strict):
    """Delivery policy shared by every subscription."""

    max_delivery_attempts: int = Field(ge=5, le=100)
    min_backoff_seconds: int = Field(ge=0, le=600)
    max_backoff_seconds: int = Field(ge=0, le=600)
    ack_deadline_seconds: int = Field(ge=10, le=600)
    message_retention_seconds: int = Field(ge=600)
    hold_ack_deadline_seconds: int = Field(
        default=60, ge=10, le=600, description="ack deadline of the dead-letter hold subscriptions"
    )


class Topic(_Strict):
    """A topic, the event type it carries and where its undeliverable messages go."""

    name: str
    event_type: str
    dead_letter_topic: str | None
    dead_letter_subscription: str | None


class Handler(_Strict):
    """A Cloud Run handler: one step type (or none: ``notify`` runs no step), one
    functions-framework entry point."""

    name: str
    step_type: Literal["ingest", "dq", "transform"] | None = None
    entry_point: str
    publishes: list[str] = Field(
        default_factory=list,
        description="topics the handler publishes to (Terraform grants publisher on just these)",
    )


class Subscription(_Strict):
    """A push subscription from a topic to a handler, filtered on message attributes."""

    name: str
    topic: str
    handler: str
    filter: str

    def matches(self, attributes: dict[str, str]) -> bool:
        """Evaluate the Pub/Sub filter against message attributes (absent: value None)."""
        return all(
            key in attributes if value is PRESENT else attributes.get(key) == value
            for key, value in parse_filter(self.filter)
        )


class Topology(_Strict):
    """The whole topology; validated for dangling references on load."""

    comment: str = Field(default="", alias="$comment")
    defaults: Defaults
    topics: list[Topic]
    handlers: list[Handler]
    subscriptions: list[Subscription]

    @model_validator(mode="after")
    def _references(self) -> Topology:
        topics = {t.name for t in self.topics}
        handlers = {h.name for h in self.handlers}
        for handler in self.handlers:
            for topic in handler.publishes:
                if topic not in topics:
                    raise ValueError(f"handler {handler.name} publishes to unknown topic {topic}")
        for sub in self.subscriptions:
            if sub.topic not in topics:
                raise ValueError(f"subscription {sub.name} names unknown topic {sub.topic}")
            if sub.handler not in handlers:
                raise ValueError(f"subscription {sub.name} names unknown handler {sub.handler}")
            parse_filter(sub.filter)
        return self

    def topic(self, name: str) -> Topic:
        """The topic called ``name``; KeyError names the known topics."""
        for topic in self.topics:
            if topic.name == name:
                return topic
        raise KeyError(f"unknown topic {name!r}; known: {sorted(t.name for t in self.topics)}")

    def subscriptions_for(self, topic: str) -> list[Subscription]:
        """Subscriptions attached to ``topic``."""
        return [s for s in self.subscriptions if s.topic == topic]

    def handler(self, name: str) -> Handler:
        """The handler called ``name``."""
        for handler in self.handlers:
            if handler.name == name:
                return handler
        raise KeyError(f"unknown handler {name!r}")

    def source_topic_of_dead_letter(self, dead_letter_topic: str) -> Topic:
        """The topic whose dead letters land in ``dead_letter_topic``."""
        for topic in self.topics:
            if topic.dead_letter_topic == dead_letter_topic:
                return topic
        raise KeyError(f"{dead_letter_topic!r} is not a dead-letter topic")


def parse_filter(expression: str) -> list[tuple[str, Any]]:
    """Parse the subset of Pub/Sub filter syntax the topology uses.

    Supports ``attributes.KEY = "VALUE"`` (→ ``(KEY, VALUE)``), ``NOT attributes:KEY`` (the
    attribute is absent → ``(KEY, None)``) and ``attributes:KEY`` (present with any value →
    ``(KEY, PRESENT)``) clauses joined by ``AND``. Anything else raises, so the local bus can
    never silently route differently from Pub/Sub.

    Raises:
        ValueError: the expression uses syntax outside the supported subset.
    """
    clauses = [c.strip() for c in expression.split(" AND ")] if expression.strip() else []
    parsed: list[tuple[str, Any]] = []
    for clause in clauses:
        if absent := _ABSENT.match(clause):
            parsed.append((absent.group(1), None))
            continue
        if present := _PRESENT.match(clause):
            parsed.append((present.group(1), PRESENT))
            continue
        match = _CLAUSE.match(clause)
        if not match:
            raise ValueError(
                f"unsupported subscription filter clause {clause!r}: write "
                'attributes.KEY = "VALUE", attributes:KEY or NOT attributes:KEY, joined by AND'
            )
        parsed.append((match.group(1), match.group(2)))
    return parsed


@cache
def load_topology(path: Path = TOPOLOGY_FILE) -> Topology:
    """Read and validate the topology file."""
    return Topology.model_validate(json.loads(path.read_text()))
