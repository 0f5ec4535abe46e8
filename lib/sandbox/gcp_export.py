"""A local stand-in for Google's Cloud Billing export: realistic export tables, seeded per day.

Google writes ``gcp_billing_export_v1_<ACCOUNT>`` into a BigQuery dataset; the demo and the
tests need the same thing inside the embedded warehouse. :func:`write_export` creates
``{tenant}_{source.dataset}.{source.table_prefix}<ACCOUNT>`` with the real standard-export
schema (:data:`EXPORT_FIELDS`: nested ``service``/``sku``/``project``/``location``/``usage``/
``invoice``/``adjustment_info``, REPEATED ``labels``/``system_labels``/``credits``, money as
FLOAT64 exactly like the real export) and loads it through Arrow. This module is the fixture,
not the pipeline: the pipeline never moves rows through Python (see ``gcp_export``).

:func:`export_rows` is deterministic per (tenant, account, day) and models what the export
really contains: hourly usage rows for Compute Engine, BigQuery, Cloud Storage and Vertex AI
across three labelled projects; sustained-use and free-tier credits (negative amounts); one
tax row per project and day; a billing adjustment every third day; a correction every day
(a later ``export_time`` row negating an earlier usage row, plus the restated row); and rows
that land days late (``export_time`` two to four days after usage), which only a later run
or a run with lookback sees. ``as_of`` cuts the export at a moment, to simulate late arrival.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pyarrow as pa

from events.models import Window
from lib.arrow_schema import arrow_schema
from lib.config.loader import tenant_dataset
from lib.config.source import BigQueryExportSourceConfig
from lib.ports import TableRef, Warehouse, WriteSpec
from lib.schema import SchemaField, TableSpec

__all__ = [
    "EXPORT_FIELDS",
    "append_rows",
    "billing_account_id",
    "export_rows",
    "export_table",
    "write_export",
]

Row = dict[str, Any]
MICRO = Decimal("0.000001")
LATE_DAYS = (2, 4)
"""Late rows land this many days (inclusive range) after their usage ends."""


def _f(name: str, kind: str, mode: str = "NULLABLE") -> SchemaField:
    return SchemaField(name=name, type=kind, mode=mode)


def _s(*names: str) -> tuple[SchemaField, ...]:
    return tuple(_f(n, "STRING") for n in names)


def _rec(name: str, *fields: SchemaField, mode: str = "NULLABLE") -> SchemaField:
    return SchemaField(name=name, type="RECORD", mode=mode, fields=fields)


_KV = _s("key", "value")
EXPORT_FIELDS: tuple[SchemaField, ...] = (
    _f("billing_account_id", "STRING"),
    _rec("service", *_s("id", "description")),
    _rec("sku", *_s("id", "description")),
    _f("usage_start_time", "TIMESTAMP"),
    _f("usage_end_time", "TIMESTAMP"),
    _rec(
        "project",
        *_s("id", "number", "name"),
        _rec("labels", *_KV, mode="REPEATED"),
        *_s("ancestry_numbers"),
    ),
    _rec("labels", *_KV, mode="REPEATED"),
    _rec("system_labels", *_KV, mode="REPEATED"),
    _rec("location", *_s("location", "country", "region", "zone")),
    _f("export_time", "TIMESTAMP"),
    _f("cost", "FLOAT64"),
    _f("currency", "STRING"),
    _f("currency_conversion_rate", "FLOAT64"),
    _rec(
        "usage",
        _f("amount", "FLOAT64"),
        _f("unit", "STRING"),
        _f("amount_in_pricing_units", "FLOAT64"),
        _f("pricing_unit", "STRING"),
    ),
    _rec(
        "credits",
        _f("name", "STRING"),
        _f("amount", "FLOAT64"),
        *_s("full_name", "id", "type"),
        mode="REPEATED",
    ),
    _rec("invoice", *_s("month")),
    _f("cost_type", "STRING"),
    _rec("adjustment_info", *_s("id", "description", "mode", "type")),
    _f("cost_at_list", "FLOAT64"),
)
"""The standard usage cost export schema (the columns Convergence reads), as Google ships it."""


@dataclass(frozen=True)
class _Sku:
    service_id: str
    service: str
    sku_id: str
    sku: str
    unit: str
    pricing_unit: str
    units_per_pricing_unit: int
    price: Decimal
    """List price per pricing unit, USD."""
    credit: str | None
    location: tuple[str, str, str | None, str | None]


SKUS = (
    _Sku("6F81-5844-456A", "Compute Engine", "2E27-4F75-95CD",
         "N1 Predefined Instance Core running in Americas", "seconds", "hour", 3600,
         Decimal("0.031611"), "SUSTAINED_USAGE_DISCOUNT",
         ("us-central1", "US", "us-central1", "us-central1-a")),
    _Sku("6F81-5844-456A", "Compute Engine", "6C61-5C3A-1D4F",
         "N1 Predefined Instance Ram running in Americas", "byte-seconds", "gibibyte hour",
         3600 * 2**30, Decimal("0.004237"), "SUSTAINED_USAGE_DISCOUNT",
         ("us-central1", "US", "us-central1", "us-central1-a")),
    _Sku("24E6-581D-38E5", "BigQuery", "3362-E469-6BEF", "Analysis", "bytes", "tebibyte",
         2**40, Decimal("6.25"), "FREE_TIER", ("US", "US", None, None)),
    _Sku("95FF-2EF5-5EA1", "Cloud Storage", "E5F0-6A5D-7BAD",
         "Standard Storage US Multi-region", "byte-seconds", "gibibyte month",
         2**30 * 2_592_000, Decimal("0.026"), None, ("us", "US", None, None)),
    _Sku("C7E2-9256-1C43", "Vertex AI", "FA3C-8B2E-51D0", "Gemini 2.0 Flash Input Text",
         "count", "count", 1, Decimal("0.00000015"), "FREE_TIER",
         ("us-central1", "US", "us-central1", None)),
)  # fmt: skip
"""What the fixture bills: real service ids, plausible SKUs and list prices."""

PROJECTS = (("prod", "platform"), ("ml", "research"), ("data", "analytics"))
"""(project suffix, owning team) per tenant; project labels carry env and team."""

COMPUTE = ("6F81-5844-456A", "Compute Engine")
TAX = ("TAX", "Tax")
"""(service/sku id, description) of adjustment and tax rows (modelled, not Google's ids)."""

CREDIT_NAMES = {
    "SUSTAINED_USAGE_DISCOUNT": ("Sustained Usage Discount", "", ""),
    "FREE_TIER": ("Free Tier", "FreeTier", "Free tier usage"),
}
"""Credit type → (name, id, full_name)."""


def billing_account_id(tenant_id: str) -> str:
    """A tenant's fixture billing account, derived from its id: ``01A2B3-C4D5E6-F7G8H9``."""
    digest = hashlib.sha256(f"billing-account:{tenant_id}".encode()).hexdigest().upper()
    return "-".join(digest[i : i + 6] for i in (0, 6, 12))


def export_table(tenant_id: str, source: BigQueryExportSourceConfig, account: str) -> TableRef:
    """Where the fixture writes ``account``'s export: ``{tenant}_{dataset}.{prefix}<ACCOUNT>``."""
    return TableRef(
        tenant_dataset(tenant_id, source.dataset),
        f"{source.table_prefix}{account.replace('-', '_')}",
    )


# --- rows ---------------------------------------------------------------------------------


def _ts(day: dt.date, hour: int) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(), dt.UTC) + dt.timedelta(hours=hour)


