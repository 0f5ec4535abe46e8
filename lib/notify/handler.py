"""The ``notify`` handler: a failed run or DQ failure → every matching channel, once.

Per delivered event:

1. decode it (a poison message is dead-lettered at once, like every handler's); events other
   than ``run.failed`` and ``dq.failed`` are acked and ignored;
2. read the tenant's channels; an invalid notifications file dead-letters the event with the
   problems (fix the file, then ``convergence replay``);
3. for each channel that wants the event: claim it in the ledger, build the body, POST it
   (``lib/notify/deliver.py``), close the claim;
4. a channel that could not be reached (network, 5xx, 429 after its in-process retries) makes
   the delivery fail: the bus redelivers later, and channels already told are skipped; a
   channel that refused the request (other 4xx) or whose secret is missing dead-letters the
   event with the reason, after every other channel was served.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

import httpx

from events.codec import CodecError, from_cloudevent
from events.models import Event
from lib.errors import (
    ConfigError,
    MalformedEvent,
    PoisonEvent,
    SecretNotFound,
    TransientError,
    Undeliverable,
)
from lib.notify import ledger
from lib.notify.config import LOOPBACK, SlackChannel, WebhookChannel, load_notifications
from lib.notify.deliver import Sleep, Verdict, post
from lib.notify.message import Notification, notification_of, slack_body, webhook_body
from lib.notify.message import webhook_headers as signed_headers
from lib.observability import handler_span, mark_logged
from lib.tracing import tracer
from lib.wiring import Runtime, runtime

log = logging.getLogger(__name__)
ClientFactory = Callable[[], httpx.Client]


def handle_notification(cloud_event: Any) -> None:
    """Entry point of the ``notify`` function (see the module docstring).

    Raises:
        MalformedEvent: a poison event whose topic cannot be told.
        TransientError: a channel could not be reached; redeliver later.
    """
    from lib.steps import poison
    from lib.tracing import flush

    rt = runtime()
    try:
        try:
            event = from_cloudevent(cloud_event)
        except CodecError as exc:
            raise MalformedEvent(str(exc)) from exc
        notify(rt, event, str(cloud_event["id"] or event.event_id))
    except PoisonEvent as exc:
        poison.reject(rt, cloud_event, exc)
    finally:
        flush()


def notify(
    rt: Runtime,
    event: Event,
    delivery_id: str,
    *,
    client: ClientFactory = httpx.Client,
    sleep: Sleep | None = None,
) -> dict[str, str]:
    """Tell the tenant's channels about ``event``; returns channel → outcome.

    Outcomes: ``delivered``, ``already delivered``, ``busy``, ``failed``, ``refused``.

    Raises:
        UnknownTenant: the tenant has no config folder (poison).
        Undeliverable: a channel refused it or the configuration is broken (dead-letter).
        TransientError: a channel could not be reached (redeliver).
    """
    from lib.steps.poison import check_tenant

    message = notification_of(event)
    if message is None:
        log.info("notify ignores %s", event.TYPE)
        return {}
    check_tenant(rt.config_dir, event.tenant_id)
    labels = {"tenant_id": event.tenant_id, "pipeline_id": event.pipeline_id,
              "run_id": event.pipeline_logging_id, "step": "notify"}  # fmt: skip
    with handler_span("notify.handle", event.traceparent, labels):
        try:
            config = load_notifications(rt.config_dir, event.tenant_id)
        except ConfigError as exc:
            raise Undeliverable(f"the tenant's notifications file is invalid: {exc}") from exc
        channels = [c for c in config.channels if c.wants(message.kind, event.pipeline_id)]
        if not channels:
            log.info("no channel of %s wants %s", event.tenant_id, message.kind)
            return {}
        rt.ensure_tenant(event.tenant_id)
        with client() as http:
            outcomes = {
                c.name: _channel(rt, c, message, delivery_id, http, sleep) for c in channels
            }
        _conclude(outcomes, message)
        return outcomes


def _channel(
    rt: Runtime,
    channel: WebhookChannel | SlackChannel,
    message: Notification,
    delivery_id: str,
    http: httpx.Client,
    sleep: Sleep | None,
) -> str:
    entry = ledger.Entry(
        tenant_id=message.tenant_id,
        event_id=message.event_id,
        channel=channel.name,
        run_id=message.run_id,
        pipeline_id=message.pipeline_id,
        event_type=message.event_type,
        delivery_id=delivery_id,
    )
    attributes = {"notify.channel": channel.name, "notify.type": channel.type,
                  "notify.event": message.kind}  # fmt: skip
    with tracer().start_as_current_span(f"notify {channel.name}", attributes=attributes) as span:
        verdict, claim_id = ledger.claim(rt.warehouse, rt.clock, entry)
        if verdict is not ledger.Claim.WON:
            span.set_attribute("notify.outcome", str(verdict))
            return "already delivered" if verdict is ledger.Claim.DONE else "busy"
        try:
            result = _send(rt, channel, message, http, sleep)
        except SecretNotFound as exc:
            result = Verdict(False, 0, error=f"secret missing: {exc}", permanent=True)
        ledger.close(
            rt.warehouse, rt.clock, entry, claim_id, delivered=result.delivered,
            attempts=result.attempts, http_status=result.status, error=result.error,
        )  # fmt: skip
        outcome = "delivered" if result.delivered else ("refused" if result.permanent else "failed")
        span.set_attribute("notify.outcome", outcome)
        span.set_attribute("notify.attempts", result.attempts)
        if not result.delivered:
            log.warning("channel %s %s %s: %s", channel.name, outcome, message.kind, result.error)
        return outcome if result.delivered else f"{outcome}: {result.error}"


def _send(
    rt: Runtime,
    channel: WebhookChannel | SlackChannel,
    message: Notification,
    http: httpx.Client,
    sleep: Sleep | None,
) -> Verdict:
    extra = {} if sleep is None else {"sleep": sleep}
    if isinstance(channel, SlackChannel):
        url = rt.secrets.get(message.tenant_id, channel.url_secret)
        if not _web_url(url):
            error = f"secret {channel.url_secret!r} does not hold an https:// webhook URL"
            return Verdict(False, 0, error=error, permanent=True)
        body = slack_body(message)
        return post(http, url, body, lambda: {"Content-Type": "application/json"},
                    policy=channel.retry, timeout=channel.timeout_seconds, **extra)  # fmt: skip
    key = rt.secrets.get(message.tenant_id, channel.signing_secret)
    body = webhook_body(message)

    def headers() -> dict[str, str]:  # a fresh timestamp (and signature) per attempt
        return signed_headers(key, int(rt.clock.now().timestamp()), message, body)

    return post(http, channel.url, body, headers, policy=channel.retry,
                timeout=channel.timeout_seconds, **extra)  # fmt: skip


def _web_url(url: str) -> bool:
    parts = urlsplit(url)
    return bool(parts.hostname) and (
        parts.scheme == "https" or (parts.scheme == "http" and parts.hostname in LOOPBACK)
    )


def _conclude(outcomes: dict[str, str], message: Notification) -> None:
    """Raise for what is left undone: unreachable or busy → retry; refused → dead-letter."""
    retry = {n: o for n, o in outcomes.items() if o == "busy" or o.startswith("failed")}
    refused = {n: o for n, o in outcomes.items() if o.startswith("refused")}
    if retry:
        error = TransientError(
            f"notification {message.event_id} not delivered to {sorted(retry)}: "
            + "; ".join(f"{n}: {o}" for n, o in sorted(retry.items()))
        )
        log.warning("%s; it will be retried", error)
        mark_logged(error)
        raise error
    if refused:
        raise Undeliverable(
            f"notification {message.event_id} refused by {sorted(refused)}: "
            + "; ".join(f"{n}: {o}" for n, o in sorted(refused.items()))
            + " — fix the channel (notifications.yml or its secret), then `convergence replay`"
        )
