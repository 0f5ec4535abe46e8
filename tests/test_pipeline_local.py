"""End to end on the embedded default: sandbox → raw → DQ → silver through the in-process bus."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import httpx
import pytest

from events.models import RunRequested, Window
from lib import metadata
from lib.ports import DeadLetterFilter, TableRef
from lib.runs import request_run
from lib.sql import table_sql
from tests.platform import append_override, copy_configs, fast_retry_configs

WINDOW = Window(start=dt.date(2026, 11, 13), end=dt.date(2026, 11, 19))


def expected_openai_costs(base_url: str, tenant: str, window: Window) -> tuple[int, Decimal]:
    """Rows and exact total straight from the sandbox's JSON, independent of the connector."""
    rows, total = 0, Decimal(0)
    for day in window.days():
        start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
        params = {
            "start_time": start,
            "end_time": start + 86400,
            "bucket_width": "1d",
            "group_by": ["project_id", "line_item"],
        }
        page = None
        while True:
            query = {**params, **({"page": page} if page else {})}
            response = httpx.get(
                f"{base_url}/v1/organization/costs",
                params=query,
                headers={"Authorization": f"Bearer sk-sandbox-{tenant}"},
            )
            body = json.loads(response.content, parse_float=Decimal)
            for bucket in body["data"]:
                for result in bucket["results"]:
                    rows += 1
                    total += result["amount"]["value"]
            if not body["has_more"]:
                break
            page = body["next_page"]
    return rows, total


def count(rt, tenant, dataset, table):
    ref = TableRef(f"{tenant}_{dataset}", table)
    return rt.warehouse.query(f"SELECT COUNT(*) AS n FROM {table_sql(ref)}")[0]["n"]


def run(platform, tenant="acme", pipeline="openai_costs", window=WINDOW) -> RunRequested:
    event = request_run(platform.rt, tenant, pipeline, window)
    platform.drain()
    return event


def test_full_run_loads_exact_rows_and_totals_for_both_tenants(make_platform):
    platform = make_platform()
    rt = platform.rt
    for tenant in ("acme", "globex"):
        event = run(platform, tenant)
        status = metadata.run_status(rt.warehouse, tenant, event.pipeline_logging_id)
        assert status["status"] == "COMPLETE", status
        rows, total = expected_openai_costs(platform.sandbox.base_url, tenant, WINDOW)
        assert rows > 20
        assert count(rt, tenant, "raw_openai", "costs") == rows
        raw_table = table_sql(TableRef(f"{tenant}_raw_openai", "costs"))
        raw = rt.warehouse.query(f"SELECT SUM(amount_value) AS t FROM {raw_table}")[0]["t"]
        assert raw == total
        silver = rt.warehouse.query(
            "SELECT SUM(BilledCost) AS t, COUNT(DISTINCT x_charge_date) AS d FROM "
            f"{table_sql(TableRef(f'{tenant}_silver_cost', 'focus_daily'))} "
            "WHERE x_provider = 'openai'"
        )[0]
        assert silver["d"] == 7
        assert abs(silver["t"] - total) <= Decimal("0.000000001") * rows
        steps = metadata.step_history(rt.warehouse, tenant, event.pipeline_logging_id)
        assert [s["status"] for s in steps] == ["RUNNING", "COMPLETE"] * 8
    completed = rt.bus.published_events("run-completed")
    assert sorted(e.tenant_id for e in completed) == ["acme", "globex"]


def test_same_run_requested_delivered_twice_writes_nothing_twice(make_platform):
    platform = make_platform()
    rt = platform.rt
    event = run(platform)
    before = (
        count(rt, "acme", "raw_openai", "costs"),
        count(rt, "acme", "silver_cost", "focus_daily"),
    )
    rt.bus.publish(event)  # at-least-once: the very same event again
    platform.drain()
    after = (
        count(rt, "acme", "raw_openai", "costs"),
        count(rt, "acme", "silver_cost", "focus_daily"),
    )
    assert after == before
    steps = metadata.step_history(rt.warehouse, "acme", event.pipeline_logging_id)
    complete = [s["step_name"] for s in steps if s["status"] == "COMPLETE"]
    assert complete == [
        "ingest_costs",
        "check_costs",
        "ingest_usage",
        "check_usage",
        "load_prices",
        "silver_focus",
        "price_usage",
        "check_prices",
    ]
    # the step had already run and its successor started: nothing is published again, and the
    # run is announced complete exactly once
    assert len(rt.bus.published_events("run-completed")) == 1
    # ingest_costs, ingest_usage, load_prices
    assert len(rt.bus.published_events("ingest-completed")) == 3
    transitions = rt.warehouse.query(
        "SELECT status FROM `acme_metadata`.`pipeline_runs` WHERE pipeline_logging_id = @r",
        {"r": event.pipeline_logging_id},
    )
    assert sorted(t["status"] for t in transitions) == ["COMPLETE", "REQUESTED", "RUNNING"]


