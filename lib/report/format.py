"""How the report writes its numbers, shared by the console tables and the HTML page."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

__all__ = ["crossed", "fixed", "maybe_money", "money", "percent", "thousands"]

CENT = Decimal("0.01")


def money(value: Decimal) -> str:
    """An amount rounded to the cent with thousands separators, e.g. ``1,234.50``."""
    return f"{value.quantize(CENT):,}"


def maybe_money(value: Decimal | None) -> str:
    """:func:`money` of any number (converted to Decimal exactly), ``-`` when there is none."""
    return "-" if value is None else f"{Decimal(value).quantize(CENT):,}"


def percent(value: float | None) -> str:
    """A whole percentage, e.g. ``87%``; ``-`` when there is none."""
    return "-" if value is None else f"{value:.0f}%"


def fixed(value: Any, places: int) -> str:
    """``value`` with exactly ``places`` decimals, as ``f"{value:.{places}f}"`` writes it."""
    return f"{value:.{places}f}"


def thousands(value: Any) -> str:
    """A count with thousands separators, e.g. ``1,200,000``."""
    return f"{int(value):,}"


def crossed(row: dict[str, Any]) -> str:
    """The highest actual and forecast thresholds a budget row crossed, or ``none``."""
    actual = row["actual_thresholds_crossed"] or []
    forecast = row["forecast_thresholds_crossed"] or []
    parts = [
        f"{max(actual)}% actual" if actual else "",
        f"{max(forecast)}% forecast" if forecast else "",
    ]
    return ", ".join(p for p in parts if p) or "none"
