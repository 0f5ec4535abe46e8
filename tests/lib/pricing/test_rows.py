"""The price catalog flattened into price-table rows, and the days a price change re-prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from lib.config.prices import ContractedRate, PriceCatalog
from lib.config.problems import load_model
from lib.errors import ConfigError
from lib.pricing.rows import PriceRow, changed_days, price_rows

LIBRARY = Path(__file__).resolve().parents[3] / "configs" / "_library" / "prices"
D = dt.date


def catalog(**models: object) -> PriceCatalog:
    return PriceCatalog.model_validate({
        "provider": "openai", "version": "t", "source": "https://example.test",
        "context_window": "0-200k", "long_context_window": "200k-1M", "models": models,
        "requests": {"web_search": [{"effective_from": "2025-01-01", "per_thousand": "10"}]},
    })  # fmt: skip


TWO_PRICES = {
    "m": [
        {"effective_from": "2026-01-01", "standard": {"input": "2.00", "output": "8.00"},
         "batch": {"input": "1.00"}},
        {"effective_from": "2026-06-01", "standard": {"input": "1.50", "output": "8.00"},
         "long_context": {"standard": {"input": "3.00"}}},
    ]
}  # fmt: skip


def by_key(rows: list[PriceRow]) -> dict[tuple[str, str, str, dt.date], PriceRow]:
    return {(r.service_tier, r.context_window, r.meter, r.effective_from): r for r in rows}


def test_each_entry_prices_until_the_next_and_unit_prices_are_exact():
    rows = by_key(price_rows(catalog(**TWO_PRICES)))
    old = rows[("standard", "0-200k", "input", D(2026, 1, 1))]
    assert (old.effective_to, old.list_unit_price) == (D(2026, 6, 1), Decimal("0.000002"))
    new = rows[("standard", "0-200k", "input", D(2026, 6, 1))]
    assert new.effective_to is None and new.list_unit_price == Decimal("0.0000015")
    # an unchanged price is one row; a tier the newer entry drops ends with it
    output = rows[("standard", "0-200k", "output", D(2026, 1, 1))]
    assert output.effective_to is None
    assert rows[("batch", "0-200k", "input", D(2026, 1, 1))].effective_to == D(2026, 6, 1)
    assert rows[("standard", "200k-1M", "input", D(2026, 6, 1))].list_block_price == Decimal("3")
    search = rows[("standard", "all", "web_search", D(2025, 1, 1))]
    assert (search.pricing_unit, search.list_unit_price) == ("Requests", Decimal("0.01"))
    assert all(r.contracted_unit_price == r.list_unit_price for r in rows.values())


def test_a_discount_from_mid_period_splits_the_range_and_explicit_prices_win():
    rates = [
        ContractedRate(models=["m"], effective_from=D(2026, 3, 1), discount_percent=Decimal(10)),
        ContractedRate(
            effective_from=D(2026, 4, 1),
            effective_to=D(2026, 5, 1),
            prices={"standard": {"input": "1.80"}},
        ),
    ]
    standard_input = ("standard", "0-200k", "input")
    rows = [
        r
        for r in price_rows(catalog(**TWO_PRICES), rates)
        if (r.service_tier, r.context_window, r.meter) == standard_input
    ]
    assert [(r.effective_from, r.effective_to, r.contracted_block_price, r.contracted_source)
            for r in rows] == [
        (D(2026, 1, 1), D(2026, 3, 1), Decimal("2.00"), None),
        (D(2026, 3, 1), D(2026, 4, 1), Decimal("1.800"), "10% off list"),
        (D(2026, 4, 1), D(2026, 5, 1), Decimal("1.80"), "contracted price"),
        (D(2026, 5, 1), D(2026, 6, 1), Decimal("1.800"), "10% off list"),
        (D(2026, 6, 1), None, Decimal("1.350"), "10% off list"),
    ]  # fmt: skip
    assert {r.list_block_price for r in rows} == {Decimal("2.00"), Decimal("1.50")}


def test_a_unit_price_that_needs_more_than_24_decimals_is_refused():
    tiny = {"m": [{"effective_from": "2026-01-01", "standard": {"input": "0.000000000001"}}]}
    rate = ContractedRate(effective_from=D(2026, 1, 1), discount_percent=Decimal("33.333333333333"))
    with pytest.raises(ConfigError, match="more than 24 decimals"):
        price_rows(catalog(**tiny), [rate])


def test_entries_out_of_order_and_long_context_without_its_window_are_refused():
    with pytest.raises(ValueError, match="effective_from order"):
        catalog(m=list(reversed(TWO_PRICES["m"])))
    with pytest.raises(ValueError, match="long_context_window"):
        PriceCatalog.model_validate({
            "provider": "openai", "version": "t", "source": "https://example.test",
            "models": TWO_PRICES,
        })  # fmt: skip


def test_changed_days_are_the_days_whose_price_differs_up_to_today():
    old = price_rows(catalog(**TWO_PRICES))
    assert changed_days(old, old, D(2026, 11, 30)) == set()
    new_prices = {"m": [TWO_PRICES["m"][0], {**TWO_PRICES["m"][1], "effective_from": "2026-07-01"}]}
    days = changed_days(old, price_rows(catalog(**new_prices)), D(2026, 11, 30))
    assert days == {D(2026, 6, 1) + dt.timedelta(days=i) for i in range(30)}  # June only
    assert changed_days([], old, D(2024, 12, 31)) == set()  # prices that start after today
    dropped = [r for r in old if r.service_tier != "batch"]  # the batch tier removed
    assert changed_days(old, dropped, D(2026, 11, 30)) == {
        D(2026, 1, 1) + dt.timedelta(days=i)
        for i in range(151)  # Jan 1 .. May 31
    }


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_the_shipped_catalogs_load_and_price_the_sandbox_models(name):
    from lib.sandbox.data import ANTHROPIC_MODELS, OPENAI_MODELS

    shipped = load_model(LIBRARY / f"{name}.yml", PriceCatalog)
    rows = price_rows(shipped)
    models = {r.model for r in rows}
    assert set(OPENAI_MODELS if name == "openai" else ANTHROPIC_MODELS) <= models
    for model, (price_in, price_cached, price_out) in (
        OPENAI_MODELS.items() if name == "openai" else {}
    ):
        current = [r for r in rows if r.model == model and r.effective_to is None]
        now = {r.meter: r.list_block_price for r in current if r.service_tier == "standard"}
        assert now == {"input": Decimal(str(price_in)), "cached_input": Decimal(str(price_cached)),
                       "output": Decimal(str(price_out))}  # fmt: skip
