"""Cost intelligence on the sandbox platform: budgets and forecasts, unit economics, report.

acme runs every provider pipeline for three weeks, then ``cost_intelligence``. Expectations
are computed here from other tables or by hand (the forecast's weekday run rate, cost per
million tokens), not by re-running the pipeline's SQL.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser

import pytest

from events.models import BudgetCrossed
from lib.report.html import render_html
from lib.report.model import build_report
from tests.support.spend_runs import gold, rows, run_everything, run_pipeline, silver, window

SPAN = window(21)  # Oct 30 .. Nov 19; the platform's clock is Nov 20 06:00
AS_OF = SPAN.end


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    from tests.support.spend_runs import spend_platform

    with spend_platform(tmp_path_factory.mktemp("intel"), ("acme",)) as running:
        run_everything(running, SPAN, ("acme",))
        yield running


def crossed_events(platform) -> list[BudgetCrossed]:
    events = platform.rt.bus.published_events(BudgetCrossed.TOPIC)
    return [e for e in events if isinstance(e, BudgetCrossed)]


def budget(platform, name: str) -> dict[str, object]:
    [row] = rows(
        platform,
        f"SELECT * FROM {gold('acme', 'budget_status')} WHERE budget_name = @b AND month = @m",
        b=name,
        m=AS_OF.replace(day=1),
    )
    return row


# --- budgets ----------------------------------------------------------------------------


def test_month_to_date_spend_is_exactly_the_scoped_silver_spend(platform):
    row = budget(platform, "ai_apis")
    [spend] = rows(
        platform,
        f"SELECT SUM(BilledCost) AS t FROM {silver('acme')} WHERE x_provider IN "
        "('openai', 'anthropic') AND x_charge_date BETWEEN @s AND @e",
        s=AS_OF.replace(day=1),
        e=AS_OF,
    )
    assert row["actual_cost"] == spend["t"] and row["as_of_date"] == AS_OF
    [ml] = rows(  # the label scope: tags team=ml (GCP labels and AWS tags)
        platform,
        f"SELECT SUM(BilledCost) AS t FROM {silver('acme')} WHERE x_charge_date BETWEEN @s AND "
        "@e AND JSON_VALUE(Tags, '$.team') = 'ml'",
        s=AS_OF.replace(day=1),
        e=AS_OF,
    )
    assert ml["t"] > 0 and budget(platform, "team_ml")["actual_cost"] == ml["t"]


def test_forecast_is_the_trailing_weekday_run_rate_of_the_remaining_days(platform):
    row = budget(platform, "cloud")
    daily = {
        r["d"]: r["t"]
        for r in rows(
            platform,
            f"SELECT x_charge_date AS d, SUM(BilledCost) AS t FROM {silver('acme')} "
            "WHERE x_provider IN ('gcp', 'aws') GROUP BY d",
        )
    }
    trailing = [AS_OF - dt.timedelta(days=i) for i in range(28)]
    rate = {}
    for weekday in range(7):
        days = [d for d in trailing if d.weekday() == weekday]
        rate[weekday] = sum(float(daily.get(d, 0)) for d in days) / len(days)
    remaining = [AS_OF + dt.timedelta(days=i) for i in range(1, 12)]  # Nov 20 .. Nov 30
    rest = sum(rate[d.weekday()] for d in remaining)
    assert row["forecast_cost"] == row["actual_cost"] + Decimal(str(round(rest, 2)))
    assert row["forecast_low"] <= row["forecast_cost"] <= row["forecast_high"]
    assert row["forecast_low"] >= row["actual_cost"]
    assert row["days_in_month"] == 30 and row["days_elapsed"] == 19


def test_thresholds_crossed_compare_exact_spend_with_the_budget(platform):
    for row in rows(platform, f"SELECT * FROM {gold('acme', 'budget_status')}"):
        budget_amount = row["budget_amount"]
        crossed = [t for t in (50, 80, 100) if row["actual_cost"] * 100 >= budget_amount * t]
        if row["budget_name"] == "ai_apis":
            assert row["actual_thresholds_crossed"] == crossed
    ai = budget(platform, "ai_apis")
    assert ai["actual_thresholds_crossed"] == [50, 80, 100]  # three weeks of AI spend > 3,000


def test_each_crossing_is_published_once_and_never_again_across_reruns(platform):
    first = crossed_events(platform)
    ledger = rows(platform, "SELECT * FROM `acme_metadata`.`budget_alerts`")
    assert first and len(ledger) == len(first)
    keys = [(e.budget_name, e.month, e.basis, e.threshold_percent) for e in first]
    assert len(keys) == len(set(keys))
    assert {e.month for e in first} == {AS_OF.replace(day=1)}  # only the month in progress
    assert ("ai_apis", AS_OF.replace(day=1), "actual", 100) in keys
    for minutes in (5, 10):  # a scheduled re-run, then a re-run after more data
        platform.clock.advance(minutes=minutes)
        run_pipeline(platform, "acme", "cost_intelligence", window(3))
    assert crossed_events(platform) == first
    assert len(rows(platform, "SELECT * FROM `acme_metadata`.`budget_alerts`")) == len(first)


def test_a_budget_event_says_what_crossed_and_is_routed_to_notify(platform):
    from events.topology import load_topology

    event = next(e for e in crossed_events(platform) if e.budget_name == "ai_apis")
    row = budget(platform, "ai_apis")
    assert event.budget_amount == Decimal("3000") and event.currency == "USD"
    assert event.value in (row["actual_cost"], row["forecast_cost"])
    assert event.pipeline_id == "cost_intelligence" and event.step_done.name == "budget_status"
    routes = {s.handler for s in load_topology().subscriptions_for(BudgetCrossed.TOPIC)}
    assert routes == {"notify"}


# --- unit economics -----------------------------------------------------------------------


def test_cost_per_million_tokens_per_model_is_billed_cost_over_billed_tokens(platform):
    expected = {
        (r["p"], r["m"]): (r["q"], r["c"])
        for r in rows(
            platform,
            f"SELECT x_provider AS p, x_model AS m, SUM(PricingQuantity) AS q, "
            f"SUM(BilledCost) AS c FROM {silver('acme')} WHERE PricingUnit = 'Tokens' "
            "AND x_charge_date = @d GROUP BY p, m",
            d=AS_OF,
        )
    }
    got = rows(
        platform,
        f"SELECT * FROM {gold('acme', 'unit_costs_daily')} "
        "WHERE charge_date = @d AND dimension = 'model'",
        d=AS_OF,
    )
    assert {(r["provider"], r["dimension_value"]) for r in got} == set(expected)
    for r in got:
        tokens, cost = expected[(r["provider"], r["dimension_value"])]
        assert (r["tokens"], r["billed_cost"], r["cost_basis"]) == (tokens, cost, "billed")
        assert r["cost_per_million_tokens"] == pytest.approx(float(cost) * 1e6 / float(tokens))


def test_api_keys_are_costed_from_usage_and_add_up_to_the_expected_cost(platform):
    [by_key] = rows(
        platform,
        f"SELECT SUM(cost) AS c, SUM(tokens) AS t FROM {gold('acme', 'unit_costs_daily')} "
        "WHERE dimension = 'api_key' AND charge_date = @d",
        d=AS_OF,
    )
    [usage] = rows(
        platform,
        "SELECT SUM(expected_cost) AS c, SUM(quantity) AS t FROM `acme_silver_cost`.`usage_priced` "
        "WHERE pricing_unit = 'Tokens' AND charge_date = @d AND model IS NOT NULL",
        d=AS_OF,
    )
    assert (by_key["c"], by_key["t"]) == (usage["c"], usage["t"])


def test_monthly_unit_costs_sum_the_days_and_top_movers_compare_two_weeks(platform):
    [month] = rows(
        platform,
        f"SELECT SUM(cost) AS c FROM {gold('acme', 'unit_costs_monthly')} "
        "WHERE month = @m AND dimension = 'model'",
        m=AS_OF.replace(day=1),
    )
    [days] = rows(
        platform,
        f"SELECT SUM(cost) AS c FROM {gold('acme', 'unit_costs_daily')} "
        "WHERE charge_date >= @m AND dimension = 'model'",
        m=AS_OF.replace(day=1),
    )
    assert month["c"] == days["c"]
    movers = rows(platform, f"SELECT * FROM {gold('acme', 'top_movers')} WHERE rank = 1")
    assert {m["dimension"] for m in movers} == {"model", "sub_account", "api_key"}
    for m in movers:
        weeks = rows(
            platform,
            f"SELECT SUM(IF(charge_date > @w, cost, NULL)) AS this_week, "
            f"SUM(IF(charge_date <= @w, cost, NULL)) AS last_week "
            f"FROM {gold('acme', 'unit_costs_daily')} WHERE provider = @p AND dimension = @k "
            "AND dimension_value = @v AND charge_date > @f",
            w=AS_OF - dt.timedelta(days=7),
            f=AS_OF - dt.timedelta(days=14),
            p=m["provider"],
            k=m["dimension"],
            v=m["dimension_value"],
        )[0]
        assert m["change"] == weeks["this_week"] - weeks["last_week"]


# --- the report -------------------------------------------------------------------------


class Marks(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.marks: list[dict[str, str]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "data-chart" in values:
            self.marks.append(values)


def marks(platform, chart: str) -> list[dict[str, str]]:
    parser = Marks()
    parser.feed(render_html(build_report(platform.rt.warehouse, "acme")))
    return [m for m in parser.marks if m["data-chart"] == chart]


def test_report_reconciliation_equals_gold(platform):
    got = {m["data-provider"]: (Decimal(m["data-billed"]), Decimal(m["data-expected"]))
           for m in marks(platform, "reconciliation")}  # fmt: skip
    expected = {
        r["provider"]: (r["b"], r["e"])
        for r in rows(
            platform,
            f"SELECT provider, SUM(billed_cost) AS b, SUM(expected_cost) AS e "
            f"FROM {gold('acme', 'cost_reconciliation')} WHERE charge_date >= @m GROUP BY 1",
            m=AS_OF.replace(day=1),
        )
    }
    assert got == expected and set(got) == {"openai", "anthropic"}
    for billed, usage in got.values():
        assert abs(billed - usage) < Decimal("0.000001")  # the sandbox bills by the catalog


def test_report_has_a_budget_line_per_budget_and_unit_costs(platform):
    lines = {m["data-label"]: m for m in marks(platform, "budget")}
    assert set(lines) == {"ai_apis", "cloud", "team_ml"}
    assert Decimal(lines["ai_apis"]["data-value"]) == budget(platform, "ai_apis")["actual_cost"]
    assert Decimal(lines["ai_apis"]["data-amount"]) == Decimal("3000")
    unit = marks(platform, "unit_costs")
    assert unit and all(float(m["data-value"]) > 0 for m in unit)
