"""GCP billing export: exact rows in, merges idempotent, late rows and corrections, no Python rows.

Expectations are computed from the fixture's Python rows (``export_rows``), never from the
warehouse; the ingest itself runs through the real ingest step on DuckDB.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import sqlglot

from events.models import RunRequested, Window
from events.topology import load_topology
from lib import metadata
from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.adapters.env_secrets import EnvSecrets
from lib.arrow_schema import arrow_schema
from lib.clock import FixedClock
from lib.config.catalog import destination_spec
from lib.config.loader import load_pipeline
from lib.errors import ConfigError
from lib.ports import Capability, Query, TableRef, WriteResult, WriteSpec
from lib.providers import gcp_export
from lib.providers.gcp_export import (
    ROW_KEY,
    BigQueryExportSource,
    ExportLocation,
    export_source,
    ingest_query,
    output_columns,
)
from lib.sandbox.gcp_export import (
    EXPORT_FIELDS,
    billing_account_id,
    export_rows,
    export_table,
    write_export,
)
from lib.schema import TableSpec
from lib.settings import Settings
from lib.sql import table_sql
from lib.steps.base import StepContext
from lib.steps.ingest import ingest_request, run_ingest
from lib.wiring import Runtime

REPO = Path(__file__).resolve().parents[3]
CONFIGS = REPO / "configs"
PIPELINE = "gcp_billing"
NOW = dt.datetime(2026, 11, 25, 6, 0, tzinfo=dt.UTC)
EXPORTED = Window(start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 20))
DAY = dt.date(2026, 11, 13)
RAW = TableRef("acme_raw_gcp", "billing_export")
INGESTION = ("ingestion_date", "ingestion_timestamp", "pipeline_logging_id")


# --- fakes and helpers ----------------------------------------------------------------------


class RecordingWarehouse:
    """The Warehouse port over DuckDB that refuses Arrow writes while ``ingesting``."""

    def __init__(self, inner: DuckDBWarehouse, *, wildcard: bool | None = None) -> None:
        self.inner = inner
        self.name = inner.name
        self.ingesting = False
        self.writes: list[tuple[TableRef, Any, WriteSpec]] = []
        self.listed: list[str] = []
        self.capabilities = inner.capabilities
        if wildcard:
            self.capabilities = frozenset({Capability.WILDCARD_TABLES})

    def write(self, table, source, spec):
        if self.ingesting and not isinstance(source, Query):
            raise AssertionError(f"rows travelled through Python: Arrow write to {table}")
        self.writes.append((table, source, spec))
        if Capability.WILDCARD_TABLES in self.capabilities:
            return WriteResult(rows=0)  # DuckDB cannot run a wildcard table; query asserted
        return self.inner.write(table, source, spec)

    def list_tables(self, dataset):
        self.listed.append(dataset)
        return self.inner.list_tables(dataset)

    def __getattr__(self, name):
        return getattr(self.inner, name)


@pytest.fixture
def env(tmp_path):
    """(runtime, recording warehouse, statements seen by DuckDB, clock)."""
    statements: list[str] = []
    inner = DuckDBWarehouse(tmp_path / "gcp.duckdb", on_statement=statements.append)
    wh = RecordingWarehouse(inner)
    clock = FixedClock(NOW)
    rt = Runtime(
        settings=Settings(home=tmp_path, config_dir=CONFIGS),
        warehouse=wh,  # type: ignore[arg-type]
        bus=None,  # type: ignore[arg-type]  # ingest publishes nothing
        secrets=EnvSecrets({}),
        clock=clock,
        topology=load_topology(),
    )
    yield rt, wh, statements, clock
    inner.close()


def source(tenant="acme"):
    return load_pipeline(CONFIGS, tenant, PIPELINE).source(0)


def context(rt, window, run_id="run-gcp-0001", tenant="acme") -> StepContext:
    pipeline = load_pipeline(CONFIGS, tenant, PIPELINE)
    ref = pipeline.config.step_ref(0)
    event = RunRequested(
        event_id="evt-gcp-0001",
        occurred_at=NOW,
        tenant_id=tenant,
        pipeline_id=PIPELINE,
        pipeline_logging_id=run_id,
        window=window,
        next_step=ref,
    )
    return StepContext(rt, pipeline, event, ref, pipeline.config.steps[0])


def ingest(rt, wh, window, run_id="run-gcp-0001", tenant="acme") -> int:
    wh.ingesting = True
    try:
        return run_ingest(context(rt, window, run_id, tenant)).rows
    finally:
        wh.ingesting = False


def d(value: float | None) -> Decimal:
    return Decimal(repr(value)) if value is not None else Decimal(0)


def expected(tenant, window, exported=EXPORTED, account=None, as_of=None, read_from=None):
    """The generator's rows a run of ``window`` reads: usage in the window, or exported since
    ``read_from`` (the window's start on an empty raw table)."""
    low = dt.datetime.combine(window.start, dt.time(), dt.UTC)
    high = dt.datetime.combine(window.end + dt.timedelta(days=1), dt.time(), dt.UTC)
    read_from = read_from or low
    rows = [r for day in exported.days() for r in export_rows(tenant, day, account)]
    rows = [r for r in rows if as_of is None or r["export_time"] <= as_of]
    return [r for r in rows if low <= r["usage_start_time"] < high or r["export_time"] >= read_from]


def identity(row) -> str:
    return json.dumps(row, default=str, sort_keys=True)


def money(rows) -> tuple[Decimal, Decimal]:
    cost = sum((d(r["cost"]) for r in rows), Decimal(0))
    credits = sum((d(c["amount"]) for r in rows for c in r["credits"]), Decimal(0))
    return cost, credits


def raw_totals(wh, table=RAW) -> dict[str, Any]:
    ref = table_sql(table)
    row = wh.query(f"SELECT COUNT(*) AS n, SUM(cost) AS cost FROM {ref}")[0]
    credits = wh.query(f"SELECT SUM(c.amount) AS credits FROM {ref} AS t, UNNEST(t.credits) AS c")
    return {**row, "credits": credits[0]["credits"] or Decimal(0)}


def raw_rows(wh, *, drop=INGESTION) -> list[dict[str, Any]]:
    rows = wh.query(f"SELECT * FROM {table_sql(RAW)} ORDER BY {ROW_KEY}")
    return [{k: v for k, v in r.items() if k not in drop} for r in rows]


# --- the fixture ----------------------------------------------------------------------------


def test_generator_is_deterministic_and_realistic():
    window = Window(start=dt.date(2026, 11, 10), end=dt.date(2026, 11, 15))
    rows = [r for day in window.days() for r in export_rows("acme", day)]
    assert rows == [r for day in window.days() for r in export_rows("acme", day)]
    assert rows != [r for day in window.days() for r in export_rows("globex", day)]
    assert {r["service"]["description"] for r in rows} >= {
        "Compute Engine", "BigQuery", "Cloud Storage", "Vertex AI"
    }  # fmt: skip
    assert set(Counter(r["cost_type"] for r in rows)) == {
        "regular", "tax", "adjustment", "rounding_error"
    }  # fmt: skip
    credits = [c for r in rows for c in r["credits"]]
    assert {c["type"] for c in credits} == {"SUSTAINED_USAGE_DISCOUNT", "FREE_TIER"}
    assert all((c["amount"] < 0) == (r["cost"] > 0) for r in rows for c in r["credits"])
    assert all(r["project"]["labels"] for r in rows)
    late = [r for r in rows if r["export_time"] - r["usage_end_time"] >= dt.timedelta(days=2)]
    assert len(late) >= 2 * len(window.days())
    assert all(r["invoice"]["month"] == "202611" for r in rows)
    assert all(isinstance(r["cost"], float) for r in rows)


def test_account_and_table_name_derive_from_the_tenant():
    account = billing_account_id("acme")
    assert account == billing_account_id("acme") != billing_account_id("globex")
    assert len(account) == 20 and account.count("-") == 2
    table = export_table("acme", source(), account)
    assert table.dataset == "acme_billing_export"
    assert table.table == "gcp_billing_export_v1_" + account.replace("-", "_")


def test_raw_schema_file_holds_exactly_what_the_query_produces():
    for tenant in ("acme", "globex"):
        spec = destination_spec(load_pipeline(CONFIGS, tenant, PIPELINE), 0)
        fields = {f.name: f for f in spec.fields if f.name not in INGESTION}
        assert [*fields, *INGESTION] == output_columns()
        assert fields["cost"].type == "NUMERIC" and fields["cost_at_list"].type == "NUMERIC"
        credit = {f.name: f.type for f in fields["credits"].fields}
        assert credit["amount"] == "NUMERIC"
        assert [f.name for f in EXPORT_FIELDS] == list(gcp_export.EXPORT_COLUMNS)


# --- ingest ---------------------------------------------------------------------------------


def test_run_ingests_exactly_the_generators_rows_for_its_window(env):
    rt, wh, _, _ = env
    write_export(wh, "acme", source(), EXPORTED)
    other = "01A2B3-C4D5E6-F7G8H9"
    write_export(wh, "acme", source(), EXPORTED, account=other)
    decoy = TableRef("acme_billing_export", "cloud_pricing_export")
    wh.ensure_table(decoy, TableSpec(fields=EXPORT_FIELDS))
    wh.write(decoy, iter(batch(export_rows("acme", DAY))), WriteSpec())
    window = Window(start=DAY, end=DAY + dt.timedelta(days=1))

    rows = ingest(rt, wh, window)

    want = expected("acme", window) + expected("acme", window, account=other)
    cost, credits = money(want)
    got = raw_totals(wh)
    assert rows == got["n"] == len(want) > 100
    assert got["cost"] == cost and got["credits"] == credits
    assert round(got["cost"] + got["credits"], 2) == round(cost + credits, 2)
    by_type = wh.query(f"SELECT cost_type, COUNT(*) AS n FROM {table_sql(RAW)} GROUP BY 1")
    assert {r["cost_type"]: r["n"] for r in by_type} == Counter(r["cost_type"] for r in want)


def test_rerunning_a_window_gives_an_identical_table(env):
    rt, wh, _, clock = env
    write_export(wh, "acme", source(), EXPORTED)
    window = Window(start=DAY, end=DAY)
    first = ingest(rt, wh, window, "run-gcp-0001")
    before = raw_rows(wh, drop=())
    assert first == ingest(rt, wh, window, "run-gcp-0001")
    assert raw_rows(wh, drop=()) == before
    clock.advance(days=1)
    ingest(rt, wh, window, "run-gcp-0002")
    assert raw_rows(wh) == [{k: v for k, v in r.items() if k not in INGESTION} for r in before]
    stamps = wh.query(f"SELECT DISTINCT pipeline_logging_id AS id FROM {table_sql(RAW)}")
    assert stamps == [{"id": "run-gcp-0002"}]


def test_late_rows_for_a_loaded_day_are_merged_without_duplicates(env):
    rt, wh, _, _ = env
    window = Window(start=DAY, end=DAY)
    as_of = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(23), dt.UTC)
    write_export(wh, "acme", source(), EXPORTED, as_of=as_of)
    early = expected("acme", window, as_of=as_of)
    assert ingest(rt, wh, window) == len(early)
    keys_before = {r[ROW_KEY] for r in raw_rows(wh)}

    write_export(wh, "acme", source(), EXPORTED)  # the late rows land
    newest = max(r["export_time"] for r in early)
    read_from = min(
        dt.datetime.combine(DAY, dt.time(), dt.UTC), newest - dt.timedelta(days=1)
    )  # the source's overlap_days: 1 before the newest row already loaded
    ingest(rt, wh, window, "run-gcp-0002")

    later = expected("acme", window, read_from=read_from)
    full = list({identity(r): r for r in early + later}.values())
    assert len(full) > len(early)
    assert {
        identity(r)
        for r in expected("acme", Window(start=DAY, end=DAY), read_from=as_of)
        if r["usage_start_time"].date() == DAY
    } <= {identity(r) for r in full}
    got = raw_totals(wh)
    assert got["n"] == len(full)
    assert (got["cost"], got["credits"]) == money(full)
    keys_after = [r[ROW_KEY] for r in raw_rows(wh)]
    assert len(keys_after) == len(set(keys_after)) and keys_before < set(keys_after)


