"""Spend report of one tenant and month, read from the gold tables: console tables and HTML.

``build_report`` runs a few small BigQuery-dialect queries through the Warehouse port over
``{tenant}_gold_reporting`` (``monthly_spend``, ``daily_spend``, ``cost_anomalies``, and the
cost-intelligence tables: lib/report_intel.py);
``print_report`` shows it with rich; ``write_report`` writes the self-contained HTML page
(:mod:`lib.report_html`). ``convergence report --tenant T [--month YYYY-MM]`` and the demo
call :func:`run_report`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from lib.config.loader import tenant_dataset
from lib.errors import ConfigError, ConfigProblem
from lib.ports import TableRef, Warehouse
from lib.report_intel import IntelReport, build_intel, print_intel
from lib.settings import Settings
from lib.sql import table_sql

__all__ = [
    "SpendReport",
    "build_report",
    "default_path",
    "money",
    "month_bounds",
    "parse_month",
    "print_report",
    "run_report",
    "write_report",
]

TOP = 10
CENT = Decimal("0.01")


@dataclass(frozen=True)
class SpendReport:
    """Everything the report shows; amounts are exact Decimals in ``currency``.

    Attributes:
        tenant_id: the tenant.
        month: first day of the reported month.
        currency: the billing currency (the first one found; amounts are never converted).
        by_provider: (provider, billed cost) of the month, largest first.
        by_service: (provider, service, billed cost), largest first, at most ``TOP``.
        by_model: (provider, model, billed cost) of AI models, largest first, at most ``TOP``.
        daily: (day, provider, billed cost) for every day and provider with spend.
        anomalies: rows of ``cost_anomalies`` in the month.
        intel: reconciliation, unit economics and budgets (lib/report_intel.py); empty
            for a tenant without the cost_intelligence pipeline.
    """

    tenant_id: str
    month: dt.date
    currency: str
    by_provider: list[tuple[str, Decimal]]
    by_service: list[tuple[str, str, Decimal]]
    by_model: list[tuple[str, str, Decimal]]
    daily: list[tuple[dt.date, str, Decimal]]
    anomalies: list[dict[str, Any]]
    intel: IntelReport = field(default_factory=IntelReport)

    @property
    def total(self) -> Decimal:
        """The month's billed cost over every provider."""
        return sum((cost for _, cost in self.by_provider), Decimal(0))

    @property
    def providers(self) -> list[str]:
        """Providers with spend, in a stable order (by name)."""
        return sorted({p for _, p, _ in self.daily} | {p for p, _ in self.by_provider})

    @property
    def days(self) -> list[dt.date]:
        """Every day of the month."""
        start, end = month_bounds(self.month)
        return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def parse_month(text: str) -> dt.date:
    """``YYYY-MM`` → first day of that month.

    Raises:
        ValueError: not a ``YYYY-MM`` month.
    """
    try:
        return dt.datetime.strptime(text, "%Y-%m").date()
    except ValueError as exc:
        raise ValueError(f"{text!r} is not a month: write YYYY-MM, e.g. 2026-11") from exc


def month_bounds(month: dt.date) -> tuple[dt.date, dt.date]:
    """First and last day of ``month``'s month."""
    start = month.replace(day=1)
    following = (start + dt.timedelta(days=32)).replace(day=1)
    return start, following - dt.timedelta(days=1)


def _gold(tenant_id: str, table: str) -> str:
    return table_sql(TableRef(tenant_dataset(tenant_id, "gold_reporting"), table))


def _latest_month(warehouse: Warehouse, tenant_id: str) -> dt.date:
    rows = warehouse.query(f"SELECT MAX(month) AS m FROM {_gold(tenant_id, 'monthly_spend')}")
    month = rows[0]["m"] if rows else None
    if month is None:
        raise ConfigError(
            [
                ConfigProblem(
                    f"{tenant_id}_gold_reporting.monthly_spend",
                    "(table)",
                    "no gold spend yet",
                    "run the provider pipelines, then spend_reporting (convergence demo)",
                )
            ]
        )
    return month  # type: ignore[no-any-return]


def _check_tables(warehouse: Warehouse, tenant_id: str) -> None:
    dataset = tenant_dataset(tenant_id, "gold_reporting")
    missing = [
        t
        for t in ("monthly_spend", "daily_spend", "cost_anomalies")
        if not warehouse.table_exists(TableRef(dataset, t))
    ]
    if missing:
        raise ConfigError(
            [
                ConfigProblem(
                    dataset,
                    "(dataset)",
                    f"gold tables {missing} do not exist",
                    "run the spend_reporting pipeline first (convergence demo does)",
                )
            ]
        )


def build_report(warehouse: Warehouse, tenant_id: str, month: dt.date | None = None) -> SpendReport:
    """Read one month of a tenant's gold tables.

    Args:
        warehouse: where the gold tables are.
        tenant_id: the tenant (validated).
        month: any day of the month to report; default the newest month with spend.

    Returns:
        The report's data.

    Raises:
        ConfigError: the gold tables are missing or empty (run spend_reporting first).
    """
    _check_tables(warehouse, tenant_id)
    month = (month or _latest_month(warehouse, tenant_id)).replace(day=1)
    start, end = month_bounds(month)
    params = {"month": month, "start": start, "end": end}
    monthly = _q(warehouse, tenant_id, "monthly_spend", _MONTHLY, params)
    daily = _q(warehouse, tenant_id, "daily_spend", _DAILY, params)
    models = _q(warehouse, tenant_id, "daily_spend", _MODELS, params)
    anomalies = _q(warehouse, tenant_id, "cost_anomalies", _ANOMALIES, params)
    return SpendReport(
        tenant_id=tenant_id,
        month=month,
        currency=next((r["billing_currency"] for r in monthly), "USD"),
        by_provider=_by_provider(monthly),
        by_service=[(r["provider"], r["service_name"], r["cost"]) for r in monthly][:TOP],
        by_model=[(r["provider"], r["model"], r["cost"]) for r in models][:TOP],
        daily=[(r["charge_date"], r["provider"], r["cost"]) for r in daily],
        anomalies=anomalies,
        intel=build_intel(warehouse, tenant_id, start, end),
    )


