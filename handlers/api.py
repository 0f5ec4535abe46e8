"""Cloud Run HTTP control plane (functions-framework target ``api``).

Thin shell: Flask request → :func:`lib.api.handle` → response. Importing it refuses
``DISABLE_AUTH=true`` in cloud mode, so such a deployment fails at startup. The runtime is
built on the first request that needs it (``/healthz`` never does); the body is read only
after the API key was verified, within ``CONVERGENCE_API_BODY_TIMEOUT_SECONDS`` per read.
"""

from __future__ import annotations

import flask
import functions_framework
from werkzeug.wrappers import Request, Response

from lib.api import check_settings, handle
from lib.api.wsgi import from_werkzeug, to_werkzeug
from lib.settings import Settings
from lib.wiring import runtime

_SETTINGS = Settings.from_env()
check_settings(_SETTINGS)


def _answer(request: Request) -> Response:
    timeout = _SETTINGS.api_body_timeout_seconds
    return to_werkzeug(handle(runtime, from_werkzeug(request, body_timeout=timeout)))


@functions_framework.http
def api(request: Request) -> Response:
    """Answer one control-plane request (routes in ``openapi/openapi.yaml``)."""
    return _answer(request)


def _unrouted(_error: Exception) -> Response:
    # Paths the framework's catch-all rule cannot match (a newline in an id) get our answer too.
    return _answer(flask.request)


functions_framework.errorhandler(404)(_unrouted)