def test_rows_exported_while_runs_were_missed_are_read_by_the_next_run(env):
    rt, wh, _, _ = env
    first = Window(start=DAY, end=DAY)
    as_of = dt.datetime.combine(DAY + dt.timedelta(days=1), dt.time(6), dt.UTC)
    write_export(wh, "acme", source(), EXPORTED, as_of=as_of)
    ingest(rt, wh, first)
    write_export(wh, "acme", source(), EXPORTED)  # ten days of exports, no run in between
    later = DAY + dt.timedelta(days=5)
    ingest(rt, wh, Window(start=later, end=later), "run-gcp-0002")
    exported = [r for day in EXPORTED.days() for r in export_rows("acme", day)]
    landed_since = [r for r in exported if r["export_time"] > as_of]
    assert landed_since, "the fixture exports rows after the first run"
    loaded = {(r["usage_start_time"], r["export_time"], r["cost"]) for r in raw_rows(wh)}
    missing = [
        r
        for r in landed_since
        if (
            r["usage_start_time"],
            r["export_time"],
            Decimal(repr(r["cost"])).quantize(Decimal("1e-9")),
        )
        not in loaded
    ]
    assert missing == []


def test_a_daily_run_picks_up_late_rows_by_export_time_even_without_overlap(env):
    rt, wh, _, _ = env
    write_export(wh, "acme", source(), EXPORTED)
    late = [r for r in export_rows("acme", DAY) if r["export_time"].date() - DAY >= dt.timedelta(2)]
    export_day = late[0]["export_time"].date()
    ctx = context(rt, Window(start=export_day, end=export_day))
    spec = ctx.pipeline.table_spec(ctx.step.destination, "steps[0].destination", ingestion=True)
    wh.ensure_dataset(RAW.dataset)
    wh.ensure_table(RAW, spec)
    no_overlap = source().model_copy(update={"overlap_days": 0})
    BigQueryExportSource(no_overlap).ingest(ingest_request(ctx))
    loaded = {(r["usage_start_time"], r["export_time"]) for r in raw_rows(wh)}
    for row in late:
        if row["export_time"].date() == export_day:
            assert (row["usage_start_time"], row["export_time"]) in loaded


