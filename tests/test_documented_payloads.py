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


def test_openais_documented_examples_complete_with_exact_amounts(make_platform):
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


def test_anthropics_documented_shapes_complete_with_sub_cent_precision(make_platform):
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
