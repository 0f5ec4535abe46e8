"""The in-process bus's journal: a process killed with SIGKILL loses no message.

Each crash test runs two real processes on one state directory (``bus_crash_worker.py``): the
first publishes six messages (each delivery publishes a follow-up) and is killed at one point
of a delivery; the second resumes. Checked from the workers' append-only logs and the journal:
every published message is acknowledged exactly once (0 lost), no message acknowledged by the
first process is delivered by the second, and nothing is left pending or dead-lettered.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from cloudevents.http import CloudEvent

from events.models import IngestCompleted, StepRef, Window
from events.topology import load_topology
from lib.adapters.bus_database import DATABASE_FILE, LEGACY_FILE
from lib.adapters.local_bus import LocalBus
from lib.clock import FixedClock
from lib.ports import DeadLetterFilter

REPO = Path(__file__).resolve().parents[3]
WORKER = Path(__file__).with_name("bus_crash_worker.py")
EVERYTHING = DeadLetterFilter()
T0 = dt.datetime(2026, 3, 1, 6, 0, tzinfo=dt.UTC)
CRASHES = ["publish-then-die", "die-in-handler", "die-after-publish", "die-before-ack"]
CRASHES += ["die-after-ack"]


def run_worker(state_dir: Path, log: Path, mode: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, str(WORKER), str(state_dir), str(log), mode],
        cwd=REPO, env=env, capture_output=True, timeout=120, check=False,
    )  # fmt: skip


def read_log(log: Path) -> list[tuple[str, int, str, str]]:
    out = []
    for line in log.read_text().splitlines():
        what, pid, message_id, *extra = line.split(" ")
        out.append((what, int(pid), message_id, " ".join(extra)))
    return out


def noop(_: CloudEvent) -> None:
    """A handler that acks everything."""


def make_bus(state_dir: Path, **handlers: object) -> LocalBus:
    mapping = {"ingest": noop, "dq": noop, "transform": noop, "notify": noop, **handlers}
    return LocalBus(load_topology(), mapping, state_dir, FixedClock(T0), backoff_scale=0)


def ingest_completed(n: int) -> IngestCompleted:
    return IngestCompleted(
        event_id=f"evt-journal-{n:04d}",
        occurred_at=T0,
        tenant_id="acme",
        pipeline_id="openai_costs",
        pipeline_logging_id=f"run-journal-{n:04d}",
        window=Window(start=dt.date(2026, 2, 28), end=dt.date(2026, 2, 28)),
        step_done=StepRef(name="load", index=0, type="ingest"),
        next_step=StepRef(name="check", index=1, type="dq"),
        rows_loaded=1,
    )


@pytest.mark.parametrize("crash", CRASHES)
def test_a_process_killed_mid_delivery_loses_nothing_and_the_next_one_resumes(tmp_path, crash):
    state_dir, log = tmp_path / "bus", tmp_path / "deliveries.log"

    killed = run_worker(state_dir, log, crash)
    assert killed.returncode == -signal.SIGKILL, killed.stderr.decode()
    first_pid = read_log(log)[0][1]
    resumed = run_worker(state_dir, log, "resume")
    assert resumed.returncode == 0, resumed.stderr.decode()

    lines = read_log(log)
    published = {m for what, _, m, _ in lines if what == "published"}
    acked = Counter(m for what, _, m, _ in lines if what == "acked")
    acked_first = {m for what, pid, m, _ in lines if what == "acked" and pid == first_pid}
    delivered_later = {m for what, pid, m, _ in lines if what == "deliver" and pid != first_pid}
    seeds = [m for what, _, m, extra in lines if (what, extra) == ("published", "seed")]
    follow_ups = Counter(extra for what, _, _, extra in lines if what == "published")
    assert len(seeds) == 6 and len(published) >= 12
    assert {seed: follow_ups[seed] >= 1 for seed in seeds} == dict.fromkeys(seeds, True)
    delivered_twice = {m for m in published if (m in acked_first) is False} & {
        m for what, pid, m, _ in lines if what == "deliver" and pid == first_pid
    }
    assert len(delivered_twice) <= 1  # only the delivery the kill interrupted runs again
    assert set(acked) == published  # 0 lost
    assert set(acked.values()) == {1}  # each acknowledged once
    assert not acked_first & delivered_later  # never delivered again after its ack
    assert ("idle", "-") in {(w, m) for w, pid, m, _ in lines if pid != first_pid}
    later = make_bus(state_dir)
    assert later.pending() == []
    assert later.dead_letters(EVERYTHING) == []


def test_the_killed_delivery_counts_as_an_attempt_and_is_delivered_again(tmp_path):
    state_dir, log = tmp_path / "bus", tmp_path / "deliveries.log"
    run_worker(state_dir, log, "die-in-handler")
    dying = [m for what, _, m, _ in read_log(log) if what == "deliver"][-1]

    (pending,) = [p for p in make_bus(state_dir).pending() if p.message_id == dying]
    assert (pending.state, pending.owner_alive, pending.attempts) == ("in-flight", False, 1)

    run_worker(state_dir, log, "resume")
    deliveries = [m for what, _, m, _ in read_log(log) if what == "deliver"]
    assert deliveries.count(dying) == 2


def test_queued_messages_survive_the_bus_that_published_them(tmp_path):
    first = make_bus(tmp_path)
    ids = [first.publish(ingest_completed(n)) for n in range(3)]
    first.close()
    received: list[str] = []
    later = make_bus(tmp_path, dq=lambda c: received.append(c.data["message"]["messageId"]))

    stats = later.run_until_idle()

    assert received == ids
    assert (stats.delivered, stats.acked, stats.pending) == (3, 3, 0)
    assert later.pending() == []


def test_a_live_bus_keeps_its_in_flight_deliveries(tmp_path):
    started, release = threading.Event(), threading.Event()

    def slow(_: CloudEvent) -> None:
        started.set()
        release.wait(30)

    busy = make_bus(tmp_path, dq=slow)
    busy.publish(ingest_completed(1))
    worker = threading.Thread(target=busy.run_until_idle)
    worker.start()
    assert started.wait(30)
    other = make_bus(tmp_path)
    try:
        assert other.resume() == 0
        assert [(p.state, p.owner_alive) for p in other.pending()] == [("in-flight", True)]
        assert other.run_until_idle().delivered == 0
    finally:
        release.set()
        worker.join(30)
    assert other.pending() == []


def test_a_closed_bus_leaves_its_in_flight_deliveries_to_the_next(tmp_path):
    received: list[str] = []
    crashed = make_bus(tmp_path, dq=lambda _: (_ for _ in ()).throw(KeyboardInterrupt))
    message_id = crashed.publish(ingest_completed(1))
    with pytest.raises(KeyboardInterrupt):
        crashed.run_until_idle()
    crashed.close()
    later = make_bus(tmp_path, dq=lambda c: received.append(c.data["message"]["messageId"]))

    assert later.run_until_idle().acked == 1
    assert received == [message_id]


def test_dead_letters_of_an_older_version_are_kept(tmp_path):
    legacy = tmp_path / LEGACY_FILE
    with sqlite3.connect(legacy) as conn:
        conn.execute(
            "CREATE TABLE dead_letters (message_id TEXT PRIMARY KEY, topic TEXT NOT NULL, "
            "subscription TEXT NOT NULL, tenant_id TEXT, pipeline_id TEXT, attributes TEXT "
            "NOT NULL, data BLOB NOT NULL, dead_lettered_at TEXT NOT NULL, attempts INTEGER "
            "NOT NULL, last_error TEXT NOT NULL)"
        )
        conn.execute(
            "INSERT INTO dead_letters VALUES ('1', 'dq-passed-dead-letter', 's', 'acme', 'p', "
            "'{\"tenant_id\": \"acme\"}', x'7b7d', '2026-03-01T06:00:00+00:00', 5, 'boom')"
        )
    conn.close()

    (letter,) = make_bus(tmp_path).dead_letters(EVERYTHING)

    assert (letter.message_id, letter.last_error) == ("1", "boom")
    assert (tmp_path / DATABASE_FILE).exists() and not legacy.exists()
