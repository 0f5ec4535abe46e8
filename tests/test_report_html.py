"""The report's HTML rendering on hand-built reports: strict templates, escaping, packaging.

No warehouse here (tests/test_report.py checks the page against the gold tables): each test
builds a :class:`SpendReport` by hand so it can plant what gold never holds — a row missing a
column, a provider named like markup.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import tomllib
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest
from jinja2 import UndefinedError

import lib.report
from lib.report.html import (
    HEIGHT,
    PAD,
    bar_chart,
    budget_bar,
    daily_chart,
    environment,
    render_html,
)
from lib.report.model import IntelReport, SpendReport

NOVEMBER = dt.date(2026, 11, 1)
HOSTILE = '<script>alert("x")</script>&amp;\'"'
ROOT = Path(__file__).resolve().parents[1]


def anomaly(provider: str, day: dt.date) -> dict[str, object]:
    return {
        "charge_date": day, "provider": provider, "billing_currency": "USD",
        "spend": Decimal("120.5"), "baseline_mean": Decimal("10"), "baseline_stddev": 2.5,
        "baseline_days": 14, "deviation": Decimal("110.5"), "z_score": 44.2, "ratio": 12.05,
        "direction": "up",
    }  # fmt: skip


def budget(name: str) -> dict[str, object]:
    return {
        "budget_name": name, "scope": "provider in (openai)", "currency": "USD",
        "budget_amount": Decimal("100"), "as_of_date": dt.date(2026, 11, 20),
        "actual_cost": Decimal("80"), "forecast_cost": Decimal("120"),
        "forecast_low": Decimal("110"), "forecast_high": Decimal("130"), "actual_percent": 80.0,
        "forecast_percent": 120.0, "actual_thresholds_crossed": [50, 80],
        "forecast_thresholds_crossed": [100],
    }  # fmt: skip


def report(provider: str = "openai", model: str = "gpt-4o", name: str = "ai") -> SpendReport:
    """One provider with two days of spend, an anomaly on the second, a model and a budget."""
    days = [NOVEMBER + dt.timedelta(days=i) for i in (0, 1)]
    return SpendReport(
        tenant_id="acme",
        month=NOVEMBER,
        currency="USD",
        by_provider=[(provider, Decimal("130.5"))],
        by_service=[(provider, "API", Decimal("130.5"))],
        by_model=[(provider, model, Decimal("130.5"))],
        daily=[(days[0], provider, Decimal("10")), (days[1], provider, Decimal("120.5"))],
        anomalies=[anomaly(provider, days[1])],
        intel=IntelReport(budgets=[budget(name)]),
    )


class Page(HTMLParser):
    """Every element's attributes, and the page's text, with entities decoded."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


@pytest.mark.parametrize("column", ["baseline_days", "z_score", "spend"])  # shown, formatted
def test_a_column_missing_from_a_row_fails_the_render_naming_it(column):
    broken = report()
    del broken.anomalies[0][column]
    with pytest.raises(UndefinedError, match=column):
        render_html(broken)


def test_a_variable_the_page_needs_but_is_not_given_fails_the_render():
    template = environment().get_template("report.html.j2")
    with pytest.raises(UndefinedError, match="title"):
        template.render(report=report())


def test_every_template_renders_with_what_render_html_gives_it():
    page = render_html(report())
    for mark in ("daily", "anomaly", "services", "models", "budget"):
        assert f'data-chart="{mark}"' in page
    assert "50% actual" not in page and "80% actual, 100% forecast" in page


@pytest.mark.parametrize("field", ["provider", "model", "name"])  # name: the budget's
def test_hostile_names_are_escaped_everywhere_and_read_back_intact(field):
    hostile = report(**{field: HOSTILE})
    page = render_html(hostile)
    assert "<script>" not in page and "&lt;script&gt;" in page
    parsed = Page(page)
    assert "script" not in {tag for tag, _ in parsed.elements}
    values = [v for _, attrs in parsed.elements for v in attrs.values()]
    assert HOSTILE in values  # a data-* attribute carries the exact name
    assert any(HOSTILE in text for text in parsed.text)  # and the page shows it as text


def test_geometry_is_plain_data_scaled_to_the_largest_value():
    r = report()
    daily = daily_chart(r)
    first, second = daily.bars
    assert second.height == pytest.approx(HEIGHT - 2 * PAD)  # the largest day is full
    assert first.height == pytest.approx(second.height * 10 / 120.5)
    assert [m.day for m in daily.markers] == [NOVEMBER + dt.timedelta(days=1)]
    assert daily.top == Decimal("120.5")
    bars = bar_chart("models", [("openai", "a", Decimal("2")), ("openai", "b", Decimal("-1"))],
                     ["openai"])  # fmt: skip
    assert [b.width for b in bars.bars] == [pytest.approx(520), 0]
    line = budget_bar(budget("ai"))
    assert (line.actual_x, line.amount_x, line.over) == (pytest.approx(320), 400, False)


def test_a_report_without_cost_intelligence_has_no_intel_sections():
    page = render_html(dataclasses.replace(report(), intel=IntelReport()))
    assert "Reconciliation" not in page and "Budgets" not in page


def test_templates_ship_in_the_package():
    """pyproject's package-data globs cover every template, so the wheel and image have them."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    globs = config["tool"]["setuptools"]["package-data"]["lib.report"]
    package = Path(lib.report.__file__).parent
    templates = sorted(p.relative_to(package).as_posix() for p in package.glob("templates/*"))
    assert templates, "no templates found"
    for name in templates:
        assert any(fnmatch.fnmatch(name, g) for g in globs), f"{name} is not package data"
