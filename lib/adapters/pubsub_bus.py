"""The Pub/Sub event bus adapter: the cloud implementation of the EventBus port.

Publishing encodes the event with ``events.codec.to_message`` (structured JSON CloudEvent
as data, routing and trace ids as attributes) and returns Pub/Sub's message id.

Dead letters sit on each dead-letter topic's *hold* subscription (``dead_letter_subscription``
in ``events/topology.json``), a plain pull subscription nobody consumes:

* ``dead_letters`` pulls every held message and immediately hands it back
  (``modify_ack_deadline`` 0), so listing never consumes anything;
* ``replay`` re-publishes each selected message to its source topic with its original
  attributes (the ``CloudPubSubDeadLetter*`` bookkeeping removed) and acks the dead letter
  only after that publish succeeded; a crash in between can duplicate, never lose (the
  handlers are idempotent). Unselected messages are handed back untouched.
* ``reject`` publishes a poison message a handler received straight to its topic's
  dead-letter topic, with Pub/Sub's dead-letter attributes and the reason in the
  ``convergence_rejected_reason`` attribute (shown as the letter's last error), so the
  handler can ack it: no retries, nothing lost.

Pulls use ``return_immediately`` so an empty subscription costs one round trip; real
Pub/Sub may return fewer messages than it holds, so a listing is best effort and a replay
can be repeated until it moves nothing.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from events.codec import to_message
from events.models import Event
from events.topology import Topic, Topology, load_topology
from lib.adapters.dead_letter_store import REJECTION_ATTRIBUTE, dead_letter_attributes
from lib.clock import SystemClock
from lib.errors import TerminalError, TransientError, UnknownTopic
from lib.ports import Clock, DeadLetter, DeadLetterFilter, Rejected

DEAD_LETTER_PREFIX = "CloudPubSubDeadLetterSource"
DELIVERY_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
SOURCE_SUBSCRIPTION = "CloudPubSubDeadLetterSourceSubscription"
PULL_BATCH = 100
MAX_PULL_ROUNDS = 1000
PUBLISH_TIMEOUT = 60.0
MAX_REASON_BYTES = 1000  # an attribute value holds at most 1024 bytes


@dataclass(frozen=True)
class _Held:
    letter: DeadLetter
    ack_id: str
    hold: str
    source_topic: str


class PubSubBus:
    """EventBus on Google Cloud Pub/Sub.

    Args:
        publisher: a ``google.cloud.pubsub_v1.PublisherClient``.
        subscriber: a ``google.cloud.pubsub_v1.SubscriberClient``.
        project: the project holding the topology.
        topology: the topology (default: ``events/topology.json``).
    """

    def __init__(
        self,
        publisher: Any,
        subscriber: Any,
        project: str,
        topology: Topology | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._publisher = publisher
        self._subscriber = subscriber
        self._project = project
        self._topology = topology or load_topology()
        self._clock = clock or SystemClock()

    def publish(self, event: Event) -> str:
        """Publish ``event`` to ``event.TOPIC``; return the Pub/Sub message id.

        Raises:
            UnknownTopic: the topic is not in the topology or not created in the project.
            TransientError: Pub/Sub is unavailable or timed out.
        """
        message = to_message(event)
        return self._publish(self._known(event.TOPIC).name, message.data, message.attributes)

    def reject(self, rejected: Rejected) -> str:
        """Publish a poison message to its topic's dead-letter topic with the reason.

        Returns:
            The dead letter's Pub/Sub message id.

        Raises:
            UnknownTopic: the topic is unknown or has no dead-letter topic.
            TransientError: Pub/Sub is unavailable (do not ack the delivery).
        """
        topic = self._known(rejected.topic)
        if not topic.dead_letter_topic:
            raise UnknownTopic(f"topic {topic.name!r} has no dead-letter topic in the topology")
        attributes = {
            **rejected.attributes,
            **dead_letter_attributes(rejected.subscription, self._project, 1, None),
            REJECTION_ATTRIBUTE: rejected.reason.encode()[:MAX_REASON_BYTES].decode(
                errors="ignore"
            ),
        }
        return self._publish(topic.dead_letter_topic, rejected.data, attributes)

    def check(self) -> None:
        """Return when Pub/Sub answers for the first topic of the topology.

        Raises:
            UnknownTopic: the topic does not exist (create the topology).
            TransientError: Pub/Sub is unreachable.
        """
        first = self._topology.topics[0].name
        path = f"projects/{self._project}/topics/{first}"
        with pubsub_errors(f"topic {path}"):
            self._publisher.get_topic(request={"topic": path}, timeout=10.0)

    def close(self) -> None:
        """Stop the publisher (every publish already waited for its id) and close the
        subscriber's channel."""
        self._publisher.stop()
        self._subscriber.close()

    def dead_letters(self, selection: DeadLetterFilter) -> Sequence[DeadLetter]:
        """Dead letters matching ``selection``, oldest first; nothing is consumed."""
        held = self._pull_all()
        self._hand_back(held)
        return [h.letter for h in held if selection.matches(h.letter)]

    def replay(self, selection: DeadLetterFilter, *, dry_run: bool = False) -> list[DeadLetter]:
        """Re-publish matching dead letters to their source topic, then ack them.

        Returns:
            The dead letters moved (or that would move, with ``dry_run``).
        """
        held = self._pull_all()
        chosen = [h for h in held if selection.matches(h.letter)]
        if dry_run:
            self._hand_back(held)
            return [h.letter for h in chosen]
        self._hand_back([h for h in held if not selection.matches(h.letter)])
        moved: list[DeadLetter] = []
        try:
            for item in chosen:
                self._publish(item.source_topic, item.letter.data, original_attributes(item.letter))
                self._ack(item.hold, [item.ack_id])
                moved.append(item.letter)
        finally:
            self._hand_back(chosen[len(moved) :])
        return moved

    # --- internals --------------------------------------------------------------------

    def _known(self, topic: str) -> Topic:
        try:
            return self._topology.topic(topic)
        except KeyError as exc:
            raise UnknownTopic(f"cannot publish: {exc.args[0]}") from exc

    def _publish(self, topic: str, data: bytes, attributes: Mapping[str, str]) -> str:
        path = f"projects/{self._project}/topics/{topic}"
        with pubsub_errors(f"topic {path}"):
            future = self._publisher.publish(path, data, **attributes)
            return str(future.result(timeout=PUBLISH_TIMEOUT))

    def _holds(self) -> Iterator[tuple[Topic, str]]:
        for topic in self._topology.topics:
            if topic.dead_letter_topic and topic.dead_letter_subscription:
                yield topic, topic.dead_letter_subscription

    def _pull_all(self) -> list[_Held]:
        held: list[_Held] = []
        for source, hold in self._holds():
            held.extend(self._pull_hold(source, hold))
        return sorted(held, key=lambda h: h.letter.dead_lettered_at)

    def _pull_hold(self, source: Topic, hold: str) -> list[_Held]:
        path = f"projects/{self._project}/subscriptions/{hold}"
        found: dict[str, _Held] = {}
        for _ in range(MAX_PULL_ROUNDS):
            with pubsub_errors(f"subscription {path}"), warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # return_immediately
                response = self._subscriber.pull(
                    request={"subscription": path, "max_messages": PULL_BATCH,
                             "return_immediately": True},
                )  # fmt: skip
            fresh = [r for r in response.received_messages if r.message.message_id not in found]
            if not fresh:
                break
            for received in fresh:
                letter = to_dead_letter(
                    received.message, str(source.dead_letter_topic), self._clock.now()
                )
                found[letter.message_id] = _Held(letter, received.ack_id, path, source.name)
        return list(found.values())

    def _hand_back(self, held: Sequence[_Held]) -> None:
        if not held:
            return
        by_hold: dict[str, list[str]] = {}
        for item in held:
            by_hold.setdefault(item.hold, []).append(item.ack_id)
        for hold, ack_ids in by_hold.items():
            with pubsub_errors(f"subscription {hold}"):
                self._subscriber.modify_ack_deadline(
                    request={"subscription": hold, "ack_ids": ack_ids, "ack_deadline_seconds": 0}
                )

    def _ack(self, hold: str, ack_ids: list[str]) -> None:
        with pubsub_errors(f"subscription {hold}"):
            self._subscriber.acknowledge(request={"subscription": hold, "ack_ids": ack_ids})


