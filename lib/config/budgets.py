"""Budgets as config: a tenant's monthly budgets with their alert thresholds (``kind: budgets``).

An ingest step loads the file into a budget table; the ``budget_status`` transform measures
each budget's month against it (actual and month-end forecast) and publishes a
``budget.crossed`` event the first time a threshold is crossed (docs/cost_intelligence.md)::

    kind: budgets
    currency: USD
    budgets:
      - name: ai_apis
        monthly_amount: "25000"
        scope: {providers: [openai, anthropic]}
        thresholds: {actual: [50, 80, 100], forecast: [100]}
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

__all__ = ["Budget", "BudgetScope", "BudgetsSourceConfig", "Thresholds", "label_pattern"]

_NAME = r"^[a-z][a-z0-9_]{1,59}$"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _amount(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if not value.is_finite() or (isinstance(exponent, int) and exponent < -9):
        raise ValueError(f"{value} has more than 9 decimals")
    return value


def _percents(values: list[int]) -> list[int]:
    if values != sorted(set(values)):
        raise ValueError("thresholds must be increasing, each once, e.g. [50, 80, 100]")
    return values


Percents = Annotated[list[Annotated[int, Field(ge=1, le=1000)]], AfterValidator(_percents)]


class Thresholds(_Strict):
    """Percentages of the budget that alert: on month-to-date spend and on the forecast."""

    actual: Percents = Field(default_factory=lambda: [50, 80, 100])
    forecast: Percents = Field(default_factory=lambda: [100])


class LabelMatch(_Strict):
    """A tag the charges must carry (FOCUS ``Tags``), e.g. ``{key: team, value: ml}``."""

    key: str = Field(min_length=1, max_length=100)
    value: str = Field(max_length=200)


class BudgetScope(_Strict):
    """Which charges count against a budget; every given part must match (empty: all)."""

    providers: list[Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")]] = Field(
        default_factory=list, description="x_provider values, e.g. [openai, anthropic]"
    )
    services: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list, description="FOCUS ServiceName values, e.g. [Compute Engine]"
    )
    label: LabelMatch | None = None

    def describe(self) -> str:
        """The scope in words, for reports and events."""
        parts = []
        if self.providers:
            parts.append("providers " + ", ".join(self.providers))
        if self.services:
            parts.append("services " + ", ".join(self.services))
        if self.label:
            parts.append(f"label {self.label.key}={self.label.value}")
        return "; ".join(parts) or "all spend"


class Budget(_Strict):
    """One monthly budget."""

    name: Annotated[str, Field(pattern=_NAME)]
    description: str = Field(default="", max_length=500)
    monthly_amount: Annotated[Decimal, Field(gt=0), AfterValidator(_amount)]
    scope: BudgetScope = Field(default_factory=BudgetScope)
    thresholds: Thresholds = Field(default_factory=Thresholds)


class BudgetsSourceConfig(_Strict):
    """A tenant's budgets, loaded into its budget table by an ingest step."""

    kind: Literal["budgets"]
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    budgets: list[Budget] = Field(
        default_factory=list,
        description="None: the budget table is empty (the cost_intelligence template's default).",
    )

    @model_validator(mode="after")
    def _unique(self) -> BudgetsSourceConfig:
        names = [b.name for b in self.budgets]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"budget names must be unique; {twice} appear twice")
        return self


def label_pattern(label: LabelMatch) -> str:
    """An RE2 pattern finding ``"key":"value"`` in a FOCUS ``Tags`` JSON text."""
    key, value = (re.escape(json.dumps(text)) for text in (label.key, label.value))
    return rf"{key}\s*:\s*{value}"
