"""Gold spend reporting: totals to the cent from raw fixture data, anomalies, idempotency."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tests.support.spend_runs import (
    expected_daily,
    gold,
    platform_settings,
    rows,
    run_everything,
    run_pipeline,
    spend_platform,
    window,
)

SPAN = window(21)
SPIKE_DAY = SPAN.end.replace(day=SPAN.end.day - 3)
EXACT = Decimal("0.000001")  # stricter than "to the cent"


@pytest.fixture(scope="module")
def flat(tmp_path_factory):
    with spend_platform(tmp_path_factory.mktemp("flat")) as running:
        run_everything(running, SPAN, ("acme", "globex"))
        yield running


@pytest.fixture(scope="module")
def spiked(tmp_path_factory):
    spike = {"spike": {"day": SPIKE_DAY.isoformat(), "factor": 10, "tenant": "acme"}}
    with spend_platform(tmp_path_factory.mktemp("spiked"), ("acme",), faults=spike) as running:
        run_everything(running, SPAN, ("acme",))
        yield running


@pytest.mark.parametrize("tenant", ["acme", "globex"])
def test_daily_spend_equals_independent_sums_from_raw_fixture_data(flat, tenant):
    expected = expected_daily(flat.sandbox.base_url, tenant, SPAN, platform_settings(flat))
    got = {
        (r["d"], r["p"]): r["t"]
        for r in rows(
            flat,
            f"SELECT charge_date AS d, provider AS p, SUM(billed_cost) AS t "
            f"FROM {gold(tenant, 'daily_spend')} GROUP BY d, p",
        )
    }
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert abs(got[key] - value) <= EXACT, (key, got[key], value)


def test_monthly_spend_equals_independent_sums_per_month(flat):
    daily = expected_daily(flat.sandbox.base_url, "acme", SPAN, platform_settings(flat))
    expected: dict[tuple[object, str], Decimal] = {}
    for (day, provider), value in daily.items():
        key = (day.replace(day=1), provider)
        expected[key] = expected.get(key, Decimal(0)) + value
    got = {
        (r["m"], r["p"]): r["t"]
        for r in rows(
            flat,
            f"SELECT month AS m, provider AS p, SUM(billed_cost) AS t "
            f"FROM {gold('acme', 'monthly_spend')} GROUP BY m, p",
        )
    }
    assert len(expected) == 8  # two months (Oct 30 .. Nov 19) x four providers (aws: files)
    assert set(got) == set(expected)
    for key, value in expected.items():
        assert abs(got[key] - value) <= EXACT, (key, got[key], value)


def test_daily_spend_has_model_service_and_sub_account_breakdown(flat):
    found = rows(
        flat,
        f"SELECT provider, COUNT(DISTINCT model) AS models, COUNT(DISTINCT service_name) AS "
        f"services, COUNT(DISTINCT sub_account_id) AS subs FROM {gold('acme', 'daily_spend')} "
        "GROUP BY provider ORDER BY provider",
    )
    by = {r["provider"]: r for r in found}
    assert by["openai"]["models"] == 4 and by["anthropic"]["models"] == 3
    assert by["gcp"]["services"] == 5 and by["gcp"]["models"] == 0
    assert all(r["subs"] >= 3 for r in found)


def test_no_anomalies_on_flat_data(flat):
    for tenant in ("acme", "globex"):
        assert rows(flat, f"SELECT * FROM {gold(tenant, 'cost_anomalies')}") == []


def test_a_planted_spike_is_found_with_its_baseline_and_deviation(spiked):
    found = rows(spiked, f"SELECT * FROM {gold('acme', 'cost_anomalies')} ORDER BY provider")
    assert [(r["charge_date"], r["provider"]) for r in found] == [
        (SPIKE_DAY, "anthropic"),
        (SPIKE_DAY, "openai"),
    ]  # the sandbox spike multiplies AI usage; Google Cloud is unchanged
    for r in found:
        daily = rows(
            spiked,
            f"SELECT charge_date AS d, SUM(billed_cost) AS t FROM {gold('acme', 'daily_spend')} "
            "WHERE provider = @p GROUP BY d",
            p=r["provider"],
        )
        history = [x["t"] for x in daily if 1 <= (SPIKE_DAY - x["d"]).days <= 14]
        mean = sum(history, Decimal(0)) / len(history)
        assert r["baseline_days"] == 14 == len(history)
        assert abs(r["baseline_mean"] - mean) <= EXACT
        assert r["deviation"] == r["spend"] - r["baseline_mean"]
        assert r["ratio"] == pytest.approx(float(r["spend"] / r["baseline_mean"]))
        assert r["direction"] == "spike" and r["z_score"] >= 3 and r["ratio"] >= 1.5


def test_rerunning_gold_is_idempotent(flat):
    def snapshot():
        return {
            table: rows(flat, f"SELECT COUNT(*) AS n, SUM({col}) AS t FROM {gold('acme', table)}")
            for table, col in (("daily_spend", "billed_cost"), ("monthly_spend", "billed_cost"))
        }

    before = snapshot()
    flat.clock.advance(minutes=10)
    run_pipeline(flat, "acme", "spend_reporting", window(5))
    assert snapshot() == before
