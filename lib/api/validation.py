"""Request validation before anything touches SQL or the filesystem.

Ids in paths must match the wire contract's patterns (``events/ids.py``), ASCII only; bodies
are size-limited JSON objects with known fields only. Every rejection is logged (the value
``repr``-escaped and truncated, never a header) and answered with a 400 problem.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from events.ids import RUN_ID_PATTERN, SLUG_PATTERN, run_id_problem, slug_problem
from events.models import Window, window_problem
from lib.api.http import MAX_BODY_BYTES, ApiProblem, ApiRequest, body_too_large
from lib.states import STORED_RUN_STATUSES, RunStatus

log = logging.getLogger(__name__)

MAX_WINDOW_DAYS = 400
TRIGGER_PATTERN = re.compile(r"^[A-Za-z0-9_.:@-]{1,90}$")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_SINCE = re.compile(
    r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"(T[0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,6})?)?(Z|[+-][0-9]{2}:[0-9]{2})?)?$"
)
_BODY_FIELDS = frozenset({"start", "end", "trigger_by"})
_TENANT_FIELDS = frozenset({"tenant_id", "pipelines"})
MAX_PIPELINES = 50


def reject(kind: str, detail: str, value: object = None, status: int = 400) -> ApiProblem:
    """Log a rejected input (escaped, truncated) and return the problem to raise.

    400 for input that breaks the documented schema, 422 for well-formed input that cannot be
    honoured (an impossible date, a window ending after today).
    """
    log.warning("rejected request input (%s): %s; value %.80r", kind, detail, value)
    return ApiProblem(status, kind, detail)


def pipeline_id(raw: str) -> str:
    """A pipeline id from a path, checked against the slug pattern.

    Raises:
        ApiProblem: 400 when the id is not a safe slug.
    """
    if slug_problem(raw, "pipeline id") is None:
        return raw
    raise reject("invalid-identifier", f"pipeline id must match {SLUG_PATTERN}", raw)


def run_id(raw: str) -> str:
    """A run id from a path, checked against the run id pattern.

    Raises:
        ApiProblem: 400 when the id is not a safe run id.
    """
    if run_id_problem(raw) is None:
        return raw
    raise reject("invalid-identifier", f"run id must match {RUN_ID_PATTERN}", raw)


def tenant_id(raw: str) -> str:
    """A tenant id from a header or parameter (DISABLE_AUTH mode only).

    Raises:
        ApiProblem: 400 when the id is not a safe slug.
    """
    if slug_problem(raw, "tenant id") is None:
        return raw
    raise reject("invalid-identifier", f"tenant id must match {SLUG_PATTERN}", raw)


@dataclass(frozen=True)
class RunBody:
    """What a caller may say about a run: its window and who triggered it."""

    window: Window | None
    trigger_by: str


def _json_object(request: ApiRequest) -> dict[str, Any]:
    if request.body_too_large or len(request.body) > MAX_BODY_BYTES:
        raise body_too_large()
    if not request.body.strip():
        return {}
    media = (request.header("Content-Type") or "").split(";")[0].strip().lower()
    if media != "application/json":
        raise ApiProblem(415, "unsupported-media-type", "send the body as application/json")
    try:
        body = json.loads(request.body)
    except (ValueError, RecursionError) as exc:
        detail = "the body is not valid UTF-8 JSON"
        raise reject("invalid-body", detail, type(exc).__name__) from None
    if not isinstance(body, dict):
        raise reject("invalid-body", "the body must be a JSON object", type(body).__name__)
    return body


def _date(body: dict[str, Any], name: str) -> dt.date | None:
    if name not in body:
        return None
    value = body[name]
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise reject("invalid-body", f"{name} must be a date written YYYY-MM-DD", value)
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise reject("invalid-date", f"{name} is not a calendar date", value, 422) from None


def _window(start: dt.date | None, end: dt.date | None, today: dt.date) -> Window | None:
    if start is None and end is None:
        return None
    start, end = start or end, end or start
    assert start is not None and end is not None
    problem = window_problem(start, end)
    if problem:
        raise reject("invalid-window", problem, f"{start}..{end}", 422)
    if end > today:
        raise reject("invalid-window", f"end must not be after today ({today})", str(end), 422)
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise reject("invalid-window", f"a window spans at most {MAX_WINDOW_DAYS} days", None, 422)
    return Window(start=start, end=end)


def run_body(request: ApiRequest, today: dt.date) -> RunBody:
    """Parse the optional ``POST /pipelines/run/{id}`` body.

    Raises:
        ApiProblem: 413 too large, 415 not JSON, 400 invalid fields or window.
    """
    body = _json_object(request)
    unknown = sorted(set(body) - _BODY_FIELDS)
    if unknown:
        raise reject("invalid-body", f"unknown fields; allowed: {sorted(_BODY_FIELDS)}", unknown)
    window = _window(_date(body, "start"), _date(body, "end"), today)
    if "trigger_by" not in body:
        return RunBody(window, "api")
    trigger = body["trigger_by"]
    if not isinstance(trigger, str) or not TRIGGER_PATTERN.fullmatch(trigger):
        raise reject("invalid-body", f"trigger_by must match {TRIGGER_PATTERN.pattern}", trigger)
    return RunBody(window, f"api:{trigger}")


@dataclass(frozen=True)
class RunFilter:
    """``GET /pipelines/runs`` query: status, first-seen lower bound, page size."""

    status: RunStatus | None
    since: dt.datetime | None
    limit: int


def _since(raw: str | None) -> dt.datetime | None:
    if raw is None:
        return None
    if not _SINCE.fullmatch(raw):
        raise reject("invalid-parameter", "since must be YYYY-MM-DD or an RFC 3339 time", raw)
    try:
        if _DATE.fullmatch(raw):
            return dt.datetime.combine(dt.date.fromisoformat(raw), dt.time(), dt.UTC)
        moment = dt.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise reject("invalid-date", "since is not a real calendar time", raw, 422) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _limit(raw: str | None) -> int:
    if raw is None:
        return 50
    # length first: int() of thousands of digits is slow, and past 4300 it raises
    if len(raw) <= 3 and raw.isascii() and raw.isdigit() and 1 <= int(raw) <= 200:
        return int(raw)
    raise reject("invalid-parameter", "limit must be an integer from 1 to 200", raw)


def run_filter(request: ApiRequest) -> RunFilter:
    """Parse the ``GET /pipelines/runs`` query parameters.

    Raises:
        ApiProblem: 400 for an unknown status, an unreadable time or a bad limit.
    """
    raw = request.param("status")
    stored = [str(s) for s in STORED_RUN_STATUSES]
    if raw is not None and raw not in stored:
        raise reject("invalid-parameter", f"status must be one of {stored}", raw)
    status = None if raw is None else RunStatus(raw)
    return RunFilter(status, _since(request.param("since")), _limit(request.param("limit")))


@dataclass(frozen=True)
class TenantBody:
    """``POST /tenants``: the new tenant and the library templates it runs."""

    tenant_id: str
    pipelines: list[str]


def tenant_body(request: ApiRequest) -> TenantBody:
    """Parse the ``POST /tenants`` body.

    Raises:
        ApiProblem: 413 too large, 415 not JSON, 400 missing or invalid fields.
    """
    body = _json_object(request)
    unknown = sorted(set(body) - _TENANT_FIELDS)
    if unknown:
        raise reject("invalid-body", f"unknown fields; allowed: {sorted(_TENANT_FIELDS)}", unknown)
    raw = body.get("tenant_id")
    if not isinstance(raw, str) or slug_problem(raw, "tenant id") is not None:
        raise reject("invalid-body", f"tenant_id must match {SLUG_PATTERN}", raw)
    pipelines = body.get("pipelines")
    if (
        not isinstance(pipelines, list)
        or not 1 <= len(pipelines) <= MAX_PIPELINES
        or not all(isinstance(p, str) and slug_problem(p, "pipeline") is None for p in pipelines)
    ):
        raise reject(
            "invalid-body",
            f"pipelines must be a list of 1 to {MAX_PIPELINES} library template names "
            f"matching {SLUG_PATTERN}",
            pipelines,
        )
    return TenantBody(raw, list(pipelines))
