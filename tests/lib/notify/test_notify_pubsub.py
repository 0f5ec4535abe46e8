"""The notify handler behind real push subscriptions on Google's Pub/Sub emulator.

Every handler of the topology is served by functions-framework on loopback (the step handlers
ack and do nothing here); ``run.failed`` and ``dq.failed`` events are published with the real
``PubSubBus``, twice, and must reach the webhook receiver once per channel, signed.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.adapters.pubsub_bus import PubSubBus
from lib.adapters.pubsub_topology import create_topology
from lib.clock import FixedClock
from lib.notify.handler import handle_notification
from lib.settings import Settings
from lib.wiring import Runtime, install
from tests.lib.notify.support import SLACK_PATH, dq_failed, notify_configs, run_failed, secrets
from tests.lib.notify.test_notify import HOOK, signed_correctly
from tests.support.pubsub import fast_topology, new_project, pubsub_clients
from tests.support.push_routes import PushServer

pytestmark = pytest.mark.integration
WAIT_SECONDS = 60.0
QUIET_SECONDS = 3.0  # longer than the fast topology's 1 s maximum redelivery backoff


@pytest.fixture
def cloud(tmp_path, receiver, pubsub_host) -> Iterator[Runtime]:
    topology = fast_topology()
    project = new_project()
    publisher, subscriber = pubsub_clients(pubsub_host)
    settings = Settings.from_env(
        {
            "CONVERGENCE_HOME": str(tmp_path / "home"),
            "CONVERGENCE_CONFIG_DIR": str(notify_configs(tmp_path, receiver.base_url)),
        }
    )
    warehouse = DuckDBWarehouse(tmp_path / "notify.duckdb")
    clock = FixedClock(dt.datetime(2026, 11, 20, 6, 5, tzinfo=dt.UTC))
    bus = PubSubBus(publisher, subscriber, project, topology)
    rt = Runtime(settings, warehouse, bus, secrets(receiver.base_url), clock, topology)
    install(rt)

    def ack(_cloud_event: Any) -> None:
        return None

    servers = {
        h.name: PushServer(h.name, handle_notification if h.name == "notify" else ack)
        for h in topology.handlers
    }
    endpoints = {name: server.url for name, server in servers.items()}
    create_topology(
        project, endpoints, topology=topology, publisher=publisher, subscriber=subscriber
    )
    try:
        yield rt
    finally:
        install(None)
        for server in servers.values():
            server.close()
        warehouse.close()
        publisher.transport.close()
        subscriber.close()


def wait_for(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"Pub/Sub emulator: timed out waiting for {what}")


def test_failures_published_twice_are_notified_once_per_channel(cloud, receiver):
    failed, dq = run_failed(), dq_failed()
    for event in (failed, failed, dq, dq):
        cloud.bus.publish(event)
    wait_for(lambda: len(receiver.to(HOOK)) >= 2 and receiver.to(SLACK_PATH), "the webhooks")
    time.sleep(QUIET_SECONDS)  # a second delivery would arrive by now

    hooks = receiver.to(HOOK)
    assert sorted(h.json()["type"] for h in hooks) == ["dq.failed", "run.failed"]
    now = int(cloud.clock.now().timestamp())
    assert all(signed_correctly(h, now=now) for h in hooks)
    assert [s.json()["text"].split(":")[0] for s in receiver.to(SLACK_PATH)] == [
        "acme/openai_costs"
    ]
