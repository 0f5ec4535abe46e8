"""Reconciliation: does the bill match tokens x price? Exact on constructed fixtures.

The OpenAI sandbox answers with canned pages built here: one project's usage of one model,
standard and Batch, uncached, cached and output tokens, on a day before and a day after the
catalog's mid-month price change; the costs are what those tokens cost at the prices in force,
except one planted over-billed line item. Every expected cost below is worked out by hand
from the catalog written here, independently of the pipeline's SQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from events.models import Window
from tests.platform import copy_configs
from tests.support.spend_runs import gold, rows, run_pipeline, silver

D1 = dt.date(2026, 11, 10)  # old prices
D2 = dt.date(2026, 11, 16)  # new prices (from the 15th)
MODEL = "gpt-test-2026-11-01"
PROJECT = "proj_fixture"
CATALOG = f"""
provider: openai
currency: USD
version: fixture
source: https://example.test/prices
models:
  {MODEL}:
    - effective_from: 2026-11-01
      standard: {{input: "2.00", cached_input: "0.50", output: "8.00"}}
      batch: {{input: "1.00", cached_input: "0.25", output: "4.00"}}
    - effective_from: 2026-11-15
      standard: {{input: "1.50", cached_input: "0.375", output: "6.00"}}
      batch: {{input: "0.75", cached_input: "0.1875", output: "3.00"}}