def test_corrections_stay_separate_negating_rows(env):
    rt, wh, _, _ = env
    write_export(wh, "acme", source(), EXPORTED)
    ingest(rt, wh, Window(start=DAY, end=DAY + dt.timedelta(days=2)))
    rows = raw_rows(wh)
    scan_start = dt.datetime.combine(DAY, dt.time(), dt.UTC)
    negated = [
        r
        for r in rows
        if r["cost_type"] == "regular" and r["cost"] < 0 and r["usage_start_time"] >= scan_start
    ]
    assert len(negated) >= 6, "the fixture corrects one usage row a day"
    for reversal in negated:
        same = [
            r
            for r in rows
            if r["usage_start_time"] == reversal["usage_start_time"]
            and r["sku"] == reversal["sku"]
            and r["project"]["id"] == reversal["project"]["id"]
            and r["cost_type"] == "regular"
        ]
        original = min(same, key=lambda r: r["export_time"])
        assert original["export_time"] < reversal["export_time"]
        assert original["cost"] == -reversal["cost"] > 0
        assert original[ROW_KEY] != reversal[ROW_KEY]
        restated = [
            r for r in same if r["cost"] > 0 and r["export_time"] == reversal["export_time"]
        ]
        assert len(restated) == 1 and restated[0]["cost"] < original["cost"]


