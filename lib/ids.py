"""Identifier checks for code paths outside pydantic models (CLI, HTTP, SQL, paths)."""

from __future__ import annotations

from events.ids import run_id_problem, slug_problem
from lib.errors import InvalidIdentifier


def check_slug(value: str, what: str = "identifier") -> str:
    """Return ``value`` if it is a safe tenant/pipeline/step id.

    Raises:
        InvalidIdentifier: naming what was wrong and the allowed pattern.
    """
    problem = slug_problem(value, what)
    if problem:
        raise InvalidIdentifier(problem)
    return value


def check_run_id(value: str) -> str:
    """Return ``value`` if it is a safe run id (pipeline_logging_id).

    Raises:
        InvalidIdentifier: naming what was wrong and the allowed pattern.
    """
    problem = run_id_problem(value)
    if problem:
        raise InvalidIdentifier(problem)
    return value
