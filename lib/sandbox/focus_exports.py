"""Sample FOCUS exports as AWS and Azure deliver them: seeded rows, files per billing period.

The demo and the tests need what a tenant's bucket would hold: :func:`export_rows` gives the
rows of one usage day in a provider's shape, :func:`write_period` writes one billing period's
delivery (replacing the folder's earlier files, as a re-delivery does).

* **AWS** — Data Exports "FOCUS 1.2 with AWS columns": the 57 FOCUS 1.2 columns plus
  ``x_Discounts``, ``x_Operation``, ``x_ServiceCode``; Parquet with money as DOUBLE (AWS writes
  binary floats; amounts here have at most 8 decimals so they survive exactly); folders
  ``BILLING_PERIOD=YYYY-MM``.
* **Azure** — Cost Management FOCUS 1.0 export: the 43 FOCUS 1.0 columns plus Microsoft's
  ``x_`` columns (``x_InvoiceId``, ``x_SkuMeterName``, ``x_ResourceGroupName``,
  ``x_BilledCostInUsd`` …); CSV, every value as text; folders ``YYYYMMDD-YYYYMMDD``. FOCUS 1.0
  has no ServiceSubcategory, InvoiceId or SkuMeter: the ingest fills them from the conventions.

Every usage row is priced: ``ListCost = ListUnitPrice x PricingQuantity`` and
``ContractedCost = ContractedUnitPrice x PricingQuantity`` exactly, as FOCUS requires; each
day also has a tax row (AWS) or a credit (Azure, every fifth day). ``as_of`` makes a delivery
hold only the days finished by then, and a day's amounts are preliminary (97 %) until two days
after it, then final — so a re-delivery restates earlier rows.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import random
import shutil
from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any

__all__ = ["FOCUS_1_0", "FOCUS_1_2", "SHAPES", "export_rows", "period_rows", "write_period"]

FOCUS_1_0 = [  # the 43 columns of FOCUS 1.0
    "AvailabilityZone",
    "BilledCost",
    "BillingAccountId",
    "BillingAccountName",
    "BillingCurrency",
    "BillingPeriodEnd",
    "BillingPeriodStart",
    "ChargeCategory",
    "ChargeClass",
    "ChargeDescription",
    "ChargeFrequency",
    "ChargePeriodEnd",
    "ChargePeriodStart",
    "CommitmentDiscountCategory",
    "CommitmentDiscountId",
    "CommitmentDiscountName",
    "CommitmentDiscountStatus",
    "CommitmentDiscountType",
    "ConsumedQuantity",
    "ConsumedUnit",
    "ContractedCost",
    "ContractedUnitPrice",
    "EffectiveCost",
    "InvoiceIssuerName",
    "ListCost",
    "ListUnitPrice",
    "PricingCategory",
    "PricingQuantity",
    "PricingUnit",
    "ProviderName",
    "PublisherName",
    "RegionId",
    "RegionName",
    "ResourceId",
    "ResourceName",
    "ResourceType",
    "ServiceCategory",
    "ServiceName",
    "SkuId",
    "SkuPriceId",
    "SubAccountId",
    "SubAccountName",
    "Tags",
]
FOCUS_1_2 = sorted(
    [
        *FOCUS_1_0, "BillingAccountType", "CapacityReservationId", "CapacityReservationStatus",
        "CommitmentDiscountQuantity", "CommitmentDiscountUnit", "InvoiceId", "PricingCurrency",
        "PricingCurrencyContractedUnitPrice", "PricingCurrencyEffectiveCost",
        "PricingCurrencyListUnitPrice", "ServiceSubcategory", "SkuMeter", "SkuPriceDetails",
        "SubAccountType",
    ]
)  # fmt: skip
SETTLE_DAYS = 2
PRELIMINARY = Decimal("0.97")

# service: (ServiceCategory, ServiceSubcategory, SKU, unit, (low, high) quantity, unit price)
_AWS = {
    "Amazon Elastic Compute Cloud": ("Compute", "Virtual Machines", "m7i.large", "Hours",
                                     (20, 120), Decimal("0.1008"), "AmazonEC2", "RunInstances"),
    "Amazon Simple Storage Service": ("Storage", "Object Storage", "TimedStorage-ByteHrs",
                                      "GB-Months", (100, 900), Decimal("0.023"), "AmazonS3",
                                      "StandardStorage"),
    "Amazon Relational Database Service": ("Databases", "Relational Databases",
                                           "db.r6g.large", "Hours", (24, 48),
                                           Decimal("0.258"), "AmazonRDS", "CreateDBInstance"),
    "Amazon Bedrock": ("AI and Machine Learning", "Generative AI", "Claude-Sonnet-Input",
                       "1000 Tokens", (500, 9000), Decimal("0.003"), "AmazonBedrock",
                       "InvokeModel"),
}  # fmt: skip
_AZURE = {
    "Virtual Machines": ("Compute", "D4s v5", "Hours", (20, 96), Decimal("0.192"), "vm"),
    "Storage Accounts": ("Storage", "Hot LRS Data Stored", "GB/Month", (200, 2000),
                         Decimal("0.0184"), "storage"),
    "Azure OpenAI Service": ("AI and Machine Learning", "gpt-4o-input-glbl", "1000 Tokens",
                             (1000, 20000), Decimal("0.0025"), "openai"),
    "SQL Database": ("Databases", "vCore", "Hours", (24, 72), Decimal("0.5044"), "sql"),
}  # fmt: skip
_TEAMS = ("ml", "web", "data")


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 (sample data)


def _ident(*parts: object, length: int = 12) -> str:
    return hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:length]


def _stamp(day: dt.date) -> str:
    return f"{day.isoformat()}T00:00:00Z"


def _period(day: dt.date) -> tuple[dt.date, dt.date]:
    start = day.replace(day=1)
    return start, (start + dt.timedelta(days=32)).replace(day=1)


def _share(day: dt.date, as_of: dt.datetime | None) -> Decimal:
    settled = dt.datetime.combine(day + dt.timedelta(days=1 + SETTLE_DAYS), dt.time(), dt.UTC)
    return PRELIMINARY if as_of is not None and as_of < settled else Decimal(1)


def export_rows(
    tenant: str, shape: str, day: dt.date, as_of: dt.datetime | None = None
) -> list[dict[str, Any]]:
    """The rows of usage ``day`` in ``shape`` (``aws`` or ``azure``) as delivered at ``as_of``.

    Values are what the file holds: Decimals (AWS writes them as DOUBLE), strings, JSON text.
    """
    if shape == "aws":
        return _aws_rows(tenant, day, _share(day, as_of))
    if shape == "azure":
        return _azure_rows(tenant, day, _share(day, as_of))
    raise ValueError(f"unknown export shape {shape!r}: aws or azure")


def _priced(quantity: Decimal, price: Decimal, share: Decimal) -> dict[str, Decimal]:
    qty = (quantity * share).quantize(Decimal("0.001"))
    cost = price * qty
    return {
        "PricingQuantity": qty, "ConsumedQuantity": qty, "ListUnitPrice": price,
        "ContractedUnitPrice": price, "ListCost": cost, "ContractedCost": cost,
        "BilledCost": cost, "EffectiveCost": cost,
    }  # fmt: skip


def _aws_rows(tenant: str, day: dt.date, share: Decimal) -> list[dict[str, Any]]:
    payer = str(int(_ident("aws-payer", tenant), 16))[:12]
    start, end = _period(day)
    rows = []
    for a in range(2):
        account = str(int(_ident("aws-account", tenant, a), 16))[:12]
        for service, spec in _AWS.items():
            category, subcategory, sku, unit, (low, high), price, code, operation = spec
            r = _rng("aws", tenant, day, account, service)
            quantity = Decimal(r.randint(low * 1000, high * 1000)) / 1000
            team = _TEAMS[r.randrange(len(_TEAMS))]
            region = ("us-east-1", "eu-west-1")[a]
            rows.append({
                **_aws_common(payer, start, end, day), **_priced(quantity, price, share),
                "AvailabilityZone": f"{region}a", "ChargeCategory": "Usage",
                "ChargeDescription": f"{sku} in {region}", "ChargeFrequency": "Usage-Based",
                "ConsumedUnit": unit, "PricingUnit": unit, "PricingCategory": "Standard",
                "RegionId": region, "RegionName": region,
                "ResourceId": f"arn:aws:{code.lower()}:{region}:{account}:res/{_ident(sku, a)}",
                "ResourceName": None, "ResourceType": service, "ServiceCategory": category,
                "ServiceName": service, "ServiceSubcategory": subcategory, "SkuId": _ident(sku),
                "SkuMeter": sku, "SkuPriceId": _ident(sku, "price"),
                "SubAccountId": account,
                "SubAccountName": f"{tenant}-{('prod', 'dev')[a]}",
                "SubAccountType": "AWS Account",
                "Tags": json.dumps({"team": team, "env": ("prod", "dev")[a]}),
                "x_Discounts": None, "x_Operation": operation, "x_ServiceCode": code,
            })  # fmt: skip
    tax = sum((row["BilledCost"] for row in rows), Decimal(0)) * Decimal("0.08")
    tax = tax.quantize(Decimal("0.00000001"))
    rows.append({
        **_aws_common(payer, start, end, day), "BilledCost": tax, "EffectiveCost": tax,
        "ListCost": tax, "ContractedCost": tax, "ChargeCategory": "Tax",
        "ChargeDescription": "Tax for the day's usage", "ChargeFrequency": "Usage-Based",
        "ServiceCategory": "Other", "ServiceName": "Tax", "ServiceSubcategory": "Other (Other)",
        "SubAccountId": payer, "SubAccountName": f"{tenant}-payer",
        "SubAccountType": "AWS Account", "x_Operation": "Tax", "x_ServiceCode": "AWSTax",
    })  # fmt: skip
    return [{column: row.get(column) for column in [*FOCUS_1_2, *_AWS_X]} for row in rows]


_AWS_X = ("x_Discounts", "x_Operation", "x_ServiceCode")


def _aws_common(payer: str, start: dt.date, end: dt.date, day: dt.date) -> dict[str, Any]:
    return {
        "BillingAccountId": payer, "BillingAccountName": "Payer", "BillingAccountType":
        "Billing Account", "BillingCurrency": "USD", "BillingPeriodStart": _stamp(start),
        "BillingPeriodEnd": _stamp(end), "ChargePeriodStart": _stamp(day),
        "ChargePeriodEnd": _stamp(day + dt.timedelta(days=1)),
        "InvoiceId": f"EUINUS{start:%y%m}{payer[-4:]}", "InvoiceIssuerName": "AWS",
        "ProviderName": "AWS", "PublisherName": "AWS", "PricingCurrency": "USD",
    }  # fmt: skip


_AZURE_X = (
    "x_BilledCostInUsd", "x_EffectiveCostInUsd", "x_InvoiceId", "x_PricingCurrency",
    "x_ResourceGroupName", "x_SkuMeterCategory", "x_SkuMeterName", "x_SkuRegion",
)  # fmt: skip


def _azure_rows(tenant: str, day: dt.date, share: Decimal) -> list[dict[str, Any]]:
    account = f"/providers/Microsoft.Billing/billingAccounts/{_ident('azure', tenant, length=8)}"
    start, end = _period(day)
    rows = []
    for s in range(2):
        subscription = f"/subscriptions/{_ident('sub', tenant, s, length=8)}-0000-4000-8000"
        for service, (category, meter, unit, (low, high), price, rg) in _AZURE.items():
            r = _rng("azure", tenant, day, subscription, service)
            quantity = Decimal(r.randint(low * 1000, high * 1000)) / 1000
            team = _TEAMS[r.randrange(len(_TEAMS))]
            region = ("westeurope", "northeurope")[s]
            group = f"rg-{rg}-{('prod', 'dev')[s]}"
            priced = _priced(quantity, price, share)
            rows.append({
                **_azure_common(account, subscription, start, end, day), **priced,
                "AvailabilityZone": None, "ChargeCategory": "Usage",
                "ChargeDescription": f"{service} {meter}", "ChargeFrequency": "Usage-Based",
                "ConsumedUnit": unit, "PricingUnit": unit, "PricingCategory": "Standard",
                "RegionId": region, "RegionName": region.title(),
                "ResourceId": f"{subscription}/resourceGroups/{group}/{_ident(meter, s)}",
                "ResourceName": f"{rg}-{s}", "ResourceType": service,
                "ServiceCategory": category, "ServiceName": service,
                "SkuId": _ident("azure-sku", meter), "SkuPriceId": _ident("azure-price", meter),
                "Tags": json.dumps({"team": team, "costcenter": f"cc-{100 + s}"}),
                "x_BilledCostInUsd": priced["BilledCost"],
                "x_EffectiveCostInUsd": priced["EffectiveCost"],
                "x_ResourceGroupName": group, "x_SkuMeterCategory": service,
                "x_SkuMeterName": meter, "x_SkuRegion": region,
            })  # fmt: skip
    if day.day % 5 == 0:
        credit = -(sum((row["BilledCost"] for row in rows), Decimal(0)) / 20).quantize(
            Decimal("0.0001")
        )
        rows.append({
            **_azure_common(account, rows[0]["SubAccountId"], start, end, day),
            "BilledCost": credit, "EffectiveCost": credit, "ListCost": credit,
            "ContractedCost": credit, "ChargeCategory": "Credit",
            "ChargeDescription": "Azure credit", "ChargeFrequency": "One-Time",
            "ServiceCategory": "Other", "ServiceName": "Azure Credits",
            "x_BilledCostInUsd": credit, "x_EffectiveCostInUsd": credit,
        })  # fmt: skip
    return [{column: row.get(column) for column in [*FOCUS_1_0, *_AZURE_X]} for row in rows]


def _azure_common(
    account: str, subscription: str, start: dt.date, end: dt.date, day: dt.date
) -> dict[str, Any]:
    return {
        "BillingAccountId": account, "BillingAccountName": "Contoso", "BillingCurrency": "USD",
        "BillingPeriodStart": _stamp(start), "BillingPeriodEnd": _stamp(end),
        "ChargePeriodStart": _stamp(day), "ChargePeriodEnd": _stamp(day + dt.timedelta(days=1)),
        "InvoiceIssuerName": "Microsoft", "ProviderName": "Microsoft",
        "PublisherName": "Microsoft", "SubAccountId": subscription,
        "SubAccountName": f"subscription-{subscription[-17:-15]}",
        "x_InvoiceId": f"G{start:%y%m}{account[-4:].upper()}", "x_PricingCurrency": "USD",
    }  # fmt: skip


SHAPES = {"aws": "parquet", "azure": "csv"}
"""The file format each sample provider delivers."""


def period_rows(
    tenant: str, shape: str, period: dt.date, last_day: dt.date, as_of: dt.datetime | None
) -> list[dict[str, Any]]:
    """Every row of the billing period starting ``period``, up to ``last_day`` (inclusive)."""
    _, end = _period(period)
    rows, day = [], period
    while day < end and day <= last_day:
        rows += export_rows(tenant, shape, day, as_of)
        day += dt.timedelta(days=1)
    return rows


def write_period(folder: Path, rows: Sequence[dict[str, Any]], file_format: str) -> list[Path]:
    """Write one billing period's delivery into ``folder``, replacing what it held.

    Rows go into two files (exports split large periods into parts).
    """
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    half = (len(rows) + 1) // 2
    parts = [rows[:half], rows[half:]]
    paths = []
    for index, part in enumerate(p for p in parts if p):
        path = folder / f"part-{index:05d}.{file_format}"
        (_parquet if file_format == "parquet" else _csv)(path, part)
        paths.append(path)
    return paths


def _parquet(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    columns: dict[str, pa.Array] = {}
    for name in rows[0]:
        values = [row[name] for row in rows]
        if any(isinstance(v, Decimal) for v in values):
            columns[name] = pa.array(
                [None if v is None else float(v) for v in values], pa.float64()
            )
        else:
            columns[name] = pa.array(values, pa.string())
    pq.write_table(pa.table(columns), path)


def _csv(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else _text(v) for k, v in row.items()})


def _text(value: Any) -> str:
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def write_source(
    settings: Any,
    tenant: str,
    source: Any,
    last_day: dt.date,
    *,
    as_of: dt.datetime | None = None,
    first_period: dt.date | None = None,
) -> list[Path]:
    """Deliver a tenant's FOCUS export into its (local) bucket, as the provider would.

    Every billing period from ``first_period`` (default: the previous month) to the month of
    ``last_day`` is written with its days up to ``last_day`` — and, with ``as_of``, only the
    days finished by then, preliminary amounts for the last ``SETTLE_DAYS``.

    Args:
        settings: locates the bucket folder (``Settings.bucket_folder``).
        tenant: whose export.
        source: the ``focus_files`` source (bucket, prefix, period folders, format).
        last_day: the newest usage day to deliver.
        as_of: when the delivery is made (None: every day final).
        first_period: the oldest billing period to deliver.
    """
    from lib.config.focus_files import period_folder

    if as_of is not None:
        last_day = min(last_day, as_of.date() - dt.timedelta(days=1))
    shape = source.convention if source.convention in SHAPES else "aws"
    period = first_period or (last_day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    written: list[Path] = []
    while period <= last_day:
        path = f"{source.prefix.strip('/')}/{period_folder(source.period_path, period)}"
        folder = Path(settings.bucket_folder(source.bucket, path))
        rows = period_rows(tenant, shape, period, last_day, as_of)
        if rows:
            written += write_period(folder, rows, source.format)
        period = (period + dt.timedelta(days=32)).replace(day=1)
    return written


def read_rows(folder: Path, file_format: str) -> list[dict[str, Any]]:
    """Every row of the export files under ``folder``, money read back exactly (a Parquet
    double as the decimal it was written from, CSV text as written)."""
    rows: list[dict[str, Any]] = []
    for path in sorted(folder.rglob(f"*.{file_format}")):
        if file_format == "parquet":
            import pyarrow.parquet as pq

            found = pq.read_table(path).to_pylist()
        else:
            with path.open(newline="", encoding="utf-8") as handle:
                found = list(csv.DictReader(handle))
        for row in found:
            cost = row["BilledCost"]
            row["BilledCost"] = Decimal(repr(cost) if isinstance(cost, float) else cost)
            rows.append(row)
    return rows