def _money(rng: random.Random, low: float, high: float) -> Decimal:
    return Decimal(str(rng.uniform(low, high))).quantize(MICRO)


def _project(tenant_id: str, index: int) -> Row:
    suffix, team = PROJECTS[index]
    number = int(hashlib.sha256(f"{tenant_id}:{suffix}".encode()).hexdigest()[:11], 16)
    return {
        "id": f"{tenant_id}-{suffix}",
        "number": str(number),
        "name": f"{tenant_id.title()} {suffix}",
        "labels": [{"key": "env", "value": suffix}, {"key": "team", "value": team}],
        "ancestry_numbers": f"/{number % 10**12}/{number % 10**9}/",
    }


def _credits(sku: _Sku, cost: Decimal, rng: random.Random) -> list[Row]:
    if sku.credit is None or (sku.credit == "FREE_TIER" and rng.random() < 0.5):
        return []
    share = Decimal("0.2") if sku.credit == "SUSTAINED_USAGE_DISCOUNT" else Decimal("0.5")
    name, credit_id, full_name = CREDIT_NAMES[sku.credit]
    amount = -(cost * share).quantize(MICRO)
    return [
        {"name": name, "amount": float(amount), "full_name": full_name, "id": credit_id,
         "type": sku.credit}
    ]  # fmt: skip


