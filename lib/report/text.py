"""The spend report as rich console tables (``convergence report`` and the demo print them)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from lib.report.format import crossed, maybe_money, money, percent, thousands
from lib.report.model import IntelReport, SpendReport

__all__ = ["print_intel", "print_report"]


def print_report(report: SpendReport, console: Console) -> None:
    """Print the report's spend tables, then its cost-intelligence tables."""
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


def print_intel(intel: IntelReport, console: Console) -> None:
    """Print the reconciliation, unit-economics and budget tables (nothing when empty)."""
    if intel.reconciliation:
        table = Table("provider", "billed", "expected (usage x price)", "difference",
                      "line items", "flagged", "unpriced", title="Reconciliation")  # fmt: skip
        for r in intel.reconciliation:
            table.add_row(r["provider"], maybe_money(r["billed"]), maybe_money(r["expected"]),
                          maybe_money(r["difference"]), str(r["line_items"]), str(r["flagged"]),
                          str(r["unpriced"]))  # fmt: skip
        console.print(table)
    if intel.unit_costs:
        table = Table("provider", "model", "tokens", "cost", "per 1M tokens",
                      title="Unit economics (cost per 1M tokens)")  # fmt: skip
        for r in intel.unit_costs:
            table.add_row(r["provider"], r["model"], thousands(r["tokens"]),
                          maybe_money(r["cost"]),
                          f"{r['cost_per_million_tokens']:.4f}")  # fmt: skip
        console.print(table)
    if intel.budgets:
        table = Table("budget", "scope", "amount", "month to date", "%", "forecast",
                      "band", "crossed", title="Budgets")  # fmt: skip
        for r in intel.budgets:
            band = f"{maybe_money(r['forecast_low'])} - {maybe_money(r['forecast_high'])}"
            table.add_row(r["budget_name"], r["scope"], maybe_money(r["budget_amount"]),
                          maybe_money(r["actual_cost"]), percent(r["actual_percent"]),
                          maybe_money(r["forecast_cost"]), band, crossed(r))  # fmt: skip
        console.print(table)
