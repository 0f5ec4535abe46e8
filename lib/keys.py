"""API keys: create (shown once), verify in constant time, list and revoke.

A key reads ``cvg_<tenant>_<12 hex>_<64 hex>``. Everything before the last ``_`` is the
public ``key_id`` (also the key's visible prefix); the rest is the 256-bit secret. Only the
SHA-256 of the secret is stored, in ``{tenant}_metadata.api_keys``, insert-only: the newest
row per ``key_id`` decides whether it is ACTIVE or REVOKED. The tenant in the prefix only
says which tenant's table to look in; a key verifies only against a row of that tenant, so
a key belongs to exactly one tenant.

**Admin keys** (``cvg_admin_<12 hex>_<64 hex>``) are the keys of the reserved tenant id
:data:`ADMIN_TENANT`, kept the same way in ``admin_metadata.api_keys`` (no tenant can be called
``admin``: ``lib.config.loader.RESERVED_FOLDERS``). They authorise the platform-wide
operations (``POST /tenants``) and nothing a tenant does; create one with
``convergence keys create --admin``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from typing import Any

from lib.errors import ConvergenceError
from lib.ids import check_slug
from lib.metadata import metadata_table
from lib.ports import Clock, Warehouse
from lib.sql import table_sql

KEY_PREFIX = "cvg_"
ADMIN_TENANT = "admin"
"""The reserved tenant id whose keys are admin keys."""
KEY_ID_PATTERN = re.compile(r"^cvg_(?P<tenant>[a-z][a-z0-9_]{2,40})_[0-9a-f]{12}$")
SECRET_PATTERN = re.compile(r"^[0-9a-f]{64}$")
MAX_KEY_LENGTH = 140
_ORDER = "recorded_at DESC, CASE status WHEN 'REVOKED' THEN 1 ELSE 0 END DESC"
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()
# What an unknown tenant's key is looked up in: the api_keys columns, no rows. The lookup
# of an unknown tenant thus runs the same query shape as a known one (one table check, one
# query, one hash, one comparison), so refusals take the same work whether the tenant exists.
_NO_KEYS = (
    "(SELECT CAST(NULL AS STRING) AS key_id, CAST(NULL AS STRING) AS tenant_id, "
    "CAST(NULL AS STRING) AS key_hash, CAST(NULL AS STRING) AS description, "
    "CAST(NULL AS STRING) AS status, CAST(NULL AS TIMESTAMP) AS recorded_at LIMIT 0)"
)


class KeyNotFound(ConvergenceError):
    """No API key with this id exists for the tenant."""


@dataclass(frozen=True)
class CreatedKey:
    """A freshly created key. ``key`` is shown once and never stored."""

    key_id: str
    tenant_id: str
    key: str = ""

    def __repr__(self) -> str:
        return f"CreatedKey(key_id={self.key_id!r}, tenant_id={self.tenant_id!r})"


@dataclass(frozen=True)
class KeyInfo:
    """What is known about a key without its secret."""

    key_id: str
    tenant_id: str
    status: str
    description: str | None
    created_at: dt.datetime
    updated_at: dt.datetime


def hash_secret(secret: str) -> str:
    """The stored form of a key's secret part: its SHA-256 hex digest."""
    return hashlib.sha256(secret.encode()).hexdigest()


def parse_key(presented: str) -> tuple[str, str, str] | None:
    """Split a presented key into (tenant, key_id, secret), or None if it is malformed."""
    if not presented.isascii() or len(presented) > MAX_KEY_LENGTH:
        return None
    key_id, _, secret = presented.rpartition("_")
    match = KEY_ID_PATTERN.fullmatch(key_id)
    if match is None or not SECRET_PATTERN.fullmatch(secret):
        return None
    return match["tenant"], key_id, secret


def _insert(warehouse: Warehouse, tenant_id: str, row: dict[str, Any]) -> None:
    cols = ", ".join(f"`{c}`" for c in row)
    values = ", ".join(f"@{c}" for c in row)
    table = table_sql(metadata_table(tenant_id, "api_keys"))
    warehouse.execute(f"INSERT INTO {table} ({cols}) VALUES ({values})", row)