"""
# (batch?, input tokens incl. cached, cached tokens, output tokens), the same both days
USAGE = ((False, 1_000_000, 200_000, 100_000), (True, 2_000_000, 500_000, 300_000))
# Worked by hand: standard 800k uncached, 200k cached, 100k out; batch 1.5M, 500k, 300k.
EXPECTED = {
    (D1, "input"): Decimal("3.10"),  # 800k x 2.00/1M + 1.5M x 1.00/1M
    (D1, "cached input"): Decimal("0.225"),  # 200k x 0.50/1M + 500k x 0.25/1M
    (D1, "output"): Decimal("2.00"),  # 100k x 8.00/1M + 300k x 4.00/1M
    (D2, "input"): Decimal("2.325"),  # 800k x 1.50/1M + 1.5M x 0.75/1M
    (D2, "cached input"): Decimal("0.16875"),  # 200k x 0.375/1M + 500k x 0.1875/1M
    (D2, "output"): Decimal("1.50"),  # 100k x 6.00/1M + 300k x 3.00/1M
}
OVERBILLED = (D2, "output")
BILLED = {**EXPECTED, OVERBILLED: Decimal("1.65")}  # 10 % over on one line item


def _start(day: dt.date) -> int:
    return int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())


def _page(day: dt.date, results: list[dict[str, object]]) -> dict[str, object]:
    bucket = {"object": "bucket", "start_time": _start(day), "end_time": _start(day) + 86400}
    return {"object": "page", "data": [{**bucket, "results": results}], "has_more": False,
            "next_page": None}  # fmt: skip


def costs_page(day: dt.date) -> dict[str, object]:
    return _page(day, [
        {"object": "organization.costs.result", "line_item": f"{MODEL}, {kind}",
         "amount": {"value": float(value), "currency": "usd"}, "project_id": PROJECT,
         "organization_id": "org-fixture"}
        for (d, kind), value in BILLED.items() if d == day
    ])  # fmt: skip


def usage_page(day: dt.date) -> dict[str, object]:
    return _page(day, [
        {"object": "organization.usage.completions.result", "project_id": PROJECT,
         "model": MODEL, "api_key_id": f"key_{'batch' if batch else 'live'}",
         "user_id": None, "batch": batch, "service_tier": "default", "input_tokens": tokens,
         "input_cached_tokens": cached, "output_tokens": output, "input_audio_tokens": 0,
         "output_audio_tokens": 0, "num_model_requests": 10}
        for batch, tokens, cached, output in USAGE
    ])  # fmt: skip


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("reconcile")
    configs = copy_configs(tmp, "acme/openai", "acme/reporting")
    (configs / "_library/prices/fixture.yml").write_text(CATALOG)
    pipeline = configs / "acme/openai/cost/openai_costs/openai_costs.yml"
    pipeline.write_text(  # the fixture catalog, without acme's negotiated rates
        'extends: "@library/pipelines/openai_costs"\n'
        "steps:\n  load_prices:\n    source_overrides:\n"
        '      {catalog: "@library/prices/fixture.yml", contracted: []}\n'
    )
    with _platform(tmp / "home", configs) as running:
        for day in (D1, D2):
            running.sandbox.canned.update(  # type: ignore[attr-defined]
                {"/v1/organization/costs": costs_page(day),
                 "/v1/organization/usage/completions": usage_page(day)}
            )  # fmt: skip
            run_pipeline(running, "acme", "openai_costs", Window(start=day, end=day))
        run_pipeline(running, "acme", "cost_intelligence", Window(start=D1, end=D2))
        yield running


def _platform(home: Path, configs: Path):  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.clock import FixedClock
    from lib.demo import demo_environment
    from lib.sandbox.server import SandboxServer
    from lib.settings import Settings
    from lib.wiring import build_runtime, install
    from tests.platform import NOW, Platform

    @contextmanager
    def running():  # type: ignore[no-untyped-def]
        sandbox = SandboxServer(canned={})
        env = demo_environment(home, sandbox.base_url, ("acme",))
        env["CONVERGENCE_CONFIG_DIR"] = str(configs)
        settings = Settings.from_env(env)
        home.mkdir(parents=True, exist_ok=True)
        rt = build_runtime(settings, clock=FixedClock(NOW), warehouse=DuckDBWarehouse(
            settings.duckdb_path))  # fmt: skip
        install(rt)
        try:
            yield Platform(rt, sandbox, rt.clock)  # type: ignore[arg-type]
        finally:
            install(None)
            rt.close()
            sandbox.stop()

    return running()


def reconciliation(platform) -> dict[tuple[dt.date, str], dict[str, object]]:
    found = rows(platform, f"SELECT * FROM {gold('acme', 'cost_reconciliation')}")
    return {(r["charge_date"], r["line_item"].split(", ")[1]): r for r in found}


def test_expected_cost_is_exact_for_every_tier_and_both_sides_of_the_price_change(platform):
    got = reconciliation(platform)
    assert set(got) == set(EXPECTED)
    for key, expected in EXPECTED.items():
        assert got[key]["expected_cost"] == expected, key  # exact: no tolerance
        assert got[key]["billed_cost"] == BILLED[key], key
        assert got[key]["sub_account_id"] == PROJECT and got[key]["model"] == MODEL


def test_matching_line_items_differ_by_exactly_zero(platform):
    got = reconciliation(platform)
    for key in EXPECTED:
        if key != OVERBILLED:
            row = got[key]
            assert (row["status"], row["flagged"], row["difference"]) == ("match", False, 0), key
            assert row["ratio"] == 1.0


def test_the_planted_over_billing_is_flagged_with_its_exact_difference(platform):
    row = reconciliation(platform)[OVERBILLED]
    assert row["status"] == "over_billed" and row["flagged"] is True
    assert row["difference"] == Decimal("0.15")
    assert row["ratio"] == pytest.approx(1.1)
    flagged = rows(
        platform, f"SELECT COUNT(*) AS n FROM {gold('acme', 'cost_reconciliation')} WHERE flagged"
    )
    assert flagged == [{"n": 1}]


def test_usage_is_priced_per_tier_with_the_price_in_force_that_day(platform):
    priced = {
        (r["charge_date"], r["service_tier"], r["meter"]): (r["quantity"], r["list_unit_price"])
        for r in rows(platform, "SELECT * FROM `acme_silver_cost`.`usage_priced`")
    }
    assert priced[(D1, "standard", "input")] == (800_000, Decimal("0.000002"))
    assert priced[(D1, "batch", "cached_input")] == (500_000, Decimal("0.00000025"))
    assert priced[(D2, "batch", "output")] == (300_000, Decimal("0.000003"))
    assert priced[(D2, "standard", "cached_input")] == (200_000, Decimal("0.000000375"))


def test_silver_list_cost_is_unit_price_times_quantity_at_the_standard_rate(platform):
    found = rows(
        platform,
        f"SELECT x_charge_date AS d, SkuMeter AS m, ListUnitPrice AS p, PricingQuantity AS q, "
        f"ListCost AS l, ContractedUnitPrice AS cp, ContractedCost AS c, BilledCost AS b "
        f"FROM {silver('acme')} WHERE x_provider = 'openai'",
    )
    assert len(found) == 6
    for r in found:
        assert r["l"] == r["p"] * r["q"] and r["c"] == r["cp"] * r["q"]  # exact, as FOCUS says
    # Batch is a discount off the standard rate: D1 input, 2.3M tokens at 2.00/1M list.
    [d1_input] = [r for r in found if (r["d"], r["m"]) == (D1, "input")]
    assert d1_input["l"] == Decimal("4.60") and d1_input["b"] == Decimal("3.10")


def test_usage_the_catalog_cannot_price_is_a_warning_naming_the_model(tmp_path):
    from tests.support.spend_runs import spend_platform

    march = dt.date(2025, 3, 10)  # before gpt-4.1's first catalog price (2025-04-14)
    with spend_platform(tmp_path / "home", ("acme",)) as running:
        run_id = run_pipeline(running, "acme", "openai_costs", Window(start=march, end=march))
        [warning] = rows(
            running,
            "SELECT * FROM `acme_metadata`.`dq_results` WHERE pipeline_logging_id = @r "
            "AND expectation_name = 'unpriced_usage'",
            r=run_id,
        )
        assert warning["success"] is False and warning["severity"] == "warning"
        assert "unpriced: openai gpt-4.1-2025-04-14 input (standard)" in str(warning)
        [row] = rows(
            running,
            "SELECT COUNT(*) AS n, COUNTIF(ListUnitPrice IS NULL AND ListCost = BilledCost) AS "
            "unpriced FROM `acme_silver_cost`.`focus_daily` WHERE x_model = 'gpt-4.1-2025-04-14'",
        )
        assert row["n"] == row["unpriced"] > 0  # its billed line items stand: list = billed
