"""functions-framework source for the push endpoints of the Pub/Sub tests.

``functions_framework.create_app(target="deliver", source=<this file>)`` wraps ``deliver``
exactly as Cloud Run would serve a handler: the raw Pub/Sub push body becomes a
``google.cloud.pubsub.topic.v1.messagePublished`` CloudEvent; return → 200 (ack),
raise → 500 (nack, redeliver). Which test handler runs is looked up by the server's port.
"""

from __future__ import annotations

import functions_framework
from cloudevents.http import CloudEvent

from tests.support.push_routes import dispatch


@functions_framework.cloud_event
def deliver(cloud_event: CloudEvent) -> None:
    """Hand the delivery to the handler registered for this server's port."""
    dispatch(cloud_event)
