"""``{tenant}_metadata.notifications``: who was told what, so an event notifies once.

Pub/Sub delivers at least once, and a delivery may die after the webhook answered. Before a
channel is sent an event, the delivery *claims* it — one conditional statement inserts a
SENDING row only if the channel was not DELIVERED that event and no other delivery holds a
live claim (younger than :data:`LEASE`, not yet closed by DELIVERED or FAILED) — then reads
the claims back (first writer wins), exactly like step claims (``lib/lifecycle.py``):

* ``DONE`` — already delivered: skip;
* ``BUSY`` — another delivery is sending it right now: retry later (it will be DONE);
* ``WON`` — send, then close the claim with DELIVERED or FAILED.

A redelivery of the same message (its first attempt died mid-send) takes over its own claim.
Insert-only, like every metadata table.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lib.metadata import metadata_table
from lib.ports import Clock, Warehouse
from lib.sql import table_sql

LEASE = dt.timedelta(minutes=15)
"""Longer than any channel's attempts, timeouts and backoffs together."""


class Claim(StrEnum):
    """What a delivery may do with one (event, channel)."""

    WON = "WON"
    BUSY = "BUSY"
    DONE = "DONE"


@dataclass(frozen=True)
class Entry:
    """The event and channel a ledger row is about."""

    tenant_id: str
    event_id: str
    channel: str
    run_id: str
    pipeline_id: str
    event_type: str
    delivery_id: str


def _used(sql: str, params: dict[str, Any]) -> dict[str, Any]:
    """Only the parameters ``sql`` names (BigQuery refuses declared-but-unused ones)."""
    named = set(re.findall(r"@([A-Za-z_][A-Za-z0-9_]*)", sql))
    return {k: v for k, v in params.items() if k in named}


def _table(tenant_id: str) -> str:
    return table_sql(metadata_table(tenant_id, "notifications"))


_OPEN_CLAIMS = """
SELECT c.delivery_id, c.claim_id FROM {t} AS c
WHERE c.event_id = @event_id AND c.channel = @channel AND c.status = 'SENDING'
  AND c.recorded_at >= @since
  AND NOT EXISTS (SELECT 1 FROM {t} AS d WHERE d.event_id = c.event_id
                  AND d.channel = c.channel AND d.claim_id = c.claim_id AND d.status != 'SENDING')
"""

_DELIVERED = (
    "SELECT 1 FROM {t} AS x WHERE x.event_id = @event_id AND x.channel = @channel "
    "AND x.status = 'DELIVERED'"
)


def claim(
    warehouse: Warehouse, clock: Clock, entry: Entry, lease: dt.timedelta = LEASE
) -> tuple[Claim, str]:
    """Claim ``entry`` for its delivery; returns the verdict and this claim's id."""
    t = _table(entry.tenant_id)
    now = clock.now()
    claim_id = f"{now:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:12]}"
    params = _params(entry, claim_id, now, since=now - lease)
    others = _OPEN_CLAIMS.format(t=t) + " AND c.delivery_id != @delivery_id"
    merge = (
        f"MERGE {t} AS T USING (SELECT 1 AS one FROM (SELECT 1) AS s "
        f"WHERE NOT EXISTS ({_DELIVERED.format(t=t)}) AND NOT EXISTS ({others})) AS S "
        "ON FALSE WHEN NOT MATCHED THEN INSERT (event_id, channel, pipeline_logging_id, "
        "pipeline_id, event_type, status, claim_id, delivery_id, recorded_at) VALUES "
        "(@event_id, @channel, @run_id, @pipeline_id, @event_type, 'SENDING', @claim_id, "
        "@delivery_id, @now)"
    )
    warehouse.execute(merge, _used(merge, params))
    delivered = _DELIVERED.format(t=t)
    if warehouse.query(delivered, _used(delivered, params)):
        return Claim.DONE, claim_id
    open_claims = _OPEN_CLAIMS.format(t=t)
    live = warehouse.query(open_claims, _used(open_claims, params))
    mine = any(c["claim_id"] == claim_id for c in live)
    others_live = [c for c in live if c["delivery_id"] != entry.delivery_id]
    return (Claim.WON if mine and not others_live else Claim.BUSY), claim_id


def close(
    warehouse: Warehouse,
    clock: Clock,
    entry: Entry,
    claim_id: str,
    *,
    delivered: bool,
    attempts: int,
    http_status: int | None,
    error: str | None,
) -> None:
    """Record how the claim ended: DELIVERED, or FAILED with why."""
    params = _params(entry, claim_id, clock.now())
    params.update(
        status="DELIVERED" if delivered else "FAILED",
        attempts=attempts,
        http_status=http_status,
        error=error[:1000] if error else None,
    )
    sql = (
        f"INSERT INTO {_table(entry.tenant_id)} (event_id, channel, pipeline_logging_id, "
        "pipeline_id, event_type, status, claim_id, delivery_id, attempts, http_status, error, "
        "recorded_at) VALUES (@event_id, @channel, @run_id, @pipeline_id, @event_type, @status, "
        "@claim_id, @delivery_id, CAST(@attempts AS INT64), CAST(@http_status AS INT64), @error, "
        "@now)"
    )
    warehouse.execute(sql, params)


def history(warehouse: Warehouse, tenant_id: str, run_id: str) -> list[dict[str, Any]]:
    """Every ledger row of a run's notifications, oldest first."""
    return warehouse.query(
        f"SELECT * FROM {_table(tenant_id)} WHERE pipeline_logging_id = @run_id "
        "ORDER BY recorded_at, channel",
        {"run_id": run_id},
    )


def _params(
    entry: Entry, claim_id: str, now: dt.datetime, since: dt.datetime | None = None
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "event_id": entry.event_id,
        "channel": entry.channel,
        "run_id": entry.run_id,
        "pipeline_id": entry.pipeline_id,
        "event_type": entry.event_type,
        "claim_id": claim_id,
        "delivery_id": entry.delivery_id,
        "now": now,
    }
    if since is not None:
        params["since"] = since
    return params
