"""Run lifecycle under crashes and duplicate deliveries: step claims, stalls, recovery.

Delivery is at-least-once: the same step may be asked for by a redelivery of the same Pub/Sub
message (the previous attempt crashed or timed out) or by another message carrying the same
event (a handler re-published after a crash, a scheduler tick delivered twice). A step must
run once, and every run must end in exactly one terminal record.

**Claims** (``{tenant}_metadata.step_claims``, insert-only). Before a step runs, the delivery
claims it with its message id:

* a live claim (younger than the lease) by *another* message means another delivery is running
  the step, or ran it: this delivery acks without running (``DUPLICATE``);
* otherwise it inserts its claim in one conditional, serialised statement (only if no other
  delivery's live claim exists: first writer wins) and reads the claims back. A delivery of
  the *same* message as the holder takes over: that is a redelivery after a crash, the common
  case;
* a delivery that fails transiently releases its claim before it raises, so the next delivery
  (a redelivery, a replayed dead letter, a recovery) runs the step.

Known limit: two concurrent deliveries of the very same message (Pub/Sub's rare duplicate)
both take over; writes stay idempotent (replace/merge), so only the step record is doubled.

**Stalls.** A run that is REQUESTED or RUNNING and has recorded nothing (no transition, step
record or claim) for longer than the stall threshold is STALLED: the step it waits on and the
last error are shown, and ``convergence recover`` re-drives it from the metadata
(:func:`recovery_plan`).
"""

from __future__ import annotations

import datetime as dt
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lib.metadata import metadata_table
from lib.ports import Clock, Warehouse
from lib.sql import table_sql
from lib.states import PRECEDENCE_SQL, RunStatus, StepStatus

__all__ = [
    "DEFAULT_LEASE",
    "DEFAULT_STALL_AFTER",
    "Claim",
    "RunState",
    "StepState",
    "claim_step",
    "release_claims",
    "run_state",
    "step_state",
]

DEFAULT_LEASE = dt.timedelta(minutes=15)
"""How long a claim keeps other messages off a step (longer than any step runs)."""
DEFAULT_STALL_AFTER = dt.timedelta(minutes=30)
"""A run with no progress for this long is STALLED (longer than the lease)."""


class Claim(StrEnum):
    """What a delivery may do with a step."""

    WON = "WON"
    """Run the step."""
    DUPLICATE = "DUPLICATE"
    """Another delivery runs (or ran) it: ack without running."""


def _claims(tenant_id: str) -> str:
    return table_sql(metadata_table(tenant_id, "step_claims"))


def _live_claims(
    warehouse: Warehouse, tenant_id: str, run_id: str, index: int, since: dt.datetime
) -> list[dict[str, Any]]:
    """The step's live claims: claimed at or after ``since`` and not released.

    A claim's rows (its CLAIMED row and, once released, its RELEASED row) share its
    ``claim_id``: one pass grouping them, cheaper than an anti-join of the table to itself.
    """
    sql = f"""
SELECT ANY_VALUE(c.delivery_id) AS delivery_id, c.claim_id, MIN(c.claimed_at) AS claimed_at
FROM {_claims(tenant_id)} AS c
WHERE c.pipeline_logging_id = @run_id AND c.step_index = @index
GROUP BY c.claim_id
HAVING COUNTIF(c.status = 'RELEASED') = 0
  AND COUNTIF(c.status = 'CLAIMED' AND c.claimed_at >= @since) > 0
ORDER BY claimed_at, c.claim_id
"""
    return warehouse.query(sql, {"run_id": run_id, "index": index, "since": since})