def _base(account: str, day: dt.date, hour: int, project: Row, export_delay: dt.timedelta) -> Row:
    start = _ts(day, hour)
    return {
        "billing_account_id": account,
        "usage_start_time": start,
        "usage_end_time": start + dt.timedelta(hours=1),
        "project": project,
        "export_time": start + dt.timedelta(hours=1) + export_delay,
        "currency": "USD",
        "currency_conversion_rate": 1.0,
        "invoice": {"month": day.strftime("%Y%m")},
        "adjustment_info": None,
        "labels": [],
        "system_labels": [],
    }


def _usage_row(base: Row, sku: _Sku, rng: random.Random) -> Row:
    cost = _money(rng, 0.05, 40.0)
    pricing_units = cost / sku.price
    location, country, region, zone = sku.location
    labels = [{"key": "app", "value": "api"}] if sku.service == "Compute Engine" else []
    system = (
        [{"key": "compute.googleapis.com/machine_spec", "value": "n1-standard-4"}]
        if sku.service == "Compute Engine"
        else []
    )
    return {
        **base,
        "service": {"id": sku.service_id, "description": sku.service},
        "sku": {"id": sku.sku_id, "description": sku.sku},
        "labels": labels,
        "system_labels": system,
        "location": {"location": location, "country": country, "region": region, "zone": zone},
        "cost": float(cost),
        "cost_at_list": float(cost),
        "usage": {
            "amount": float(pricing_units * sku.units_per_pricing_unit),
            "unit": sku.unit,
            "amount_in_pricing_units": float(pricing_units),
            "pricing_unit": sku.pricing_unit,
        },
        "credits": _credits(sku, cost, rng),
        "cost_type": "regular",
    }


def _usage_rows(tenant_id: str, account: str, day: dt.date, rng: random.Random) -> list[Row]:
    rows = []
    for index in range(len(PROJECTS)):
        project = _project(tenant_id, index)
        for sku in SKUS:
            for hour in sorted(rng.sample(range(24), rng.randint(1, 2))):
                delay = dt.timedelta(hours=rng.randint(1, 6), minutes=rng.randint(0, 59))
                rows.append(_usage_row(_base(account, day, hour, project, delay), sku, rng))
    late_days = rng.randint(*LATE_DAYS)
    for row in rng.sample(rows, 2):
        row["export_time"] = row["usage_end_time"] + dt.timedelta(days=late_days, hours=3)
    return rows


def _negated(row: Row) -> Row:
    usage = dict(row["usage"])
    usage["amount"] = -usage["amount"]
    usage["amount_in_pricing_units"] = -usage["amount_in_pricing_units"]
    credits = [{**c, "amount": -c["amount"]} for c in row["credits"]]
    return {**row, "cost": -row["cost"], "cost_at_list": -row["cost_at_list"],
            "usage": usage, "credits": credits}  # fmt: skip


def _corrections(rows: Sequence[Row], rng: random.Random) -> list[Row]:
    """Reverse one usage row a day later and restate it at 90 % (how Google corrects usage)."""
    original = rng.choice([r for r in rows if r["cost_type"] == "regular"])
    when = original["export_time"] + dt.timedelta(days=1, hours=2)
    reversal = {**_negated(original), "export_time": when}
    cost = (Decimal(str(original["cost"])) * Decimal("0.9")).quantize(MICRO)
    restated = {**original, "export_time": when, "cost": float(cost), "cost_at_list": float(cost)}
    restated["credits"] = [
        {**c, "amount": float((Decimal(str(c["amount"])) * Decimal("0.9")).quantize(MICRO))}
        for c in original["credits"]
    ]
    return [reversal, restated]


def _charge(base: Row, cost_type: str, cost: Decimal, service: tuple[str, str]) -> Row:
    return {
        **base,
        "service": {"id": service[0], "description": service[1]},
        "sku": {"id": service[0], "description": service[1]},
        "location": None,
        "cost": float(cost),
        "cost_at_list": None,
        "usage": {"amount": 0.0, "unit": None, "amount_in_pricing_units": 0.0,
                  "pricing_unit": None},
        "credits": [],
        "cost_type": cost_type,
    }  # fmt: skip


def _net(rows: Sequence[Row]) -> Decimal:
    total = Decimal(0)
    for row in rows:
        total += Decimal(str(row["cost"])) + sum(
            (Decimal(str(c["amount"])) for c in row["credits"]), Decimal(0)
        )
    return total


