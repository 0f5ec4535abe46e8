"""The cost-intelligence part of the spend report: reconciliation, unit economics, budgets.

Read from the ``cost_intelligence`` gold tables of ``{tenant}_gold_reporting`` when the tenant
has them (a tenant without the pipeline gets a report without these sections):

* reconciliation — per provider, the month's billed against expected cost, the difference,
  and how many line items are flagged or unpriced; the largest flagged line items;
* unit economics — the month's cost per 1M tokens per model; this week's top movers;
* budgets — each budget's month: amount, spend, forecast with its band, thresholds crossed.

:func:`print_intel` shows them with rich; :func:`render_intel` as HTML sections whose marks
carry their numbers (``data-chart`` …), as the rest of the page does.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from html import escape
from typing import Any

from rich.console import Console
from rich.table import Table

from lib.config.loader import tenant_dataset
from lib.ports import TableRef, Warehouse
from lib.sql import table_sql

__all__ = ["IntelReport", "build_intel", "print_intel", "render_intel"]

TOP = 10
MOVERS = 5
CENT = Decimal("0.01")
TABLES = ("cost_reconciliation", "unit_costs_monthly", "top_movers", "budget_status")


@dataclass(frozen=True)
class IntelReport:
    """The cost-intelligence rows of one tenant and month (empty lists: nothing to show)."""

    reconciliation: list[dict[str, Any]] = field(default_factory=list)
    discrepancies: list[dict[str, Any]] = field(default_factory=list)
    unit_costs: list[dict[str, Any]] = field(default_factory=list)
    movers: list[dict[str, Any]] = field(default_factory=list)
    budgets: list[dict[str, Any]] = field(default_factory=list)

    @property
    def flagged(self) -> int:
        """Line items billed beyond the tolerance of what their usage costs."""
        return sum(int(r["flagged"]) for r in self.reconciliation)


_RECONCILIATION = (
    "SELECT provider, currency, SUM(billed_cost) AS billed, SUM(expected_cost) AS expected, "
    "SUM(billed_cost - IFNULL(expected_cost, CAST(0 AS BIGNUMERIC))) AS difference, "
    "COUNT(*) AS line_items, COUNTIF(flagged) AS flagged, "
    "COUNTIF(status = 'unpriced') AS unpriced FROM {t} "
    "WHERE charge_date BETWEEN @start AND @end GROUP BY provider, currency ORDER BY provider"
)
_DISCREPANCIES = (
    "SELECT charge_date, provider, sub_account_id, line_item, status, billed_cost, "
    "expected_cost, difference, ratio FROM {t} "
    "WHERE charge_date BETWEEN @start AND @end AND (flagged OR status = 'unpriced') "
    "ORDER BY ABS(IFNULL(difference, billed_cost)) DESC, charge_date, line_item LIMIT 10"
)
_UNIT_COSTS = (
    "SELECT provider, dimension_value AS model, tokens, cost, cost_per_million_tokens FROM {t} "
    "WHERE month = @month AND dimension = 'model' "
    "ORDER BY cost DESC, provider, model LIMIT 10"
)
_MOVERS = (
    "SELECT as_of_date, provider, dimension, dimension_value, this_week_cost, "
    "previous_week_cost, change, change_ratio FROM {t} WHERE rank <= 5 AND change != 0 "
    "ORDER BY dimension, rank"
)
_BUDGETS = (
    "SELECT budget_name, scope, currency, budget_amount, as_of_date, actual_cost, "
    "forecast_cost, forecast_low, forecast_high, actual_percent, forecast_percent, "
    "actual_thresholds_crossed, forecast_thresholds_crossed FROM {t} "
    "WHERE month = @month ORDER BY budget_name"
)


def build_intel(warehouse: Warehouse, tenant_id: str, month: dt.date, end: dt.date) -> IntelReport:
    """Read the month ``[month, end]`` of a tenant's cost-intelligence tables."""
    dataset = tenant_dataset(tenant_id, "gold_reporting")
    if not all(warehouse.table_exists(TableRef(dataset, t)) for t in TABLES):
        return IntelReport()
    params = {"month": month, "start": month, "end": end}

    def read(table: str, sql: str) -> list[dict[str, Any]]:
        text = sql.format(t=table_sql(TableRef(dataset, table)))
        return warehouse.query(text, {k: v for k, v in params.items() if f"@{k}" in text})

    return IntelReport(
        reconciliation=read("cost_reconciliation", _RECONCILIATION),
        discrepancies=read("cost_reconciliation", _DISCREPANCIES),
        unit_costs=read("unit_costs_monthly", _UNIT_COSTS),
        movers=read("top_movers", _MOVERS),
        budgets=read("budget_status", _BUDGETS),
    )


