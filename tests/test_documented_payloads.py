"""The providers' own documented examples run end to end with exact amounts.

OpenAI documents ``model`` (and every grouping dimension) as null when usage is not grouped
by it; its example costs bucket has null ``line_item`` and ``project_id``. Anthropic sends
cents as decimal strings with any number of places. Each example is served verbatim by the
sandbox (``canned``) and must complete ingest → DQ → FOCUS silver → gold, a null model being a
DQ warning (never a stopped run), and money arriving in gold exactly as the provider wrote it.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

from events.models import Window
from lib.metadata import metadata_table
from lib.ports import TableRef
from lib.sql import table_sql
from tests.support.spend_runs import run_pipeline

DOCUMENTED = Path(__file__).parent / "lib" / "providers" / "data" / "documented"


def documented(name: str) -> dict:
    return json.loads((DOCUMENTED / f"{name}.json").read_text())


def one(platform, sql: str, **params):
    return platform.rt.warehouse.query(sql, params)


def spend(platform, tenant: str, provider: str) -> dict[str, Decimal]:
    tables = {
        "silver": (TableRef(f"{tenant}_silver_cost", "focus_daily"), "BilledCost", "x_provider"),
        "daily": (TableRef(f"{tenant}_gold_reporting", "daily_spend"), "billed_cost", "provider"),
        "monthly": (
            TableRef(f"{tenant}_gold_reporting", "monthly_spend"),
            "billed_cost",
            "provider",
        ),
    }
    return {
        name: one(platform, f"SELECT SUM({money}) AS t FROM {table_sql(ref)} WHERE {by} = @p",
                  p=provider)[0]["t"]
        for name, (ref, money, by) in tables.items()
    }  # fmt: skip


def assert_silver_passes_focus_validator(platform, provider: str, tmp_path: Path) -> None:
    from tests.support.focus_validator import validate, write_csv
    from tests.test_focus_silver import BASE_CRITERIA, VALIDATOR_DEFECTS

    silver = table_sql(TableRef("acme_silver_cost", "focus_daily"))
    data = one(platform, f"SELECT * FROM {silver} WHERE x_provider = @p", p=provider)
    path = tmp_path / f"{provider}-documented.csv"
    write_csv(data, path)
    failing = {c.rule: c.message for c in validate(path, BASE_CRITERIA).problems}
    assert set(failing) <= set(VALIDATOR_DEFECTS), failing


def test_openais_documented_examples_complete_with_exact_amounts(make_platform, tmp_path):
    platform = make_platform(
        tenants=("acme",),
        canned={
            "/v1/organization/costs": documented("openai_costs"),
            "/v1/organization/usage/completions": documented("openai_usage_completions"),
        },
    )
    day = Window(start=dt.date(2024, 11, 1), end=dt.date(2024, 11, 1))
    run_id = run_pipeline(platform, "acme", "openai_costs", day)
    run_pipeline(platform, "acme", "spend_reporting", day)

    assert spend(platform, "acme", "openai") == dict.fromkeys(
        ("silver", "daily", "monthly"), Decimal("0.06")
    )
    [model] = one(
        platform,
        f"SELECT severity, success, unexpected_count FROM "
        f"{table_sql(metadata_table('acme', 'dq_results'))} WHERE pipeline_logging_id = @run "
        "AND expectation_name = 'expect_column_values_to_not_be_null(model)'",
        run=run_id,
    )
    assert (model["severity"], model["success"], model["unexpected_count"]) == ("warning", False, 1)
    usage = table_sql(TableRef("acme_raw_openai", "usage_completions"))
    [row] = one(platform, f"SELECT model, batch, input_tokens FROM {usage}")
    assert (row["model"], row["batch"], row["input_tokens"]) == (None, None, 1000)
    assert_silver_passes_focus_validator(platform, "openai", tmp_path)


def test_anthropics_documented_shapes_complete_with_sub_cent_precision(make_platform, tmp_path):
    platform = make_platform(
        tenants=("acme",),
        canned={
            "/v1/organizations/cost_report": documented("anthropic_cost_report"),
            "/v1/organizations/usage_report/messages": documented("anthropic_usage_messages"),
        },
    )
    day = Window(start=dt.date(2025, 8, 1), end=dt.date(2025, 8, 1))
    run_pipeline(platform, "acme", "anthropic_costs", day)
    run_pipeline(platform, "acme", "spend_reporting", day)

    # "123.45" + "0.123456789" cents: $1.23573456789, eleven decimals, not rounded to nine.
    exact = Decimal("1.23573456789")
    assert spend(platform, "acme", "anthropic") == dict.fromkeys(
        ("silver", "daily", "monthly"), exact
    )
    assert_silver_passes_focus_validator(platform, "anthropic", tmp_path)


def answer(results: list[dict], start: int = 1730419200) -> dict:
    bucket = {
        "object": "bucket",
        "start_time": start,
        "end_time": start + 86400,
        "results": results,
    }
    return {"object": "page", "data": [bucket], "has_more": False, "next_page": None}


def cost(value: float, currency: str = "usd", item: str = "gpt-4o-2024-08-06, input") -> dict:
    return {
        "object": "organization.costs.result",
        "amount": {"value": value, "currency": currency},
        "line_item": item,
        "project_id": "proj_a",
    }


def dq_findings(platform, run_id: str) -> dict[str, dict]:
    rows = one(
        platform,
        f"SELECT expectation_name, severity, success, unexpected_count, metadata FROM "
        f"{table_sql(metadata_table('acme', 'dq_results'))} WHERE pipeline_logging_id = @run",
        run=run_id,
    )
    return {r["expectation_name"]: r for r in rows if not r["success"]}


def test_a_contradictory_answer_is_a_dq_finding_naming_the_rows_never_merged(make_platform):
    from lib import metadata
    from lib.runs import request_run

    twice = answer([cost(0.5), cost(0.7), cost(0.1, item="gpt-4o-2024-08-06, output")])
    usage = documented("openai_usage_completions")
    platform = make_platform(
        tenants=("acme",),
        canned={"/v1/organization/costs": twice, "/v1/organization/usage/completions": usage},
    )
    event = request_run(platform.rt, "acme", "openai_costs", Window(start=dt.date(2024, 11, 1),
                        end=dt.date(2024, 11, 1)))  # fmt: skip
    platform.drain()
    status = metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)
    assert status["status"] == "FAILED" and "unique_merge_keys" in status["error"]
    finding = dq_findings(platform, event.pipeline_logging_id)["unique_merge_keys"]
    assert finding["unexpected_count"] == 2
    assert "proj_a" in json.dumps(finding["metadata"]) and "gpt-4o-2024-08-06, input" in json.dumps(
        finding["metadata"]
    )
    raw = table_sql(TableRef("acme_raw_openai", "costs"))
    assert len(one(platform, f"SELECT * FROM {raw}")) == 3, "both rows kept, none merged away"
    silver = table_sql(TableRef("acme_silver_cost", "focus_daily"))
    assert not platform.rt.warehouse.table_exists(TableRef("acme_silver_cost", "focus_daily")) or (
        one(platform, f"SELECT COUNT(*) AS n FROM {silver}")[0]["n"] == 0
    )


def test_negative_usage_stops_the_run_and_an_unknown_currency_warns(make_platform):
    from lib import metadata
    from lib.runs import request_run

    costs = answer([cost(0.5, currency="eur"), cost(-0.2, item="gpt-4o-2024-08-06, output")])
    usage = documented("openai_usage_completions")
    platform = make_platform(
        tenants=("acme",),
        canned={"/v1/organization/costs": costs, "/v1/organization/usage/completions": usage},
    )
    event = request_run(platform.rt, "acme", "openai_costs", Window(start=dt.date(2024, 11, 1),
                        end=dt.date(2024, 11, 1)))  # fmt: skip
    platform.drain()
    status = metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)
    assert status["status"] == "FAILED"
    findings = dq_findings(platform, event.pipeline_logging_id)
    negative = findings["expect_column_values_to_be_between(amount_value)"]
    assert negative["severity"] == "critical" and negative["unexpected_count"] == 1
    assert "-0.2" in json.dumps(negative["metadata"])
    currency = findings["expect_column_values_to_be_in_set(amount_currency)"]
    assert currency["severity"] == "warning" and "eur" in json.dumps(currency["metadata"])
