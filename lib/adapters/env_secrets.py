"""Secrets port over environment variables (the embedded / local default).

Secret ``name`` of tenant ``tenant`` is read from the variable::

    CONVERGENCE_SECRET_<TENANT>_<NAME>        (both upper-cased)

e.g. the secret ``openai_admin_key`` of tenant ``acme`` is
``CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY``. Pass ``Settings.environ`` (``.env`` overlaid by
the process environment) as ``environ``. Values are never logged nor put in errors; a missing
secret raises SecretNotFound naming the secret, the tenant and the variable to set.
"""

from __future__ import annotations

from collections.abc import Mapping

from lib.errors import SecretNotFound
from lib.ids import check_slug

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

    def __repr__(self) -> str:
        return f"EnvSecrets({len(self._environ)} variables)"

    def get(self, tenant_id: str, name: str) -> str:
        """The secret ``name`` of ``tenant_id``.

        Args:
            tenant_id: the tenant.
            name: the secret's name (as written in a source file's ``auth.secret``).

        Returns:
            The secret value. Never log it.

        Raises:
            SecretNotFound: the variable is unset or empty (names secret, tenant, variable).
            InvalidIdentifier: the tenant id or secret name is not a safe slug.
        """
        variable = variable_name(tenant_id, name)
        value = self._environ.get(variable, "")
        if not value.strip():
            raise SecretNotFound(
                f"secret {name!r} is not configured for tenant {tenant_id!r}: "
                f"set the environment variable {variable} (or add it to .env)"
            )
        return value
