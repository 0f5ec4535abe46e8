"""The Secret Manager adapter: the cloud implementation of the Secrets port.

Naming (one secret per tenant and name, version ``latest``)::

    projects/<project>/secrets/convergence-<tenant_id>-<name>/versions/latest

``name`` is lower-cased and otherwise kept as is, underscores included (Secret Manager ids
allow ``[A-Za-z0-9_-]``). Tenant ids never contain ``-``, so the first ``-`` after the
prefix always ends the tenant and two tenants can never share a secret. Example: tenant
``acme``, name ``OPENAI_ADMIN_KEY`` → ``convergence-acme-openai_admin_key``.

A missing secret, a missing or disabled version → ``SecretNotFound`` naming the secret id
and tenant (never a value); any other API failure → ``TransientError`` (retried). A value
that is not UTF-8 → ``TerminalError`` naming the secret. Values are stripped of surrounding
whitespace (``echo key | gcloud secrets create`` stores a trailing newline), with a WARNING
naming the secret, never the value.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from lib.errors import InvalidIdentifier, SecretNotFound, TerminalError, TransientError
from lib.ids import check_slug

log = logging.getLogger(__name__)
PREFIX = "convergence"
_NAME = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,199}$")


def secret_id(tenant_id: str, name: str) -> str:
    """The Secret Manager secret id of ``name`` for ``tenant_id``.

    Raises:
        InvalidIdentifier: the tenant id or the secret name is not allowed.
    """
    check_slug(tenant_id, "tenant id")
    lowered = name.lower()
    if not _NAME.fullmatch(lowered):
        raise InvalidIdentifier(
            f"invalid secret name {name!r:.60}: use letters, digits, _ and - (up to 200)"
        )
    return f"{PREFIX}-{tenant_id}-{lowered}"


class SecretManagerSecrets:
    """Secrets port on Google Secret Manager.

    Args:
        client: a ``google.cloud.secretmanager.SecretManagerServiceClient``.
        project: the project holding the secrets.
        timeout: seconds one access may take, retries of UNAVAILABLE/RESOURCE_EXHAUSTED
            included.
    """

    def __init__(self, client: Any, project: str, *, timeout: float = 30.0) -> None:
        from google.api_core import exceptions as gexc
        from google.api_core import retry as retries

        self._client = client
        self._project = project
        self._timeout = timeout
        self._warned: set[tuple[str, str]] = set()
        self._retry = retries.Retry(
            predicate=retries.if_exception_type(gexc.ServiceUnavailable, gexc.ResourceExhausted),
            initial=0.2,
            maximum=5.0,
            timeout=timeout,
        )

    def version_name(self, tenant_id: str, name: str) -> str:
        """The full resource name of the ``latest`` version of a tenant's secret."""
        return f"projects/{self._project}/secrets/{secret_id(tenant_id, name)}/versions/latest"

    def get(self, tenant_id: str, name: str) -> str:
        """The value of the secret ``name`` of ``tenant_id`` (never log it).

        Returns:
            The value without surrounding whitespace.

        Raises:
            SecretNotFound: the secret or an enabled version does not exist, or it is empty.
            TerminalError: the value is not UTF-8 text.
            TransientError: Secret Manager failed or denied access; retry later.
        """
        from google.api_core import exceptions as gexc

        resource = self.version_name(tenant_id, name)
        try:
            response = self._client.access_secret_version(
                request={"name": resource}, retry=self._retry, timeout=self._timeout
            )
        except (gexc.NotFound, gexc.FailedPrecondition) as exc:
            raise SecretNotFound(
                f"secret {name!r} of tenant {tenant_id!r} is missing or has no enabled version "
                f"in Secret Manager (secret id {secret_id(tenant_id, name)} in project "
                f"{self._project}); add it with `gcloud secrets create`/`versions add`"
            ) from exc
        except (gexc.GoogleAPIError, TimeoutError) as exc:
            raise TransientError(
                f"Secret Manager could not serve secret {name!r} of tenant {tenant_id!r} "
                f"({type(exc).__name__}); check the service account's "
                "roles/secretmanager.secretAccessor and retry"
            ) from exc
        value = _text(bytes(response.payload.data), name, tenant_id)
        stripped = value.strip()
        if not stripped:
            raise SecretNotFound(
                f"secret {name!r} of tenant {tenant_id!r} in Secret Manager is empty; add a "
                "version holding the key"
            )
        if stripped != value and (tenant_id, name) not in self._warned:
            self._warned.add((tenant_id, name))
            log.warning(
                "secret %r of tenant %r has leading or trailing whitespace, e.g. a newline; "
                "using it stripped: add a version without it (printf '%%s' KEY | gcloud "
                "secrets versions add ...)",
                name,
                tenant_id,
            )
        return stripped


def _text(payload: bytes, name: str, tenant_id: str) -> str:
    """The secret's payload as text.

    Raises:
        TerminalError: the payload is not UTF-8 (names the secret, never the bytes).
    """
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise TerminalError(
            f"secret {name!r} of tenant {tenant_id!r} in Secret Manager is not UTF-8 text; "
            "add a version holding the key as text"
        ) from None
