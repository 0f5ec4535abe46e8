"""The wire contract: event models, their JSON Schemas, the codec and the topology.

Imports nothing from ``lib`` or ``handlers``.
"""

from events.codec import (
    CodecError,
    Message,
    attributes_of,
    from_cloudevent,
    from_message,
    from_push,
    to_cloudevent,
    to_eventarc,
    to_message,
    to_push_body,
)
from events.models import (
    BY_TOPIC,
    BY_TYPE,
    EVENT_CLASSES,
    DqFailed,
    DqPassed,
    Event,
    IngestCompleted,
    RunCompleted,
    RunFailed,
    RunRequested,
    StepRef,
    StepType,
    TransformCompleted,
    Window,
)
from events.topology import Topology, load_topology

__all__ = [
    "BY_TOPIC",
    "BY_TYPE",
    "EVENT_CLASSES",
    "CodecError",
    "DqFailed",
    "DqPassed",
    "Event",
    "IngestCompleted",
    "Message",
    "RunCompleted",
    "RunFailed",
    "RunRequested",
    "StepRef",
    "StepType",
    "Topology",
    "TransformCompleted",
    "Window",
    "attributes_of",
    "from_cloudevent",
    "from_message",
    "from_push",
    "load_topology",
    "to_cloudevent",
    "to_eventarc",
    "to_message",
    "to_push_body",
]
