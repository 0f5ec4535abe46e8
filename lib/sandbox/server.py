"""Local sandbox serving OpenAI's and Anthropic's cost/usage APIs, with fault switches.

One server answers both providers (their paths differ), on 127.0.0.1 and a free port by
default::

    with SandboxServer(faults={"rate_limit": 2}) as server:
        server.base_url                 # http://127.0.0.1:<port>
        server.faults.set(server_error=1, slow=0.2, slow_count=1)
        ...                             # point the sources' base_url here

Keys are ``sk-sandbox-<tenant>`` (``lib.sandbox.sandbox_key``); the key decides whose
synthetic data is served. Control endpoints (no auth): ``GET|POST|DELETE /_sandbox/faults``,
``GET /_sandbox/health``. Run standalone with ``python -m lib.sandbox.server --port 8787``.
"""

from __future__ import annotations

import argparse
import json
import logging
import threading
import time
from collections.abc import Collection, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from lib.sandbox import anthropic, openai
from lib.sandbox.common import BadRequest, Context, Handler, Provider, Reply
from lib.sandbox.faults import Faults
from lib.sandbox.world import World

log = logging.getLogger(__name__)
PROVIDERS: tuple[Provider, ...] = (openai, anthropic)


def _route(path: str) -> tuple[Provider, Handler] | None:
    for provider in PROVIDERS:
        handler = provider.ROUTES.get(path)
        if handler is not None:
            return provider, handler
    return None


