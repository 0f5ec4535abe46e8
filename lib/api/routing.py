"""Routes ``request.method`` + ``request.path`` to an operation; turns errors into problems.

Order of checks: route (404/405) → public health routes (no key, no body) → API key (401) →
body size and read (413, 408) → ids and body (400) → operation. The body is read from the
connection only after the key was verified, and everything after is scoped to its tenant.
The runtime is built on first use, so ``/healthz`` never builds one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

from lib.api import health, views
from lib.api.auth import authenticate, authenticate_admin
from lib.api.health import RuntimeSource
from lib.api.http import ApiProblem, ApiRequest, ApiResponse
from lib.errors import InvalidIdentifier, TransientError
from lib.wiring import Runtime

log = logging.getLogger(__name__)
Operation = Callable[..., ApiResponse]
"""``(rt, request, tenant_id, id_remainder)``; a public route's: ``(runtime_source, request)``."""


@dataclass(frozen=True)
class Route:
    """A path (exact, or a prefix whose remainder is one id) and its operation per method.

    ``public`` routes (health) take no API key and get a runtime *source*, not a runtime.
    """

    path: str
    method: str
    operation: Operation
    prefix: bool = False
    public: bool = False
    admin: bool = False
    """Needs an admin key (lib/api/auth.py); the operation gets no tenant."""

    def match(self, path: str) -> str | None:
        """The id remainder (``""`` for exact paths) when ``path`` is this route's, else None."""
        if self.prefix:
            return path[len(self.path) :] if path.startswith(self.path) else None
        return "" if path == self.path else None


ROUTES = (
    Route("/healthz", "GET", health.liveness, public=True),
    Route("/readyz", "GET", health.readiness, public=True),
    Route("/pipelines/runs", "GET", views.list_runs),
    Route("/pipelines/runs/", "GET", views.get_run, prefix=True),
    Route("/pipelines/run/", "POST", views.trigger_run, prefix=True),
    Route("/tenants", "POST", views.create_tenant, admin=True),
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


def _dispatch(source: RuntimeSource, request: ApiRequest) -> ApiResponse:
    route, rest = resolve(request.method.upper(), request.path)
    if route.public:
        return route.operation(source, request)
    rt = source()
    if route.admin:
        authenticate_admin(rt, request)
        return route.operation(rt, request.with_body(), "", rest)
    tenant_id = authenticate(rt, request)
    return route.operation(rt, request.with_body(), tenant_id, rest)


def handle(rt: Runtime | RuntimeSource, request: ApiRequest) -> ApiResponse:
    """Answer one request; every error becomes an ``application/problem+json`` response.

    Args:
        rt: the runtime, or a function returning it (called only when a route needs it).
        request: the request.
    """
    source: RuntimeSource = rt if callable(rt) else (lambda: rt)
    try:
        return _dispatch(source, request)
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
