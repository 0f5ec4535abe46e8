"""What the spend report of one tenant and month holds, read from the gold tables.

:func:`build_report` runs a few small BigQuery-dialect queries through the Warehouse port over
``{tenant}_gold_reporting``: ``monthly_spend``, ``daily_spend``, ``cost_anomalies`` and, when
the tenant has the cost_intelligence pipeline, its tables (:func:`build_intel`):

* reconciliation — per provider, the month's billed against expected cost, the difference,
  and how many line items are flagged or unpriced; the largest flagged line items;
* unit economics — the month's cost per 1M tokens per model; this week's top movers;
* budgets — each budget's month: amount, spend, forecast with its band, thresholds crossed.

Plain data, no rendering: :mod:`lib.report.text` and :mod:`lib.report.html` show it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lib.config.loader import tenant_dataset
from lib.errors import ConfigError, ConfigProblem
from lib.ports import TableRef, Warehouse
from lib.sql import table_sql

__all__ = [
    "IntelReport",
    "SpendReport",
    "build_intel",
    "build_report",
    "month_bounds",
    "parse_month",
]

TOP = 10
INTEL_TABLES = ("cost_reconciliation", "unit_costs_monthly", "top_movers", "budget_status")


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
        intel: reconciliation, unit economics and budgets (:func:`build_intel`); empty
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
    if not all(warehouse.table_exists(TableRef(dataset, t)) for t in INTEL_TABLES):
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
