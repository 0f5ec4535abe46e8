"""Framework-free HTTP values: the request the API sees, its response, problem+json errors.

The functions-framework shell (``handlers/api.py``) converts Flask's request into an
:class:`ApiRequest` and an :class:`ApiResponse` back, so routing and handlers stay pure and
testable without a server.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://convergence.dev/problems/"
MAX_BODY_BYTES = 64 * 1024


BodyReader = Callable[[], bytes]
"""Reads the body from the connection, at most ``MAX_BODY_BYTES``; raises ``ApiProblem``
(413 too large, 408 too slow, 400 cut short)."""


@dataclass(frozen=True)
class ApiRequest:
    """One HTTP request: method, decoded path, headers, query parameters and body bytes.

    A server shell passes ``read_body`` instead of ``body``: nothing is read from the
    connection until :meth:`with_body` is called, which routing does only after the API key
    was verified. ``body_too_large`` is set by a shell that stopped reading past
    ``MAX_BODY_BYTES``.
    """

    method: str
    path: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, list[str]] = field(default_factory=dict)
    body: bytes = b""
    body_too_large: bool = False
    read_body: BodyReader | None = field(default=None, compare=False, repr=False)

    def with_body(self) -> ApiRequest:
        """This request with its body read (once) from the connection.

        Raises:
            ApiProblem: 413 when the body is larger than ``MAX_BODY_BYTES``; whatever the
                reader raises (408 for a client too slow to send it).
        """
        if self.body_too_large or len(self.body) > MAX_BODY_BYTES:
            raise body_too_large()
        if self.read_body is None:
            return self
        return dataclasses.replace(self, body=self.read_body(), read_body=None)

    def header(self, name: str) -> str | None:
        """A header's value, looked up case-insensitively."""
        wanted = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == wanted), None)

    def param(self, name: str) -> str | None:
        """The single value of a query parameter (None if absent).

        Raises:
            ApiProblem: the parameter is given more than once.
        """
        values = self.query.get(name, [])
        if len(values) > 1:
            raise ApiProblem(400, "invalid-parameter", f"give query parameter {name!r} once")
        return values[0] if values else None


@dataclass(frozen=True)
class ApiResponse:
    """A JSON response."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encoded(self) -> bytes:
        """The body as UTF-8 JSON bytes."""
        return json.dumps(self.body, default=str, sort_keys=True).encode()


TITLES = {
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    405: "Method Not Allowed",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    422: "Unprocessable Content",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class ApiProblem(Exception):
    """An error answered as ``application/problem+json`` (RFC 9457).

    ``detail`` is shown to the caller: say what is wrong and what to do, never echo a secret.
    """

    def __init__(
        self,
        status: int,
        kind: str,
        detail: str,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.kind = kind
        self.detail = detail
        self.headers = dict(headers or {})
        self.extra = dict(extra or {})  # RFC 9457 extension members

    def response(self) -> ApiResponse:
        """The problem+json response of this error."""
        body = {
            **self.extra,
            "type": PROBLEM_BASE + self.kind,
            "title": TITLES.get(self.status, "Error"),
            "status": self.status,
            "detail": self.detail,
        }
        return ApiResponse(self.status, body, self.headers, PROBLEM_JSON)


def body_too_large() -> ApiProblem:
    """The 413 of a body over ``MAX_BODY_BYTES`` (declared or sent)."""
    return ApiProblem(413, "body-too-large", f"send at most {MAX_BODY_BYTES} bytes of JSON")
