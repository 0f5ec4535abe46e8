"""FOCUS file sources: AWS and Azure exports from a bucket folder, re-deliveries replace periods.

The platform reads the files in place (DuckDB views over the local bucket folder; BigQuery
external tables in the cloud: tests/lib/adapters/test_file_staging.py). Totals are compared
with sums read from the files themselves.
"""

from __future__ import annotations

import csv
import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from events.models import Window
from lib.config.focus_files import FocusFilesSourceConfig, period_folder
from lib.config.schema_files import load_schema_file
from lib.ports import StagedFiles, TableRef
from lib.providers.focus_files import billing_periods, ingest_query
from lib.sandbox.focus_exports import FOCUS_1_0, FOCUS_1_2, export_rows, write_period
from tests.platform import CONFIGS, NOW, copy_configs
from tests.support.spend_runs import (
    expected_focus,
    file_rows,
    gold,
    rows,
    run_pipeline,
    silver,
    spend_platform,
)

NOV = dt.date(2026, 11, 1)
RAW = "`acme_raw_focus`.`charges`"


def source(tenant: str, name: str) -> FocusFilesSourceConfig:
    from lib.config.loader import load_pipeline

    pipeline = load_pipeline(CONFIGS, tenant, f"{name}_focus")
    found = pipeline.source(0)
    assert isinstance(found, FocusFilesSourceConfig)
    return found


def deliver(platform, tenant: str, name: str, period: dt.date, rows_: list[dict[str, Any]]):
    src = source(tenant, name)
    path = f"{src.prefix}/{period_folder(src.period_path, period)}"
    folder = Path(platform.rt.settings.bucket_folder(src.bucket, path))
    return write_period(folder, rows_, src.format)


def month_rows(tenant: str, shape: str, last: dt.date, as_of: dt.datetime | None = None):
    out, day = [], NOV
    while day <= last:
        out += export_rows(tenant, shape, day, as_of)
        day += dt.timedelta(days=1)
    return out


# --- pure pieces --------------------------------------------------------------------------


def test_billing_periods_cover_the_window_and_the_periods_before():
    window = Window(start=dt.date(2026, 11, 29), end=dt.date(2026, 12, 2))
    assert billing_periods(window, 1) == [dt.date(2026, 10, 1), NOV, dt.date(2026, 12, 1)]
    assert billing_periods(window, 0) == [NOV, dt.date(2026, 12, 1)]


def test_period_folders_follow_aws_and_azure_naming():
    assert period_folder("BILLING_PERIOD={start:%Y-%m}", NOV) == "BILLING_PERIOD=2026-11"
    assert period_folder("{start:%Y%m%d}-{end:%Y%m%d}", dt.date(2026, 2, 1)) == (
        "20260201-20260228"
    )


def test_a_period_path_without_the_period_is_refused():
    with pytest.raises(ValueError, match="name the billing period"):
        FocusFilesSourceConfig(
            kind="focus_files", provider="aws", bucket="b-1", prefix="p", period_path="static"
        )


def test_the_ingest_query_keeps_provider_columns_and_fills_focus_1_0_gaps():
    fields = load_schema_file(CONFIGS / "_library/focus_files/focus_files_schema.json")
    staged = StagedFiles(
        TableRef("_convergence_files", "files_x"),
        {c: "string" for c in [*FOCUS_1_0, "x_SkuMeterName", "x_InvoiceId", "x_Odd Name"]},
        "filename",
    )
    query = ingest_query([staged], fields, provider="azure", convention="azure",
                         run_id="run-12345678", now=NOW)  # fmt: skip
    sql = query.sql
    assert "NULLIF(`f`.`x_SkuMeterName`, '') AS `SkuMeter`" in sql  # text stays text
    assert "NULLIF(`f`.`x_InvoiceId`, '') AS `InvoiceId`" in sql
    assert "CAST(NULL AS STRING) AS `ServiceSubcategory`" in sql  # absent in FOCUS 1.0
    assert "`f`.`x_Odd Name` AS `x_Odd Name`" in sql  # every other column is kept, as named
    assert "`f`.`x_SkuMeterName` AS `x_SkuMeterName`" in sql  # and what conventions read
    assert "CAST(NULLIF(`f`.`BilledCost`, '') AS BIGNUMERIC)" in sql  # text → exact decimal
    assert query.params["provider"] == "azure"