def test_money_becomes_exact_numeric_and_identical_rows_both_survive(env):
    rt, wh, _, _ = env
    table = export_table("acme", source(), billing_account_id("acme"))
    wh.ensure_dataset(table.dataset)
    wh.ensure_table(table, TableSpec(fields=EXPORT_FIELDS))
    row = dict(export_rows("acme", DAY)[0])
    row["cost"], row["cost_at_list"] = 0.1 + 0.2, 1e-10
    row["credits"] = [{**row["credits"][0], "amount": -0.07}] if row["credits"] else []
    wh.write(table, iter(batch([row, row])), WriteSpec())

    assert ingest(rt, wh, Window(start=DAY, end=DAY)) == 2
    got = raw_rows(wh)
    assert len({r[ROW_KEY] for r in got}) == 2
    assert got[0]["cost"] == Decimal("0.300000000") and got[0]["cost_at_list"] == Decimal(0)
    assert all(c["amount"] == Decimal("-0.07") for c in got[0]["credits"])


# --- nothing through Python -----------------------------------------------------------------


def test_gcp_ingest_moves_no_rows_through_python(env):
    rt, wh, statements, _ = env
    write_export(wh, "acme", source(), EXPORTED)
    export = export_table("acme", source(), billing_account_id("acme"))
    statements.clear()
    wh.writes.clear()

    rows = ingest(rt, wh, Window(start=DAY, end=DAY))

    assert rows > 0
    [(_, query, spec)] = [w for w in wh.writes if w[0] == RAW]
    assert isinstance(query, Query)
    assert spec == WriteSpec(mode="merge", keys=(ROW_KEY,), date_column="usage_start_time")
    source_sql = table_sql(export, "duckdb")
    inserts = [s for s in statements if s.lstrip().upper().startswith(("INSERT", "MERGE"))]
    assert any(" SELECT " in s and source_sql in s for s in inserts), inserts
    assert any(table_sql(RAW, "duckdb") in s and " SELECT " in s for s in inserts)
    assert all(" SELECT " in f" {s} " for s in inserts)
    assert not any("VALUES" in s.upper() for s in inserts)