_MONTHLY = (
    "SELECT provider, service_name, billing_currency, SUM(billed_cost) AS cost FROM {t} "
    "WHERE month = @month GROUP BY provider, service_name, billing_currency "
    "ORDER BY cost DESC, provider, service_name"
)
_DAILY = (
    "SELECT charge_date, provider, SUM(billed_cost) AS cost FROM {t} "
    "WHERE charge_date BETWEEN @start AND @end GROUP BY charge_date, provider "
    "ORDER BY charge_date, provider"
)
_MODELS = (
    "SELECT provider, model, SUM(billed_cost) AS cost FROM {t} "
    "WHERE charge_date BETWEEN @start AND @end AND model IS NOT NULL "
    "GROUP BY provider, model ORDER BY cost DESC, provider, model"
)
_ANOMALIES = (
    "SELECT charge_date, provider, billing_currency, spend, baseline_mean, baseline_stddev, "
    "baseline_days, deviation, z_score, ratio, direction FROM {t} "
    "WHERE charge_date BETWEEN @start AND @end ORDER BY charge_date, provider"
)


def _q(
    warehouse: Warehouse, tenant_id: str, table: str, sql: str, params: dict[str, Any]
) -> list[dict[str, Any]]:
    text = sql.format(t=_gold(tenant_id, table))
    used = {k: v for k, v in params.items() if f"@{k}" in text}
    return warehouse.query(text, used)


def _by_provider(monthly: list[dict[str, Any]]) -> list[tuple[str, Decimal]]:
    totals: dict[str, Decimal] = {}
    for row in monthly:
        totals[row["provider"]] = totals.get(row["provider"], Decimal(0)) + row["cost"]
    return sorted(totals.items(), key=lambda item: (-item[1], item[0]))


def money(value: Decimal) -> str:
    """An amount rounded to the cent with thousands separators, e.g. ``1,234.50``."""
    return f"{value.quantize(CENT):,}"


def print_report(report: SpendReport, console: Console) -> None:
    """Print the report's spend tables."""
    title = f"{report.tenant_id} spend {report.month:%Y-%m} ({report.currency})"
    providers = Table("provider", "billed cost", title=title)
    for provider, cost in report.by_provider:
        providers.add_row(provider, money(cost))
    providers.add_row("[bold]total[/bold]", f"[bold]{money(report.total)}[/bold]")
    console.print(providers)
    services = Table("provider", "service", "billed cost", title="Top services")
    for provider, service, cost in report.by_service:
        services.add_row(provider, service, money(cost))
    console.print(services)
    models = Table("provider", "model", "billed cost", title="Top models")
    for provider, model, cost in report.by_model:
        models.add_row(provider, model, money(cost))
    console.print(models)
    anomalies = Table(
        "day", "provider", "spend", "baseline mean", "z", "ratio", title="Cost anomalies"
    )
    for a in report.anomalies:
        anomalies.add_row(
            str(a["charge_date"]), a["provider"], money(a["spend"]),
            money(a["baseline_mean"]), f"{a['z_score']:.1f}", f"{a['ratio']:.1f}x",
        )  # fmt: skip
    console.print(anomalies if report.anomalies else "[green]No cost anomalies.[/green]")
    print_intel(report.intel, console)


def write_report(report: SpendReport, path: Path) -> Path:
    """Write the self-contained HTML report to ``path`` (folders created); return it."""
    from lib.report_html import render_html

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report), encoding="utf-8")
    return path


def default_path(home: Path, report: SpendReport) -> Path:
    """Where reports go by default: ``{home}/reports/{tenant}-{YYYY-MM}.html``."""
    return home / "reports" / f"{report.tenant_id}-{report.month:%Y-%m}.html"


def run_report(settings: Settings, tenant_id: str, month: dt.date | None, out: Path | None) -> int:
    """``convergence report``: print the spend tables and write the HTML file.

    Args:
        settings: picks the warehouse (local DuckDB file or BigQuery).
        tenant_id: the tenant.
        month: any day of the month to report; default the newest month with spend.
        out: the HTML file; default ``{home}/reports/{tenant}-{YYYY-MM}.html``.

    Returns:
        0 (errors raise).

    Raises:
        ConfigError: the tenant has no gold tables yet.
    """
    from lib.console import console
    from lib.ids import check_slug
    from lib.wiring import open_runtime

    check_slug(tenant_id, "tenant id")
    with open_runtime(settings) as rt:
        report = build_report(rt.warehouse, tenant_id, month)
    print_report(report, console)
    path = write_report(report, out or default_path(settings.home, report))
    console.print(f"Report: [bold]{path.resolve()}[/bold]")
    return 0
