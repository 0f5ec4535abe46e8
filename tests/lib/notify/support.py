"""A tenant with notification channels pointing at a loopback receiver, and its platform."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from events.models import DqFailed, RunFailed, StepRef, Window
from lib.adapters.env_secrets import EnvSecrets
from tests.platform import copy_configs

WEBHOOK_KEY = "whsec-test-5b1e9c"
SLACK_PATH = "/services/T000/B000/abc123secret"
WINDOW = Window(start=dt.date(2026, 11, 18), end=dt.date(2026, 11, 19))
NOW = dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)


def channels(base_url: str, **overrides: Any) -> list[dict[str, Any]]:
    """A signed webhook (every event) and a Slack channel (failed runs only)."""
    fast = {"max_attempts": 3, "initial_backoff_seconds": 0, "max_backoff_seconds": 0}
    webhook = {
        "name": "oncall",
        "type": "webhook",
        "url": f"{base_url}/hooks/convergence",
        "signing_secret": "oncall_webhook_key",
        "retry": fast,
        "timeout_seconds": 5,
    }
    slack = {
        "name": "finops-slack",
        "type": "slack",
        "url_secret": "finops_slack_url",
        "events": ["run.failed"],
        "retry": fast,
    }
    webhook.update(overrides.get("webhook", {}))
    slack.update(overrides.get("slack", {}))
    return [webhook, slack]


def notify_configs(tmp_path: Path, base_url: str, **overrides: Any) -> Path:
    """acme's configs plus a notifications.yml with :func:`channels`."""
    configs = copy_configs(tmp_path, "acme")
    write_channels(configs, channels(base_url, **overrides))
    return configs


def write_channels(configs: Path, listed: list[dict[str, Any]]) -> None:
    (configs / "acme" / "notifications.yml").write_text(yaml.safe_dump({"channels": listed}))


def secrets(base_url: str, **extra: str) -> EnvSecrets:
    """acme's provider keys (the sandbox's), the webhook key and the Slack URL."""
    return EnvSecrets(
        {
            "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-sandbox-acme",
            "CONVERGENCE_SECRET_ACME_ANTHROPIC_ADMIN_KEY": "sk-sandbox-acme",
            "CONVERGENCE_SECRET_ACME_ONCALL_WEBHOOK_KEY": WEBHOOK_KEY,
            "CONVERGENCE_SECRET_ACME_FINOPS_SLACK_URL": f"{base_url}{SLACK_PATH}",
            **extra,
        }
    )


def run_failed(
    event_id: str = "evt-failed-0001", run_id: str = "run-0123456789abcdef"
) -> RunFailed:
    return RunFailed(
        event_id=event_id,
        occurred_at=NOW,
        tenant_id="acme",
        pipeline_id="openai_costs",
        pipeline_logging_id=run_id,
        window=WINDOW,
        step_done=StepRef(name="ingest_costs", index=0, type="ingest"),
        reason="openai: the provider rejected the credentials (HTTP 401)",
        error_type="TerminalError",
        traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    )


def dq_failed(on_failure: str = "stop") -> DqFailed:
    return DqFailed(
        event_id="evt-dq-0001",
        occurred_at=NOW,
        tenant_id="acme",
        pipeline_id="openai_costs",
        pipeline_logging_id="run-0123456789abcdef",
        window=WINDOW,
        step_done=StepRef(name="check_costs", index=1, type="dq"),
        next_step=StepRef(name="ingest_usage", index=2, type="ingest")
        if on_failure == "alert"
        else None,
        expectations=10,
        failed=["amount_not_negative"],
        on_failure=on_failure,  # type: ignore[arg-type]
    )