# --- the embedded engine reading files ------------------------------------------------------


@pytest.fixture
def platform(tmp_path):
    with spend_platform(tmp_path / "home", ("acme", "globex")) as running:
        yield running


def test_aws_parquet_and_azure_csv_land_in_gold_equal_to_the_files(platform):
    deliver(platform, "acme", "aws", NOV, month_rows("acme", "aws", dt.date(2026, 11, 19)))
    deliver(platform, "globex", "azure", NOV, month_rows("globex", "azure", dt.date(2026, 11, 19)))
    span = Window(start=dt.date(2026, 11, 17), end=dt.date(2026, 11, 19))
    run_pipeline(platform, "acme", "aws_focus", span)
    run_pipeline(platform, "globex", "azure_focus", span)
    for tenant in ("acme", "globex"):
        run_pipeline(platform, tenant, "spend_reporting", span)
        files = expected_focus(platform.rt.settings, tenant)
        got = {
            (r["d"], r["p"]): r["t"]
            for r in rows(
                platform,
                f"SELECT charge_date AS d, provider AS p, SUM(billed_cost) AS t "
                f"FROM {gold(tenant, 'daily_spend')} WHERE provider IN ('aws', 'azure') "
                "GROUP BY d, p",
            )
        }
        assert got == files and len(got) == 19  # every day of the delivered period, exact
    sources = rows(platform, f"SELECT DISTINCT source_file AS f FROM {RAW} ORDER BY f")
    assert [r["f"] for r in sources] == [  # the file within its bucket: no local root recorded
        f"acme-finops-exports/aws/focus-1-2/data/BILLING_PERIOD=2026-11/part-0000{i}.parquet"
        for i in (0, 1)
    ]


def test_azure_focus_1_0_is_lifted_to_1_2_and_keeps_microsoft_columns(platform):
    deliver(platform, "globex", "azure", NOV, month_rows("globex", "azure", dt.date(2026, 11, 5)))
    run_pipeline(platform, "globex", "azure_focus", Window(start=NOV, end=dt.date(2026, 11, 5)))
    found = rows(
        platform,
        f"SELECT * FROM {silver('globex')} WHERE x_provider = 'azure' "
        "AND ChargeCategory = 'Usage' AND ServiceName = 'Virtual Machines' LIMIT 1",
    )
    [row] = found
    assert row["SkuMeter"] == "D4s v5" == row["x_extensions"]["x_SkuMeterName"]
    assert row["InvoiceId"] == row["x_extensions"]["x_InvoiceId"]
    assert row["ServiceSubcategory"] == "Other (Compute)"
    assert row["x_extensions"]["x_ResourceGroupName"].startswith("rg-vm-")
    assert row["Tags"]["costcenter"].startswith("cc-")
    assert row["ListCost"] == row["ListUnitPrice"] * row["PricingQuantity"]


def test_a_redelivered_period_replaces_what_was_loaded_rows_it_dropped_included(platform):
    early = dt.datetime(2026, 11, 6, 4, tzinfo=dt.UTC)  # days 4 and 5 still preliminary
    first = month_rows("acme", "aws", dt.date(2026, 11, 5), as_of=early)
    deliver(platform, "acme", "aws", NOV, first)
    span = Window(start=dt.date(2026, 11, 3), end=dt.date(2026, 11, 5))
    run_pipeline(platform, "acme", "aws_focus", span)
    day4 = f"SELECT SUM(BilledCost) AS t FROM {RAW} WHERE DATE(ChargePeriodStart) = '2026-11-04'"
    [before] = rows(platform, f"SELECT COUNT(*) AS n, SUM(BilledCost) AS t FROM {RAW}")
    [preliminary] = rows(platform, day4)
    final = month_rows("acme", "aws", dt.date(2026, 11, 5))
    dropped = next(r for r in final if r["ChargePeriodStart"].startswith("2026-11-02"))
    final.remove(dropped)
    deliver(platform, "acme", "aws", NOV, final)
    platform.clock.advance(hours=1)
    run_id = run_pipeline(platform, "acme", "aws_focus", span)
    [after] = rows(platform, f"SELECT COUNT(*) AS n, SUM(BilledCost) AS t FROM {RAW}")
    assert after["n"] == before["n"] - 1
    assert after["t"] == sum(Decimal(str(r["BilledCost"])) for r in final)
    [final_day4] = rows(platform, day4)
    assert final_day4["t"] > preliminary["t"]  # the preliminary day was restated upwards
    [step] = rows(
        platform,
        "SELECT metadata FROM `acme_metadata`.`step_logs` WHERE pipeline_logging_id = @r "
        "AND step_name = 'ingest_focus_export' AND status = 'COMPLETE'",
        r=run_id,
    )
    restated = sum(1 for r in first if r["ChargePeriodStart"][:10] in ("2026-11-04", "2026-11-05"))
    # a row's key is its content: the restated rows (new amounts) and the dropped one are gone
    assert step["metadata"]["details"]["removed"] == restated + 1
    changed = step["metadata"]["changes"]["acme_raw_focus.charges"]
    assert changed == [f"2026-11-0{d}" for d in range(1, 6)]  # every charge day re-derived
    [silver_total] = rows(
        platform, f"SELECT SUM(BilledCost) AS t FROM {silver('acme')} WHERE x_provider = 'aws'"
    )
    assert silver_total["t"] == after["t"]


