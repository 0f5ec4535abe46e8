"""Health endpoints for Cloud Run probes and load balancers: no API key, no tenant.

- ``GET /healthz`` (liveness): the process answers. Builds no runtime, calls no warehouse.
- ``GET /readyz`` (readiness): the warehouse answers ``SELECT 1`` and the bus answers its
  check (the local journal reads; Pub/Sub knows the topology's first topic). 200 with each
  component ``ok``, else 503 naming the failing components. Details are logged, never sent:
  the endpoint is unauthenticated.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from lib.api.http import ApiProblem, ApiRequest, ApiResponse
from lib.wiring import Runtime

log = logging.getLogger(__name__)
RuntimeSource = Callable[[], Runtime]


def liveness(_source: RuntimeSource, _request: ApiRequest) -> ApiResponse:
    """``GET /healthz``: 200 ``{"status": "ok"}`` whenever the process can answer."""
    return ApiResponse(200, {"status": "ok"})


def readiness(source: RuntimeSource, _request: ApiRequest) -> ApiResponse:
    """``GET /readyz``: 200 when the warehouse and the bus answer.

    Raises:
        ApiProblem: 503 with ``checks`` naming each component ``ok`` or ``failing``.
    """
    try:
        rt = source()
    except Exception as exc:  # cannot even build the adapters: nothing is reachable
        log.warning("readiness: the runtime cannot be built: %s", type(exc).__name__)
        return _unready({"warehouse": "failing", "bus": "failing"})
    checks = {
        "warehouse": _check("warehouse", lambda: rt.warehouse.query("SELECT 1 AS ok")),
        "bus": _check("bus", rt.bus.check),
    }
    if all(state == "ok" for state in checks.values()):
        return ApiResponse(200, {"status": "ready", "checks": checks})
    return _unready(checks)


def _check(component: str, probe: Callable[[], object]) -> str:
    try:
        probe()
    except Exception as exc:
        log.warning(
            "readiness: the %s is not reachable: %s: %s", component, type(exc).__name__, exc
        )
        return "failing"
    return "ok"


def _unready(checks: dict[str, str]) -> ApiResponse:
    failing = sorted(name for name, state in checks.items() if state != "ok")
    return ApiProblem(
        503,
        "not-ready",
        f"not ready: {', '.join(failing)} unreachable; see the service's logs",
        {"Retry-After": "10"},
        {"checks": checks},
    ).response()
