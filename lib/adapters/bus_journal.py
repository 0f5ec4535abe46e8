"""The in-process bus's delivery journal: every undelivered or in-flight delivery, on disk.

One row per (message, subscription) whose filter matched. A row is *queued* (``owner`` NULL,
deliverable from ``available_at``, a wall-clock time) or *in flight* (``owner`` is the bus
instance delivering it). The life of a row, each step one transaction::

    enqueue ──▶ queued ──claim──▶ in flight ──ack──▶ (deleted)
                  ▲                   │ nack ─▶ queued again after the backoff
                  └──── reclaim ──────┤ (its owner died: SIGKILL, crash, power loss)
                                      └ last attempt failed ─▶ dead_letters (same transaction)

Owners are bus instances. Each holds an exclusive ``flock`` on ``owners/<owner>.lock`` while
it lives; the kernel drops it when the process dies however it dies, so any later instance can
tell a dead owner from a live one and put the dead one's deliveries back in the queue.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import json
import logging
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from lib.adapters.bus_database import BusDatabase
from lib.adapters.dead_letter_store import DeadLetterStore
from lib.ports import DeadLetter

logger = logging.getLogger(__name__)

_SCHEMA = (
    """
    CREATE TABLE IF NOT EXISTS deliveries (
        delivery_id INTEGER PRIMARY KEY AUTOINCREMENT,
        message_id TEXT NOT NULL,
        topic TEXT NOT NULL,
        subscription TEXT NOT NULL,
        attributes TEXT NOT NULL,
        data BLOB NOT NULL,
        publish_time TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        available_at REAL NOT NULL,
        owner TEXT,
        claimed_at REAL
    )
    """,
    "CREATE INDEX IF NOT EXISTS deliveries_queue ON deliveries (owner, available_at)",
)
_ROW = "delivery_id, message_id, topic, subscription, attributes, data, publish_time, attempts"


@dataclass(frozen=True)
class JournalEntry:
    """A journaled delivery: a message on its way to one subscription."""

    delivery_id: int
    message_id: str
    topic: str
    subscription: str
    attributes: dict[str, str]
    data: bytes
    publish_time: dt.datetime
    attempts: int


@dataclass(frozen=True)
class NewDelivery:
    """What :meth:`BusJournal.enqueue` stores for one matching subscription."""

    message_id: str
    topic: str
    subscription: str
    attributes: dict[str, str]
    data: bytes
    publish_time: dt.datetime


@dataclass(frozen=True)
class PendingDelivery:
    """A delivery not yet acknowledged, as :meth:`BusJournal.pending` lists it."""

    message_id: str
    topic: str
    subscription: str
    attributes: dict[str, str]
    attempts: int
    state: str  # "queued" or "in-flight"
    owner_alive: bool


class OwnerLock:
    """An exclusive ``flock`` on ``{owners_dir}/{owner}.lock``, held while the owner lives."""

    def __init__(self, owners_dir: Path, owner: str) -> None:
        owners_dir.mkdir(parents=True, exist_ok=True)
        self.path = owners_dir / f"{owner}.lock"
        self._file: IO[bytes] | None = self.path.open("wb")
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)

    def release(self) -> None:
        """Drop the lock and remove its file."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            self._file.close()  # closing the file releases the flock
            self._file = None


def owner_alive(owners_dir: Path, owner: str) -> bool:
    """Whether the bus instance ``owner`` still holds its lock (its process is alive)."""
    path = owners_dir / f"{owner}.lock"
    try:
        probe = path.open("rb")
    except FileNotFoundError:
        return False
    with probe:
        try:
            fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            path.unlink()  # the owner is gone: tidy its lock file up
        return False