def _mangle(body: bytes, faults: Faults) -> bytes:
    if faults.take("truncated_json"):
        return body[: len(body) // 2]
    if faults.take("malformed_json"):
        return body.replace(b'"has_more"', b"has_more", 1).replace(b"}", b"},", 1)
    return body


class SandboxServer:
    """A threaded HTTP server with both providers' sandbox endpoints."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        faults: Mapping[str, Any] | None = None,
        page_size: int = 5,
        scale: int = 1,
        tenants: Collection[str] | None = None,
        world: World | None = None,
        canned: Mapping[str, Any] | None = None,
    ) -> None:
        """Start serving in a background thread.

        Args:
            host: interface to bind (keep 127.0.0.1).
            port: port to bind; 0 picks a free one.
            faults: initial fault switches (see ``lib.sandbox.faults``).
            page_size: results per page (small, so windows span several pages).
            scale: multiplies projects/workspaces, i.e. rows per day.
            tenants: if given, only these tenants' keys are accepted.
            world: answers that change over time (lib/sandbox/world.py); None: static.
            canned: route path → a JSON body served as the first page of every request to
                that route, whatever its parameters (e.g. a provider's documented example);
                a request for a later page gets the provider's empty last page. A path no
                built-in provider serves (a new provider's endpoint) is answered with its
                body for every request, or, when the value is a function, with what it
                returns for the request's query parameters (``dict[str, list[str]]``), so
                a fixture can page; such requests are recorded with their headers
                (``seen_headers``) for tests to check the auth header.
        """
        self.faults = Faults(**dict(faults or {}))
        self.page_size = page_size
        self.scale = scale
        self.tenants = frozenset(tenants) if tenants is not None else None
        self.world = world
        self.canned = dict(canned or {})
        self.requests: list[str] = []
        self.seen_headers: list[dict[str, str]] = []
        self._lock = threading.Lock()
        self._idle = threading.Condition(self._lock)
        self._in_flight = 0
        self._httpd = ThreadingHTTPServer((host, port), _handler_class(self))
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def base_url(self) -> str:
        """``http://host:port`` to use as a source's base URL."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def stop(self) -> None:
        """Stop serving and free the port."""
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def __enter__(self) -> SandboxServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def wait_idle(self, timeout: float = 5.0) -> bool:
        """Wait until no request is being handled (e.g. a slow one a client gave up on)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._in_flight == 0, timeout)

    def _track(self, delta: int) -> None:
        with self._idle:
            self._in_flight += delta
            self._idle.notify_all()

    def record(self, path: str) -> None:
        """Remember a provider request's path and query (for tests and demos)."""
        with self._lock:
            self.requests.append(path)

    def answer(self, path: str, query: str, headers: Mapping[str, str]) -> Reply | bytes:
        """The reply to a provider GET (bytes when a page body was produced)."""
        route = _route(path)
        if route is None and path in self.canned:
            return self._fixture(path, query, headers)
        if route is None:
            return Reply(404, {"error": {"message": f"no sandbox route {path}", "type": "nf"}})
        provider, handler = route
        self.record(f"{path}?{query}" if query else path)
        delay = self.faults.take_slow()
        if delay:
            time.sleep(delay)
        tenant = provider.authenticate(headers, self.tenants)
        if isinstance(tenant, Reply):
            return tenant
        if self.faults.take("rate_limit"):
            return provider.rate_limited(self.faults.state.retry_after)
        if self.faults.take("server_error"):
            return provider.server_error()
        if path in self.canned:
            later = "page" in parse_qs(query)
            return json.dumps(provider.EMPTY_PAGE if later else self.canned[path]).encode()
        ctx = Context(tenant, self.page_size, self.scale, self.faults, self.world)
        try:
            page = handler(parse_qs(query, keep_blank_values=True), ctx)
        except BadRequest as exc:
            return provider.bad_request(exc)
        return _mangle(json.dumps(page).encode(), self.faults)

    def _fixture(self, path: str, query: str, headers: Mapping[str, str]) -> Reply | bytes:
        """A new provider's canned endpoint: its body (or its function's), faults applied."""
        self.record(f"{path}?{query}" if query else path)
        with self._lock:
            self.seen_headers.append({k.lower(): v for k, v in headers.items()})
        if self.faults.take("rate_limit"):
            retry = {"Retry-After": f"{self.faults.state.retry_after:g}"}
            return Reply(429, {"error": "rate limited"}, retry)
        if self.faults.take("server_error"):
            return Reply(500, {"error": "server error"})
        body = self.canned[path]
        answer = body(parse_qs(query, keep_blank_values=True)) if callable(body) else body
        return _mangle(json.dumps(answer).encode(), self.faults)

    def control(self, method: str, body: bytes) -> Reply:
        """``/_sandbox/faults``: GET shows, POST merges, DELETE clears."""
        if method == "DELETE":
            self.faults.clear()
        elif method == "POST":
            try:
                changes = json.loads(body or b"{}")
                self.faults.set(**changes)
            except (ValueError, TypeError, ValidationError) as exc:
                return Reply(400, {"error": f"bad fault switches: {exc}"})
        return Reply(200, self.faults.state.model_dump(mode="json"))


def _handler_class(server: SandboxServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self._dispatch("GET")

        def do_POST(self) -> None:
            self._dispatch("POST")

        def do_DELETE(self) -> None:
            self._dispatch("DELETE")

        def _dispatch(self, method: str) -> None:
            server._track(+1)
            try:
                self._handle(method)
            except (BrokenPipeError, ConnectionResetError):
                log.debug("sandbox: client went away")
            finally:
                server._track(-1)

        def _handle(self, method: str) -> None:
            url = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            if url.path == "/_sandbox/faults":
                self._send(server.control(method, body))
            elif url.path == "/_sandbox/health":
                self._send(Reply(200, {"status": "ok"}))
            elif method != "GET":
                self._send(Reply(405, {"error": {"message": "method not allowed"}}))
            else:
                headers = {k.lower(): v for k, v in self.headers.items()}
                self._send(server.answer(url.path, url.query, headers))

        def _send(self, reply: Reply | bytes) -> None:
            status, headers = (
                (200, {}) if isinstance(reply, bytes) else (reply.status, reply.headers)
            )
            payload = reply if isinstance(reply, bytes) else json.dumps(reply.body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("sandbox: " + format, *args)

    return Handler


def main(argv: list[str] | None = None) -> None:
    """Serve the sandbox in the foreground until interrupted."""
    parser = argparse.ArgumentParser(description="Convergence provider sandbox")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument("--page-size", type=int, default=5)
    parser.add_argument("--faults", default="{}", help="JSON object of fault switches")
    args = parser.parse_args(argv)
    server = SandboxServer(port=args.port, page_size=args.page_size, faults=json.loads(args.faults))
    print(f"sandbox listening on {server.base_url} (keys: sk-sandbox-<tenant>)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