def test_a_period_not_delivered_yet_is_left_alone(platform):
    deliver(platform, "acme", "aws", NOV, month_rows("acme", "aws", dt.date(2026, 11, 2)))
    run_pipeline(platform, "acme", "aws_focus", Window(start=NOV, end=dt.date(2026, 11, 2)))
    span = Window(start=dt.date(2026, 12, 1), end=dt.date(2026, 12, 1))  # no December files
    run_pipeline(platform, "acme", "aws_focus", span)  # reloads November, adds nothing else
    [row] = rows(platform, f"SELECT COUNT(DISTINCT DATE(ChargePeriodStart)) AS n FROM {RAW}")
    assert row["n"] == 2


def test_csv_decimals_stay_exact_beyond_nine_places(tmp_path):
    with spend_platform(tmp_path / "home", ("globex",)) as running:
        rows_ = month_rows("globex", "azure", NOV)
        for row in rows_:
            row["BilledCost"] = Decimal("0.123456789012345678")
            row["EffectiveCost"] = row["BilledCost"]
        paths = deliver(running, "globex", "azure", NOV, rows_)
        assert all(p.suffix == ".csv" for p in paths)
        with paths[0].open() as handle:
            assert next(csv.DictReader(handle))["BilledCost"] == "0.123456789012345678"
        run_pipeline(running, "globex", "azure_focus", Window(start=NOV, end=NOV))
        [row] = rows(running, "SELECT SUM(BilledCost) AS t FROM `globex_raw_focus`.`charges`")
        assert row["t"] == Decimal("0.123456789012345678") * len(rows_)


def test_the_sample_exports_carry_the_published_columns():
    aws = export_rows("acme", "aws", NOV)[0]
    azure = export_rows("globex", "azure", NOV)[0]
    assert len(FOCUS_1_2) == 57 and len(FOCUS_1_0) == 43
    assert list(aws) == [*FOCUS_1_2, "x_Discounts", "x_Operation", "x_ServiceCode"]
    assert list(azure)[:43] == FOCUS_1_0 and "x_SkuMeterName" in azure


def test_exported_files_read_back_as_written(tmp_path):
    rows_ = export_rows("acme", "aws", NOV)
    [path] = write_period(tmp_path / "p", rows_[:1], "parquet")
    [back] = file_rows(path)
    assert Decimal(repr(back["BilledCost"])) == rows_[0]["BilledCost"]


def test_validate_names_a_focus_destination_that_does_not_replace_periods(tmp_path, capsys):
    from lib.config.validate import validate_tree

    configs = copy_configs(tmp_path, "acme/aws")
    pipeline = configs / "_library/pipelines/aws_focus/aws_focus.yml"
    text = pipeline.read_text().replace("replace_scope: {provider: aws}", "replace_scope: {}")
    pipeline.write_text(text.replace("window_column: BillingPeriodStart", "window_column: "
                                     "ChargePeriodStart"))  # fmt: skip
    _, problems = validate_tree(configs)
    messages = [str(p) for p in problems]
    assert any("replaces whole billing periods" in m for m in messages), messages
    assert any("replace_scope: {provider: aws}" in m for m in messages), messages
