"""Werkzeug (Flask, functions-framework) ⇄ :class:`ApiRequest` / :class:`ApiResponse`.

Reads at most ``MAX_BODY_BYTES + 1`` bytes of a body, so an oversized or lying
``Content-Length`` never makes the function buffer more than that.
"""

from __future__ import annotations

from werkzeug.wrappers import Request, Response

from lib.api.http import MAX_BODY_BYTES, ApiRequest, ApiResponse


def from_werkzeug(request: Request) -> ApiRequest:
    """The framework-free view of a werkzeug request (body read up to the limit)."""
    declared = request.content_length
    too_large = declared is not None and declared > MAX_BODY_BYTES
    body = b"" if too_large else request.stream.read(MAX_BODY_BYTES + 1)
    return ApiRequest(
        method=request.method,
        path=request.path,
        headers=dict(request.headers.items()),
        query=request.args.to_dict(flat=False),
        body=body[:MAX_BODY_BYTES],
        body_too_large=too_large or len(body) > MAX_BODY_BYTES,
    )


def to_werkzeug(response: ApiResponse) -> Response:
    """A werkzeug response with the JSON body, content type and extra headers."""
    out = Response(response.encoded(), status=response.status, content_type=response.content_type)
    for name, value in response.headers.items():
        out.headers[name] = value
    out.headers["Cache-Control"] = "no-store"
    out.headers["X-Content-Type-Options"] = "nosniff"
    return out