def to_dead_letter(message: Any, dead_letter_topic: str, now: dt.datetime) -> DeadLetter:
    """A ``DeadLetter`` from a ``PubsubMessage`` pulled off a dead-letter hold subscription
    (``now`` stands in for a missing publish time)."""
    attributes = dict(message.attributes)
    published = message.publish_time
    when = dt.datetime.fromtimestamp(published.timestamp(), tz=dt.UTC) if published else None
    return DeadLetter(
        message_id=str(message.message_id),
        topic=dead_letter_topic,
        subscription=attributes.get(SOURCE_SUBSCRIPTION, ""),
        attributes=attributes,
        data=bytes(message.data),
        dead_lettered_at=when or now,
        attempts=int(attributes.get(DELIVERY_COUNT, "0") or 0),
        last_error=attributes.get(REJECTION_ATTRIBUTE, ""),
    )


def original_attributes(letter: DeadLetter) -> dict[str, str]:
    """The attributes the event was first published with (dead-letter bookkeeping removed)."""
    return {
        k: v
        for k, v in letter.attributes.items()
        if not k.startswith(DEAD_LETTER_PREFIX) and k != REJECTION_ATTRIBUTE
    }


@contextmanager
def pubsub_errors(what: str) -> Iterator[None]:
    """Translate Pub/Sub client errors: missing resources are terminal, the rest transient.

    Raises:
        UnknownTopic: the topic or subscription does not exist (create the topology).
        TerminalError: the request was invalid or not permitted.
        TransientError: unavailable, deadline exceeded, throttled, or a publish timeout.
    """
    from google.api_core import exceptions as gexc

    try:
        yield
    except gexc.NotFound as exc:
        raise UnknownTopic(
            f"{what} does not exist; create it with `convergence bus create-topology`"
        ) from exc
    except (gexc.InvalidArgument, gexc.PermissionDenied, gexc.Unauthenticated) as exc:
        raise TerminalError(f"Pub/Sub rejected the request for {what}: {exc.message}") from exc
    except (gexc.GoogleAPIError, TimeoutError) as exc:
        raise TransientError(f"Pub/Sub unavailable for {what}: {exc}; retry later") from exc
