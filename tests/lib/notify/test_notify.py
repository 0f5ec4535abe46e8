"""The notify handler on the embedded default, against a loopback receiver: a failed run is
told once per channel with a valid signature; retries, refusals and duplicates behave."""

from __future__ import annotations

import json
import logging

import pytest

from lib import metadata
from lib.errors import TransientError, Undeliverable
from lib.notify import ledger
from lib.notify.handler import notify
from lib.notify.message import verify
from lib.observability import ERROR_EVENT_TYPE, configure_logging
from lib.ports import DeadLetterFilter
from lib.runs import request_run
from tests.lib.notify.support import (
    SLACK_PATH,
    WEBHOOK_KEY,
    WINDOW,
    dq_failed,
    notify_configs,
    run_failed,
    secrets,
)

HOOK = "/hooks/convergence"


@pytest.fixture
def platform(make_platform, receiver, tmp_path):
    platform = make_platform(
        config_dir=notify_configs(tmp_path, receiver.base_url), tenants=("acme",)
    )
    platform.rt.secrets = secrets(receiver.base_url)
    return platform


def signed_correctly(request, now) -> bool:
    h = request.headers
    return verify(
        WEBHOOK_KEY, h["x-convergence-timestamp"], request.body, h["x-convergence-signature"],
        now=now,
    )  # fmt: skip


@pytest.fixture
def json_logs():
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    configure_logging(level="INFO", fmt="json")
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])


@pytest.mark.integration
def test_an_induced_failure_gives_one_error_event_and_one_signed_webhook_per_channel(
    capsys, platform, receiver, json_logs
):
    platform.rt.secrets = secrets(
        receiver.base_url, CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY="sk-wrong"
    )
    event = request_run(platform.rt, "acme", "openai_costs", WINDOW)
    platform.drain()
    run_id = event.pipeline_logging_id
    assert metadata.run_status(platform.rt.warehouse, "acme", run_id)["status"] == "FAILED"

    [hook] = receiver.to(HOOK)
    assert signed_correctly(hook, now=int(platform.clock.now().timestamp()))
    body = hook.json()
    assert body["type"] == "run.failed" and body["run_id"] == run_id
    assert "401" in body["run_failed"]["reason"] and body["run_failed"]["step"] == "ingest_costs"
    assert hook.headers["x-convergence-event-id"] == body["id"]
    assert body["trace_id"] == event.traceparent.split("-")[1]
    [slack] = receiver.to(SLACK_PATH)
    assert slack.json()["text"].startswith(f"acme/openai_costs: run {run_id} FAILED")
    assert "x-convergence-signature" not in slack.headers

    errors = [
        e for line in capsys.readouterr().err.splitlines() if line.startswith("{")
        for e in [json.loads(line)] if e["severity"] == "ERROR"
    ]  # fmt: skip
    assert len(errors) == 1 and errors[0]["@type"] == ERROR_EVENT_TYPE
    assert "Traceback" in errors[0]["message"] and "401" in errors[0]["message"]
    rows = ledger.history(platform.rt.warehouse, "acme", run_id)
    assert sorted((r["channel"], r["status"]) for r in rows) == [
        ("finops-slack", "DELIVERED"), ("finops-slack", "SENDING"),
        ("oncall", "DELIVERED"), ("oncall", "SENDING"),
    ]  # fmt: skip
    assert SLACK_PATH not in json.dumps(rows, default=str)  # the Slack URL is a secret


def test_duplicate_deliveries_notify_once(platform, receiver):
    event = run_failed()
    platform.rt.bus.publish(event)
    platform.rt.bus.publish(event)  # the same event twice: two messages, one event id
    platform.drain()
    assert len(receiver.to(HOOK)) == 1 and len(receiver.to(SLACK_PATH)) == 1
    again = notify(platform.rt, event, "another-delivery")  # and a later redelivery
    assert again == {"oncall": "already delivered", "finops-slack": "already delivered"}
    assert len(receiver.requests) == 2


