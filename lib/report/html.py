"""The spend report as ONE self-contained HTML page: inline CSS and SVG, no JS, no network.

The markup lives in Jinja2 templates (``lib/report/templates/*.html.j2``, autoescaped, and a
missing variable is an error, never an empty string); the charts' geometry is computed here by
small functions returning plain data. Every mark carries its data as attributes
(``data-chart``, ``data-date``, ``data-provider``, ``data-label``, ``data-value`` with the exact
decimal), so the page can be checked against the gold tables by parsing it, and read by a
screen reader through ``<title>`` tooltips.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from functools import wraps
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, Undefined

from lib.report.format import crossed, fixed, maybe_money, money, percent, thousands
from lib.report.model import IntelReport, SpendReport

__all__ = [
    "BarChart",
    "BudgetBar",
    "DailyChart",
    "bar_chart",
    "budget_bar",
    "colour",
    "daily_chart",
    "default_path",
    "environment",
    "render_html",
    "write_report",
]

COLOURS = {
    "openai": "#10a37f", "anthropic": "#d97757", "gcp": "#4285f4", "aws": "#ff9900",
    "azure": "#0078d4",
}  # fmt: skip
FALLBACK = ("#8e44ad", "#f1c40f", "#2c3e50", "#e74c3c")
WIDTH, HEIGHT, PAD = 900, 280, 48
TICK_DAYS = (1, 8, 15, 22, 29)
BAR_HEIGHT, LABEL_WIDTH = 26, 260
BUDGET_WIDTH = 520


def environment() -> Environment:
    """The templates' environment: HTML-escaped, strict about undefined names."""
    env = Environment(
        loader=PackageLoader("lib.report", "templates"),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    filters: list[Callable[..., str]] = [money, maybe_money, percent, fixed, thousands, crossed]
    env.filters.update({f.__name__: _strict(f) for f in filters})
    return env


def _strict(fmt: Callable[..., str]) -> Callable[..., str]:
    """``fmt`` raising Jinja's UndefinedError (naming the missing value) when given one."""

    @wraps(fmt)
    def checked(value: Any, *args: Any) -> str:
        if isinstance(value, Undefined):
            value._fail_with_undefined_error()
        return fmt(value, *args)

    return checked


_ENV = environment()


def colour(provider: str, providers: list[str]) -> str:
    """The fixed colour of a provider (known ones) or a stable fallback."""
    if provider in COLOURS:
        return COLOURS[provider]
    return FALLBACK[providers.index(provider) % len(FALLBACK)]


# --- daily spend: stacked bars per day and provider, anomaly markers ---------------------


@dataclass(frozen=True)
class DailyBar:
    """One provider's spend of one day, stacked on the providers before it."""

    day: dt.date
    provider: str
    value: Decimal
    anomaly: bool
    x: float
    y: float
    width: float
    height: float
    fill: str


@dataclass(frozen=True)
class Tick:
    """A day label under the axis."""

    x: float
    label: str


@dataclass(frozen=True)
class Marker:
    """A triangle above the day a cost anomaly was found on."""

    day: dt.date
    provider: str
    x: float


@dataclass(frozen=True)
class DailyChart:
    """The daily chart: its size, axis, bars, day labels, scale and anomaly markers."""

    width: int
    height: int
    axis_start: int
    axis_end: int
    baseline: int
    bars: list[DailyBar]
    ticks: list[Tick]
    tick_y: int
    top: Decimal
    top_y: int
    markers: list[Marker]
    marker_y: int


def daily_chart(report: SpendReport) -> DailyChart:
    """Stacked bars of each day's spend per provider, scaled to the largest day."""
    days, providers = report.days, report.providers
    totals: dict[dt.date, Decimal] = {}
    for day, _, cost in report.daily:
        totals[day] = totals.get(day, Decimal(0)) + max(cost, Decimal(0))
    top = max(totals.values(), default=Decimal(1)) or Decimal(1)
    slot = (WIDTH - 2 * PAD) / max(len(days), 1)
    flagged = {(a["charge_date"], a["provider"]) for a in report.anomalies}
    bars, stacked = [], dict.fromkeys(days, 0.0)
    for day, provider, cost in sorted(report.daily, key=lambda r: (r[0], providers.index(r[1]))):
        h = float(max(cost, Decimal(0)) / top) * (HEIGHT - 2 * PAD)
        y = HEIGHT - PAD - stacked[day] - h
        stacked[day] += h
        bars.append(
            DailyBar(day, provider, cost, (day, provider) in flagged,
                     x=PAD + days.index(day) * slot + slot * 0.1, y=y, width=slot * 0.8,
                     height=h, fill=colour(provider, providers))
        )  # fmt: skip
    ticks = [
        Tick(PAD + days.index(day) * slot, f"{day:%b %d}") for day in days if day.day in TICK_DAYS
    ]
    return DailyChart(
        width=WIDTH, height=HEIGHT, axis_start=PAD, axis_end=WIDTH - PAD, baseline=HEIGHT - PAD,
        bars=bars, ticks=ticks, tick_y=HEIGHT - PAD + 14, top=top, top_y=PAD - 8,
        markers=_markers(report, days, slot), marker_y=PAD - 20,
    )  # fmt: skip


def _markers(report: SpendReport, days: list[dt.date], slot: float) -> list[Marker]:
    found = [(a["charge_date"], a["provider"]) for a in report.anomalies]
    return [
        Marker(day, provider, PAD + days.index(day) * slot + slot / 2)
        for day, provider in found
        if day in days
    ]


# --- horizontal bars: top services and models -------------------------------------------


@dataclass(frozen=True)
class Bar:
    """One labelled horizontal bar; ``y`` is its top."""

    provider: str
    label: str
    value: Decimal
    y: int
    width: float
    fill: str


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars scaled to the largest value (``name`` is the marks' ``data-chart``)."""

    name: str
    width: int
    height: int
    label_width: int
    bar_height: int
    bars: list[Bar]


def bar_chart(name: str, rows: list[tuple[str, str, Decimal]], providers: list[str]) -> BarChart:
    """Bars of (provider, label, value) rows, in their order; negative values draw empty."""
    top = max((max(cost, Decimal(0)) for _, _, cost in rows), default=Decimal(1)) or Decimal(1)
    scale = WIDTH - LABEL_WIDTH - 120
    bars = [
        Bar(provider, label, cost, y=10 + i * BAR_HEIGHT,
            width=float(max(cost, Decimal(0)) / top) * scale, fill=colour(provider, providers))
        for i, (provider, label, cost) in enumerate(rows)
    ]  # fmt: skip
    return BarChart(name, WIDTH, 20 + len(rows) * BAR_HEIGHT, LABEL_WIDTH, BAR_HEIGHT, bars)


# --- budgets: spend, forecast band, forecast and amount on one line -----------------------


@dataclass(frozen=True)
class BudgetBar:
    """One budget's line; the ``*_x`` are positions on a ``width``-wide scale."""

    name: str
    width: int
    amount: Decimal
    actual: Decimal
    forecast: Decimal
    over: bool
    actual_x: float
    low_x: float
    band_width: float
    forecast_x: float
    amount_x: float


def budget_bar(row: dict[str, Any], width: int = BUDGET_WIDTH) -> BudgetBar:
    """The line of a ``budget_status`` row, scaled to the largest of amount, band and spend."""
    amount = Decimal(row["budget_amount"])
    top = max(amount, Decimal(row["forecast_high"]), Decimal(row["actual_cost"])) or Decimal(1)

    def x(value: Any) -> float:
        return float(Decimal(value) / top) * width

    return BudgetBar(
        name=row["budget_name"], width=width, amount=amount, actual=row["actual_cost"],
        forecast=row["forecast_cost"], over=row["actual_cost"] >= amount,
        actual_x=x(row["actual_cost"]), low_x=x(row["forecast_low"]),
        band_width=max(x(row["forecast_high"]) - x(row["forecast_low"]), 1),
        forecast_x=x(row["forecast_cost"]), amount_x=x(amount),
    )  # fmt: skip


# --- the page ----------------------------------------------------------------------------


def render_html(report: SpendReport) -> str:
    """The whole report page (UTF-8 text, no external resources)."""
    providers = report.providers
    services = [(p, f"{s} ({p})", c) for p, s, c in report.by_service]
    return _ENV.get_template("report.html.j2").render(
        report=report,
        title=f"{report.tenant_id} spend {report.month:%Y-%m}",
        providers=[(p, colour(p, providers)) for p in providers],
        daily=daily_chart(report),
        services=bar_chart("services", services, providers),
        models=bar_chart("models", list(report.by_model), providers),
        intel=report.intel if report.intel != IntelReport() else None,
        budgets=[(r, budget_bar(r)) for r in report.intel.budgets],
    )


def write_report(report: SpendReport, path: Path) -> Path:
    """Write the self-contained HTML report to ``path`` (folders created); return it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path


def default_path(home: Path, report: SpendReport) -> Path:
    """Where reports go by default: ``{home}/reports/{tenant}-{YYYY-MM}.html``."""
    return home / "reports" / f"{report.tenant_id}-{report.month:%Y-%m}.html"
