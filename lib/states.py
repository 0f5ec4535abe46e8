"""Run and step states: the words written to ``pipeline_runs.status`` and ``step_logs.status``.

``StrEnum`` members are their own string values, so they compare equal to what the warehouse
returns and are written as plain strings.

Run life: ``REQUESTED`` → ``RUNNING`` → ``COMPLETE`` | ``FAILED`` (exactly one terminal record).
``STALLED`` is never stored: it is how a REQUESTED or RUNNING run with no progress for longer
than its stall threshold is shown (``lib/lifecycle.py``), until ``convergence recover``
re-drives it.

Step life: ``RUNNING`` → ``COMPLETE`` | ``FAILED``; a transient failure records ``RETRYING``
(with the error) before the bus redelivers, and the next delivery records ``RUNNING`` again.
"""

from __future__ import annotations

from enum import StrEnum


class RunStatus(StrEnum):
    """A run's status."""

    REQUESTED = "REQUESTED"
    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"
    STALLED = "STALLED"

    @property
    def terminal(self) -> bool:
        """Whether the run has ended."""
        return self in (RunStatus.COMPLETE, RunStatus.FAILED)


class StepStatus(StrEnum):
    """A step record's status."""

    RUNNING = "RUNNING"
    RETRYING = "RETRYING"
    COMPLETE = "COMPLETE"
    FAILED = "FAILED"


STORED_RUN_STATUSES = (
    RunStatus.REQUESTED,
    RunStatus.RUNNING,
    RunStatus.COMPLETE,
    RunStatus.FAILED,
)
"""The statuses a ``pipeline_runs`` row can hold (STALLED is computed)."""

PRECEDENCE_SQL = (
    "CASE status WHEN 'REQUESTED' THEN 0 WHEN 'RUNNING' THEN 1 WHEN 'RETRYING' THEN 1 ELSE 2 END"
)
"""Breaks ties between records written at the same instant: a later state beats an earlier."""
