"""``configs/<tenant>/notifications.yml``: where a tenant hears about failed runs and DQ (and,
for channels that list ``budget.crossed``, budget thresholds crossed).

::

    channels:
      - name: oncall                       # unique per tenant
        type: webhook                      # JSON body, X-Convergence-Signature (HMAC-SHA256)
        url: https://hooks.example.com/convergence
        signing_secret: oncall_webhook_key # a secret NAME (Secrets port), never its value
        events: [run.failed, dq.failed]    # default: both
      - name: finops-slack
        type: slack                        # Slack-compatible incoming webhook
        url_secret: finops_slack_webhook   # the webhook URL is a secret: its NAME here
        events: [run.failed]
        pipelines: [openai_costs]          # default: every pipeline
        enabled: false

Each channel may also set ``timeout_seconds`` (default 10) and ``retry`` (``max_attempts``
3, ``initial_backoff_seconds`` 1, ``max_backoff_seconds`` 30: in-process attempts before the
event is handed back to Pub/Sub for a later redelivery). A tenant without the file has no
channels. The pydantic models are the source of truth; ``configs/_schemas/
notifications.schema.json`` is generated from them, and ``convergence validate`` checks every
tenant's file.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator

from events.ids import SLUG_PATTERN

FILE_NAME = "notifications.yml"
EventKind = Literal["run.failed", "dq.failed", "budget.crossed"]
EVENT_KINDS: tuple[EventKind, ...] = ("run.failed", "dq.failed")
"""What a channel hears when it names no ``events``: failures. Budget alerts
(``budget.crossed``, docs/cost_intelligence.md) are asked for by name."""
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _secret_name(value: str, field: str) -> str:
    if not re.fullmatch(SLUG_PATTERN, value):
        raise ValueError(
            f"{field} must be a secret name (3-41 of lowercase a-z, 0-9, _), not a secret "
            "value; store the value in the tenant's secrets and write its name here"
        )
    return value


class RetryPolicy(_Strict):
    """In-process attempts at one channel before the event goes back to the bus."""

    max_attempts: int = Field(default=3, ge=1, le=10)
    initial_backoff_seconds: float = Field(default=1.0, ge=0, le=60)
    max_backoff_seconds: float = Field(default=30.0, ge=0, le=300)


class _Channel(_Strict):
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{1,40}$", description="Unique per tenant.")
    enabled: bool = True
    events: list[EventKind] = Field(default_factory=lambda: list(EVENT_KINDS), min_length=1)
    pipelines: list[Annotated[str, Field(pattern=SLUG_PATTERN)]] | None = Field(
        default=None, description="Only these pipelines (default: every pipeline)."
    )
    timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)

    def wants(self, kind: str, pipeline_id: str) -> bool:
        """Whether this channel is told about ``kind`` events of ``pipeline_id``."""
        return (
            self.enabled
            and kind in self.events
            and (self.pipelines is None or pipeline_id in self.pipelines)
        )


class WebhookChannel(_Channel):
    """A generic webhook: a JSON body signed with HMAC-SHA256 (docs/operations.md)."""

    type: Literal["webhook"]
    url: str = Field(description="https:// URL (http:// only for 127.0.0.1 / localhost).")
    signing_secret: str = Field(description="Secret NAME of the HMAC key, never its value.")

    @field_validator("url")
    @classmethod
    def _https(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme == "https" and parts.hostname:
            return value
        if parts.scheme == "http" and parts.hostname in LOOPBACK:
            return value
        raise ValueError(
            "url must be an https:// URL (http:// is allowed for 127.0.0.1 and localhost only)"
        )

    @field_validator("signing_secret")
    @classmethod
    def _name(cls, value: str) -> str:
        return _secret_name(value, "signing_secret")


class SlackChannel(_Channel):
    """A Slack-compatible incoming webhook; its URL is itself a secret."""

    type: Literal["slack"]
    url_secret: str = Field(description="Secret NAME holding the incoming-webhook URL.")

    @field_validator("url_secret")
    @classmethod
    def _name(cls, value: str) -> str:
        return _secret_name(value, "url_secret")


Channel = Annotated[WebhookChannel | SlackChannel, Field(discriminator="type")]


class NotificationsConfig(_Strict):
    """A tenant's notification channels."""

    channels: list[Channel] = Field(default_factory=list)

    @field_validator("channels")
    @classmethod
    def _unique_names(
        cls, channels: list[WebhookChannel | SlackChannel]
    ) -> list[WebhookChannel | SlackChannel]:
        names = [c.name for c in channels]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"channel names must be unique; repeated: {', '.join(repeated)}")
        return channels

    def secret_names(self) -> set[str]:
        """The secret names the enabled channels read."""
        out: set[str] = set()
        for channel in self.channels:
            if channel.enabled:
                out.add(
                    channel.signing_secret
                    if isinstance(channel, WebhookChannel)
                    else channel.url_secret
                )
        return out


def notifications_file(config_dir: Path, tenant_id: str) -> Path:
    """Where a tenant's notification channels are configured."""
    return config_dir / tenant_id / FILE_NAME


def load_notifications(config_dir: Path, tenant_id: str) -> NotificationsConfig:
    """The tenant's channels (none when the tenant has no notifications file).

    Raises:
        ConfigError: the file is unreadable or invalid (every problem, with file, line and
            field).
    """
    from lib.config.problems import load_model

    path = notifications_file(config_dir, tenant_id)
    if not path.is_file():
        return NotificationsConfig()
    return load_model(path, NotificationsConfig)
