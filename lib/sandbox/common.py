"""Pieces both sandbox providers share: replies, query parsing, windows, cursors, pagination.

Pages hold at most ``page_size`` results (across buckets), so even a one-day window spans
several pages. Cursors are opaque base64 tokens of ``offset:nonce``; fault switches bend
pagination (``repeat_cursor``, ``empty_pages``, ``trailing_cursor``).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Protocol

from lib.sandbox import data
from lib.sandbox.data import Spike
from lib.sandbox.faults import Faults

if TYPE_CHECKING:
    from lib.sandbox.world import World

KEY_PREFIX = "sk-sandbox-"
_TENANT = re.compile(r"^[a-z][a-z0-9_]{2,40}$")
Query = Mapping[str, Sequence[str]]
Bucket = tuple[dict[str, Any], list[dict[str, Any]]]


def sandbox_key(tenant_id: str) -> str:
    """The sandbox API key of a tenant (both providers): ``sk-sandbox-<tenant>``."""
    return f"{KEY_PREFIX}{tenant_id}"


def tenant_of(key: str, allowed: frozenset[str] | None) -> str | None:
    """The tenant a sandbox key belongs to, or None for a wrong key."""
    tenant = key.removeprefix(KEY_PREFIX) if key.startswith(KEY_PREFIX) else ""
    if not _TENANT.fullmatch(tenant) or (allowed is not None and tenant not in allowed):
        return None
    return tenant


@dataclass(frozen=True)
class Reply:
    """What the server sends: status, a JSON-able body, extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


