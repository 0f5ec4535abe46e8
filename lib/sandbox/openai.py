"""Sandbox of OpenAI's organization Costs and Usage APIs (the documented shapes).

- ``GET /v1/organization/costs``: ``start_time`` (unix seconds, required), ``end_time``,
  ``bucket_width=1d``, ``group_by`` (``project_id``, ``line_item``), ``limit``, ``page``.
  Results are ``organization.costs.result`` with ``amount {value (float), currency "usd"}``,
  ``line_item``, ``project_id``, ``organization_id``.
- ``GET /v1/organization/usage/completions``: same window params; ``group_by`` any of
  ``project_id, user_id, api_key_id, model, batch, service_tier``; results are
  ``organization.usage.completions.result`` with token counts and ``num_model_requests``.

Auth: ``Authorization: Bearer sk-sandbox-<tenant>``; errors use OpenAI's
``{"error": {"message", "type", "param", "code"}}`` shape.
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

CURSOR_PREFIX = ""
EMPTY_PAGE: dict[str, Any] = {"object": "page", "data": [], "has_more": False, "next_page": None}
"""The last page of a listing (what a request past the end gets)."""
COST_DIMS = ("organization_id", "project_id", "line_item")
USAGE_DIMS = ("project_id", "user_id", "api_key_id", "model", "batch", "service_tier")
USAGE_METRICS = (
    "input_tokens",
    "output_tokens",
    "input_cached_tokens",
    "input_audio_tokens",
    "output_audio_tokens",
    "num_model_requests",
)


def error(
    status: int, kind: str, message: str, code: str | None = None, param: str | None = None
) -> Reply:
    """An error in OpenAI's shape."""
    body = {"error": {"message": message, "type": kind, "param": param, "code": code}}
    return Reply(status, body)


def authenticate(headers: Mapping[str, str], allowed: frozenset[str] | None) -> str | Reply:
    """The tenant of the bearer key, or the 401 reply."""
    auth = headers.get("authorization", "")
    tenant = tenant_of(auth.removeprefix("Bearer ").strip(), allowed)
    if not auth.startswith("Bearer ") or tenant is None:
        return error(
            401,
            "invalid_request_error",
            "Incorrect API key provided. You can find your API key at "
            "https://platform.openai.com/account/api-keys.",
            code="invalid_api_key",
        )
    return tenant


def rate_limited(retry_after: float) -> Reply:
    """429 with Retry-After."""
    reply = error(429, "requests", "Rate limit reached for requests", code="rate_limit_exceeded")
    return Reply(reply.status, reply.body, {"Retry-After": f"{retry_after:g}"})


def server_error() -> Reply:
    """500 as OpenAI sends it."""
    return error(500, "server_error", "The server had an error while processing your request.")


def bad_request(exc: BadRequest) -> Reply:
    """400 for a wrong parameter."""
    return error(400, "invalid_request_error", str(exc), param=exc.param)


def _days(query: Query) -> list[dt.date]:
    check_bucket_width(query)
    try:
        start = int(one(query, "start_time", required=True) or "")
        end_raw = one(query, "end_time")
        end = dt.datetime.fromtimestamp(int(end_raw), dt.UTC) if end_raw else None
    except ValueError as exc:
        raise BadRequest("start_time/end_time: expected unix seconds", "start_time") from exc
    return days_in(dt.datetime.fromtimestamp(start, dt.UTC), end, one(query, "limit"))


def _head(day: dt.date) -> dict[str, Any]:
    start = int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
    return {"object": "bucket", "start_time": start, "end_time": start + 86_400}


def _page(query: Query, ctx: Context, buckets: list[Bucket]) -> dict[str, Any]:
    rows, has_more, next_page = paginate(buckets, one(query, "page"), ctx, CURSOR_PREFIX)
    return {"object": "page", "data": rows, "has_more": has_more, "next_page": next_page}


def costs(query: Query, ctx: Context) -> dict[str, Any]:
    """``GET /v1/organization/costs``."""
    grouped = group_by(query, ("project_id", "line_item")) | {"organization_id"}
    buckets: list[Bucket] = []
    for day in _days(query):
        rows = data.aggregate(ctx.openai_costs(day), COST_DIMS, grouped, ("value",))
        results = [
            {
                "object": "organization.costs.result",
                "amount": {"value": row["value"], "currency": "usd"},
                "line_item": row["line_item"],
                "project_id": row["project_id"],
                "organization_id": row["organization_id"],
            }
            for row in rows
        ]
        buckets.append((_head(day), results))
    return _page(query, ctx, buckets)


def completions(query: Query, ctx: Context) -> dict[str, Any]:
    """``GET /v1/organization/usage/completions``."""
    grouped = group_by(query, USAGE_DIMS)
    buckets: list[Bucket] = []
    for day in _days(query):
        rows = data.aggregate(ctx.openai_usage(day), USAGE_DIMS, grouped, USAGE_METRICS)
        results = [{"object": "organization.usage.completions.result", **row} for row in rows]
        buckets.append((_head(day), results))
    return _page(query, ctx, buckets)


ROUTES: dict[str, Handler] = {
    "/v1/organization/costs": costs,
    "/v1/organization/usage/completions": completions,
}
