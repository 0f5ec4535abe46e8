"""Ingest ``kind: budgets``: write the tenant's budget table from its budgets file.

The table is rewritten whole (``overwrite``) every run, so an edited budget applies from the
next run. Budgets have no usage days: the write reports no changed days; ``budget_status``
reads all of silver on every run (an ``overwrite`` gold table).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from lib.config.budgets import Budget, BudgetsSourceConfig, label_pattern
from lib.config_tables import check_config_table, config_batch
from lib.ports import WriteResult, WriteSpec

if TYPE_CHECKING:
    from lib.schema import TableSpec
    from lib.sources.base import IngestRequest

__all__ = ["BUDGET_COLUMNS", "BudgetsSource", "budget_rows", "check_budget_destination"]

BUDGET_COLUMNS = (
    "budget_name", "description", "monthly_amount", "currency", "scope", "providers",
    "services", "label_key", "label_value", "label_pattern", "actual_thresholds",
    "forecast_thresholds",
)  # fmt: skip


def budget_rows(source: BudgetsSourceConfig) -> list[dict[str, Any]]:
    """One row per budget, as the budget table holds it."""
    return [_row(budget, source.currency) for budget in source.budgets]


def _row(budget: Budget, currency: str) -> dict[str, Any]:
    label = budget.scope.label
    return {
        "budget_name": budget.name,
        "description": budget.description or None,
        "monthly_amount": budget.monthly_amount,
        "currency": currency,
        "scope": budget.scope.describe(),
        "providers": list(budget.scope.providers),
        "services": list(budget.scope.services),
        "label_key": label.key if label else None,
        "label_value": label.value if label else None,
        "label_pattern": label_pattern(label) if label else None,
        "actual_thresholds": list(budget.thresholds.actual),
        "forecast_thresholds": list(budget.thresholds.forecast),
    }


def check_budget_destination(spec: TableSpec, write_mode: str, file: str, field: str) -> None:
    """A budget table is overwritten whole and holds every budget column.

    Raises:
        ConfigError: naming what to write instead.
    """
    check_config_table(
        "budget", BUDGET_COLUMNS, "@library/budgets/budgets_schema.json", spec, write_mode,
        file=file, field=field,
    )  # fmt: skip


@dataclass(frozen=True)
class BudgetsSource:
    """A ``kind: budgets`` source: the tenant's budgets file."""

    config: BudgetsSourceConfig

    def ingest(self, request: IngestRequest) -> WriteResult:
        """Replace the budget table with the budgets of the config.

        Raises:
            ConfigError: the destination is not an overwrite of a budget table.
        """
        site = request.site
        check_budget_destination(
            request.spec, request.destination.write_mode, site.file, site.destination_field
        )
        batch = config_batch(
            budget_rows(self.config), request.spec.fields, run_id=request.run_id, now=request.now
        )
        return request.warehouse.write(request.table, [batch], WriteSpec(mode="overwrite"))