def claim_step(
    warehouse: Warehouse,
    clock: Clock,
    *,
    tenant_id: str,
    run_id: str,
    step_index: int,
    step_name: str,
    delivery_id: str,
    lease: dt.timedelta = DEFAULT_LEASE,
) -> Claim:
    """Claim step ``step_index`` of a run for the delivery ``delivery_id`` (first writer wins).

    The claim is ONE conditional statement — insert my claim only if no live claim of another
    delivery exists — so it is atomic: a ``MERGE`` (BigQuery serialises mutating DML on a
    table; the embedded engine runs statements under the adapter's lock). Then the live
    claims are read back: any by another delivery means this one lost.
    """
    now = clock.now()
    since = now - lease
    claim_id = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"
    warehouse.execute(
        f"MERGE {_claims(tenant_id)} AS T USING ("
        "SELECT @run_id AS pipeline_logging_id, @index AS step_index, @name AS step_name, "
        "@delivery_id AS delivery_id, @claim_id AS claim_id, @now AS claimed_at, "
        "@worker AS worker FROM (SELECT 1) AS one "
        f"WHERE NOT EXISTS ({_LIVE_OTHERS.format(t=_claims(tenant_id))})"
        ") AS S ON FALSE WHEN NOT MATCHED THEN INSERT (pipeline_logging_id, step_index, "
        "step_name, delivery_id, claim_id, status, claimed_at, worker) VALUES "
        "(S.pipeline_logging_id, S.step_index, S.step_name, S.delivery_id, S.claim_id, "
        "'CLAIMED', S.claimed_at, S.worker)",
        {
            "run_id": run_id,
            "index": step_index,
            "name": step_name,
            "delivery_id": delivery_id,
            "claim_id": claim_id,
            "now": now,
            "since": since,
            "worker": socket.gethostname()[:200],
        },
    )
    live = _live_claims(warehouse, tenant_id, run_id, step_index, since)
    others = [c for c in live if c["delivery_id"] != delivery_id]
    mine = [c for c in live if c["delivery_id"] == delivery_id]
    return Claim.WON if mine and not others else Claim.DUPLICATE


_LIVE_OTHERS = (
    "SELECT 1 FROM {t} AS c WHERE c.pipeline_logging_id = @run_id AND c.step_index = @index "
    "GROUP BY c.claim_id HAVING COUNTIF(c.status = 'RELEASED') = 0 AND COUNTIF("
    "c.status = 'CLAIMED' AND c.claimed_at >= @since AND c.delivery_id != @delivery_id) > 0"
)
"""A live, unreleased claim of the step by another delivery (a claim's CLAIMED and RELEASED
rows share its claim_id and delivery)."""


def release_claims(
    warehouse: Warehouse, clock: Clock, tenant_id: str, run_id: str, step_index: int
) -> int:
    """Release every live claim of a step: its delivery failed transiently (the next delivery
    may run it), or ``recover --force`` knows its holder is dead."""
    now = clock.now()
    live = _live_claims(warehouse, tenant_id, run_id, step_index, now - dt.timedelta(days=3650))
    for claim in live:
        warehouse.execute(
            f"INSERT INTO {_claims(tenant_id)} (pipeline_logging_id, step_index, step_name, "
            "delivery_id, claim_id, status, claimed_at, worker) VALUES (@run_id, @index, "
            "'released', @delivery_id, @claim_id, 'RELEASED', @now, @worker)",
            {
                "run_id": run_id,
                "index": step_index,
                "delivery_id": claim["delivery_id"],
                "claim_id": claim["claim_id"],
                "now": now,
                "worker": socket.gethostname()[:200],
            },
        )
    return len(live)


# --- reading a run's state -----------------------------------------------------------------


@dataclass(frozen=True)
class StepState:
    """The newest record of one step (its ``status``, ``error`` and ``recorded_at``; the
    full record is :func:`lib.metadata.latest_step`) and how many times it started."""

    latest: dict[str, Any] | None
    attempts: int

    @property
    def status(self) -> StepStatus | None:
        """The step's newest status (None: never started)."""
        return StepStatus(self.latest["status"]) if self.latest else None


