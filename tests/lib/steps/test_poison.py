"""Poison messages on the in-process bus: dead-lettered at once with their reason, never lost.

Each message is published raw (as any Pub/Sub client could) to a real local platform: the
handler that receives it dead-letters it on the first delivery (no nack, no retry), logs one
ERROR naming the reason, and ``convergence replay --dry-run`` lists it with that reason.
"""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from events.codec import Message, to_message
from events.models import RunRequested, StepRef, Window
from lib.adapters.dead_letter_store import REJECTION_ATTRIBUTE
from lib.errors import UnknownTenant
from lib.ports import DeadLetterFilter
from lib.steps.runner import handle

EVERYTHING = DeadLetterFilter()
WINDOW = Window(start=dt.date(2026, 11, 13), end=dt.date(2026, 11, 14))


def run_requested(tenant: str = "acme", **overrides: object) -> RunRequested:
    fields: dict[str, object] = dict(
        event_id="evt-poison-0001",
        occurred_at=dt.datetime(2026, 11, 20, tzinfo=dt.UTC),
        tenant_id=tenant,
        pipeline_id="openai_costs",
        pipeline_logging_id="run-poison-0001",
        window=WINDOW,
        next_step=StepRef(name="ingest_costs", index=0, type="ingest"),
    )
    fields.update(overrides)
    return RunRequested(**fields)


def with_data(message: Message, change: dict[str, object]) -> Message:
    envelope = json.loads(message.data)
    envelope.update(change)
    return Message(json.dumps(envelope).encode(), message.attributes)


def poison_cases() -> dict[str, tuple[Message, str]]:
    good = to_message(run_requested())
    bad_data = json.loads(good.data)
    bad_data["data"]["tenant_id"] = "Not A Tenant"
    return {
        "no routing attributes": (Message(good.data, {}), "no routing attribute"),
        "no attributes, not JSON": (Message(b"\x00garbage", {}), "not a structured CloudEvent"),
        "bad JSON": (Message(b"{not json", good.attributes), "not a structured CloudEvent"),
        "schema violation": (
            Message(json.dumps(bad_data).encode(), good.attributes),
            "tenant_id",
        ),
        "unknown ce-type": (
            with_data(
                Message(good.data, {**good.attributes, "ce-type": "convergence.bogus.v1"}),
                {"type": "convergence.bogus.v1"},
            ),
            "unknown event type 'convergence.bogus.v1'",
        ),
        "unknown tenant": (to_message(run_requested("nosuchtenant")), "unknown tenant"),
    }


CASES = poison_cases()


@pytest.mark.parametrize("case", sorted(CASES))
def test_poison_is_dead_lettered_at_once_with_its_reason(make_platform, caplog, case):
    message, reason = CASES[case]
    platform = make_platform()
    bus = platform.rt.bus
    with caplog.at_level(logging.INFO):
        message_id = bus.publish_message("run-requested", message)  # type: ignore[attr-defined]
        stats = bus.run_until_idle()  # type: ignore[attr-defined]

    assert (stats.delivered, stats.acked, stats.nacked, stats.dead_lettered) == (1, 1, 0, 0)
    (letter,) = bus.dead_letters(EVERYTHING)
    assert letter.topic == "run-requested-dead-letter"
    assert reason in letter.last_error
    assert letter.data == message.data
    assert letter.attributes[REJECTION_ATTRIBUTE] == letter.last_error
    own = {k: v for k, v in letter.attributes.items() if not k.startswith(("CloudPubSub", "conv"))}
    assert own == message.attributes
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1, [r.getMessage() for r in errors]
    assert message_id in errors[0].getMessage() and reason in errors[0].getMessage()
    assert not any("nack" in r.getMessage() for r in caplog.records)
    assert bus.pending() == []  # type: ignore[attr-defined]


def test_an_unknown_tenant_creates_nothing(make_platform):
    platform = make_platform()
    platform.statements.clear()
    bus = platform.rt.bus
    bus.publish(run_requested("nosuchtenant"))
    bus.run_until_idle()  # type: ignore[attr-defined]

    assert platform.statements == []
    assert platform.rt.warehouse.list_tables("nosuchtenant_metadata") == []
    assert bus.published_events("run-failed") == []  # type: ignore[attr-defined]
    platform.statements.clear()
    with pytest.raises(UnknownTenant, match="nosuchtenant"):
        handle(platform.rt, run_requested("nosuchtenant"), "ingest")
    assert platform.statements == []


def test_a_fixed_poison_message_is_replayed_like_any_dead_letter(make_platform):
    platform = make_platform()
    bus = platform.rt.bus
    event = run_requested()
    bus.publish_message("run-requested", Message(to_message(event).data, {}))
    bus.run_until_idle()
    (letter,) = bus.dead_letters(EVERYTHING)

    # The replayed message still has no routing attribute: it comes straight back, once.
    assert len(bus.replay(EVERYTHING)) == 1
    stats = bus.run_until_idle()
    assert (stats.delivered, stats.nacked) == (1, 0)
    (again,) = bus.dead_letters(EVERYTHING)
    assert again.last_error == letter.last_error
    assert REJECTION_ATTRIBUTE not in {
        k for m in bus.published if m.topic == "run-requested" for k in m.attributes
    }


def test_replay_dry_run_lists_poison_with_its_reason(make_platform, monkeypatch, capsys):
    from lib.cli import main
    from lib.demo import demo_environment

    platform = make_platform()
    bus = platform.rt.bus
    bus.publish_message("run-requested", Message(b"{not json", {"next_step_type": "ingest"}))
    bus.run_until_idle()
    platform.rt.close()
    env = demo_environment(platform.rt.settings.home, "http://127.0.0.1:9", ["acme"])
    for key, value in {**env, "CONVERGENCE_CONFIG_DIR": str(platform.rt.config_dir)}.items():
        monkeypatch.setenv(key, value)

    assert main(["replay", "--dry-run"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert "would move 1 dead-lettered event" in out
    assert "not a structured CloudEvent" in " ".join(out.split())


def test_replay_delivers_journaled_leftovers_and_reports_poison_that_comes_back(
    make_platform, monkeypatch, capsys
):
    from lib.cli import main
    from lib.demo import demo_environment

    platform = make_platform()
    bus = platform.rt.bus
    bus.publish(run_requested("nosuchtenant"))  # journaled, never delivered by this process
    bus.publish_message("run-requested", Message(b"{not json", {"next_step_type": "ingest"}))
    platform.rt.close()
    env = demo_environment(platform.rt.settings.home, "http://127.0.0.1:9", ["acme"])
    for key, value in {**env, "CONVERGENCE_CONFIG_DIR": str(platform.rt.config_dir)}.items():
        monkeypatch.setenv(key, value)

    assert main(["replay", "--dry-run"]) == 0
    assert "2 delivery(ies) waiting in the local bus journal" in capsys.readouterr().out
    assert main(["replay"]) == 0  # delivers the leftovers: both are dead-lettered at once
    assert main(["replay"]) == 1  # moves them back; they come straight back
    err = " ".join(capsys.readouterr().err.split())
    assert "2 replayed message(s) were dead-lettered again" in err

    later = make_platform(home=platform.rt.settings.home)
    assert later.rt.bus.pending() == []
    assert len(later.rt.bus.dead_letters(EVERYTHING)) == 2
    assert later.rt.warehouse.list_tables("nosuchtenant_metadata") == []
