"""Werkzeug (Flask, functions-framework) ⇄ :class:`ApiRequest` / :class:`ApiResponse`.

Slow or hostile clients must not hold the server's threads, so:

- the body is not read when the request is converted; routing reads it (:meth:`ApiRequest.
  with_body`) only after the API key was verified, so an unauthenticated client never makes
  the function wait for its body;
- a declared ``Content-Length`` over ``MAX_BODY_BYTES`` is a 413 without reading, and at most
  ``MAX_BODY_BYTES + 1`` bytes are ever read;
- while the body is read, the connection's socket (``gunicorn.socket`` under gunicorn, which
  functions-framework runs in the container; ``werkzeug.socket`` under werkzeug's server)
  times out after ``body_timeout`` seconds without data (like nginx's
  ``client_body_timeout``): a stalled client gets a 408;
- responses are sent as a one-chunk stream with an explicit ``Content-Length``:
  functions-framework's ``after_request`` hook reads the *whole* request body of every
  non-streamed response (no limit, no timeout) before answering, which would undo all of the
  above for a refused request.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from typing import Any

from werkzeug.exceptions import ClientDisconnected
from werkzeug.wrappers import Request, Response

from lib.api.http import MAX_BODY_BYTES, ApiProblem, ApiRequest, ApiResponse, body_too_large

DEFAULT_BODY_TIMEOUT_SECONDS = 10.0
_CHUNK = 16 * 1024
_SOCKET_KEYS = ("gunicorn.socket", "werkzeug.socket")


def from_werkzeug(
    request: Request, *, body_timeout: float = DEFAULT_BODY_TIMEOUT_SECONDS
) -> ApiRequest:
    """The framework-free view of a werkzeug request; its body is read later, on demand."""
    return ApiRequest(
        method=request.method,
        path=request.path,
        headers=dict(request.headers.items()),
        query=request.args.to_dict(flat=False),
        read_body=lambda: read_body(request, body_timeout),
    )


def read_body(request: Request, timeout: float) -> bytes:
    """Read the body: at most ``MAX_BODY_BYTES``, each read within ``timeout`` seconds.

    Raises:
        ApiProblem: 413 too large (declared or sent), 408 the client stalled, 400 it
            disconnected before sending what it declared.
    """
    declared = request.content_length
    if declared is not None and declared > MAX_BODY_BYTES:
        raise body_too_large()
    chunks: list[bytes] = []
    size = 0
    try:
        with _socket_timeout(request.environ, timeout):
            while size <= MAX_BODY_BYTES and (chunk := request.stream.read(_CHUNK)):
                chunks.append(chunk)
                size += len(chunk)
    except (ClientDisconnected, OSError) as exc:
        # werkzeug turns a read error into ClientDisconnected, the error as its context
        cause = exc.__context__ if isinstance(exc, ClientDisconnected) else exc
        if isinstance(cause, TimeoutError):  # socket.timeout is TimeoutError
            raise ApiProblem(
                408,
                "body-timeout",
                f"the body stopped arriving for {timeout:g}s; send the whole body at once",
            ) from None
        raise ApiProblem(
            400, "body-incomplete", "the body ended before its Content-Length"
        ) from None
    if size > MAX_BODY_BYTES:
        raise body_too_large()
    return b"".join(chunks)


@contextlib.contextmanager
def _socket_timeout(environ: dict[str, Any], timeout: float) -> Iterator[None]:
    """Give the request's socket a read timeout for the block (if the server exposes it)."""
    sock = next(
        (environ[k] for k in _SOCKET_KEYS if isinstance(environ.get(k), socket.socket)), None
    )
    if sock is None:
        yield
        return
    previous = sock.gettimeout()
    sock.settimeout(timeout)
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            sock.settimeout(previous)


def to_werkzeug(response: ApiResponse) -> Response:
    """A werkzeug response with the JSON body, content type and extra headers.

    Streamed (one chunk, explicit length) so functions-framework does not drain the request
    body after it; see the module docstring.
    """
    payload = response.encoded()
    out = Response(iter((payload,)), status=response.status, content_type=response.content_type)
    out.headers["Content-Length"] = str(len(payload))
    for name, value in response.headers.items():
        out.headers[name] = value
    out.headers["Cache-Control"] = "no-store"
    out.headers["X-Content-Type-Options"] = "nosniff"
    return out
