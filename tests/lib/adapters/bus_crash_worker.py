"""A process that uses the in-process bus and kills itself with SIGKILL at a chosen point.

Run by ``test_local_bus_journal.py`` as ``python bus_crash_worker.py STATE_DIR LOG MODE``:

- ``publish-then-die``: publish the seed messages, then SIGKILL before any delivery;
- ``die-in-handler``: publish the seeds, deliver; the 3rd delivery's handler is killed;
- ``die-after-publish``: like the above, but the handler has published its follow-up first;
- ``die-before-ack``: the 3rd handler returns, the process dies before its ack commits;
- ``die-after-ack``: the 3rd ack commits, the process dies before the next delivery;
- ``resume``: publish nothing; deliver whatever the journal holds until idle, then exit.

Every line of LOG is ``<what> <pid> <message_id> [<extra>]``, written with ``os.write`` on an
``O_APPEND`` descriptor, so it reaches the file even if the process is killed right after.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sys
from pathlib import Path

from cloudevents.http import CloudEvent

from events.models import IngestCompleted, RunRequested, StepRef, Window
from events.topology import load_topology
from lib.adapters import bus_journal
from lib.adapters.local_bus import LocalBus
from lib.clock import SystemClock

SEEDS = 6
KILL_AT = 3


class Log:
    """Appends one line per call; survives SIGKILL (the kernel has the bytes)."""

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def write(self, what: str, message_id: str, extra: str = "") -> None:
        os.write(self._fd, f"{what} {os.getpid()} {message_id} {extra}".rstrip().encode() + b"\n")


def die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def seed(n: int) -> RunRequested:
    return RunRequested(
        event_id=f"seed-event-{n:04d}",
        occurred_at=dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
        tenant_id="acme",
        pipeline_id="openai_costs",
        pipeline_logging_id=f"crash-run-{n:04d}",
        window=Window(start=dt.date(2026, 2, 28), end=dt.date(2026, 2, 28)),
        next_step=StepRef(name="load", index=0, type="ingest"),
    )


def follow_up(done: RunRequested) -> IngestCompleted:
    return IngestCompleted(
        event_id=f"{done.event_id}-ingested",
        occurred_at=done.occurred_at,
        tenant_id=done.tenant_id,
        pipeline_id=done.pipeline_id,
        pipeline_logging_id=done.pipeline_logging_id,
        window=done.window,
        step_done=StepRef(name="load", index=0, type="ingest"),
        next_step=StepRef(name="check", index=1, type="dq"),
        rows_loaded=1,
    )


def main(state_dir: Path, log: Log, mode: str) -> None:
    count = {"delivered": 0, "acked": 0}
    holder: dict[str, LocalBus] = {}

    def ingest(cloud_event: CloudEvent) -> None:
        from events.codec import from_cloudevent

        message_id = cloud_event.data["message"]["messageId"]
        count["delivered"] += 1
        log.write("deliver", message_id, "ingest")
        if mode == "die-in-handler" and count["delivered"] == KILL_AT:
            die()
        event = from_cloudevent(cloud_event)
        assert isinstance(event, RunRequested)
        published = holder["bus"].publish(follow_up(event))
        log.write("published", published, message_id)
        if mode == "die-after-publish" and count["delivered"] == KILL_AT:
            die()
        log.write("done", message_id)

    def dq(cloud_event: CloudEvent) -> None:
        message_id = cloud_event.data["message"]["messageId"]
        count["delivered"] += 1
        log.write("deliver", message_id, "dq")
        if mode == "die-in-handler" and count["delivered"] == KILL_AT:
            die()
        log.write("done", message_id)

    real_ack = bus_journal.BusJournal.ack

    def ack(self: bus_journal.BusJournal, entry: bus_journal.JournalEntry) -> None:
        count["acked"] += 1
        if mode == "die-before-ack" and count["acked"] == KILL_AT:
            die()
        real_ack(self, entry)
        log.write("acked", entry.message_id)
        if mode == "die-after-ack" and count["acked"] == KILL_AT:
            die()

    bus_journal.BusJournal.ack = ack  # type: ignore[method-assign]
    handlers = {"ingest": ingest, "dq": dq, "transform": dq, "notify": dq}
    bus = LocalBus(load_topology(), handlers, state_dir, SystemClock(), backoff_scale=0)
    holder["bus"] = bus
    if mode != "resume":
        for n in range(SEEDS):
            log.write("published", bus.publish(seed(n)), "seed")
    if mode == "publish-then-die":
        die()
    bus.run_until_idle()
    log.write("idle", "-")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Log(sys.argv[2]), sys.argv[3])
