"""Create the Pub/Sub topology of ``events/topology.json`` in a project (or an emulator).

For every topic: the topic, its dead-letter topic and the dead-letter *hold* subscription
that keeps dead letters for ``convergence replay``. For every subscription: a push
subscription to its handler's endpoint (OIDC-authenticated when a service account is
given), or a pull subscription when no endpoint is known, with the topology's filter,
dead-letter policy (max delivery attempts), retry backoff, ack deadline and retention.
No subscription ever expires (Pub/Sub's default deletes one unused for 31 days); Terraform
(``terraform/pubsub.tf``) declares exactly the same settings, and
``tests/deploy/test_terraform_matches_code.py`` checks the two agree.

Idempotent: resources that already exist are left as they are and reported as existing
(Pub/Sub cannot change a subscription's filter in place; delete it to change it).
Granting the Pub/Sub service agent publisher/subscriber roles on dead-letter topics and
subscriptions is Terraform's job (``terraform/``); the emulator does not check IAM.

CLI: ``convergence bus create-topology --project P --push-endpoint ingest=http://...``
calls ``create_topology(P, parse_push_endpoints([...]))``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from events.topology import Subscription, Topology, load_topology
from lib.errors import ConfigError, ConfigProblem

# An ExpirationPolicy without ttl: the subscription never expires, however long it is idle.
NEVER_EXPIRE: dict[str, Any] = {}


@dataclass
class TopologyReport:
    """What ``create_topology`` did: full resource names created and already present."""

    created: list[str] = field(default_factory=list)
    existing: list[str] = field(default_factory=list)


def parse_push_endpoints(pairs: Iterable[str], topology: Topology | None = None) -> dict[str, str]:
    """Parse CLI ``handler=url`` pairs into a mapping, checking handler names.

    Raises:
        ConfigError: a pair is not ``handler=http(s)://...`` or names an unknown handler.
    """
    known = {h.name for h in (topology or load_topology()).handlers}
    endpoints: dict[str, str] = {}
    problems: list[ConfigProblem] = []
    for pair in pairs:
        name, _, url = pair.partition("=")
        if name not in known:
            problems.append(_problem(pair, f"unknown handler {name!r}", f"one of {sorted(known)}"))
        elif not url.startswith(("http://", "https://")):
            problems.append(
                _problem(pair, "the endpoint is not an http(s) URL", f"{name}=https://…")
            )
        else:
            endpoints[name] = url
    if problems:
        raise ConfigError(problems)
    return endpoints


def _problem(pair: str, message: str, hint: str) -> ConfigProblem:
    return ConfigProblem(file="--push-endpoint", field=pair, message=message, hint=hint)


def create_topology(
    project: str,
    push_endpoints: Mapping[str, str] | None = None,
    oidc_service_account: str | None = None,
    *,
    topology: Topology | None = None,
    publisher: Any = None,
    subscriber: Any = None,
) -> TopologyReport:
    """Create every topic and subscription of the topology in ``project``.

    Args:
        project: the Google Cloud project (any id on the emulator).
        push_endpoints: handler name → push URL; handlers without one get pull subscriptions.
        oidc_service_account: service account whose OIDC token authenticates push requests.
        topology: the topology (default ``events/topology.json``).
        publisher: a ``PublisherClient`` (default: a new one; honours PUBSUB_EMULATOR_HOST).
        subscriber: a ``SubscriberClient`` (default: a new one).

    Returns:
        The resources created and those that already existed.

    Raises:
        TerminalError: Pub/Sub rejected a request (invalid names, permissions).
        TransientError: Pub/Sub was unavailable.
    """
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

    topology = topology or load_topology()
    publisher = publisher or PublisherClient()
    subscriber = subscriber or SubscriberClient()
    report = TopologyReport()
    for topic in topology.topics:
        _create(report, _topic_path(project, topic.name), publisher.create_topic, {})
        if topic.dead_letter_topic and topic.dead_letter_subscription:
            dead = _topic_path(project, topic.dead_letter_topic)
            _create(report, dead, publisher.create_topic, {})
            hold = _sub_path(project, topic.dead_letter_subscription)
            request = hold_request(topology, dead)
            _create(report, hold, subscriber.create_subscription, request)
    endpoints = dict(push_endpoints or {})
    for sub in topology.subscriptions:
        request = subscription_request(project, topology, sub, endpoints, oidc_service_account)
        _create(report, request["name"], subscriber.create_subscription, request)
    return report


def subscription_request(
    project: str,
    topology: Topology,
    sub: Subscription,
    push_endpoints: Mapping[str, str],
    oidc_service_account: str | None = None,
) -> dict[str, Any]:
    """The ``CreateSubscription`` request for one topology subscription."""
    from google.protobuf import duration_pb2

    defaults = topology.defaults
    topic = topology.topic(sub.topic)
    request: dict[str, Any] = {
        "name": _sub_path(project, sub.name),
        "topic": _topic_path(project, sub.topic),
        "filter": sub.filter,
        "ack_deadline_seconds": defaults.ack_deadline_seconds,
        "message_retention_duration": duration_pb2.Duration(
            seconds=defaults.message_retention_seconds
        ),
        "retry_policy": {
            "minimum_backoff": duration_pb2.Duration(seconds=defaults.min_backoff_seconds),
            "maximum_backoff": duration_pb2.Duration(seconds=defaults.max_backoff_seconds),
        },
        "expiration_policy": dict(NEVER_EXPIRE),
    }
    if topic.dead_letter_topic:
        request["dead_letter_policy"] = {
            "dead_letter_topic": _topic_path(project, topic.dead_letter_topic),
            "max_delivery_attempts": defaults.max_delivery_attempts,
        }
    endpoint = push_endpoints.get(sub.handler)
    if endpoint:
        push: dict[str, Any] = {"push_endpoint": endpoint}
        if oidc_service_account:
            push["oidc_token"] = {"service_account_email": oidc_service_account,
                                  "audience": endpoint}  # fmt: skip
        request["push_config"] = push
    return request


def hold_request(topology: Topology, dead_letter_topic: str) -> dict[str, Any]:
    """The ``CreateSubscription`` request (without name) of a dead-letter hold subscription."""
    from google.protobuf import duration_pb2

    defaults = topology.defaults
    return {
        "topic": dead_letter_topic,
        "ack_deadline_seconds": defaults.hold_ack_deadline_seconds,
        "message_retention_duration": duration_pb2.Duration(
            seconds=defaults.message_retention_seconds
        ),
        "expiration_policy": dict(NEVER_EXPIRE),
    }


def _create(
    report: TopologyReport, name: str, call: Callable[..., Any], request: dict[str, Any]
) -> None:
    from google.api_core.exceptions import AlreadyExists

    from lib.adapters.pubsub_bus import pubsub_errors

    with pubsub_errors(name):
        try:
            call(request={**request, "name": name})
        except AlreadyExists:
            report.existing.append(name)
            return
    report.created.append(name)


def _topic_path(project: str, topic: str) -> str:
    return f"projects/{project}/topics/{topic}"


def _sub_path(project: str, subscription: str) -> str:
    return f"projects/{project}/subscriptions/{subscription}"
