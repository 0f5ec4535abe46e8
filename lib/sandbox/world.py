"""Providers as they behave over weeks: answers that settle, restate, lose line items, land late.

The plain sandbox answers every question about a day the same way, forever. Real providers do
not: OpenAI's and Anthropic's cost endpoints answer with a *snapshot* of a day that changes
for a day or two, and Google's billing export delivers rows days or weeks after the usage.
A :class:`World` bends the sandbox's seeded data as of a clock, deterministically from a seed,
for ``convergence simulate`` (lib/simulate.py):

* **Preliminary answers.** Until ``SETTLE_HOURS`` after a day ends, a REST provider reports
  that day's usage scaled down (some usage has not been metered yet); afterwards it reports the
  final amounts. A day is asked again by the next runs (their window covers it), so a snapshot
  source must replace its earlier answer.
* **Disappearing line items.** Some days' preliminary answers carry a usage row that the final
  answer no longer has (a misattributed project/model): a merge would keep it forever.
* **Sub-cent precision.** Anthropic cents get up to 12 decimals (``0.123456789012``): rounding
  dollars to 9 decimals anywhere shows as a difference.
* **Documented nulls.** OpenAI usage sometimes has a row whose ``model`` is null (as the API
  documents when usage is not attributed to a model).
* **A billing export that arrives like Google's.** :meth:`World.gcp_rows` gives every export
  row of a usage day with a realistic ``export_time``: most within hours, some 1-6 days late,
  a long tail up to three weeks, and corrections (a reversal plus a restated row) and credits
  (adjustments) weeks after the usage.

Every choice is a function of (seed, tenant, day, row): the same seed gives the same world.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from lib.sandbox import gcp_export as export

Row = dict[str, Any]
SETTLE_HOURS = 30
"""A REST provider's answer for a day is final this many hours after the day ends."""
PRELIMINARY = (Decimal("0.90"), Decimal("0.99"))
"""Share of a day's usage a preliminary answer reports (seeded per row)."""
PHANTOM_EVERY = 3
"""Every third day's preliminary answer carries a row its final answer drops."""
MICRO = Decimal("0.000001")


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 (simulation data)


def _end_of(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), dt.UTC)


@dataclass(frozen=True)
class World:
    """Deterministic provider behaviour over time, as of ``now()``.

    Args:
        seed: every random choice derives from it.
        now: the simulated clock (answers depend on how long ago a day ended).
    """

    seed: int
    now: Callable[[], dt.datetime]
    served: dict[tuple[str, str, dt.date], dt.datetime] = field(default_factory=dict, compare=False)
    """(provider, tenant, day) → when a provider last answered for that day."""

    def at(self, moment: dt.datetime) -> World:
        """The same world, frozen at ``moment`` (what a provider answered then)."""
        return World(self.seed, lambda: moment)

    def settled(self, day: dt.date) -> bool:
        """Whether REST providers' answers for ``day`` are final by now."""
        return self.now() >= _end_of(day) + dt.timedelta(hours=SETTLE_HOURS)

    # --- REST providers -----------------------------------------------------------------

    def usage(self, provider: str, tenant: str, day: dt.date, rows: list[Row]) -> list[Row]:
        """A provider's usage rows for ``day`` as reported now (preliminary, then final)."""
        metrics = _METRICS[provider]
        self.served[(provider, tenant, day)] = self.now()
        rows = [dict(r) for r in rows]
        if provider == "openai" and _rng(self.seed, "null-model", tenant, day).random() < 0.3:
            rows.append(self._null_model_row(tenant, day, rows))
        if self.settled(day):
            return rows
        out = []
        for index, row in enumerate(rows):
            share = _share(_rng(self.seed, "prelim", provider, tenant, day, index))
            out.append({**row, **{m: int(Decimal(row[m]) * share) for m in metrics if row[m]}})
        if rows and (day.toordinal() + self.seed + len(provider)) % PHANTOM_EVERY == 0:
            out.append(self._phantom(provider, tenant, day, rows))
        return out

    def _phantom(self, provider: str, tenant: str, day: dt.date, rows: list[Row]) -> Row:
        """A row only the preliminary answer has: usage misattributed to a project or tier."""
        base = dict(rows[_rng(self.seed, "phantom-row", tenant, day).randrange(len(rows))])
        if provider == "openai":  # a project that the final answer no longer bills
            return {**base, "project_id": f"proj_misattributed_{tenant}"}
        return {**base, "service_tier": "priority"}

    def _null_model_row(self, tenant: str, day: dt.date, rows: list[Row]) -> Row:
        base = dict(rows[0]) if rows else {}
        r = _rng(self.seed, "null-model-row", tenant, day)
        return {
            **base,
            "model": None,
            "batch": False,
            "service_tier": "default",
            "input_tokens": r.randint(100, 5_000),
            "input_cached_tokens": 0,
            "output_tokens": r.randint(10, 500),
            "num_model_requests": r.randint(1, 20),
        }

    def anthropic_cents(self, tenant: str, day: dt.date, rows: list[Row]) -> list[Row]:
        """Cost rows whose cents carry up to 12 decimals (sub-micro-dollar precision)."""
        out = []
        for index, row in enumerate(rows):
            r = _rng(self.seed, "cents", tenant, day, index)
            extra = Decimal(r.randint(1, 999_999_999)) / Decimal(10**12)
            out.append({**row, "amount": row["amount"] + extra})
        return out

    # --- Google Cloud billing export ----------------------------------------------------

    def gcp_rows(self, tenant: str, day: dt.date) -> list[Row]:
        """Every export row of usage ``day``, with when it is (or will be) exported.

        Rows of one usage hour, SKU and project (an original and its fixture correction) are
        delayed together, so a correction never lands before what it corrects.
        """
        rows = [dict(r) for r in export.export_rows(tenant, day)]
        for row in rows:
            group = (row["project"]["id"], row["sku"]["id"], row["usage_start_time"])
            row["export_time"] += _extra_delay(_rng(self.seed, "gcp-delay", tenant, *group))
        r = _rng(self.seed, "gcp-late-fixes", tenant, day)
        usage = [row for row in rows if row["cost_type"] == "regular" and row["cost"] > 0]
        if usage and r.random() < 0.5:
            rows += _late_correction(r.choice(usage), r)
        if usage and r.random() < 0.3:
            rows.append(_late_credit(r.choice(usage), r))
        return rows


