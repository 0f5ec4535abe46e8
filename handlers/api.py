"""Cloud Run HTTP control plane (functions-framework target ``api``).

Thin shell: Flask request → :func:`lib.api.handle` → response. Importing it refuses
``DISABLE_AUTH=true`` in cloud mode, so such a deployment fails at startup.
"""

from __future__ import annotations

import flask
import functions_framework
from werkzeug.wrappers import Request, Response

from lib.api import check_settings, handle
from lib.api.wsgi import from_werkzeug, to_werkzeug
from lib.settings import Settings
from lib.wiring import runtime

check_settings(Settings.from_env())


def _answer(request: Request) -> Response:
    return to_werkzeug(handle(runtime(), from_werkzeug(request)))


@functions_framework.http
def api(request: Request) -> Response:
    """Answer one control-plane request (routes in ``openapi/openapi.yaml``)."""
    return _answer(request)


def _unrouted(_error: Exception) -> Response:
    # Paths the framework's catch-all rule cannot match (a newline in an id) get our answer too.
    return _answer(flask.request)


functions_framework.errorhandler(404)(_unrouted)