class BadRequest(Exception):
    """A request parameter is missing or wrong (answered with the provider's 400 shape)."""

    def __init__(self, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class Context:
    """Per-request view of the server: who asks, page size, data scale, faults, world."""

    tenant: str
    page_size: int
    scale: int
    faults: Faults
    world: World | None = None
    """How answers change over time (lib/sandbox/world.py); None: the same answer forever."""

    def factor(self, day: dt.date) -> Decimal:
        """Usage multiplier of ``day`` for this tenant (the ``spike`` switch)."""
        spike: Spike | None = self.faults.spike()
        return spike.factor if spike and spike.applies(self.tenant, day) else Decimal(1)

    def openai_usage(self, day: dt.date) -> list[dict[str, Any]]:
        """OpenAI's completions usage facts of ``day`` as reported now."""
        rows = data.openai_usage(self.tenant, day, self.scale, self.factor(day))
        return self.world.usage("openai", self.tenant, day, rows) if self.world else rows

    def anthropic_usage(self, day: dt.date) -> list[dict[str, Any]]:
        """Anthropic's Messages usage facts of ``day`` as reported now."""
        rows = data.anthropic_usage(self.tenant, day, self.scale, self.factor(day))
        return self.world.usage("anthropic", self.tenant, day, rows) if self.world else rows

    def anthropic_costs(self, day: dt.date) -> list[dict[str, Any]]:
        """Anthropic's cost rows of ``day`` as reported now (cents as Decimal)."""
        rows = data.anthropic_costs(self.anthropic_usage(day))
        rows = self.world.anthropic_cents(self.tenant, day, rows) if self.world else rows
        overbill = self.faults.state.overbill
        if overbill is None:
            return rows
        return [
            {**r, "amount": r["amount"] * overbill.factor}
            if overbill.applies(self.tenant, day, r["model"])
            else r
            for r in rows
        ]

    def openai_costs(self, day: dt.date) -> list[dict[str, Any]]:
        """OpenAI's cost line items of ``day`` as reported now (values are floats)."""
        rows = data.openai_costs(self.openai_usage(day))
        overbill = self.faults.state.overbill
        if overbill is None:
            return rows
        factor = float(overbill.factor)
        return [
            {**r, "value": r["value"] * factor}
            if overbill.applies(self.tenant, day, r["line_item"].split(",")[0])
            else r
            for r in rows
        ]


def one(query: Query, name: str, required: bool = False) -> str | None:
    """The single value of a query parameter."""
    values = query.get(name) or []
    if not values:
        if required:
            raise BadRequest(f"{name}: field required", name)
        return None
    return values[-1]


def group_by(query: Query, allowed: Sequence[str]) -> set[str]:
    """``group_by`` / ``group_by[]`` values (repeated or comma-separated), checked."""
    raw = [*query.get("group_by", []), *query.get("group_by[]", [])]
    values = {v.strip() for item in raw for v in item.split(",") if v.strip()}
    unknown = values - set(allowed)
    if unknown:
        raise BadRequest(f"group_by: unsupported value(s) {sorted(unknown)}", "group_by")
    return values


def check_bucket_width(query: Query) -> None:
    """The sandbox serves daily buckets only."""
    width = one(query, "bucket_width") or "1d"
    if width != "1d":
        raise BadRequest("bucket_width: the sandbox supports only '1d'", "bucket_width")


def days_in(start: dt.datetime, end: dt.datetime | None, limit: str | None) -> list[dt.date]:
    """UTC days whose bucket starts in ``[start, end)`` (end defaults to ``limit`` days)."""
    first = start.astimezone(dt.UTC).date()
    if end is None:
        count = int(limit) if limit and limit.isdigit() else 7
        return [first + dt.timedelta(days=i) for i in range(max(1, min(count, 31)))]
    days: list[dt.date] = []
    day = first if start == _midnight(first) else first + dt.timedelta(days=1)
    while _midnight(day) < end and len(days) < 366:
        days.append(day)
        day += dt.timedelta(days=1)
    return days


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def encode_cursor(offset: int, nonce: int, prefix: str) -> str:
    """An opaque page token."""
    return prefix + base64.urlsafe_b64encode(f"{offset}:{nonce}".encode()).decode()


def decode_cursor(token: str, prefix: str) -> tuple[int, int]:
    """``(offset, nonce)`` of a token made by ``encode_cursor``.

    Raises:
        BadRequest: not a token of this sandbox.
    """
    try:
        text = base64.urlsafe_b64decode(token.removeprefix(prefix).encode()).decode()
        offset, nonce = (int(part) for part in text.split(":"))
    except (ValueError, binascii.Error, UnicodeDecodeError) as exc:
        raise BadRequest("page: invalid page token", "page") from exc
    if not token.startswith(prefix) or offset < 0:
        raise BadRequest("page: invalid page token", "page")
    return offset, nonce


def paginate(
    buckets: Sequence[Bucket], token: str | None, ctx: Context, prefix: str
) -> tuple[list[dict[str, Any]], bool, str | None]:
    """One page of results: ``(data, has_more, next_page)`` honouring pagination faults."""
    offset, nonce = decode_cursor(token, prefix) if token else (0, 0)
    entries = [(i, result) for i, (_, results) in enumerate(buckets) for result in results]
    state = ctx.faults.state
    if state.repeat_cursor:
        chunk = entries[offset : offset + ctx.page_size]
        return _group(buckets, chunk), True, token or encode_cursor(offset, nonce, prefix)
    if ctx.faults.take("empty_pages"):
        return [], True, encode_cursor(offset, nonce + 1, prefix)
    chunk = entries[offset : offset + ctx.page_size]
    end = offset + len(chunk)
    has_more = end < len(entries)
    trailing = encode_cursor(end, 0, prefix) if state.trailing_cursor else None
    data = _group(buckets, chunk) if entries else [{**h, "results": []} for h, _ in buckets]
    return data, has_more, encode_cursor(end, 0, prefix) if has_more else trailing


def _group(buckets: Sequence[Bucket], chunk: list[tuple[int, dict[str, Any]]]) -> list[Any]:
    grouped: dict[int, list[dict[str, Any]]] = {}
    for index, result in chunk:
        grouped.setdefault(index, []).append(result)
    return [{**buckets[i][0], "results": results} for i, results in grouped.items()]


Handler = Callable[[Query, Context], dict[str, Any]]


class Provider(Protocol):
    """What a provider sandbox module offers (``lib.sandbox.openai``, ``…anthropic``)."""

    ROUTES: dict[str, Handler]
    EMPTY_PAGE: dict[str, Any]

    def authenticate(
        self, headers: Mapping[str, str], allowed: frozenset[str] | None
    ) -> str | Reply:
        """The tenant of the request's key, or the error reply."""

    def rate_limited(self, retry_after: float) -> Reply:
        """429 with Retry-After."""

    def server_error(self) -> Reply:
        """500."""

    def bad_request(self, exc: BadRequest) -> Reply:
        """400 for a wrong parameter."""
