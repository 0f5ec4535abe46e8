"""Crash points: where the fault suite kills a process (SIGKILL) to prove nothing is lost.

Inert unless ``CONVERGENCE_CRASH_AT`` is set, which only the fault suite does
(``tests/reliability/``, docs/reliability.md). ``CONVERGENCE_CRASH_AT=in_commit:transform``
kills the process the first time a transform step reaches the inside of a warehouse commit.

The boundaries of a step, in order (:data:`POINTS`):

* ``before_write`` — the step is claimed and recorded RUNNING; nothing written yet;
* ``in_commit`` — inside the warehouse transaction of a write, before COMMIT;
* ``after_write`` — the step's data is written; its COMPLETE record is not;
* ``after_record`` — the COMPLETE record is written; its completion event is not published;
* ``after_publish`` — the completion event is published; the delivery is not acked.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

__all__ = ["ENV", "POINTS", "at", "step"]

ENV = "CONVERGENCE_CRASH_AT"
POINTS = ("before_write", "in_commit", "after_write", "after_record", "after_publish")
_step_type: ContextVar[str | None] = ContextVar("convergence_crash_step", default=None)


@contextmanager
def step(step_type: str) -> Iterator[None]:
    """Mark the code inside as running a step of ``step_type`` (for ``point:step_type``)."""
    token = _step_type.set(step_type)
    try:
        yield
    finally:
        _step_type.reset(token)


def at(point: str) -> None:
    """Kill this process with SIGKILL if ``CONVERGENCE_CRASH_AT`` names this point."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    wanted, _, step_type = spec.partition(":")
    if wanted == point and (not step_type or step_type == _step_type.get()):
        os.kill(os.getpid(), signal.SIGKILL)
