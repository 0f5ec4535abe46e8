"""Secrets port over environment variables (the embedded / local default).

Secret ``name`` of tenant ``tenant`` is read from the variable::

    CONVERGENCE_SECRET_<TENANT>_<NAME>        (both upper-cased)

e.g. the secret ``openai_admin_key`` of tenant ``acme`` is
``CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY``. Pass ``Settings.environ`` (``.env`` overlaid by
the process environment) as ``environ``. Values are never logged nor put in errors; a missing
secret raises SecretNotFound naming the secret, the tenant and the variable to set.

Values are stripped of surrounding whitespace (``echo key > file`` leaves a newline, which no
HTTP header may carry), with one WARNING naming the variable, never the value.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping

from lib.errors import SecretNotFound
from lib.ids import check_slug

log = logging.getLogger(__name__)

PREFIX = "CONVERGENCE_SECRET_"


def variable_name(tenant_id: str, name: str) -> str:
    """The environment variable holding secret ``name`` of ``tenant_id``.

    Raises:
        InvalidIdentifier: the tenant id or secret name is not a safe slug.
    """
    check_slug(tenant_id, "tenant id")
    check_slug(name, "secret name")
    return f"{PREFIX}{tenant_id.upper()}_{name.upper()}"


class EnvSecrets:
    """Reads per-tenant secrets from a mapping of environment variables."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self._warned: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"EnvSecrets({len(self._environ)} variables)"

    def get(self, tenant_id: str, name: str) -> str:
        """The secret ``name`` of ``tenant_id``.

        Args:
            tenant_id: the tenant.
            name: the secret's name (as written in a source file's ``auth.secret``).

        Returns:
            The secret value without surrounding whitespace. Never log it.

        Raises:
            SecretNotFound: the variable is unset or empty (names secret, tenant, variable).
            InvalidIdentifier: the tenant id or secret name is not a safe slug.
        """
        variable = variable_name(tenant_id, name)
        value = self._environ.get(variable, "")
        stripped = value.strip()
        if not stripped:
            raise SecretNotFound(
                f"secret {name!r} is not configured for tenant {tenant_id!r}: "
                f"set the environment variable {variable} (or add it to .env)"
            )
        if stripped != value:
            self._warn_once(variable, name, tenant_id)
        return stripped

    def _warn_once(self, variable: str, name: str, tenant_id: str) -> None:
        with self._lock:
            if variable in self._warned:
                return
            self._warned.add(variable)
        log.warning(
            "secret %r of tenant %r (%s) has leading or trailing whitespace, e.g. a newline; "
            "using it stripped: fix the variable",
            name,
            tenant_id,
            variable,
        )
