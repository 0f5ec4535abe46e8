"""Run lifecycle: one execution per step under duplicates, stalls detected, recovery re-drives.

Everything runs on the real local platform (sandbox, DuckDB, in-process bus, real handlers).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest

from events.models import Window
from lib import metadata
from lib.lifecycle import Claim, claim_step, release_claims, run_state, stalled_runs
from lib.recovery import recover
from lib.runs import request_run
from lib.states import RunStatus

WINDOW = Window(start=dt.date(2026, 11, 17), end=dt.date(2026, 11, 18))
STEPS = ["ingest_costs", "check_costs", "ingest_usage", "check_usage", "silver_focus"]


def step_counts(rt, run_id: str) -> Counter:
    history = metadata.step_history(rt.warehouse, "acme", run_id)
    return Counter((s["step_name"], s["status"]) for s in history)


def terminal_records(rt, run_id: str) -> list[str]:
    rows = rt.warehouse.query(
        "SELECT status FROM `acme_metadata`.`pipeline_runs` WHERE pipeline_logging_id = @r "
        "AND status IN ('COMPLETE', 'FAILED')",
        {"r": run_id},
    )
    return [r["status"] for r in rows]


@pytest.fixture
def platform(make_platform):
    return make_platform(tenants=("acme",))


def claim(rt, delivery: str, index: int = 0) -> Claim:
    return claim_step(
        rt.warehouse,
        rt.clock,
        tenant_id="acme",
        run_id="run-claims-0001",
        step_index=index,
        step_name="ingest_costs",
        delivery_id=delivery,
    )


def test_the_first_claim_wins_and_other_messages_are_duplicates(platform):
    rt = platform.rt
    rt.ensure_tenant("acme")
    assert claim(rt, "message-1") is Claim.WON
    assert claim(rt, "message-2") is Claim.DUPLICATE
    assert claim(rt, "message-1") is Claim.WON, "a redelivery of the holder's message takes over"
    assert claim(rt, "message-3", index=1) is Claim.WON, "claims are per step"


def test_a_released_claim_lets_the_next_delivery_run(platform):
    rt = platform.rt
    rt.ensure_tenant("acme")
    assert claim(rt, "message-1") is Claim.WON
    assert release_claims(rt.warehouse, rt.clock, "acme", "run-claims-0001", 0) == 1
    assert claim(rt, "replayed-message") is Claim.WON


def test_a_claim_expires_with_its_lease(platform):
    rt = platform.rt
    rt.ensure_tenant("acme")
    assert claim(rt, "message-1") is Claim.WON
    platform.clock.advance(minutes=16)
    assert claim(rt, "message-2") is Claim.WON


def test_concurrent_duplicate_deliveries_run_every_step_once(platform):
    rt = platform.rt
    event = request_run(rt, "acme", "openai_costs", WINDOW)
    for _ in range(4):  # the same run.requested published five times in all
        rt.bus.publish(event)
    rt.bus.run_until_idle(workers=2)
    run_id = event.pipeline_logging_id
    counts = step_counts(rt, run_id)
    assert all(counts[(step, "COMPLETE")] == 1 for step in STEPS), counts
    assert all(counts[(step, "RUNNING")] == 1 for step in STEPS), counts
    completed = [
        e for e in rt.bus.published_events("run-completed") if e.pipeline_logging_id == run_id
    ]
    assert len(completed) == 1
    assert terminal_records(rt, run_id) == ["COMPLETE"]


def test_a_run_with_no_progress_is_stalled_and_recover_completes_it(platform, monkeypatch):
    rt = platform.rt
    publish = rt.bus.publish

    def lose_check_costs_completion(event):  # as if the process died right after the record
        if event.step_done is not None and event.step_done.name == "check_costs":
            return "lost"
        return publish(event)

    monkeypatch.setattr(rt.bus, "publish", lose_check_costs_completion)
    event = request_run(rt, "acme", "openai_costs", WINDOW)
    rt.bus.run_until_idle()
    monkeypatch.setattr(rt.bus, "publish", publish)
    run_id = event.pipeline_logging_id
    assert run_state(rt.warehouse, rt.clock, "acme", run_id).status is RunStatus.RUNNING
    platform.clock.advance(minutes=31)
    state = run_state(rt.warehouse, rt.clock, "acme", run_id)
    assert state.status is RunStatus.STALLED and state.waiting_on == 2
    assert [s.run["pipeline_logging_id"] for s in stalled_runs(rt.warehouse, rt.clock, "acme")] == [
        run_id
    ]

    [plan] = recover(rt, "acme")
    assert "step check_costs completed; its successor never ran" in plan.describe()
    rt.bus.run_until_idle()
    assert metadata.run_status(rt.warehouse, "acme", run_id)["status"] == "COMPLETE"
    counts = step_counts(rt, run_id)
    assert all(counts[(step, "COMPLETE")] == 1 for step in STEPS), counts
    assert terminal_records(rt, run_id) == ["COMPLETE"]
    assert recover(rt, "acme") == [], "an ended run is never recovered again"


def test_recover_ends_a_run_whose_last_step_completed_but_was_never_recorded(platform):
    rt = platform.rt
    event = request_run(rt, "acme", "openai_costs", WINDOW)
    rt.bus.run_until_idle()
    run_id = event.pipeline_logging_id
    rt.warehouse.execute(  # as if the process died after the last step, before the transition
        "DELETE FROM `acme_metadata`.`pipeline_runs` WHERE pipeline_logging_id = @r "
        "AND status = 'COMPLETE'",
        {"r": run_id},
    )
    [plan] = recover(rt, "acme", run_id=run_id)
    assert plan.records is RunStatus.COMPLETE
    assert terminal_records(rt, run_id) == ["COMPLETE"]


def test_redelivering_the_last_step_records_the_missing_terminal_record_once(platform):
    rt = platform.rt
    event = request_run(rt, "acme", "openai_costs", WINDOW)
    rt.bus.run_until_idle()
    run_id = event.pipeline_logging_id
    rt.warehouse.execute(
        "DELETE FROM `acme_metadata`.`pipeline_runs` WHERE pipeline_logging_id = @r "
        "AND status = 'COMPLETE'",
        {"r": run_id},
    )
    last = [
        e
        for e in rt.bus.published_events("transform-completed")
        if e.pipeline_logging_id == run_id and e.next_step and e.next_step.name == "check_prices"
    ][-1]
    rt.bus.publish(last)  # the last step's event comes again
    rt.bus.publish(last)
    rt.bus.run_until_idle()
    assert terminal_records(rt, run_id) == ["COMPLETE"]
    completed = [
        e for e in rt.bus.published_events("run-completed") if e.pipeline_logging_id == run_id
    ]
    assert len(completed) == 2 and len({e.event_id for e in completed}) == 1


def test_a_transient_failure_is_visible_on_the_step(make_platform, tmp_path):
    from tests.platform import fast_retry_configs

    platform = make_platform(
        config_dir=fast_retry_configs(tmp_path), tenants=("acme",), faults={"server_error": 10_000}
    )
    rt = platform.rt
    event = request_run(rt, "acme", "openai_costs", WINDOW)
    rt.bus.run_until_idle()
    platform.clock.advance(hours=1)
    state = run_state(rt.warehouse, rt.clock, "acme", event.pipeline_logging_id)
    assert state.status is RunStatus.STALLED and state.waiting_on == 0
    assert "TransientError" in state.last_error and "500" in state.last_error
    attempts = [s["attempt"] for s in metadata.step_history(rt.warehouse, "acme",
                event.pipeline_logging_id) if s["status"] == "RETRYING"]  # fmt: skip
    assert attempts == [1, 2, 3, 4, 5]