def _tax_rows(tenant_id: str, account: str, day: dt.date, usage: Sequence[Row]) -> list[Row]:
    """One 8 % tax row per project on the day's net usage, exported at the end of the day."""
    out = []
    for index in range(len(PROJECTS)):
        project = _project(tenant_id, index)
        net = _net([r for r in usage if r["project"]["id"] == project["id"]])
        base = _base(account, day, 0, project, dt.timedelta(hours=23))
        base["usage_end_time"] = base["usage_start_time"] + dt.timedelta(days=1)
        out.append(_charge(base, "tax", (net * Decimal("0.08")).quantize(MICRO), TAX))
    return out


def _adjustment(account: str, day: dt.date, project: Row, rng: random.Random) -> Row:
    base = _base(account, day, 0, project, dt.timedelta(days=1))
    row = _charge(base, "adjustment", -_money(rng, 1, 25), COMPUTE)
    row["adjustment_info"] = {
        "id": f"adj-{account[:6].lower()}-{day:%Y%m%d}",
        "description": "Goodwill credit for Compute Engine usage",
        "mode": "MANUAL_ADJUSTMENTS",
        "type": "GENERAL_ADJUSTMENT",
    }
    return row


def export_rows(tenant_id: str, day: dt.date, account: str | None = None) -> list[Row]:
    """Every export row whose usage falls on ``day``, whenever it was exported.

    Deterministic: the same (tenant, account, day) always gives the same rows. Money values
    are floats with at most 6 decimals, as the export's FLOAT64 columns hold them.

    Args:
        tenant_id: the tenant (seeds the data and names the projects).
        day: the usage day.
        account: billing account id (default: :func:`billing_account_id` of the tenant).

    Returns:
        Rows as dicts keyed by :data:`EXPORT_FIELDS` names.
    """
    account = account or billing_account_id(tenant_id)
    seed = f"gcp-export:{tenant_id}:{account}:{day.isoformat()}"
    rng = random.Random(seed)  # noqa: S311 - seeded test data, not security
    usage = _usage_rows(tenant_id, account, day, rng)
    rows = usage + _corrections(usage, rng) + _tax_rows(tenant_id, account, day, usage)
    if day.toordinal() % 3 == 0:
        rows.append(_adjustment(account, day, usage[0]["project"], rng))
    if day.toordinal() % 5 == 0:
        base = _base(account, day, 0, usage[0]["project"], dt.timedelta(hours=23))
        rows.append(_charge(base, "rounding_error", Decimal("-0.000004"), COMPUTE))
    return rows


# --- loading ------------------------------------------------------------------------------


def _batches(rows: list[Row], size: int = 1000) -> Iterator[pa.RecordBatch]:
    schema = arrow_schema(EXPORT_FIELDS)
    for start in range(0, len(rows), size):
        yield pa.RecordBatch.from_pylist(rows[start : start + size], schema=schema)


def append_rows(warehouse: Warehouse, table: TableRef, rows: list[Row]) -> int:
    """Append export rows to ``table`` (created if missing), as Google's exporter does."""
    warehouse.ensure_dataset(table.dataset)
    warehouse.ensure_table(table, TableSpec(fields=EXPORT_FIELDS, description="fixture export"))
    if not rows:
        return 0
    return warehouse.write(table, _batches(rows), WriteSpec()).rows


def write_export(
    warehouse: Warehouse,
    tenant_id: str,
    source: BigQueryExportSourceConfig,
    window: Window,
    *,
    account: str | None = None,
    as_of: dt.datetime | None = None,
) -> int:
    """Write the export rows of every day of ``window`` into the embedded warehouse.

    Re-writing a window replaces that window's usage rows (the table always holds what the
    export held at ``as_of``), so the demo and tests can call this repeatedly.

    Args:
        warehouse: where to write (the dataset and table are created if missing).
        tenant_id: the tenant whose export to simulate.
        source: the pipeline's export source (dataset and table prefix).
        window: usage days to write.
        account: billing account (default: derived from the tenant).
        as_of: keep only rows exported at or before this moment (None: every row, as if
            all late rows had already landed).

    Returns:
        Rows written.
    """
    account = account or billing_account_id(tenant_id)
    table = export_table(tenant_id, source, account)
    warehouse.ensure_dataset(table.dataset)
    warehouse.ensure_table(table, TableSpec(fields=EXPORT_FIELDS, description="fixture export"))
    rows = [
        row
        for day in window.days()
        for row in export_rows(tenant_id, day, account)
        if as_of is None or row["export_time"] <= as_of
    ]
    start = _ts(window.start, 0)
    end = _ts(window.end, 24) - dt.timedelta(microseconds=1)
    spec = WriteSpec(mode="append", replace_range=("usage_start_time", start, end))
    return warehouse.write(table, _batches(rows), spec).rows
