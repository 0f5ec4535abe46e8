"""Poison messages on Google's Pub/Sub emulator: dead-lettered at once, never retried.

The real step runner serves the topology's push subscriptions (functions-framework on
loopback, the push URLs ``create_topology`` builds); raw messages are published with the
Pub/Sub client. Each poison message must reach a handler once, land on its topic's
dead-letter hold subscription with the reason, and log one ERROR.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from lib.adapters.dead_letter_store import REJECTION_ATTRIBUTE
from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.adapters.env_secrets import EnvSecrets
from lib.adapters.pubsub_bus import PubSubBus
from lib.adapters.pubsub_topology import create_topology
from lib.clock import FixedClock
from lib.notify.handler import handle_notification
from lib.ports import DeadLetter, DeadLetterFilter
from lib.settings import Settings
from lib.steps.runner import handle_cloudevent
from lib.wiring import Runtime, install
from tests.lib.steps.test_poison import CASES
from tests.platform import CONFIGS
from tests.support.pubsub import fast_topology, new_project, pubsub_clients
from tests.support.push_routes import PushServer

pytestmark = pytest.mark.integration
EVERYTHING = DeadLetterFilter()
QUIET_SECONDS = 3.0  # longer than the fast topology's 1 s maximum redelivery backoff
WAIT_SECONDS = 60.0


@dataclass
class Cloud:
    """The emulator project, its bus and how often each message reached a handler."""

    project: str
    publisher: Any
    bus: PubSubBus
    deliveries: Counter[str]

    def publish_raw(self, topic: str, data: bytes, attributes: dict[str, str]) -> str:
        path = f"projects/{self.project}/topics/{topic}"
        return str(self.publisher.publish(path, data, **attributes).result(timeout=30))

    def letter_for(self, data: bytes) -> DeadLetter:
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            found = [x for x in self.bus.dead_letters(EVERYTHING) if x.data == data]
            if found:
                return found[0]
            time.sleep(0.2)
        raise AssertionError(f"no dead letter after {WAIT_SECONDS:.0f}s")


@pytest.fixture(scope="module")
def cloud(tmp_path_factory: pytest.TempPathFactory, pubsub_host: str) -> Iterator[Cloud]:
    root: Path = tmp_path_factory.mktemp("poison")
    topology = fast_topology()
    project = new_project()
    publisher, subscriber = pubsub_clients(pubsub_host)
    bus = PubSubBus(publisher, subscriber, project, topology)
    settings = Settings.from_env(
        {"CONVERGENCE_HOME": str(root), "CONVERGENCE_CONFIG_DIR": str(CONFIGS)}
    )
    warehouse = DuckDBWarehouse(root / "unused.duckdb")
    clock = FixedClock(dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC))
    rt = Runtime(settings, warehouse, bus, EnvSecrets({}), clock, topology)
    deliveries: Counter[str] = Counter()
    lock = threading.Lock()

    def serve(step_type: Any) -> Any:
        def run(cloud_event: Any) -> None:
            with lock:
                deliveries[cloud_event.data["message"]["messageId"]] += 1
            handle_cloudevent(cloud_event, step_type)

        return run

    install(rt)
    servers = [
        PushServer(h.name, handle_notification)
        if h.step_type is None  # notify: runs no step
        else PushServer(h.step_type, serve(h.step_type))
        for h in topology.handlers
    ]
    endpoints = {h.name: s.url for h, s in zip(topology.handlers, servers, strict=True)}
    create_topology(
        project, endpoints, topology=topology, publisher=publisher, subscriber=subscriber
    )
    try:
        yield Cloud(project, publisher, bus, deliveries)
    finally:
        install(None)
        for server in servers:
            server.close()
        warehouse.close()
        publisher.transport.close()
        subscriber.close()


@pytest.mark.parametrize("case", sorted(CASES))
def test_poison_is_dead_lettered_at_once_on_pubsub(cloud, caplog, case):
    message, reason = CASES[case]
    data = message.data  # distinct per case: it identifies the case's dead letter
    with caplog.at_level(logging.INFO):
        message_id = cloud.publish_raw("run-requested", data, dict(message.attributes))
        letter = cloud.letter_for(data)
        time.sleep(QUIET_SECONDS)  # a nacked message would be redelivered by now

    assert cloud.deliveries[message_id] == 1
    assert letter.topic == "run-requested-dead-letter"
    assert reason in letter.last_error
    assert letter.attributes[REJECTION_ATTRIBUTE] == letter.last_error
    own = {k: v for k, v in letter.attributes.items() if not k.startswith(("CloudPubSub", "conv"))}
    assert own == message.attributes
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert [m for m in errors if message_id in m] == errors and len(errors) == 1
    assert reason in errors[0]