_METRICS = {
    "openai": ("input_tokens", "input_cached_tokens", "output_tokens", "num_model_requests"),
    "anthropic": (
        "uncached_input_tokens",
        "cache_read_input_tokens",
        "cache_creation.ephemeral_5m_input_tokens",
        "cache_creation.ephemeral_1h_input_tokens",
        "output_tokens",
        "server_tool_use.web_search_requests",
    ),
}


def _share(r: random.Random) -> Decimal:
    low, high = PRELIMINARY
    return low + (high - low) * Decimal(r.randint(0, 100)) / 100


def _extra_delay(r: random.Random) -> dt.timedelta:
    """On top of the export's own hours: none for most rows, 1-6 days for some, a long tail."""
    roll = r.random()
    if roll < 0.80:
        return dt.timedelta(0)
    if roll < 0.96:
        return dt.timedelta(days=r.randint(1, 6), hours=r.randint(0, 23))
    return dt.timedelta(days=r.randint(7, 21), hours=r.randint(0, 23))


def _negated(row: Row) -> Row:
    usage = dict(row["usage"])
    usage["amount"] = -usage["amount"]
    usage["amount_in_pricing_units"] = -usage["amount_in_pricing_units"]
    credits = [{**c, "amount": -c["amount"]} for c in row["credits"]]
    return {
        **row,
        "cost": -row["cost"],
        "cost_at_list": -row["cost_at_list"] if row["cost_at_list"] is not None else None,
        "usage": usage,
        "credits": credits,
    }


def _late_correction(original: Row, r: random.Random) -> list[Row]:
    """A reversal and a restatement at 80-95 %, exported one to four weeks after the usage."""
    when = original["export_time"] + dt.timedelta(days=r.randint(7, 28), hours=r.randint(0, 23))
    share = Decimal(r.randint(80, 95)) / 100
    cost = (Decimal(repr(original["cost"])) * share).quantize(MICRO)
    restated = {**original, "export_time": when, "cost": float(cost), "cost_at_list": float(cost)}
    restated["credits"] = [
        {**c, "amount": float((Decimal(repr(c["amount"])) * share).quantize(MICRO))}
        for c in original["credits"]
    ]
    return [{**_negated(original), "export_time": when}, restated]


def _late_credit(original: Row, r: random.Random) -> Row:
    """A goodwill adjustment for the usage, exported two to five weeks later."""
    when = original["export_time"] + dt.timedelta(days=r.randint(14, 35))
    amount = -(Decimal(repr(original["cost"])) * Decimal("0.1")).quantize(MICRO)
    return {
        **original,
        "export_time": when,
        "cost": float(amount),
        "cost_at_list": None,
        "credits": [],
        "usage": {"amount": 0.0, "unit": None, "amount_in_pricing_units": 0.0,
                  "pricing_unit": None},
        "cost_type": "adjustment",
        "adjustment_info": {
            "id": f"adj-late-{r.randrange(10**8):08d}",
            "description": "Late goodwill credit",
            "mode": "MANUAL_ADJUSTMENTS",
            "type": "GENERAL_ADJUSTMENT",
        },
    }  # fmt: skip
