"""The HTTP control plane: trigger runs, read run status, list runs — per tenant, by API key.

Framework-free: :func:`handle` takes an :class:`ApiRequest` and returns an
:class:`ApiResponse`; ``handlers/api.py`` adapts functions-framework's Flask request.
The contract is ``openapi/openapi.yaml``.
"""

from __future__ import annotations

from lib.api.auth import check_settings
from lib.api.http import MAX_BODY_BYTES, ApiProblem, ApiRequest, ApiResponse
from lib.api.routing import handle

__all__ = [
    "MAX_BODY_BYTES",
    "ApiProblem",
    "ApiRequest",
    "ApiResponse",
    "check_settings",
    "handle",
]
