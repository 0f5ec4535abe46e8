"""What a notification says and how a receiver checks its signature (pure)."""

from __future__ import annotations

import hashlib
import hmac
import json

from lib.notify.message import (
    notification_of,
    sign,
    slack_body,
    verify,
    webhook_body,
    webhook_headers,
)
from tests.lib.notify.support import dq_failed, run_failed


def test_a_failed_run_becomes_a_webhook_body_with_the_commands_to_run_next():
    message = notification_of(run_failed())
    body = json.loads(webhook_body(message))
    assert body["id"] == "evt-failed-0001" and body["type"] == "run.failed"
    assert (body["tenant_id"], body["pipeline_id"], body["run_id"]) == (
        "acme", "openai_costs", "run-0123456789abcdef",
    )  # fmt: skip
    assert body["summary"] == (
        "acme/openai_costs: run run-0123456789abcdef FAILED at step ingest_costs (TerminalError)"
    )
    assert body["run_failed"]["reason"].endswith("(HTTP 401)")
    assert body["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert body["commands"]["status"] == "convergence status run-0123456789abcdef --tenant acme"
    assert body["window"] == {"start": "2026-11-18", "end": "2026-11-19"}


def test_a_dq_failure_names_the_failed_expectations_and_what_happens_to_the_run():
    for mode, outcome in (("stop", "run stopped"), ("alert", "run continues (alert)")):
        body = json.loads(webhook_body(notification_of(dq_failed(mode))))
        assert body["type"] == "dq.failed" and body["details"] == ["amount_not_negative"]
        assert body["dq_failed"]["on_failure"] == mode and outcome in body["summary"]


def test_slack_gets_text_and_blocks_with_markup_escaped():
    event = run_failed().model_copy(update={"reason": "value <script> & more"})
    body = json.loads(slack_body(notification_of(event)))
    assert body["text"].startswith("acme/openai_costs: run run-0123456789abcdef FAILED")
    assert "&lt;script&gt; &amp; more" in body["blocks"][1]["text"]["text"]
    assert "trace `0af7651916cd43dd8448eb211c80319c`" in body["blocks"][2]["elements"][0]["text"]


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    body = b'{"id":"x"}'
    expected = hmac.new(b"key", b"1700000000." + body, hashlib.sha256).hexdigest()
    assert sign("key", 1700000000, body) == f"sha256={expected}"
    headers = webhook_headers("key", 1700000000, notification_of(run_failed()), body)
    assert headers["X-Convergence-Signature"] == f"sha256={expected}"
    assert headers["X-Convergence-Event-Id"] == "evt-failed-0001"


def test_verify_refuses_a_wrong_key_a_changed_body_and_a_stale_timestamp():
    body = b'{"id":"x"}'
    good = sign("key", 1000, body)
    assert verify("key", "1000", body, good, now=1010)
    assert not verify("other", "1000", body, good, now=1010)
    assert not verify("key", "1000", body + b" ", good, now=1010)
    assert not verify("key", "1000", body, good, now=1000 + 301)
    assert not verify("key", "soon", body, good, now=1000)


def test_other_events_are_not_notified():
    from events.models import RunCompleted, StepRef

    done = run_failed().model_dump(exclude={"reason", "error_type", "step_done"})
    completed = RunCompleted(**done, step_done=StepRef(name="silver", index=4, type="transform"))
    assert notification_of(completed) is None


def test_a_budget_crossing_says_what_crossed_with_exact_amounts():
    import datetime as dt
    from decimal import Decimal

    from events.models import BudgetCrossed, StepRef

    base = run_failed().model_dump(exclude={"reason", "error_type", "step_done", "next_step"})
    event = BudgetCrossed(
        **{**base, "pipeline_id": "cost_intelligence"},
        step_done=StepRef(name="budget_status", index=5, type="transform"),
        budget_name="ai_apis", month=dt.date(2026, 11, 1), basis="forecast",
        threshold_percent=100, budget_amount=Decimal("3000"),
        value=Decimal("3120.123456789012345678"), currency="USD",
        scope="providers openai, anthropic", as_of=dt.date(2026, 11, 19),
    )  # fmt: skip
    body = json.loads(webhook_body(notification_of(event)))
    assert body["type"] == "budget.crossed"
    assert body["summary"] == (
        "acme: budget ai_apis — the month-end forecast 3,120.12 USD reached 100% of 3,000.00 "
        "for 2026-11"
    )
    facts = body["budget_crossed"]
    assert facts["value"] == "3120.123456789012345678" and facts["threshold_percent"] == 100
    assert body["details"] == [
        "scope: providers openai, anthropic",
        "spend counted up to 2026-11-19",
    ]


def test_channels_hear_budgets_only_when_they_ask():
    from lib.notify.config import NotificationsConfig

    config = NotificationsConfig.model_validate({"channels": [
        {"name": "oncall", "type": "webhook", "url": "https://hooks.example.com/x",
         "signing_secret": "oncall_key"},
        {"name": "finops", "type": "slack", "url_secret": "slack_url",
         "events": ["budget.crossed"], "pipelines": ["cost_intelligence"]},
    ]})  # fmt: skip
    oncall, finops = config.channels
    assert not oncall.wants("budget.crossed", "cost_intelligence")
    assert finops.wants("budget.crossed", "cost_intelligence")
    assert not finops.wants("run.failed", "cost_intelligence")
