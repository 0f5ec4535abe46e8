"""Loopback push endpoints: one functions-framework server per handler, routed by port.

The Pub/Sub emulator ignores subscription filters, so every subscription of a topic gets
every message. Like the real handlers, an endpoint acks deliveries whose ``next_step_type``
attribute is not its handler's step type without running the handler; the filter is thus
applied at the endpoint, and the in-process bus tests the filter expressions themselves.
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

Handler = Callable[[CloudEvent], object]
SOURCE = Path(__file__).with_name("push_functions.py")


@dataclass(frozen=True)
class Route:
    """What the server on one port delivers to."""

    step_type: str
    handler: Handler


_routes: dict[int, Route] = {}


def dispatch(cloud_event: CloudEvent) -> None:
    """Run the handler of the server that received the request (see module docstring)."""
    route = _routes[int(flask.request.environ["SERVER_PORT"])]
    attributes = cloud_event.data.get("message", {}).get("attributes", {})
    if attributes.get("next_step_type") != route.step_type:
        return
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
