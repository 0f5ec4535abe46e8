"""Sandbox of Anthropic's Admin Usage and Cost API (the documented shapes).

- ``GET /v1/organizations/cost_report``: ``starting_at`` (RFC 3339, required), ``ending_at``,
  ``bucket_width=1d``, ``group_by[]`` (``workspace_id``, ``description``), ``limit``, ``page``.
  Results hold ``amount`` — a decimal STRING in cents (``"123.45"`` is $1.2345) — plus
  ``currency``, ``cost_type``, ``description``, ``model``, ``service_tier``, ``token_type``,
  ``context_window``, ``inference_geo``, ``workspace_id``; description fields are null unless
  grouped by ``description``.
- ``GET /v1/organizations/usage_report/messages``: ``group_by[]`` any of ``api_key_id,
  workspace_id, model, service_tier, context_window, inference_geo``; results hold
  ``uncached_input_tokens``, ``cache_read_input_tokens``, ``cache_creation
  {ephemeral_5m_input_tokens, ephemeral_1h_input_tokens}``, ``output_tokens``,
  ``server_tool_use {web_search_requests}`` and the grouped dimensions.

Auth: ``x-api-key: sk-sandbox-<tenant>`` and ``anthropic-version: 2023-06-01``; errors use
``{"type": "error", "error": {"type", "message"}}``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from lib.sandbox import data
from lib.sandbox.common import (
    BadRequest,
    Bucket,
    Context,
    Handler,
    Query,
    Reply,
    check_bucket_width,
    days_in,
    group_by,
    one,
    paginate,
    tenant_of,
)

CURSOR_PREFIX = "page_"
COST_DIMS = (
    "workspace_id",
    "description",
    "cost_type",
    "model",
    "service_tier",
    "token_type",
    "context_window",
    "inference_geo",
    "currency",
)
DESCRIPTION_DIMS = frozenset(COST_DIMS) - {"workspace_id", "currency"}
USAGE_DIMS = (
    "api_key_id",
    "workspace_id",
    "model",
    "service_tier",
    "context_window",
    "inference_geo",
)
USAGE_METRICS = (
    "uncached_input_tokens",
    "cache_read_input_tokens",
    "cache_creation.ephemeral_5m_input_tokens",
    "cache_creation.ephemeral_1h_input_tokens",
    "output_tokens",
    "server_tool_use.web_search_requests",
)


EMPTY_PAGE: dict[str, Any] = {"data": [], "has_more": False, "next_page": None}
"""The last page of a listing (what a request past the end gets)."""


def error(status: int, kind: str, message: str) -> Reply:
    """An error in Anthropic's shape."""
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message}})


def authenticate(headers: Mapping[str, str], allowed: frozenset[str] | None) -> str | Reply:
    """The tenant of the ``x-api-key``, or the 401 / 400 reply."""
    tenant = tenant_of(headers.get("x-api-key", "").strip(), allowed)
    if tenant is None:
        return error(401, "authentication_error", "invalid x-api-key")
    if not headers.get("anthropic-version"):
        return error(400, "invalid_request_error", "anthropic-version: header is required")
    return tenant


def rate_limited(retry_after: float) -> Reply:
    """429 with Retry-After."""
    reply = error(429, "rate_limit_error", "Number of requests has exceeded your rate limit")
    return Reply(reply.status, reply.body, {"retry-after": f"{retry_after:g}"})


def server_error() -> Reply:
    """500 as Anthropic sends it."""
    return error(500, "api_error", "Internal server error")


def bad_request(exc: BadRequest) -> Reply:
    """400 for a wrong parameter."""
    return error(400, "invalid_request_error", str(exc))


def _rfc3339(value: str | None, name: str) -> dt.datetime | None:
    if value is None:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise BadRequest(f"{name}: expected an RFC 3339 timestamp", name) from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def _days(query: Query) -> list[dt.date]:
    check_bucket_width(query)
    start = _rfc3339(one(query, "starting_at", required=True), "starting_at")
    end = _rfc3339(one(query, "ending_at"), "ending_at")
    assert start is not None  # required above
    return days_in(start, end, one(query, "limit"))


def _head(day: dt.date) -> dict[str, Any]:
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    end = start + dt.timedelta(days=1)
    return {"starting_at": _stamp(start), "ending_at": _stamp(end)}


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _page(query: Query, ctx: Context, buckets: list[Bucket]) -> dict[str, Any]:
    rows, has_more, next_page = paginate(buckets, one(query, "page"), ctx, CURSOR_PREFIX)
    return {"data": rows, "has_more": has_more, "next_page": next_page}


def cost_report(query: Query, ctx: Context) -> dict[str, Any]:
    """``GET /v1/organizations/cost_report``."""
    grouped = group_by(query, ("workspace_id", "description")) | {"currency"}
    if "description" in grouped:
        grouped |= DESCRIPTION_DIMS
    buckets: list[Bucket] = []
    for day in _days(query):
        rows = data.aggregate(ctx.anthropic_costs(day), COST_DIMS, grouped, ("amount",))
        results = [{**row, "amount": format(row["amount"], "f")} for row in rows]
        buckets.append((_head(day), results))
    return _page(query, ctx, buckets)


def _nest(row: dict[str, Any]) -> dict[str, Any]:
    """``{"a.b": 1}`` → ``{"a": {"b": 1}}``."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        head, _, tail = key.partition(".")
        if tail:
            out.setdefault(head, {})[tail] = value
        else:
            out[key] = value
    return out


def usage_messages(query: Query, ctx: Context) -> dict[str, Any]:
    """``GET /v1/organizations/usage_report/messages``."""
    grouped = group_by(query, USAGE_DIMS)
    buckets: list[Bucket] = []
    for day in _days(query):
        rows = data.aggregate(ctx.anthropic_usage(day), USAGE_DIMS, grouped, USAGE_METRICS)
        buckets.append((_head(day), [_nest(row) for row in rows]))
    return _page(query, ctx, buckets)


ROUTES: dict[str, Handler] = {
    "/v1/organizations/cost_report": cost_report,
    "/v1/organizations/usage_report/messages": usage_messages,
}