def _money(value: Decimal | None) -> str:
    return "-" if value is None else f"{Decimal(value).quantize(CENT):,}"


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _crossed(row: dict[str, Any]) -> str:
    actual = row["actual_thresholds_crossed"] or []
    forecast = row["forecast_thresholds_crossed"] or []
    parts = [
        f"{max(actual)}% actual" if actual else "",
        f"{max(forecast)}% forecast" if forecast else "",
    ]
    return ", ".join(p for p in parts if p) or "none"


def print_intel(intel: IntelReport, console: Console) -> None:
    """Print the reconciliation, unit-economics and budget tables (nothing when empty)."""
    if intel.reconciliation:
        table = Table("provider", "billed", "expected (usage x price)", "difference",
                      "line items", "flagged", "unpriced", title="Reconciliation")  # fmt: skip
        for r in intel.reconciliation:
            table.add_row(r["provider"], _money(r["billed"]), _money(r["expected"]),
                          _money(r["difference"]), str(r["line_items"]), str(r["flagged"]),
                          str(r["unpriced"]))  # fmt: skip
        console.print(table)
    if intel.unit_costs:
        table = Table("provider", "model", "tokens", "cost", "per 1M tokens",
                      title="Unit economics (cost per 1M tokens)")  # fmt: skip
        for r in intel.unit_costs:
            table.add_row(r["provider"], r["model"], f"{int(r['tokens']):,}", _money(r["cost"]),
                          f"{r['cost_per_million_tokens']:.4f}")  # fmt: skip
        console.print(table)
    if intel.budgets:
        table = Table("budget", "scope", "amount", "month to date", "%", "forecast",
                      "band", "crossed", title="Budgets")  # fmt: skip
        for r in intel.budgets:
            band = f"{_money(r['forecast_low'])} - {_money(r['forecast_high'])}"
            table.add_row(r["budget_name"], r["scope"], _money(r["budget_amount"]),
                          _money(r["actual_cost"]), _percent(r["actual_percent"]),
                          _money(r["forecast_cost"]), band, _crossed(r))  # fmt: skip
        console.print(table)


# --- HTML -------------------------------------------------------------------------------


def _attr(**values: object) -> str:
    return " ".join(f'{k.replace("_", "-")}="{escape(str(v))}"' for k, v in values.items())


_NUMBER = ' class="n"'


def _head(*names: str) -> str:
    """A header row."""
    return "<tr>" + "".join(f"<th>{escape(n)}</th>" for n in names) + "</tr>"


def _cells(*values: object, numeric: int = 0) -> str:
    """``<td>`` cells; the last ``numeric`` are right-aligned numbers."""
    first = len(values) - numeric
    return "".join(
        f"<td{_NUMBER if i >= first else ''}>{escape(str(v))}</td>" for i, v in enumerate(values)
    )


def _tr(marks: dict[str, object], cells: str) -> str:
    """A table row carrying its data as ``data-*`` attributes."""
    return f"<tr {_attr(**marks)}>{cells}</tr>"


def _reconciliation_html(intel: IntelReport) -> str:
    if not intel.reconciliation:
        return "<p>No usage priced this month.</p>"
    head = _head("provider", "billed", "expected (usage x price)", "difference", "line items",
                 "flagged", "unpriced")  # fmt: skip
    rows = "".join(
        _tr(
            {
                "data_chart": "reconciliation",
                "data_provider": r["provider"],
                "data_billed": r["billed"],
                "data_expected": r["expected"],
                "data_flagged": r["flagged"],
            },
            _cells(
                r["provider"],
                _money(r["billed"]),
                _money(r["expected"]),
                _money(r["difference"]),
                r["line_items"],
                r["flagged"],
                r["unpriced"],
                numeric=6,
            ),
        )
        for r in intel.reconciliation
    )
    return f"<table>{head}{rows}</table>" + _discrepancies_html(intel)


def _discrepancies_html(intel: IntelReport) -> str:
    if not intel.discrepancies:
        return "<p>Every billed line item matches its usage x price.</p>"
    head = ("<tr><th>day</th><th>provider</th><th>line item</th><th>status</th><th>billed</th>"
            "<th>expected</th><th>difference</th></tr>")  # fmt: skip
    rows = "".join(
        _tr(
            {
                "class": "anomaly",
                "data_chart": "discrepancy",
                "data_date": r["charge_date"],
                "data_provider": r["provider"],
                "data_label": r["line_item"],
                "data_status": r["status"],
                "data_value": r["difference"],
            },
            _cells(
                r["charge_date"],
                r["provider"],
                r["line_item"],
                r["status"],
                _money(r["billed_cost"]),
                _money(r["expected_cost"]),
                _money(r["difference"]),
                numeric=3,
            ),
        )
        for r in intel.discrepancies
    )
    return f"<h3>Flagged and unpriced line items</h3><table>{head}{rows}</table>"


