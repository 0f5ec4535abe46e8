"""The in-process bus's state: one SQLite file holding the delivery journal and dead letters.

Why SQLite (stdlib ``sqlite3``) rather than a JSONL journal: a delivery changes state several
times (queued → in flight → acked, retried or dead-lettered). In SQLite each change is one
transaction, dead-lettering moves a row between two tables atomically, several processes
share the file safely (its own locking), and nothing needs compacting. The file is in WAL
mode with ``synchronous=FULL``: a commit is fsynced before it returns, so a process killed
with SIGKILL (or a machine losing power) keeps every message whose publish returned.

One connection per bus instance, shared by its worker threads under a lock.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

from lib.errors import TransientError

DATABASE_FILE = "bus.sqlite3"
LEGACY_FILE = "dead_letters.sqlite3"  # before the journal, the file held dead letters only
BUSY_TIMEOUT_SECONDS = 30.0


class BusDatabase:
    """The bus's SQLite file under ``state_dir``; callers run SQL in :meth:`transaction`."""

    def __init__(self, state_dir: Path) -> None:
        """Open (creating if needed) ``{state_dir}/bus.sqlite3``.

        A ``dead_letters.sqlite3`` left by an older version becomes the new file (same
        dead-letter table), so no dead letter is lost by upgrading.

        Raises:
            TransientError: the file cannot be opened or is locked for too long.
        """
        state_dir.mkdir(parents=True, exist_ok=True)
        self.path = state_dir / DATABASE_FILE
        legacy = state_dir / LEGACY_FILE
        if legacy.exists() and not self.path.exists():
            os.replace(legacy, self.path)
        self._lock = threading.RLock()
        try:
            self._conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
        except sqlite3.Error as exc:
            raise TransientError(
                f"cannot open the bus state {self.path}: {exc}; "
                "check the directory exists and is writable"
            ) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (``BEGIN IMMEDIATE``): committed whole or rolled back.

        Raises:
            TransientError: the database is busy (another process holds it) or unreadable.
        """
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._busy(exc) from exc
            try:
                yield self._conn
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                if isinstance(exc, sqlite3.OperationalError):
                    raise self._busy(exc) from exc
                raise
            try:
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise self._busy(exc) from exc

    @contextlib.contextmanager
    def reading(self) -> Iterator[sqlite3.Connection]:
        """The connection for read-only statements (each sees a consistent snapshot)."""
        with self._lock:
            try:
                yield self._conn
            except sqlite3.OperationalError as exc:
                raise self._busy(exc) from exc

    def close(self) -> None:
        """Close the connection (later calls fail)."""
        with self._lock:
            self._conn.close()

    def _busy(self, exc: sqlite3.Error) -> TransientError:
        return TransientError(f"bus state {self.path} is busy or unreadable: {exc}; retry")