def test_wildcard_engines_read_one_wildcard_table_and_list_nothing(env):
    rt, wh, _, _ = env
    wh = RecordingWarehouse(wh.inner, wildcard=True)
    rt.warehouse = wh
    ctx = context(rt, Window(start=DAY, end=DAY))
    spec = ctx.pipeline.table_spec(ctx.step.destination, "steps[0].destination", ingestion=True)
    billing = source().model_copy(update={"project": "acme-billing"})
    wh.ensure_dataset(RAW.dataset)
    wh.ensure_table(RAW, spec)

    BigQueryExportSource(billing).ingest(ingest_request(ctx))

    [(_, query, _)] = wh.writes
    assert wh.listed == []
    assert "FROM `acme-billing.billing_export.gcp_billing_export_v1_*`" in query.sql
    assert sqlglot.parse_one(query.sql, read="bigquery") is not None
    assert query.params["window_start"] == dt.datetime(2026, 11, 13, tzinfo=dt.UTC)
    assert query.params["window_end"] == dt.datetime(2026, 11, 14, tzinfo=dt.UTC)
    assert query.params["scan_from"] == dt.datetime(2026, 11, 13, tzinfo=dt.UTC)


def test_union_of_tables_is_the_portable_reading():
    location = ExportLocation(None, "acme_billing_export", "gcp_billing_export_v1_")
    tree = export_source(location, ["gcp_billing_export_v1_A", "gcp_billing_export_v1_B"])
    window = Window(start=DAY, end=DAY)
    query = ingest_query(tree, window=window, read_from=NOW, run_id="run-x0000000", now=NOW)
    parsed = sqlglot.parse_one(query.sql, read="bigquery")
    tables = {t.name for t in parsed.find_all(sqlglot.exp.Table)}
    assert {"gcp_billing_export_v1_A", "gcp_billing_export_v1_B"} <= tables
    assert "UNION ALL" in query.sql