def test_a_dq_failure_reaches_the_channels_that_want_it(platform, receiver):
    platform.rt.bus.publish(dq_failed("stop"))
    platform.drain()
    [hook] = receiver.to(HOOK)
    assert hook.json()["dq_failed"]["failed"] == ["amount_not_negative"]
    assert receiver.to(SLACK_PATH) == []  # slack asked for run.failed only


def test_a_flaky_receiver_is_retried_in_process(platform, receiver):
    receiver.script = [500, 503]
    outcome = notify(platform.rt, run_failed(), "d1", sleep=lambda _s: None)
    assert outcome["oncall"] == "delivered"
    now = int(platform.clock.now().timestamp())
    assert len(receiver.to(HOOK)) == 3
    assert all(signed_correctly(r, now=now) for r in receiver.to(HOOK))  # every attempt signed
    history = ledger.history(platform.rt.warehouse, "acme", run_failed().pipeline_logging_id)
    rows = [r for r in history if r["channel"] == "oncall" and r["status"] == "DELIVERED"]
    assert rows[0]["attempts"] == 3 and rows[0]["http_status"] == 200


def test_an_unreachable_channel_is_retried_by_the_bus_and_the_others_are_not_told_twice(
    platform, receiver
):
    receiver.default = 503  # every request fails for now
    with pytest.raises(TransientError, match="not delivered to"):
        notify(platform.rt, run_failed(), "d1", sleep=lambda _s: None)
    receiver.default = 200
    outcome = notify(platform.rt, run_failed(), "d1", sleep=lambda _s: None)
    assert outcome == {"oncall": "delivered", "finops-slack": "delivered"}
    assert notify(platform.rt, run_failed(), "d2") == {
        "oncall": "already delivered", "finops-slack": "already delivered",
    }  # fmt: skip


def test_a_refusing_receiver_dead_letters_the_event_with_the_reason_and_replay_delivers(
    platform, receiver
):
    receiver.script = [404]
    platform.rt.bus.publish(run_failed())
    platform.drain()
    [letter] = platform.rt.bus.dead_letters(DeadLetterFilter(tenant_id="acme"))
    assert letter.topic == "run-failed-dead-letter"
    assert "refused by ['oncall']" in letter.last_error and "HTTP 404" in letter.last_error
    assert len(receiver.to(SLACK_PATH)) == 1  # the other channel was served
    platform.rt.bus.replay(DeadLetterFilter(tenant_id="acme"))
    platform.drain()
    assert len(receiver.to(HOOK)) == 2 and len(receiver.to(SLACK_PATH)) == 1
    assert platform.rt.bus.dead_letters(DeadLetterFilter(tenant_id="acme")) == []


def test_a_missing_secret_or_a_broken_file_dead_letters_with_what_to_fix(platform, receiver):
    platform.rt.secrets = secrets(receiver.base_url, CONVERGENCE_SECRET_ACME_FINOPS_SLACK_URL="")
    with pytest.raises(Undeliverable, match="finops-slack"):
        notify(platform.rt, run_failed(), "d1")
    (platform.rt.config_dir / "acme" / "notifications.yml").write_text("channels: [{name: x}]\n")
    with pytest.raises(Undeliverable, match=r"notifications\.yml"):
        notify(platform.rt, run_failed("evt-failed-0002"), "d2")


def test_a_slack_secret_that_is_no_url_is_refused_without_showing_it(platform, receiver):
    platform.rt.secrets = secrets(
        receiver.base_url, CONVERGENCE_SECRET_ACME_FINOPS_SLACK_URL="xoxb-not-a-url"
    )
    with pytest.raises(Undeliverable) as info:
        notify(platform.rt, run_failed(), "d1")
    assert "finops_slack_url" in str(info.value) and "xoxb" not in str(info.value)


def test_a_tenant_whose_channels_are_disabled_is_acked_quietly(make_platform, receiver):
    platform = make_platform(tenants=("acme",))  # the committed configs: disabled examples
    assert notify(platform.rt, run_failed(), "d1") == {}
    assert receiver.requests == []
