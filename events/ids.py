"""Identifier patterns shared by every event and config (the wire contract owns them)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

SLUG_PATTERN = r"^[a-z][a-z0-9_]{2,40}$"
RUN_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{7,63}$"
_SLUG = re.compile(SLUG_PATTERN)
_RUN_ID = re.compile(RUN_ID_PATTERN)


def slug_problem(value: object, what: str) -> str | None:
    """Return why ``value`` is not a valid slug, or None when it is."""
    if isinstance(value, str) and _SLUG.fullmatch(value):
        return None
    return (
        f"invalid {what} {repr(value)[:60]}: use 3-41 characters of lowercase a-z, 0-9 "
        "and _, starting with a letter"
    )


def run_id_problem(value: object) -> str | None:
    """Return why ``value`` is not a valid run id, or None when it is."""
    if isinstance(value, str) and _RUN_ID.fullmatch(value):
        return None
    return f"invalid run id {repr(value)[:60]}: use 8-64 characters of lowercase a-z, 0-9 and -"


def _checker(what: str) -> AfterValidator:
    def check(value: str) -> str:
        problem = slug_problem(value, what)
        if problem:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _check_run_id(value: str) -> str:
    problem = run_id_problem(value)
    if problem:
        raise ValueError(problem)
    return value


_SLUG_SCHEMA = WithJsonSchema({"type": "string", "pattern": SLUG_PATTERN})
TenantId = Annotated[str, _checker("tenant id"), _SLUG_SCHEMA]
PipelineId = Annotated[str, _checker("pipeline id"), _SLUG_SCHEMA]
StepName = Annotated[str, _checker("step name"), _SLUG_SCHEMA]
RunId = Annotated[
    str,
    AfterValidator(_check_run_id),
    WithJsonSchema({"type": "string", "pattern": RUN_ID_PATTERN}),
]
