"""Peak memory of REST ingestion as rows grow: it must stay flat (pages are streamed).

Runs the real path — REST connector (httpx, paging, Decimal parsing, Arrow shaping) →
ingest stamping → DuckDB warehouse staging + merge — against an in-process provider
(``httpx.MockTransport``) that generates OpenAI ``/v1/organization/costs`` pages lazily,
1,000 results per page. Each size runs in a fresh subprocess and reports its peak RSS.

    python benchmarks/ingest_memory.py            # 10k, 100k, 1M rows; rewrites BENCHMARKS.md
    python benchmarks/ingest_memory.py --rows N   # one size, prints JSON
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

REPO = Path(__file__).resolve().parents[1]
PIPELINE = REPO / "configs/_library/pipelines/openai_costs"
PAGE = 1_000
SIZES = (10_000, 100_000, 1_000_000)


def provider(total: int) -> httpx.MockTransport:
    """OpenAI-shaped cost pages, generated on demand (the provider holds nothing either)."""

    def answer(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params.get("page") or 0)
        start = int(request.url.params["start_time"])
        first = page * PAGE
        results = [
            {
                "object": "organization.costs.result",
                "amount": {"value": 0.000123 * (i % 997) + 0.1, "currency": "usd"},
                "line_item": f"gpt-4o, input #{i}",
                "project_id": f"proj_{i % 50}",
                "organization_id": "org-bench",
            }
            for i in range(first, min(first + PAGE, total))
        ]
        more = first + PAGE < total
        body = {
            "object": "page",
            "data": [
                {
                    "object": "bucket",
                    "start_time": start,
                    "end_time": start + 86400,
                    "results": results,
                }
            ],
            "has_more": more,
            "next_page": str(page + 1) if more else None,
        }
        return httpx.Response(200, json=body)

    return httpx.MockTransport(answer)


def _source() -> Any:
    from lib.config.source import load_source

    source = load_source(PIPELINE / "openai_costs_source.yml")
    source = source.model_copy(
        update={
            "pagination": source.pagination.model_copy(update={"max_pages": 10**7}),
            "rate_limit": source.rate_limit.model_copy(update={"requests_per_minute": 10**9}),
        }
    )
    return source


def _peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def run_connector(rows: int) -> dict[str, Any]:
    """Only the connector: pages → typed Arrow batches, consumed and dropped."""
    from lib.adapters.env_secrets import EnvSecrets
    from lib.providers.rest import fetch_batches

    fields = _source().records.schema_fields()
    secrets = EnvSecrets({"CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-bench"})
    started, seen = time.perf_counter(), 0
    for batch in fetch_batches(
        _source(),
        dt.date(2026, 11, 1),
        tenant_id="acme",
        secrets=secrets,
        schema=fields,
        transport=provider(rows),
    ):
        seen += batch.num_rows
    return {
        "rows": seen,
        "seconds": round(time.perf_counter() - started, 2),
        "peak_rss_mib": _peak_mib(),
    }


def run_once(rows: int) -> dict[str, Any]:
    """Ingest ``rows`` rows into a fresh DuckDB file; return rows, seconds and peak RSS."""
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.adapters.env_secrets import EnvSecrets
    from lib.config.loader import INGESTION_FIELDS
    from lib.ports import TableRef, WriteSpec
    from lib.providers.rest import fetch_batches
    from lib.schema import TableSpec
    from lib.steps.ingest import stamp

    source = _source()
    fields = source.records.schema_fields()
    spec = TableSpec(fields=(*fields, *INGESTION_FIELDS))
    secrets = EnvSecrets({"CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-bench"})
    with tempfile.TemporaryDirectory() as tmp:
        wh = DuckDBWarehouse(Path(tmp) / "bench.duckdb", memory_limit="64MB")
        table = TableRef("acme_raw_openai", "costs")
        wh.ensure_dataset(table.dataset)
        wh.ensure_table(table, spec)
        started = time.perf_counter()
        batches = fetch_batches(
            source,
            dt.date(2026, 11, 1),
            tenant_id="acme",
            secrets=secrets,
            schema=fields,
            transport=provider(rows),
        )
        now = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
        written = wh.write(
            table,
            stamp(batches, run_id="run-benchmark", now=now),
            WriteSpec(mode="merge", keys=("bucket_start_time", "project_id", "line_item")),
        )
        seconds = time.perf_counter() - started
        wh.close()
    return {"rows": written, "seconds": round(seconds, 2), "peak_rss_mib": _peak_mib()}


def main() -> None:
    """Run one size, or every size in subprocesses and write BENCHMARKS.md."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int)
    parser.add_argument("--stage", choices=["connector", "pipeline"], default="pipeline")
    args = parser.parse_args()
    if args.rows:
        run = run_connector if args.stage == "connector" else run_once
        print(json.dumps(run(args.rows)))
        return
    results: dict[str, list[dict[str, Any]]] = {"connector": [], "pipeline": []}
    for stage, runs in results.items():
        for rows in SIZES:
            command = [sys.executable, __file__, "--rows", str(rows), "--stage", stage]
            out = subprocess.run(command, check=True, capture_output=True, text=True, cwd=REPO)
            runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(stage, runs[-1], flush=True)
    write_report(results)


def write_report(results: dict[str, list[dict[str, Any]]]) -> None:
    """Rewrite BENCHMARKS.md."""
    rows = [
        f"| {stage} | {r['rows']:,} | {r['seconds']} | {r['peak_rss_mib']} |"
        for stage, runs in results.items()
        for r in runs
    ]
    lines = [
        "# Benchmarks",
        "",
        "## REST ingestion memory (`python benchmarks/ingest_memory.py`)",
        "",
        "One day of OpenAI cost pages of 1,000 results from an in-process provider, each size in",
        "a fresh process; peak RSS includes the interpreter, pyarrow and (pipeline) DuckDB.",
        "",
        "- **connector**: HTTP → JSON (Decimal) → typed Arrow batches, consumed as they come.",
        "  Target: flat from 10k to 1M rows — the connector holds one page at a time.",
        "- **pipeline**: connector → ingest stamping → DuckDB staging + merge (the real write",
        "  path) with the embedded engine capped at `memory_limit=64MB`. The engine's merge is",
        "  bounded by that cap (it spills to disk), so growth stays below it.",
        "",
        "| stage | rows | seconds | peak RSS (MiB) |",
        "|---|---:|---:|---:|",
        *rows,
        "",
        f"Measured {dt.date.today().isoformat()} on a 2-core, 24 GiB machine (Python "
        f"{sys.version.split()[0]}).",
        "",
    ]
    (REPO / "BENCHMARKS.md").write_text("\n".join(lines))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
