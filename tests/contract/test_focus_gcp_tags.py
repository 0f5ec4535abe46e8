"""The Google Cloud FOCUS mapping's Tags on every warehouse: row labels win over project labels.

``configs/_library/focus/focus_gcp.sql`` builds Tags from the row's labels plus its project's
labels whose key no row label has. Raw rows are written through the port, and every row's Tags
is compared with that rule computed in Python: from the whole mapping as shipped, and from the
mapping's tag CTEs alone (cut from the shipped file) — the emulator cannot bind the rest of the
mapping (see ``EMULATOR_GAPS``), so on BigQuery the second test is the one that runs.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa

from lib.arrow_schema import arrow_schema
from lib.config.loader import load_pipeline
from lib.config.pipeline import IngestStep, TransformStep
from lib.ports import TableRef, Warehouse, WriteSpec
from lib.sql import qualify_for_tenant

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
DAY = dt.date(2026, 11, 1)
START = dt.datetime(2026, 11, 1, 3, tzinfo=dt.UTC)


def _pairs(labels: dict[str, str]) -> list[dict[str, str]]:
    return [{"key": k, "value": v} for k, v in labels.items()]


# (row labels, project labels) per row: overlaps, one side empty, both empty, no project.
CASES: list[tuple[dict[str, str], dict[str, str] | None]] = [
    ({"team": "ml", "env": "prod"}, {"team": "finops", "owner": "ana"}),
    ({}, {"team": "finops", "owner": "ana"}),
    ({"env": "dev"}, {}),
    ({}, {}),
    ({"a": "1"}, None),
    ({"x": "row"}, {"x": "project", "y": "p"}),
]


def _raw_row(i: int, labels: dict[str, str], project: dict[str, str] | None) -> dict[str, Any]:
    return {
        "billing_account_id": "0000AA-BBBBBB-CCCCCC",
        "service": {"id": "svc", "description": "Compute Engine"},
        "sku": {"id": f"sku-{i}", "description": "N2 core"},
        "usage_start_time": START,
        "usage_end_time": START + dt.timedelta(hours=1),
        "project": None
        if project is None
        else {"id": f"p{i}", "name": f"P{i}", "labels": _pairs(project)},
        "labels": _pairs(labels),
        "export_time": START + dt.timedelta(hours=5),
        "cost": Decimal("1.5"),
        "currency": "USD",
        "credits": [],
        "invoice": {"month": "202611"},
        "cost_type": "regular",
        "row_key": f"k{i}",
        "ingestion_date": DAY,
        "ingestion_timestamp": START,
        "pipeline_logging_id": "run-tags",
    }


def _expected(labels: dict[str, str], project: dict[str, str] | None) -> dict[str, str] | None:
    merged = {**(project or {}), **labels}
    return merged or None


WANT = {f"k{i}": _expected(labels, project) for i, (labels, project) in enumerate(CASES)}


def _raw_table(warehouse: Warehouse, tenant: str) -> str:
    """The tenant's raw export table holding :data:`CASES`; the mapping's SQL text."""
    pipeline = load_pipeline(CONFIGS, "acme", "gcp_billing")
    ingest = next(s for s in pipeline.config.steps if isinstance(s, IngestStep))
    silver = next(s for s in pipeline.config.steps if isinstance(s, TransformStep))
    spec = pipeline.table_spec(ingest.destination, "raw", ingestion=True)
    raw = TableRef(f"{tenant}_{ingest.destination.dataset}", ingest.destination.table)
    warehouse.ensure_dataset(raw.dataset)
    warehouse.ensure_table(raw, spec)
    rows = [_raw_row(i, labels, project) for i, (labels, project) in enumerate(CASES)]
    names = list(rows[0])
    batch = pa.RecordBatch.from_pylist(rows, schema=arrow_schema([spec.field(n) for n in names]))
    warehouse.write(raw, [batch], WriteSpec())
    return pipeline.path(silver.sql, "sql").read_text()


def test_tags_merge_row_and_project_labels(warehouse: Warehouse) -> None:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    sql = qualify_for_tenant(_raw_table(warehouse, tenant), tenant)
    # Parameters inlined: the emulator miscounts the parameters of this query (it fails with
    # "Parameter argument/count mismatch" on the unchanged mapping too).
    sql = sql.replace("@dates", f"[DATE '{DAY}']").replace("@run_id", "'run-tags'")
    out = warehouse.query(f"SELECT x_source_row_key AS k, Tags AS tags FROM ({sql}) ORDER BY k")

    assert {r["k"]: r["tags"] for r in out} == WANT


def test_the_mappings_tag_ctes_alone(warehouse: Warehouse) -> None:
    tenant = f"t{uuid.uuid4().hex[:10]}"
    mapping = _raw_table(warehouse, tenant)
    ctes = mapping[mapping.index("tag_pairs AS (") : mapping.index("mapped AS (")]
    sql = qualify_for_tenant(
        "WITH export_rows AS (SELECT row_key, labels, project FROM raw_gcp.billing_export), "
        + ctes.rstrip().rstrip(",")
        + " SELECT k.row_key AS k, PARSE_JSON(t.tags_text) AS tags"
        " FROM (SELECT row_key FROM export_rows) AS k LEFT JOIN tags AS t USING (row_key)"
        " ORDER BY k",
        tenant,
    )
    out = warehouse.query(sql)
    assert {r["k"]: r["tags"] for r in out} == WANT