def test_rerunning_a_window_never_duplicates(make_platform):
    platform = make_platform()
    run(platform)
    first = count(platform.rt, "acme", "raw_openai", "costs")
    run(platform)
    assert count(platform.rt, "acme", "raw_openai", "costs") == first


def test_tenant_runs_never_touch_another_tenants_datasets(make_platform):
    platform = make_platform()
    platform.statements.clear()
    run(platform, "acme")
    touched = "\n".join(platform.statements)
    assert "acme_raw_openai" in touched
    assert "globex" not in touched


def test_provider_outage_dead_letters_then_replay_completes_with_clean_rows(
    make_platform, tmp_path
):
    configs = fast_retry_configs(tmp_path)
    clean = make_platform(config_dir=configs, home=tmp_path / "clean")
    run(clean)
    clean_rows = clean.rt.warehouse.query(
        "SELECT project_id, line_item, bucket_start_time, amount_value FROM "
        "`acme_raw_openai`.`costs` ORDER BY 1, 2, 3"
    )
    platform = make_platform(
        config_dir=configs, home=tmp_path / "faulty", faults={"server_error": 10_000}
    )
    event = run(platform)
    letters = platform.rt.bus.dead_letters(DeadLetterFilter())
    assert [letter.attributes["run_id"] for letter in letters] == [event.pipeline_logging_id]
    status = metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)
    assert status["status"] == "RUNNING"
    platform.sandbox.faults.clear()

    moved = platform.rt.bus.replay(DeadLetterFilter(tenant_id="acme"))
    assert len(moved) == 1
    platform.drain()
    status = metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)
    assert status["status"] == "COMPLETE"
    replayed_rows = platform.rt.warehouse.query(
        "SELECT project_id, line_item, bucket_start_time, amount_value FROM "
        "`acme_raw_openai`.`costs` ORDER BY 1, 2, 3"
    )
    assert replayed_rows == clean_rows


def test_critical_dq_failure_stops_the_run(make_platform, tmp_path):
    configs = copy_configs(tmp_path, "acme/openai")
    append_override(  # acme's own extra rule on top of the template's
        configs / "acme/openai/cost/openai_costs/openai_costs.yml",
        "steps:\n"
        "  check_costs:\n"
        "    expectations:\n"
        "      - expectation_type: expect_column_values_to_be_between\n"
        "        kwargs: {column: amount_value, max_value: 0.01}\n"
        "        name: acme_small_amounts\n",
    )
    platform = make_platform(config_dir=configs)
    event = run(platform)
    status = metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)
    assert status["status"] == "FAILED" and "critical data-quality" in status["error"]
    assert "acme_small_amounts" in status["error"]
    assert [e.TYPE for e in platform.rt.bus.published_events("dq-failed")] == [
        "convergence.dq.failed.v1"
    ]
    assert not platform.rt.warehouse.table_exists(TableRef("acme_silver_cost", "focus_daily"))


def test_a_redelivered_critical_dq_failure_still_stops_the_run(make_platform, tmp_path):
    configs = copy_configs(tmp_path, "acme/openai")
    append_override(
        configs / "acme/openai/cost/openai_costs/openai_costs.yml",
        "steps:\n"
        "  check_costs:\n"
        "    expectations:\n"
        "      - expectation_type: expect_column_values_to_be_between\n"
        "        kwargs: {column: amount_value, max_value: 0.01}\n",
    )
    platform = make_platform(config_dir=configs)
    event = run(platform)
    run_id = event.pipeline_logging_id
    [ingested] = [
        e for e in platform.rt.bus.published_events("ingest-completed") if e.next_step.index == 1
    ]
    platform.rt.bus.publish(ingested)  # the DQ step's event comes again (at-least-once)
    platform.drain()
    assert [e.pipeline_logging_id for e in platform.rt.bus.published_events("dq-passed")] == []
    terminal = platform.rt.warehouse.query(
        "SELECT status FROM `acme_metadata`.`pipeline_runs` WHERE pipeline_logging_id = @r "
        "AND status IN ('COMPLETE', 'FAILED')",
        {"r": run_id},
    )
    assert terminal == [{"status": "FAILED"}]
    assert not platform.rt.warehouse.table_exists(TableRef("acme_silver_cost", "focus_daily"))


def test_bad_pipeline_reference_fails_the_run_terminally(make_platform):
    platform = make_platform()
    with pytest.raises(Exception, match="no pipeline file"):
        request_run(platform.rt, "acme", "no_such_pipeline", WINDOW)


def test_a_whole_run_is_one_trace(make_platform):
    platform = make_platform()
    event = run(platform)
    trace_ids = {
        e.traceparent.split("-")[1]
        for e in platform.rt.bus.published_events()
        if e.pipeline_logging_id == event.pipeline_logging_id
    }
    assert event.traceparent is not None
    assert trace_ids == {event.traceparent.split("-")[1]}
    spans = {e.traceparent.split("-")[2] for e in platform.rt.bus.published_events()}
    assert len(spans) >= 4  # the request and one span per handler invocation