# --- bad configuration ----------------------------------------------------------------------


def test_missing_export_tables_name_the_dataset_and_prefix(env):
    rt, wh, _, _ = env
    with pytest.raises(
        ConfigError, match=r"gcp_billing_export_v1_\* in dataset acme_billing_export"
    ):
        ingest(rt, wh, Window(start=DAY, end=DAY))


def test_another_project_cannot_be_read_by_the_embedded_engine(env):
    rt, _, _, _ = env
    request = ingest_request(context(rt, Window(start=DAY, end=DAY)))
    with pytest.raises(ConfigError, match="cannot read another project"):
        BigQueryExportSource(source().model_copy(update={"project": "acme-billing"})).ingest(
            request
        )
    with pytest.raises(ConfigError, match="is not a GCP project id"):
        BigQueryExportSource(source().model_copy(update={"project": "x; DROP"})).ingest(request)


def test_destination_must_merge_on_the_row_key(env):
    rt, _, _, _ = env
    ctx = context(rt, Window(start=DAY, end=DAY))
    target = ctx.step.destination.model_copy(update={"write_mode": "append", "merge_keys": []})
    step = ctx.step.model_copy(update={"destination": target})
    bad = StepContext(ctx.runtime, ctx.pipeline, ctx.event, ctx.ref, step)
    with pytest.raises(ConfigError, match=r"merge_keys: \[row_key\]"):
        BigQueryExportSource(source()).ingest(ingest_request(bad))


# --- the whole pipeline through the in-process bus --------------------------------------------


def test_pipeline_runs_complete_for_both_tenants_through_the_bus(tmp_path):
    from lib.runs import request_run
    from lib.wiring import build_runtime, handler_functions, install

    topology = load_topology()
    settings = Settings(home=tmp_path, config_dir=CONFIGS)
    rt = build_runtime(settings, clock=FixedClock(NOW), handlers=handler_functions(topology))
    install(rt)
    try:
        window = Window(start=DAY, end=DAY + dt.timedelta(days=2))
        events = {}
        for tenant in ("acme", "globex"):
            write_export(rt.warehouse, tenant, source(tenant), EXPORTED)
            events[tenant] = request_run(rt, tenant, PIPELINE, window)
        rt.bus.run_until_idle()  # type: ignore[attr-defined]
        for tenant, event in events.items():
            status = metadata.run_status(rt.warehouse, tenant, event.pipeline_logging_id)
            assert status["status"] == "COMPLETE", status
            raw = TableRef(f"{tenant}_raw_gcp", "billing_export")
            assert raw_totals(rt.warehouse, raw)["n"] == len(expected(tenant, window))
            dq = rt.warehouse.query(
                "SELECT COUNT(*) AS n, COUNTIF(success) AS ok FROM "
                f"{table_sql(metadata.metadata_table(tenant, 'dq_results'))}"
            )[0]
            assert dq["n"] == dq["ok"] == 12
    finally:
        install(None)
        rt.close()


def batch(rows) -> list[pa.RecordBatch]:
    return [pa.RecordBatch.from_pylist(rows, schema=arrow_schema(EXPORT_FIELDS))]


def test_fixture_rows_are_json_serialisable_for_debugging():
    assert json.loads(json.dumps(export_rows("acme", DAY), default=str))
