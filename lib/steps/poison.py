"""Poison messages: what no retry can fix is dead-lettered at once, with its reason, then acked.

A message is poison when it cannot be decoded (bad JSON, a schema violation, an unknown
``ce-type``, no routing attribute) or names a tenant that has no config folder. Retrying it
would only burn the delivery attempts, and acking it silently would lose it, so the handler
publishes the raw message with the reason to its topic's dead-letter topic
(``EventBus.reject``), logs one ERROR line, and returns. ``convergence replay --dry-run``
lists it with the reason; once the cause is fixed, ``replay`` moves it back.

The topic comes from the delivery's CloudEvent source, else from the message's ``ce-type``
attribute or decoded type. A poison message whose topic cannot be told is raised as
``MalformedEvent`` instead: Pub/Sub retries it and then dead-letters it by policy.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

from events.codec import PubSubDelivery, pubsub_delivery
from events.topology import Topology
from lib.config.loader import RESERVED_FOLDERS
from lib.errors import MalformedEvent, PoisonEvent, UnknownTenant
from lib.ports import Rejected
from lib.wiring import Runtime

log = logging.getLogger(__name__)
MAX_LOGGED_REASON = 500
_TYPE_IN_DATA = re.compile(rb'"type"\s*:\s*"([A-Za-z0-9_.-]{1,200})"')


def check_tenant(config_dir: Path, tenant_id: str) -> None:
    """Refuse an event for a tenant without a folder under the config root.

    Raises:
        UnknownTenant: no ``{config_dir}/{tenant_id}/`` folder (nothing may be created).
    """
    folder = config_dir / tenant_id
    if tenant_id in RESERVED_FOLDERS or not folder.is_dir():
        raise UnknownTenant(
            f"unknown tenant {tenant_id!r}: there is no folder {folder}; create the tenant's "
            "configs (and `convergence tenants create`), then replay this event"
        )


def reject(rt: Runtime, cloud_event: Any, error: PoisonEvent) -> None:
    """Dead-letter the poison delivery ``cloud_event`` at once (the caller then acks).

    Raises:
        MalformedEvent: the CloudEvent is no Pub/Sub delivery, or its topic cannot be told
            (the caller answers non-2xx; Pub/Sub's dead-letter policy takes over).
        TransientError: the dead letter could not be published; retry.
    """
    reason = str(error) or type(error).__name__
    delivery = pubsub_delivery(cloud_event)
    topic = _topic_of(delivery, rt.topology) if delivery else None
    if delivery is None or topic is None:
        log.error("rejected undeliverable event: %s", reason[:MAX_LOGGED_REASON])
        raise MalformedEvent(f"{reason} (no Pub/Sub topic to dead-letter it to)") from error
    letter_id = rt.bus.reject(
        Rejected(
            topic=topic,
            subscription=delivery.subscription,
            message_id=delivery.message_id,
            attributes=delivery.message.attributes,
            data=delivery.message.data,
            reason=f"{type(error).__name__}: {reason}",
        )
    )
    log.error(
        "poison message %s on %s dead-lettered at once as %s (%s): %s",
        delivery.message_id,
        topic,
        letter_id,
        type(error).__name__,
        reason[:MAX_LOGGED_REASON],
    )


def _topic_of(delivery: PubSubDelivery, topology: Topology) -> str | None:
    known = {t.name for t in topology.topics}
    if delivery.topic in known:
        return delivery.topic
    by_type = {t.event_type: t.name for t in topology.topics}
    ce_type = delivery.message.attributes.get("ce-type")
    if ce_type in by_type:
        return by_type[ce_type]
    in_data = _TYPE_IN_DATA.search(delivery.message.data)
    return by_type.get(in_data.group(1).decode()) if in_data else None