def create_key(
    warehouse: Warehouse, clock: Clock, tenant_id: str, description: str | None = None
) -> CreatedKey:
    """Create an ACTIVE key for a tenant whose metadata tables exist.

    Args:
        warehouse: where ``{tenant}_metadata.api_keys`` lives.
        clock: stamps ``recorded_at``.
        tenant_id: the one tenant the key belongs to.
        description: free text to recognise the key by later.

    Returns:
        The key id and the full key; show the key once, it cannot be recovered.

    Raises:
        InvalidIdentifier: the tenant id is not a safe slug.
    """
    check_slug(tenant_id, "tenant id")
    key_id = f"{KEY_PREFIX}{tenant_id}_{secrets.token_hex(6)}"
    secret = secrets.token_hex(32)
    _insert(warehouse, tenant_id, _row(key_id, tenant_id, hash_secret(secret), description, clock))
    return CreatedKey(key_id=key_id, tenant_id=tenant_id, key=f"{key_id}_{secret}")


def _row(
    key_id: str, tenant_id: str, key_hash: str, description: str | None, clock: Clock
) -> dict[str, Any]:
    return {
        "key_id": key_id,
        "tenant_id": tenant_id,
        "key_hash": key_hash,
        "description": description,
        "status": "ACTIVE",
        "recorded_at": clock.now(),
    }


def _latest(
    warehouse: Warehouse, tenant_id: str, key_id: str, *, exists: bool = True
) -> dict[str, Any] | None:
    source = table_sql(metadata_table(tenant_id, "api_keys")) if exists else _NO_KEYS
    rows = warehouse.query(
        f"SELECT * FROM {source} AS api_keys WHERE key_id = @key_id ORDER BY {_ORDER} LIMIT 1",
        {"key_id": key_id},
    )
    return rows[0] if rows else None


def revoke_key(warehouse: Warehouse, clock: Clock, tenant_id: str, key_id: str) -> None:
    """Revoke a tenant's key (idempotent): append a REVOKED row for it.

    Raises:
        InvalidIdentifier: the tenant id is not a safe slug.
        KeyNotFound: the tenant has no key with this id.
    """
    check_slug(tenant_id, "tenant id")
    latest = _latest(warehouse, tenant_id, key_id) if KEY_ID_PATTERN.fullmatch(key_id) else None
    if latest is None or latest["tenant_id"] != tenant_id:
        raise KeyNotFound(
            f"tenant {tenant_id!r} has no API key {key_id[:60]!r}: "
            f"see `convergence keys list --tenant {tenant_id}`"
        )
    row = _row(key_id, tenant_id, latest["key_hash"], latest["description"], clock)
    _insert(warehouse, tenant_id, {**row, "status": "REVOKED"})


def list_keys(warehouse: Warehouse, tenant_id: str) -> list[KeyInfo]:
    """Every key of a tenant with its current status, newest first (never a secret)."""
    check_slug(tenant_id, "tenant id")
    table = table_sql(metadata_table(tenant_id, "api_keys"))
    rows = warehouse.query(
        "WITH ranked AS (SELECT key_id, tenant_id, status, description, recorded_at, "
        "MIN(recorded_at) OVER (PARTITION BY key_id) AS created_at, "
        f"ROW_NUMBER() OVER (PARTITION BY key_id ORDER BY {_ORDER}) AS rn FROM {table}) "
        "SELECT * FROM ranked WHERE rn = 1 ORDER BY created_at DESC, key_id"
    )
    return [
        KeyInfo(
            key_id=r["key_id"],
            tenant_id=r["tenant_id"],
            status=r["status"],
            description=r["description"],
            created_at=r["created_at"],
            updated_at=r["recorded_at"],
        )
        for r in rows
    ]


def verify_key(warehouse: Warehouse, presented: str) -> str | None:
    """The tenant an ACTIVE key belongs to, or None (malformed, unknown, revoked, wrong secret).

    Every well-formed key takes the same steps whether its tenant and key id exist: one
    table check, one lookup query (against an empty relation for an unknown tenant), one
    SHA-256 and one :func:`hmac.compare_digest` (against a dummy hash when nothing was found),
    so the time of a refusal does not tell which tenants exist.
    """
    parsed = parse_key(presented)
    if parsed is None:
        return None
    tenant_id, key_id, secret = parsed
    exists = warehouse.table_exists(metadata_table(tenant_id, "api_keys"))
    latest = _latest(warehouse, tenant_id, key_id, exists=exists)
    stored = latest["key_hash"] if latest else _DUMMY_HASH
    matches = hmac.compare_digest(stored, hash_secret(secret))
    if latest is None or not matches or latest["status"] != "ACTIVE":
        return None
    return tenant_id if latest["tenant_id"] == tenant_id else None
