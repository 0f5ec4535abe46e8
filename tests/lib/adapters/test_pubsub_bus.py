"""PubSubBus and create_topology on Google's Pub/Sub emulator, plus their pure helpers.

The bus contract (``tests/contract/test_bus_contract.py``) covers push delivery,
redelivery, dead-lettering and replay end to end. Here: what the topology command
creates, what a published message carries, errors for unknown topics, and dead-letter
selection, with dead letters published straight to a dead-letter topic the way Pub/Sub
writes them (so no test waits for five delivery attempts).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from events.codec import from_message
from events.models import RunRequested, StepRef, Window
from events.topology import load_topology
from lib.adapters.pubsub_bus import PubSubBus, original_attributes
from lib.adapters.pubsub_topology import (
    create_topology,
    parse_push_endpoints,
    subscription_request,
)
from lib.errors import ConfigError, UnknownTopic
from lib.ports import DeadLetterFilter
from tests.support.pubsub import new_project, pubsub_clients

TOPOLOGY = load_topology()
DEAD_LETTER_ATTRS = {
    "CloudPubSubDeadLetterSourceDeliveryCount": "5",
    "CloudPubSubDeadLetterSourceSubscription": "ingest-on-run-requested",
    "CloudPubSubDeadLetterSourceSubscriptionProject": "p",
    "CloudPubSubDeadLetterSourceTopicPublishTime": "2026-03-01T05:00:00.000Z",
}


def run_requested(tenant: str = "acme", n: int = 1) -> RunRequested:
    return RunRequested(
        event_id=f"evt-{tenant}-{n:04d}",
        occurred_at=dt.datetime(2026, 3, 1, 5, 0, tzinfo=dt.UTC),
        tenant_id=tenant,
        pipeline_id="openai_costs",
        pipeline_logging_id=f"run-{tenant}-{n:04d}",
        window=Window(start=dt.date(2026, 2, 28), end=dt.date(2026, 2, 28)),
        next_step=StepRef(name="load_costs", index=0, type="ingest"),
    )


# --- pure helpers ------------------------------------------------------------------------


def test_push_endpoints_parse_and_check_handler_names():
    assert parse_push_endpoints(["ingest=http://127.0.0.1:8081/", "dq=https://dq.run.app"]) == {
        "ingest": "http://127.0.0.1:8081/",
        "dq": "https://dq.run.app",
    }
    with pytest.raises(ConfigError) as info:
        parse_push_endpoints(["ingset=http://x", "dq=ftp://x"])
    assert len(info.value.problems) == 2
    assert "unknown handler 'ingset'" in str(info.value)


def test_push_subscription_request_carries_the_topology_policy():
    sub = TOPOLOGY.subscriptions_for("ingest-completed")[1]
    request = subscription_request(
        "proj", TOPOLOGY, sub, {sub.handler: "https://dq.run.app/"}, "push@proj.iam"
    )
    defaults = TOPOLOGY.defaults
    assert request["name"] == f"projects/proj/subscriptions/{sub.name}"
    assert request["topic"] == "projects/proj/topics/ingest-completed"
    assert request["filter"] == sub.filter
    assert request["dead_letter_policy"] == {
        "dead_letter_topic": "projects/proj/topics/ingest-completed-dead-letter",
        "max_delivery_attempts": defaults.max_delivery_attempts,
    }
    assert request["retry_policy"]["maximum_backoff"].seconds == defaults.max_backoff_seconds
    assert request["expiration_policy"] == {}  # never expires (Pub/Sub's default is 31 days)
    assert request["push_config"] == {
        "push_endpoint": "https://dq.run.app/",
        "oidc_token": {"service_account_email": "push@proj.iam", "audience": "https://dq.run.app/"},
    }


def test_without_an_endpoint_the_subscription_is_pull():
    sub = TOPOLOGY.subscriptions[0]
    assert "push_config" not in subscription_request("proj", TOPOLOGY, sub, {})


def test_replayed_attributes_drop_the_dead_letter_bookkeeping():
    from lib.ports import DeadLetter

    letter = DeadLetter(
        message_id="1", topic="t", subscription="s", data=b"",
        attributes={"tenant_id": "acme", **DEAD_LETTER_ATTRS},
        dead_lettered_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC), attempts=5,
    )  # fmt: skip
    assert original_attributes(letter) == {"tenant_id": "acme"}


# --- on the emulator ---------------------------------------------------------------------


@pytest.fixture
def emulator(pubsub_host: str) -> Any:
    publisher, subscriber = pubsub_clients(pubsub_host)
    project = new_project()
    yield project, publisher, subscriber
    publisher.transport.close()
    subscriber.close()


@pytest.fixture
def bus(emulator: Any) -> PubSubBus:
    project, publisher, subscriber = emulator
    create_topology(project, topology=TOPOLOGY, publisher=publisher, subscriber=subscriber)
    return PubSubBus(publisher, subscriber, project, TOPOLOGY)


def pull(subscriber: Any, path: str) -> list[Any]:
    response = subscriber.pull(request={"subscription": path, "max_messages": 10}, timeout=10)
    subscriber.acknowledge(
        request={"subscription": path, "ack_ids": [r.ack_id for r in response.received_messages]}
    )
    return [r.message for r in response.received_messages]


@pytest.mark.integration
def test_topology_is_created_once_and_reported_as_existing_after(emulator):
    project, publisher, subscriber = emulator
    endpoints = {"ingest": "http://127.0.0.1:9/"}
    first = create_topology(project, endpoints, topology=TOPOLOGY,
                            publisher=publisher, subscriber=subscriber)  # fmt: skip
    again = create_topology(project, endpoints, topology=TOPOLOGY,
                            publisher=publisher, subscriber=subscriber)  # fmt: skip
    dead = [t for t in TOPOLOGY.topics if t.dead_letter_topic]
    expected = len(TOPOLOGY.topics) + 2 * len(dead) + len(TOPOLOGY.subscriptions)
    assert len(first.created) == expected and first.existing == []
    assert again.created == [] and sorted(again.existing) == sorted(first.created)

    push = subscriber.get_subscription(
        request={"subscription": f"projects/{project}/subscriptions/ingest-on-run-requested"}
    )
    assert push.push_config.push_endpoint == "http://127.0.0.1:9/"
    assert push.filter == 'attributes.next_step_type = "ingest"'
    assert push.dead_letter_policy.dead_letter_topic.endswith("/run-requested-dead-letter")
    assert push.dead_letter_policy.max_delivery_attempts == TOPOLOGY.defaults.max_delivery_attempts
    pull_sub = subscriber.get_subscription(
        request={"subscription": f"projects/{project}/subscriptions/dq-on-run-requested"}
    )
    assert pull_sub.push_config.push_endpoint == ""
    hold = subscriber.get_subscription(
        request={"subscription": f"projects/{project}/subscriptions/run-requested-dead-letter-hold"}
    )
    assert hold.ack_deadline_seconds == TOPOLOGY.defaults.hold_ack_deadline_seconds
    # Never expire, as Terraform's `expiration_policy { ttl = "" }`: a policy without ttl.
    # Without one Pub/Sub would apply its default 31 days (the emulator then returns none).
    for sub in (push, pull_sub, hold):
        assert type(sub).pb(sub).HasField("expiration_policy"), sub.name
        assert sub.expiration_policy.ttl.total_seconds() == 0, sub.name


@pytest.mark.integration
def test_published_message_carries_the_event_and_its_routing_attributes(bus, emulator):
    project, _, subscriber = emulator
    event = run_requested()
    message_id = bus.publish(event)
    [message] = pull(subscriber, f"projects/{project}/subscriptions/ingest-on-run-requested")
    assert message.message_id == message_id
    assert dict(message.attributes) == {
        "ce-type": "convergence.run.requested.v1", "tenant_id": "acme",
        "pipeline_id": "openai_costs", "run_id": "run-acme-0001", "next_step_type": "ingest",
    }  # fmt: skip
    assert from_message(message.data, dict(message.attributes)) == event


@pytest.mark.integration
def test_a_topic_missing_from_the_project_is_a_terminal_error_naming_it(emulator):
    project, publisher, subscriber = emulator
    bus = PubSubBus(publisher, subscriber, project, TOPOLOGY)  # topology never created
    with pytest.raises(UnknownTopic, match=rf"projects/{project}/topics/run-requested.*create"):
        bus.publish(run_requested())


def test_a_topic_missing_from_the_topology_is_a_terminal_error_naming_it():
    class Stray(RunRequested):
        TOPIC = "no-such-topic"

    bus = PubSubBus(publisher=None, subscriber=None, project="p", topology=TOPOLOGY)
    with pytest.raises(UnknownTopic, match="no-such-topic"):
        bus.publish(Stray(**run_requested().model_dump()))


def dead_letter(bus_emulator: Any, event: RunRequested) -> None:
    """Publish ``event`` to its dead-letter topic the way Pub/Sub dead-letters it."""
    from events.codec import to_message

    project, publisher, _ = bus_emulator
    message = to_message(event)
    topic = f"projects/{project}/topics/{TOPOLOGY.topic(event.TOPIC).dead_letter_topic}"
    publisher.publish(topic, message.data, **message.attributes, **DEAD_LETTER_ATTRS).result()


@pytest.mark.integration
def test_listing_dead_letters_consumes_nothing(bus, emulator):
    dead_letter(emulator, run_requested("acme", 1))
    dead_letter(emulator, run_requested("globex", 2))
    everything = DeadLetterFilter()
    first = bus.dead_letters(everything)
    assert [d.attributes["tenant_id"] for d in first] == ["acme", "globex"]
    assert [d.message_id for d in bus.dead_letters(everything)] == [d.message_id for d in first]
    letter = first[0]
    assert letter.topic == "run-requested-dead-letter"
    assert letter.subscription == "ingest-on-run-requested"
    assert letter.attempts == 5
    assert [d.attributes["tenant_id"] for d in bus.dead_letters(DeadLetterFilter("globex"))] == [
        "globex"
    ]


@pytest.mark.integration
def test_replay_moves_only_the_selection_back_to_the_source_topic(bus, emulator):
    project, _, subscriber = emulator
    acme, globex = run_requested("acme", 1), run_requested("globex", 2)
    dead_letter(emulator, acme)
    dead_letter(emulator, globex)

    assert [
        d.attributes["tenant_id"] for d in bus.replay(DeadLetterFilter("acme"), dry_run=True)
    ] == ["acme"]
    moved = bus.replay(DeadLetterFilter(tenant_id="acme"))

    assert [d.attributes["tenant_id"] for d in moved] == ["acme"]
    [back] = pull(subscriber, f"projects/{project}/subscriptions/ingest-on-run-requested")
    assert from_message(back.data) == acme
    assert not any(k.startswith("CloudPubSubDeadLetter") for k in back.attributes)
    assert [d.attributes["tenant_id"] for d in bus.dead_letters(DeadLetterFilter())] == ["globex"]