class BusJournal:
    """Queued and in-flight deliveries of the in-process bus, in the bus database."""

    def __init__(self, database: BusDatabase, dead_letters: DeadLetterStore, state_dir: Path):
        """Create the table if missing; this instance's owner id is fresh and random.

        Args:
            database: the bus's SQLite file.
            dead_letters: the store final failures move to (same file, same transaction).
            state_dir: the bus's directory (owner locks live in ``owners/`` below it).
        """
        self._db = database
        self._dead_letters = dead_letters
        self._owners_dir = state_dir / "owners"
        self.owner = uuid.uuid4().hex
        self._lock: OwnerLock | None = None
        self._lock_guard = threading.Lock()
        with database.transaction() as conn:
            for statement in _SCHEMA:
                conn.execute(statement)

    def enqueue(self, deliveries: list[NewDelivery], available_at: float) -> None:
        """Store deliveries of one published message, all or none."""
        rows = [
            (
                d.message_id,
                d.topic,
                d.subscription,
                json.dumps(d.attributes, sort_keys=True),
                d.data,
                d.publish_time.isoformat(),
                available_at,
            )
            for d in deliveries
        ]
        with self._db.transaction() as conn:
            conn.executemany(
                "INSERT INTO deliveries (message_id, topic, subscription, attributes, data, "
                "publish_time, available_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )

    def claim(self, now: float) -> JournalEntry | None:
        """Take the oldest queued delivery available at ``now``; count the attempt."""
        self._hold_lock()
        with self._db.transaction() as conn:
            row = conn.execute(
                f"UPDATE deliveries SET owner = ?, attempts = attempts + 1, claimed_at = ? "
                "WHERE delivery_id = (SELECT delivery_id FROM deliveries WHERE owner IS NULL "
                "AND available_at <= ? ORDER BY available_at, delivery_id LIMIT 1) "
                f"RETURNING {_ROW}",
                (self.owner, now, now),
            ).fetchone()
        return _entry(row) if row else None

    def ack(self, entry: JournalEntry) -> None:
        """The delivery succeeded: forget it (it is never delivered again)."""
        with self._db.transaction() as conn:
            deleted = conn.execute(
                "DELETE FROM deliveries WHERE delivery_id = ? AND owner = ?",
                (entry.delivery_id, self.owner),
            ).rowcount
        if not deleted:
            logger.warning(
                "ack of message %s on %s found no delivery owned by this bus; another bus "
                "took it over and will deliver it again",
                entry.message_id,
                entry.subscription,
            )

    def retry_at(self, entry: JournalEntry, available_at: float) -> None:
        """The delivery failed (or was interrupted): queue it again from ``available_at``."""
        with self._db.transaction() as conn:
            conn.execute(
                "UPDATE deliveries SET owner = NULL, available_at = ? "
                "WHERE delivery_id = ? AND owner = ?",
                (available_at, entry.delivery_id, self.owner),
            )

    def dead_letter(self, entry: JournalEntry, letter: DeadLetter) -> None:
        """Move the delivery to the dead letters in one transaction."""
        with self._db.transaction() as conn:
            self._dead_letters.insert(conn, letter)
            conn.execute("DELETE FROM deliveries WHERE delivery_id = ?", (entry.delivery_id,))

    def next_available(self) -> float | None:
        """When the earliest queued delivery becomes available (None: nothing queued)."""
        with self._db.reading() as conn:
            (earliest,) = conn.execute(
                "SELECT MIN(available_at) FROM deliveries WHERE owner IS NULL"
            ).fetchone()
        return None if earliest is None else float(earliest)

    def queued(self) -> int:
        """How many deliveries wait in the queue."""
        with self._db.reading() as conn:
            (count,) = conn.execute(
                "SELECT COUNT(*) FROM deliveries WHERE owner IS NULL"
            ).fetchone()
        return int(count)

    def reclaim(self, now: float) -> int:
        """Queue again, available at ``now``, every delivery whose owner died; return how many."""
        with self._db.reading() as conn:
            owners = [
                owner
                for (owner,) in conn.execute(
                    "SELECT DISTINCT owner FROM deliveries WHERE owner IS NOT NULL AND owner != ?",
                    (self.owner,),
                )
            ]
        dead = [owner for owner in owners if not owner_alive(self._owners_dir, owner)]
        reclaimed = 0
        for owner in dead:
            with self._db.transaction() as conn:
                reclaimed += conn.execute(
                    "UPDATE deliveries SET owner = NULL, available_at = ? WHERE owner = ?",
                    (now, owner),
                ).rowcount
        return reclaimed

    def pending(self) -> list[PendingDelivery]:
        """Every delivery not yet acknowledged, oldest first."""
        with self._db.reading() as conn:
            rows = conn.execute(
                "SELECT message_id, topic, subscription, attributes, attempts, owner "
                "FROM deliveries ORDER BY delivery_id"
            ).fetchall()
        alive: dict[str, bool] = {self.owner: True}
        out = []
        for message_id, topic, subscription, attributes, attempts, owner in rows:
            if owner is not None and owner not in alive:
                alive[owner] = owner_alive(self._owners_dir, owner)
            out.append(
                PendingDelivery(
                    message_id=message_id,
                    topic=topic,
                    subscription=subscription,
                    attributes=json.loads(attributes),
                    attempts=attempts,
                    state="queued" if owner is None else "in-flight",
                    owner_alive=owner is not None and alive[owner],
                )
            )
        return out

    def close(self) -> None:
        """Release this owner's lock (its in-flight deliveries become reclaimable)."""
        with self._lock_guard:
            if self._lock is not None:
                self._lock.release()
                self._lock = None

    def _hold_lock(self) -> None:
        with self._lock_guard:
            if self._lock is None:
                self._lock = OwnerLock(self._owners_dir, self.owner)


def _entry(row: tuple[int, str, str, str, str, bytes, str, int]) -> JournalEntry:
    delivery_id, message_id, topic, subscription, attributes, data, publish_time, attempts = row
    return JournalEntry(
        delivery_id=delivery_id,
        message_id=message_id,
        topic=topic,
        subscription=subscription,
        attributes=json.loads(attributes),
        data=bytes(data),
        publish_time=dt.datetime.fromisoformat(publish_time),
        attempts=attempts,
    )
