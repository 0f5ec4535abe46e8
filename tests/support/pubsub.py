"""Pub/Sub clients and the bus-contract harness on Google's Pub/Sub emulator.

Each harness gets a fresh project on the session's emulator (so tests never see each
other's messages), the real topology created by ``create_topology`` with push
subscriptions to loopback functions-framework servers, and a ``PubSubBus`` over it.
The only change to the topology is a short retry backoff, so dead-lettering after the
topology's max delivery attempts takes seconds instead of minutes.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from events.topology import Topology, load_topology
from lib.adapters.pubsub_bus import PubSubBus
from lib.adapters.pubsub_topology import create_topology
from tests.support.cloud_session import pubsub_emulator
from tests.support.push_routes import Handler, PushServer

QUIET_SECONDS = 1.5
WAIT_SECONDS = 60.0


def pubsub_clients(host: str) -> tuple[Any, Any]:
    """Publisher and subscriber clients on the emulator at ``host`` (insecure channel)."""
    import grpc
    from google.cloud import pubsub_v1
    from google.pubsub_v1.services.publisher.transports import PublisherGrpcTransport
    from google.pubsub_v1.services.subscriber.transports import SubscriberGrpcTransport

    publisher = pubsub_v1.PublisherClient(
        transport=PublisherGrpcTransport(channel=grpc.insecure_channel(host))
    )
    subscriber = pubsub_v1.SubscriberClient(
        transport=SubscriberGrpcTransport(channel=grpc.insecure_channel(host))
    )
    return publisher, subscriber


def fast_topology(topology: Topology | None = None) -> Topology:
    """The topology with a 0-1 s retry backoff (attempts and everything else unchanged)."""
    topology = topology or load_topology()
    defaults = topology.defaults.model_copy(
        update={"min_backoff_seconds": 0, "max_backoff_seconds": 1, "ack_deadline_seconds": 10}
    )
    return topology.model_copy(update={"defaults": defaults})


def new_project() -> str:
    """A fresh project id: isolates one test's topology on the shared emulator."""
    return f"test-{uuid.uuid4().hex[:12]}"


class PubSubHarness:
    """Bus-contract harness: ``PubSubBus`` + push endpoints on the Pub/Sub emulator."""

    def __init__(self, handlers: Mapping[str, Handler], state_dir: Path) -> None:
        self.topology = fast_topology()
        self.project = new_project()
        self.publisher, self.subscriber = pubsub_clients(pubsub_emulator().info["host"])
        self._deliveries = 0
        self._last_delivery = time.monotonic()
        self.servers = {
            h.name: PushServer(h.step_type or h.name, self._counting(handlers[h.name]))
            for h in self.topology.handlers
        }
        endpoints = {name: server.url for name, server in self.servers.items()}
        create_topology(
            self.project, endpoints, topology=self.topology,
            publisher=self.publisher, subscriber=self.subscriber,
        )  # fmt: skip
        self.bus = PubSubBus(self.publisher, self.subscriber, self.project, self.topology)

    def _counting(self, handler: Handler) -> Handler:
        def handle(cloud_event: Any) -> object:
            self._deliveries += 1
            self._last_delivery = time.monotonic()
            return handler(cloud_event)

        return handle

    def drain(self) -> None:
        """Wait until no delivery has arrived for ``QUIET_SECONDS``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if time.monotonic() - self._last_delivery >= QUIET_SECONDS:
                return
            time.sleep(0.1)

    def wait_for(self, condition: Callable[[], bool], what: str) -> None:
        """Poll ``condition`` until it holds; fail naming ``what`` after ``WAIT_SECONDS``."""
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline:
            if condition():
                return
            time.sleep(0.2)
        raise AssertionError(
            f"Pub/Sub emulator: timed out after {WAIT_SECONDS:.0f}s waiting for {what}"
        )

    def close(self) -> None:
        """Stop the push servers and the clients' channels."""
        for server in self.servers.values():
            server.close()
        self.publisher.transport.close()
        self.subscriber.close()
