"""Who is calling: the tenant comes from the API key, never from the body.

A key is sent as ``Authorization: Bearer <key>`` or ``X-API-Key: <key>``. Missing, malformed,
unknown and revoked keys get the same 401. ``DISABLE_AUTH=true`` is honoured in local mode
only (then ``X-Tenant-Id`` or ``?tenant=`` picks the tenant); cloud mode refuses to start.

Admin scope (``POST /tenants``): an admin key (``cvg_admin_…``, see lib/keys.py), verified the
same way; a valid tenant key there gets 403, and an admin key on a tenant's route gets 403
too (it acts for no tenant). With auth disabled (local mode) admin routes are open.
"""

from __future__ import annotations

import logging

from lib.api import validation
from lib.api.http import ApiProblem, ApiRequest
from lib.keys import ADMIN_TENANT, parse_key, verify_key
from lib.settings import Settings
from lib.wiring import Runtime

log = logging.getLogger(__name__)
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="convergence"'}


def check_settings(settings: Settings) -> None:
    """Refuse to start with auth disabled outside local mode.

    Raises:
        ValueError: ``DISABLE_AUTH=true`` in cloud mode.
    """
    if settings.disable_auth and settings.mode != "local":
        raise ValueError("DISABLE_AUTH=true is refused in cloud mode; it is for local mode only")


def presented_key(request: ApiRequest) -> str | None:
    """The API key the request carries, if any."""
    authorization = request.header("Authorization") or ""
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = (request.header("X-API-Key") or "").strip()
    return key or None


def requester(request: ApiRequest) -> str:
    """Who made an (authenticated) request, for run provenance: ``api-key:<key id>`` (the
    key's public prefix, never its secret), or ``auth-disabled`` locally."""
    key = presented_key(request)
    parsed = parse_key(key) if key else None
    return f"api-key:{parsed[1]}" if parsed else "auth-disabled"


def unauthorized() -> ApiProblem:
    """The one 401 every refused key gets."""
    return ApiProblem(
        401,
        "unauthorized",
        "send a valid API key as 'Authorization: Bearer <key>' or 'X-API-Key: <key>'; "
        "create one with `convergence keys create --tenant <tenant>`",
        _CHALLENGE,
    )


def _unauthenticated_tenant(request: ApiRequest) -> str:
    raw = request.header("X-Tenant-Id") or request.param("tenant")
    if raw is None:
        raise ApiProblem(
            401, "unauthorized", "auth is disabled: name the tenant with an X-Tenant-Id header"
        )
    return validation.tenant_id(raw)


def authenticate(rt: Runtime, request: ApiRequest) -> str:
    """The tenant the request acts for.

    Raises:
        ApiProblem: 401 without a valid key; 400 for an unsafe X-Tenant-Id (auth disabled).
    """
    check_settings(rt.settings)
    key = presented_key(request)
    if key is None and rt.settings.disable_auth:
        return _unauthenticated_tenant(request)
    tenant = _verified(rt, request, key)
    if tenant == ADMIN_TENANT:
        log.warning("refused request %s: an admin key on a tenant route", request.method)
        raise ApiProblem(403, "forbidden", "an admin key acts for no tenant: use a tenant's key")
    return tenant


def _verified(rt: Runtime, request: ApiRequest, key: str | None) -> str:
    tenant = verify_key(rt.warehouse, key) if key else None
    if tenant is None:
        log.warning("refused request %s: %s key", request.method, "invalid" if key else "missing")
        raise unauthorized()
    return tenant


def authenticate_admin(rt: Runtime, request: ApiRequest) -> None:
    """Check the request carries an admin key (or auth is disabled, local mode only).

    Raises:
        ApiProblem: 401 without a valid key; 403 for a valid key of a tenant.
    """
    check_settings(rt.settings)
    key = presented_key(request)
    if key is None and rt.settings.disable_auth:
        return
    if _verified(rt, request, key) != ADMIN_TENANT:
        log.warning("refused request %s: a tenant key on an admin route", request.method)
        raise ApiProblem(
            403,
            "forbidden",
            "this operation needs an admin key: `convergence keys create --admin`",
        )
