"""Routes ``request.method`` + ``request.path`` to an operation; turns errors into problems.

Order of checks: route (404/405) → body size (413) → API key (401) → ids and body (400) →
operation. Everything after the route match is scoped to the key's tenant.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from lib.api import views
from lib.api.auth import authenticate
from lib.api.http import MAX_BODY_BYTES, ApiProblem, ApiRequest, ApiResponse
from lib.errors import InvalidIdentifier, TransientError
from lib.wiring import Runtime

log = logging.getLogger(__name__)
Operation = Callable[[Runtime, ApiRequest, str, str], ApiResponse]


@dataclass(frozen=True)
class Route:
    """A path (exact, or a prefix whose remainder is one id) and its operation per method."""

    path: str
    method: str
    operation: Operation
    prefix: bool = False

    def match(self, path: str) -> str | None:
        """The id remainder (``""`` for exact paths) when ``path`` is this route's, else None."""
        if self.prefix:
            return path[len(self.path) :] if path.startswith(self.path) else None
        return "" if path == self.path else None


ROUTES = (
    Route("/pipelines/runs", "GET", views.list_runs),
    Route("/pipelines/runs/", "GET", views.get_run, prefix=True),
    Route("/pipelines/run/", "POST", views.trigger_run, prefix=True),
)


def resolve(method: str, path: str) -> tuple[Route, str]:
    """The route and id remainder for a request.

    Raises:
        ApiProblem: 404 for an unknown path, 405 (with ``Allow``) for a wrong method.
    """
    matches = [(r, rest) for r in ROUTES if (rest := r.match(path)) is not None]
    for route, rest in matches:
        if route.method == method:
            return route, rest
    if matches:
        allow = ", ".join(sorted({r.method for r, _ in matches}))
        raise ApiProblem(405, "method-not-allowed", f"use {allow}", {"Allow": allow})
    raise ApiProblem(404, "not-found", "no such endpoint; see openapi/openapi.yaml")


def _dispatch(rt: Runtime, request: ApiRequest) -> ApiResponse:
    route, rest = resolve(request.method.upper(), request.path)
    if request.body_too_large or len(request.body) > MAX_BODY_BYTES:
        raise ApiProblem(413, "body-too-large", f"send at most {MAX_BODY_BYTES} bytes of JSON")
    tenant_id = authenticate(rt, request)
    return route.operation(rt, request, tenant_id, rest)


def handle(rt: Runtime, request: ApiRequest) -> ApiResponse:
    """Answer one request; every error becomes an ``application/problem+json`` response."""
    try:
        return _dispatch(rt, request)
    except ApiProblem as problem:
        return problem.response()
    except InvalidIdentifier as exc:
        log.warning("rejected request input: %s", exc)
        return ApiProblem(400, "invalid-identifier", "an identifier is not valid").response()
    except TransientError:
        log.exception("transient failure answering %s", request.method)
        detail = "the warehouse or bus is unavailable; retry later"
        return ApiProblem(503, "unavailable", detail, {"Retry-After": "30"}).response()
    except Exception:
        log.exception("unexpected failure answering %s", request.method)
        return ApiProblem(500, "internal", "unexpected error; it has been logged").response()
