"""Dead letters for the in-process bus: Pub/Sub's dead-letter attributes and their table.

The embedded stand-in for a dead-letter topic's hold subscription, a table in the bus's
SQLite file (``lib/adapters/bus_database.py``). Every write is one transaction (a letter is
stored whole or not at all); :meth:`DeadLetterStore.insert` lets the delivery journal move a
delivery into this table in its own transaction. Separate CLI invocations see the same store.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Mapping, Sequence

from lib.adapters.bus_database import BusDatabase
from lib.ports import DeadLetter, DeadLetterFilter

DEAD_LETTER_ATTRIBUTE_PREFIX = "CloudPubSubDeadLetter"
REJECTION_ATTRIBUTE = "convergence_rejected_reason"
"""Attribute carrying why a poison message was dead-lettered at once (no retries)."""
_SCHEMA = """
CREATE TABLE IF NOT EXISTS dead_letters (
    message_id TEXT PRIMARY KEY,
    topic TEXT NOT NULL,
    subscription TEXT NOT NULL,
    tenant_id TEXT,
    pipeline_id TEXT,
    attributes TEXT NOT NULL,
    data BLOB NOT NULL,
    dead_lettered_at TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    last_error TEXT NOT NULL
)
"""
_COLUMNS = (
    "message_id, topic, subscription, attributes, data, dead_lettered_at, attempts, last_error"
)


def dead_letter_attributes(
    subscription: str, project: str, attempts: int, publish_time: dt.datetime | None
) -> dict[str, str]:
    """The attributes Pub/Sub adds to a message it forwards to a dead-letter topic.

    ``publish_time`` (the source message's) is left out when unknown.
    """
    attributes = {
        "CloudPubSubDeadLetterSourceDeliveryCount": str(attempts),
        "CloudPubSubDeadLetterSourceSubscription": subscription,
        "CloudPubSubDeadLetterSourceSubscriptionProject": project,
    }
    if publish_time is not None:
        attributes["CloudPubSubDeadLetterSourceTopicPublishTime"] = _rfc3339(publish_time)
    return attributes


def strip_dead_letter_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """The message's own attributes, without the ones added when it was dead-lettered."""
    return {
        k: v
        for k, v in attributes.items()
        if not k.startswith(DEAD_LETTER_ATTRIBUTE_PREFIX) and k != REJECTION_ATTRIBUTE
    }


class DeadLetterStore:
    """Dead letters persisted in the bus database's ``dead_letters`` table."""

    def __init__(self, database: BusDatabase) -> None:
        """Create the table if missing.

        Args:
            database: the bus's SQLite file (shared with the delivery journal).
        """
        self._db = database
        with database.transaction() as conn:
            conn.execute(_SCHEMA)

    def add(self, letter: DeadLetter) -> None:
        """Store ``letter`` atomically (a letter with the same id is replaced)."""
        with self._db.transaction() as conn:
            self.insert(conn, letter)

    @staticmethod
    def insert(conn: sqlite3.Connection, letter: DeadLetter) -> None:
        """Store ``letter`` inside the caller's open transaction."""
        row = (
            letter.message_id,
            letter.topic,
            letter.subscription,
            letter.attributes.get("tenant_id"),
            letter.attributes.get("pipeline_id"),
            json.dumps(dict(letter.attributes), sort_keys=True),
            letter.data,
            _utc(letter.dead_lettered_at).isoformat(timespec="microseconds"),
            letter.attempts,
            letter.last_error,
        )
        conn.execute(f"INSERT OR REPLACE INTO dead_letters VALUES ({', '.join('?' * 10)})", row)

    def select(self, selection: DeadLetterFilter) -> list[DeadLetter]:
        """Letters matching ``selection``, oldest first."""
        sql = f"SELECT {_COLUMNS} FROM dead_letters WHERE 1 = 1"  # column names are constants
        params: list[str] = []
        for column, value in (
            ("tenant_id", selection.tenant_id),
            ("pipeline_id", selection.pipeline_id),
        ):
            if value is not None:
                sql += f" AND {column} = ?"
                params.append(value)
        with self._db.reading() as conn:
            rows = conn.execute(sql + " ORDER BY dead_lettered_at, rowid", params).fetchall()
        letters = (_letter(row) for row in rows)
        return [letter for letter in letters if selection.matches(letter)]

    def remove(self, message_ids: Sequence[str]) -> int:
        """Delete the letters with these ids; return how many were deleted."""
        with self._db.transaction() as conn:
            cursor = conn.executemany(
                "DELETE FROM dead_letters WHERE message_id = ?", [(i,) for i in message_ids]
            )
            return cursor.rowcount


def _letter(row: tuple[str, str, str, str, bytes, str, int, str]) -> DeadLetter:
    message_id, topic, subscription, attributes, data, at, attempts, last_error = row
    return DeadLetter(
        message_id=message_id,
        topic=topic,
        subscription=subscription,
        attributes=json.loads(attributes),
        data=bytes(data),
        dead_lettered_at=dt.datetime.fromisoformat(at),
        attempts=attempts,
        last_error=last_error,
    )


def _utc(moment: dt.datetime) -> dt.datetime:
    if moment.tzinfo is None:
        raise ValueError(f"dead_lettered_at {moment} has no timezone; pass an aware UTC time")
    return moment.astimezone(dt.UTC)


def _rfc3339(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