def step_state(warehouse: Warehouse, tenant_id: str, run_id: str, step_index: int) -> StepState:
    """The newest status of a step and its number of started attempts (one query).

    Only the columns every delivery needs are read: a record's ``metadata`` is large, and
    only the redelivery of a finished step needs it.
    """
    rows = warehouse.query(
        "SELECT status, error, recorded_at, "
        "SUM(IF(status = 'RUNNING', 1, 0)) OVER () AS started_attempts "
        f"FROM {table_sql(metadata_table(tenant_id, 'step_logs'))} "
        "WHERE pipeline_logging_id = @run_id AND step_index = @step_index "
        f"ORDER BY recorded_at DESC, {PRECEDENCE_SQL} DESC LIMIT 1",
        {"run_id": run_id, "step_index": step_index},
    )
    if not rows:
        return StepState(None, 0)
    row = dict(rows[0])
    attempts = int(row.pop("started_attempts") or 0)
    return StepState(row, attempts)


@dataclass(frozen=True)
class RunState:
    """Everything ``status``, ``runs`` and ``recover`` need to know about one run."""

    run: dict[str, Any]
    """The newest ``pipeline_runs`` transition."""
    steps: list[dict[str, Any]]
    """The newest record of each step that has one, by index."""
    last_activity: dt.datetime
    """The newest thing the run recorded (transition, step record or claim)."""
    stalled: bool

    @property
    def status(self) -> RunStatus:
        """The run's status, STALLED when it stopped progressing."""
        return RunStatus.STALLED if self.stalled else RunStatus(self.run["status"])

    @property
    def completed_steps(self) -> list[int]:
        """Indexes of the steps whose newest record is COMPLETE."""
        return [s["step_index"] for s in self.steps if s["status"] == StepStatus.COMPLETE]

    @property
    def waiting_on(self) -> int:
        """The index of the first step that is not COMPLETE."""
        done = set(self.completed_steps)
        index = 0
        while index in done:
            index += 1
        return index

    @property
    def last_error(self) -> str | None:
        """The newest error recorded on the run or its steps."""
        errors = [s for s in self.steps if s.get("error")]
        if errors:
            return str(max(errors, key=lambda s: s["recorded_at"])["error"])
        return self.run.get("error")


def run_state(
    warehouse: Warehouse,
    clock: Clock,
    tenant_id: str,
    run_id: str,
    *,
    stall_after: dt.timedelta = DEFAULT_STALL_AFTER,
) -> RunState | None:
    """The run's newest transition, its steps' newest records and whether it is stalled."""
    from lib import metadata

    run = metadata.run_status(warehouse, tenant_id, run_id)
    if run is None:
        return None
    history = metadata.step_history(warehouse, tenant_id, run_id)
    latest: dict[int, dict[str, Any]] = {}
    for record in history:
        latest[record["step_index"]] = record
    claims = warehouse.query(
        f"SELECT MAX(claimed_at) AS at FROM {_claims(tenant_id)} WHERE pipeline_logging_id = @r",
        {"r": run_id},
    )
    moments = [run["recorded_at"], *(r["recorded_at"] for r in history)]
    if claims and claims[0]["at"] is not None:
        moments.append(claims[0]["at"])
    last = max(moments)
    stored = RunStatus(run["status"])
    stalled = not stored.terminal and clock.now() - last >= stall_after
    return RunState(run, [latest[i] for i in sorted(latest)], last, stalled)


def stalled_runs(
    warehouse: Warehouse,
    clock: Clock,
    tenant_id: str,
    *,
    stall_after: dt.timedelta = DEFAULT_STALL_AFTER,
    limit: int = 1000,
) -> list[RunState]:
    """Every REQUESTED or RUNNING run of a tenant that stopped progressing."""
    from lib import metadata

    out = []
    for status in (RunStatus.REQUESTED, RunStatus.RUNNING):
        for row in metadata.list_runs(warehouse, tenant_id, status=status, limit=limit):
            state = run_state(
                warehouse, clock, tenant_id, row["pipeline_logging_id"], stall_after=stall_after
            )
            if state is not None and state.stalled:
                out.append(state)
    return sorted(out, key=lambda s: s.run["pipeline_logging_id"])


def unfinished(states: Sequence[RunState]) -> list[RunState]:
    """The runs that have not ended (whatever their age)."""
    return [s for s in states if not RunStatus(s.run["status"]).terminal]