def _unit_costs_html(intel: IntelReport) -> str:
    if not intel.unit_costs:
        return "<p>No token usage this month.</p>"
    head = "<tr><th>provider</th><th>model</th><th>tokens</th><th>cost</th><th>per 1M</th></tr>"
    rows = "".join(
        _tr(
            {
                "data_chart": "unit_costs",
                "data_provider": r["provider"],
                "data_label": r["model"],
                "data_value": repr(r["cost_per_million_tokens"]),
            },
            _cells(
                r["provider"],
                r["model"],
                f"{int(r['tokens']):,}",
                _money(r["cost"]),
                f"{r['cost_per_million_tokens']:.4f}",
                numeric=3,
            ),
        )
        for r in intel.unit_costs
    )
    movers = "".join(
        _tr(
            {
                "data_chart": "movers",
                "data_provider": r["provider"],
                "data_label": r["dimension_value"],
                "data_value": r["change"],
            },
            _cells(
                r["dimension"],
                r["provider"],
                r["dimension_value"],
                _money(r["previous_week_cost"]),
                _money(r["this_week_cost"]),
                _money(r["change"]),
                numeric=3,
            ),
        )
        for r in intel.movers
    )
    table = f"<table>{head}{rows}</table>"
    if movers:
        mhead = ("<tr><th>by</th><th>provider</th><th>which</th><th>previous 7 days</th>"
                 "<th>last 7 days</th><th>change</th></tr>")  # fmt: skip
        table += f"<h3>Top movers week over week</h3><table>{mhead}{movers}</table>"
    return table


def _budget_bar(row: dict[str, Any], width: int = 520) -> str:
    """A budget line: spend (bar), forecast band and forecast (marks), the amount (100 %)."""
    amount = Decimal(row["budget_amount"])
    top = max(amount, Decimal(row["forecast_high"]), Decimal(row["actual_cost"])) or Decimal(1)

    def x(value: Any) -> float:
        return float(Decimal(value) / top) * width

    over = "#c0392b" if row["actual_cost"] >= amount else "#4285f4"
    band = max(x(row["forecast_high"]) - x(row["forecast_low"]), 1)
    attrs = _attr(data_chart="budget", data_label=row["budget_name"],
                  data_value=row["actual_cost"], data_amount=amount,
                  data_forecast=row["forecast_cost"])  # fmt: skip
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width + 10}" height="26" '
        f'aria-label="{escape(row["budget_name"])}">'
        f'<rect x="0" y="6" width="{width}" height="14" fill="#eee"/>'
        f'<rect {attrs} x="0" y="6" width="{x(row["actual_cost"]):.1f}" height="14" '
        f'fill="{over}"><title>spend {escape(_money(row["actual_cost"]))}</title></rect>'
        f'<rect x="{x(row["forecast_low"]):.1f}" y="2" height="22" fill="#f1c40f" '
        f'fill-opacity="0.4" width="{band:.1f}">'
        f"<title>forecast band</title></rect>"
        f'<line x1="{x(row["forecast_cost"]):.1f}" x2="{x(row["forecast_cost"]):.1f}" y1="0" '
        f'y2="26" stroke="#333"><title>forecast {escape(_money(row["forecast_cost"]))}</title>'
        f'</line><line x1="{x(amount):.1f}" x2="{x(amount):.1f}" y1="0" y2="26" '
        f'stroke="#c0392b" stroke-dasharray="3"><title>budget</title></line></svg>'
    )


def _budgets_html(intel: IntelReport) -> str:
    if not intel.budgets:
        return "<p>No budgets.</p>"
    head = ("<tr><th>budget</th><th>scope</th><th>amount</th><th>month to date</th><th>%</th>"
            "<th>forecast</th><th>crossed</th><th></th></tr>")  # fmt: skip
    rows = "".join(
        "<tr>"
        + _cells(
            r["budget_name"],
            r["scope"],
            _money(r["budget_amount"]),
            _money(r["actual_cost"]),
            _percent(r["actual_percent"]),
            _money(r["forecast_cost"]),
            _crossed(r),
            numeric=0,
        )
        + f"<td>{_budget_bar(r)}</td></tr>"
        for r in intel.budgets
    )
    return f"<table>{head}{rows}</table>"


def render_intel(intel: IntelReport) -> str:
    """The HTML sections (empty when the tenant has no cost-intelligence tables)."""
    if intel == IntelReport():
        return ""
    return (
        f"<h2>Reconciliation: billed vs usage x price</h2>{_reconciliation_html(intel)}"
        f"<h2>Unit economics</h2>{_unit_costs_html(intel)}"
        f"<h2>Budgets</h2>{_budgets_html(intel)}"
    )
