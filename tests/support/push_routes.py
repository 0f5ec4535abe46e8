"""Loopback push endpoints: one functions-framework server per handler, routed by port.

The Pub/Sub emulator ignores subscription filters, so every subscription of a topic gets
every message. The push URL names the subscription (``…/subscriptions/S``, see
``lib/adapters/pubsub_topology.py::push_url``), so an endpoint applies that subscription's
filter itself and acks, without running the handler, what Pub/Sub would have filtered out.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import flask
from cloudevents.http import CloudEvent
from werkzeug.serving import BaseWSGIServer, make_server

from events.topology import load_topology

Handler = Callable[[CloudEvent], object]
SOURCE = Path(__file__).with_name("push_functions.py")


@dataclass(frozen=True)
class Route:
    """What the server on one port delivers to."""

    step_type: str
    handler: Handler


_routes: dict[int, Route] = {}


def filter_passes(path: str, cloud_event: CloudEvent, step_type: str) -> bool:
    """Whether Pub/Sub would have delivered this push: the filter of the subscription the
    push URL ``path`` names (or, for a bare URL, the step type's routing attribute)."""
    attributes = cloud_event.data.get("message", {}).get("attributes", {})
    _, found, name = path.rpartition("/subscriptions/")
    if found:
        subscriptions = {s.name: s for s in load_topology().subscriptions}
        return subscriptions[name].matches(attributes)
    return bool(attributes.get("next_step_type") == step_type)


def dispatch(cloud_event: CloudEvent) -> None:
    """Run the handler of the server that received the request (see module docstring)."""
    route = _routes[int(flask.request.environ["SERVER_PORT"])]
    if filter_passes(flask.request.path, cloud_event, route.step_type):
        route.handler(cloud_event)


class PushServer:
    """A functions-framework app for one handler, served on 127.0.0.1 in a thread."""

    def __init__(self, step_type: str, handler: Handler) -> None:
        import functions_framework

        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no per-request lines
        app = functions_framework.create_app(target="deliver", source=str(SOURCE))
        self._server: BaseWSGIServer = make_server("127.0.0.1", 0, app, threaded=True)
        self.port = self._server.server_port
        _routes[self.port] = Route(step_type, handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        """The push endpoint."""
        return f"http://127.0.0.1:{self.port}/"

    def close(self) -> None:
        """Stop serving and forget the route."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        _routes.pop(self.port, None)
