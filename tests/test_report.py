"""``convergence report``: the HTML charts carry exactly the gold tables' numbers, offline."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from html.parser import HTMLParser

import pytest
from rich.console import Console

from lib.errors import ConfigError
from lib.report.html import render_html, write_report
from lib.report.model import build_report, month_bounds, parse_month
from lib.report.text import print_report
from tests.support.spend_runs import gold, rows, run_everything, spend_platform, window

SPAN = window(21)
SPIKE_DAY = dt.date(2026, 11, 16)
NOVEMBER = dt.date(2026, 11, 1)


class Marks(HTMLParser):
    """Collects every element with a ``data-chart`` attribute, and external references."""

    def __init__(self) -> None:
        super().__init__()
        self.marks: list[dict[str, str]] = []
        self.external: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        self.tags.add(tag)
        if "data-chart" in values:
            self.marks.append(values)
        for key in ("src", "href"):
            if key in values:
                self.external.append(values[key])


def parse(html: str) -> Marks:
    marks = Marks()
    marks.feed(html)
    return marks


def chart(marks: Marks, name: str) -> list[dict[str, str]]:
    return [m for m in marks.marks if m["data-chart"] == name]


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    spike = {"spike": {"day": SPIKE_DAY.isoformat(), "factor": 10, "tenant": "acme"}}
    with spend_platform(tmp_path_factory.mktemp("report"), ("acme",), faults=spike) as running:
        run_everything(running, SPAN, ("acme",))
        yield running


@pytest.fixture(scope="module")
def html(platform, tmp_path_factory):
    report = build_report(platform.rt.warehouse, "acme", NOVEMBER)
    path = write_report(report, tmp_path_factory.mktemp("out") / "r" / "acme.html")
    return path.read_text(encoding="utf-8")


def test_daily_chart_equals_gold_daily_spend_by_provider(platform, html):
    start, end = month_bounds(NOVEMBER)
    expected = {
        (r["d"].isoformat(), r["p"]): r["t"]
        for r in rows(
            platform,
            f"SELECT charge_date AS d, provider AS p, SUM(billed_cost) AS t "
            f"FROM {gold('acme', 'daily_spend')} WHERE charge_date BETWEEN @s AND @e "
            "GROUP BY d, p",
            s=start,
            e=end,
        )
    }
    bars = chart(parse(html), "daily")
    got = {(b["data-date"], b["data-provider"]): Decimal(b["data-value"]) for b in bars}
    assert len(bars) == len(got) == 19 * 4  # Nov 1..19, four providers (aws: export files)
    assert got == expected


def test_top_services_and_models_equal_gold(platform, html):
    marks = parse(html)
    services = {
        (m["data-provider"], m["data-label"]): Decimal(m["data-value"])
        for m in chart(marks, "services")
    }
    expected = {
        (r["provider"], f"{r['service_name']} ({r['provider']})"): r["t"]
        for r in rows(
            platform,
            f"SELECT provider, service_name, SUM(billed_cost) AS t "
            f"FROM {gold('acme', 'monthly_spend')} WHERE month = @m GROUP BY 1, 2 "
            "ORDER BY t DESC, provider, service_name LIMIT 10",  # the report's top 10
            m=NOVEMBER,
        )
    }
    assert services == expected and len(services) == 10
    models = {
        (m["data-provider"], m["data-label"]): Decimal(m["data-value"])
        for m in chart(marks, "models")
    }
    start, end = month_bounds(NOVEMBER)
    expected_models = {
        (r["provider"], r["model"]): r["t"]
        for r in rows(
            platform,
            f"SELECT provider, model, SUM(billed_cost) AS t FROM {gold('acme', 'daily_spend')} "
            "WHERE model IS NOT NULL AND charge_date BETWEEN @s AND @e GROUP BY 1, 2",
            s=start,
            e=end,
        )
    }
    assert models == expected_models and len(models) == 7


def test_anomalies_are_highlighted_where_gold_found_them(platform, html):
    marks = parse(html)
    flagged = {(m["data-date"], m["data-provider"]) for m in chart(marks, "anomaly")}
    gold_rows = rows(
        platform, f"SELECT charge_date, provider FROM {gold('acme', 'cost_anomalies')}"
    )
    expected = {(r["charge_date"].isoformat(), r["provider"]) for r in gold_rows}
    assert (
        flagged
        == expected
        == {(SPIKE_DAY.isoformat(), "openai"), (SPIKE_DAY.isoformat(), "anthropic")}
    )
    highlighted = {
        (b["data-date"], b["data-provider"])
        for b in chart(marks, "daily")
        if b["data-anomaly"] == "true"
    }
    assert highlighted == expected
    assert html.count('class="anomaly"') == 2


def test_page_is_self_contained(html):
    marks = parse(html)
    assert marks.external == []
    assert not {"script", "link", "img", "iframe"} & marks.tags
    assert "http://" not in html.replace('xmlns="http://www.w3.org/2000/svg"', "")
    assert "https://" not in html and "@import" not in html and "url(" not in html


def test_console_tables_show_the_month_total(platform):
    report = build_report(platform.rt.warehouse, "acme")
    assert report.month == NOVEMBER  # newest month with spend
    console = Console(record=True, width=120)
    print_report(report, console)
    text = console.export_text()
    assert f"{report.total.quantize(Decimal('0.01')):,}" in text
    assert "Cost anomalies" in text and "claude-opus-4-20250514" in text


def test_cli_report_writes_the_html_file(platform, tmp_path, monkeypatch):
    from lib.cli import main

    monkeypatch.setenv("CONVERGENCE_MODE", "local")
    monkeypatch.setenv("CONVERGENCE_HOME", str(platform.rt.settings.home))
    out = tmp_path / "acme.html"
    assert main(["report", "--tenant", "acme", "--month", "2026-10", "--out", str(out)]) == 0
    marks = parse(out.read_text(encoding="utf-8"))
    days = {m["data-date"] for m in chart(marks, "daily") if m["data-provider"] != "aws"}
    assert days == {"2026-10-30", "2026-10-31"}  # AWS's export holds all of October


def test_report_without_gold_tables_says_what_to_run(tmp_path):
    with spend_platform(tmp_path / "empty", ("acme",)) as empty:
        with pytest.raises(ConfigError, match="spend_reporting"):
            build_report(empty.rt.warehouse, "acme")


def test_month_parsing():
    assert parse_month("2026-02") == dt.date(2026, 2, 1)
    assert month_bounds(dt.date(2026, 2, 14)) == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    with pytest.raises(ValueError, match="YYYY-MM"):
        parse_month("2026-13")


def test_html_escapes_provider_supplied_text(platform):
    report = build_report(platform.rt.warehouse, "acme", NOVEMBER)
    report.by_model.insert(0, ("openai", "<script>alert(1)</script>", Decimal("1")))
    page = render_html(report)
    assert "<script>" not in page and "&lt;script&gt;" in page
