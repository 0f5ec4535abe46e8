"""One REST ingest run against ``page_server.py``, in this process; prints one JSON line.

    python benchmarks/ingest_runs.py ours  --url http://127.0.0.1:N --rows 100000
    python benchmarks/ingest_runs.py floor --url http://127.0.0.1:N --rows 100000
    python benchmarks/ingest_runs.py shape --rows 100000   # shaping only, pyarrow vs polars

* ``ours``: the real path — REST connector (httpx, paging, exact decimals, Arrow shaping) →
  ingest stamping → DuckDB warehouse merge on (bucket start, project, line item) into a fresh
  file, the engine at its default memory limit.
* ``connector``: the connector and stamping alone, batches consumed and dropped: its peak
  RSS shows the Python side holds one page at a time (flat in the number of rows).
* ``floor``: what no client can beat — httpx GET + ``json.loads`` of every page (timed), then
  ONE insert of the same rows, already in Arrow, into DuckDB (timed); the sum of both.
* ``shape``: the page shaping alone over the server's pages, pyarrow (this project) and, if
  installed, polars with exact decimals (``pl.Decimal``), for the record in BENCHMARKS.md.

Each reports rows, seconds, peak RSS and what it loaded (rows, distinct keys, exact sum), so
the harness can check every client loaded the same data.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
_MEASURED = Path(os.environ.get("CONVERGENCE_BENCH_SOURCE", REPO))
# The OpenAI source of the checkout measured (configs and the code reading them change
# together): the library template's, or acme's own in checkouts older than the library.
SOURCE_FILE = next(
    path
    for path in (
        _MEASURED / "configs/_library/pipelines/openai_costs/openai_costs_source.yml",
        _MEASURED / "configs/acme/openai/cost/openai_costs/openai_costs_source.yml",
    )
    if path.exists()
)
KEYS = ("bucket_start_time", "project_id", "line_item")


def peak_mib() -> float:
    """This process's peak resident memory."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def _prepare(url: str) -> tuple[Callable[[], Any], Any]:
    """Imports and the source config, done before timing (the floor imports its modules
    before timing too); returns a function opening the stamped batches, and the fields."""
    from lib.adapters.env_secrets import EnvSecrets
    from lib.config.source import RestSourceConfig, load_source
    from lib.providers.rest import fetch_batches
    from lib.providers.rest_source import stamp

    source = load_source(SOURCE_FILE)
    assert isinstance(source, RestSourceConfig)
    source = source.model_copy(
        update={
            "pagination": source.pagination.model_copy(update={"max_pages": 10**6}),
            "rate_limit": source.rate_limit.model_copy(update={"requests_per_minute": 10**9}),
        }
    )
    fields = source.records.schema_fields()  # the raw table: the source's records.columns
    secrets = EnvSecrets({"CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-bench"})
    now = dt.datetime(2026, 11, 2, tzinfo=dt.UTC)
    day = dt.date(2026, 11, 1)

    def batches() -> Any:
        fetched = fetch_batches(
            source, day, tenant_id="acme", secrets=secrets, schema=fields, base_url=url
        )
        return stamp(fetched, run_id="run-bench", now=now)

    return batches, fields


def connector(url: str) -> dict[str, Any]:
    """Only the connector and stamping: batches consumed as they come, nothing kept."""
    import pyarrow.compute as pc

    batches, _ = _prepare(url)
    started = time.perf_counter()
    rows, total = 0, Decimal(0)
    for batch in batches():
        rows += batch.num_rows
        total += pc.sum(batch.column("amount_value")).as_py()
    return {
        "rows": rows,
        "seconds": time.perf_counter() - started,
        "peak_rss_mib": peak_mib(),
        "loaded": rows,
        "keys": None,
        "sum": str(total),
    }


def ours(url: str) -> dict[str, Any]:
    """Fetch one day from ``url`` and merge it into a fresh DuckDB file."""
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.config.loader import INGESTION_FIELDS
    from lib.ports import TableRef, WriteSpec
    from lib.schema import TableSpec

    batches, fields = _prepare(url)
    with tempfile.TemporaryDirectory() as tmp:
        wh = DuckDBWarehouse(Path(tmp) / "bench.duckdb")
        table = TableRef("acme_raw_openai", "costs")
        started = time.perf_counter()
        wh.ensure_dataset(table.dataset)
        wh.ensure_table(table, TableSpec(fields=(*fields, *INGESTION_FIELDS)))
        written = wh.write(table, batches(), WriteSpec(mode="merge", keys=KEYS))
        seconds = time.perf_counter() - started
        [check] = wh.query(
            "SELECT COUNT(*) AS n, COUNT(DISTINCT TO_JSON_STRING(STRUCT(bucket_start_time, "
            "project_id, line_item))) AS keys, SUM(amount_value) AS total "
            "FROM `acme_raw_openai`.`costs`"
        )
        wh.close()
    return {
        # a WriteResult since perf2; an int in older checkouts measured as --baseline
        "rows": getattr(written, "rows", written),
        "seconds": seconds,
        "peak_rss_mib": peak_mib(),
        "loaded": check["n"],
        "keys": check["keys"],
        "sum": str(check["total"]),
    }


def floor(url: str) -> dict[str, Any]:
    """GET + json.loads every page (timed), then one Arrow insert into DuckDB (timed)."""
    import duckdb
    import httpx
    import pyarrow as pa

    pages = []
    started = time.perf_counter()
    with httpx.Client(base_url=url) as client:
        params: dict[str, Any] = {"start_time": 1, "bucket_width": "1d"}
        while True:
            page = json.loads(client.get("/v1/organization/costs", params=params).content)
            pages.append(page)
            if not page["has_more"]:
                break
            params["page"] = page["next_page"]
    fetched = time.perf_counter() - started
    rows = [
        {
            "bucket_start_time": dt.datetime.fromtimestamp(b["start_time"], dt.UTC),
            "project_id": r["project_id"],
            "line_item": r["line_item"],
            "amount_value": Decimal(repr(r["amount"]["value"])),
        }
        for p in pages
        for b in p["data"]
        for r in b["results"]
    ]
    arrow = pa.Table.from_pylist(rows)
    del rows, pages
    with tempfile.TemporaryDirectory() as tmp, duckdb.connect(f"{tmp}/floor.duckdb") as con:
        con.register("arrow_rows", arrow)
        started = time.perf_counter()
        con.execute("CREATE TABLE costs AS SELECT * FROM arrow_rows")
        inserted = time.perf_counter() - started
        n, keys, total = con.execute(
            "SELECT COUNT(*), COUNT(DISTINCT (bucket_start_time, project_id, line_item)), "
            "SUM(amount_value) FROM costs"
        ).fetchone()
    return {
        "rows": n,
        "seconds": fetched + inserted,
        "fetch_seconds": fetched,
        "insert_seconds": inserted,
        "peak_rss_mib": peak_mib(),
        "loaded": n,
        "keys": keys,
        "sum": str(total),
    }


def shape(rows: int) -> dict[str, Any]:
    """Shaping alone: pyarrow (``shape_page``) and polars with exact decimals, same pages."""
    sys.path.insert(0, str(Path(__file__).parent))
    from page_server import pages

    from lib.config.source import RestSourceConfig, load_source
    from lib.providers.pages import build_plan, shape_page

    source = load_source(SOURCE_FILE)
    assert isinstance(source, RestSourceConfig)
    fields = source.records.schema_fields()
    plan = build_plan(source.records, fields, "bench")
    bodies = pages(rows)
    started = time.perf_counter()
    parsed = [json.loads(body, parse_float=Decimal) for body in bodies]
    as_decimal = time.perf_counter() - started
    started = time.perf_counter()
    texts = [json.loads(body, parse_float=str) for body in bodies]
    as_text = time.perf_counter() - started
    del texts
    list(shape_page(parsed[0], plan, 10_000))  # warm up, as for polars below
    started = time.perf_counter()
    shaped = sum(b.num_rows for p in parsed for b in shape_page(p, plan, 10_000))
    out: dict[str, Any] = {
        "rows": shaped,
        "pyarrow_seconds": time.perf_counter() - started,
        "parse_decimal_seconds": as_decimal,
        "parse_text_seconds": as_text,
    }
    try:
        import polars as pl
    except ImportError:
        return out
    decimal = pl.Decimal(38, 30)

    def frame(bucket: dict[str, Any]) -> Any:
        results = bucket["results"]
        n = len(results)
        return pl.DataFrame(
            {
                "bucket_start_time": pl.from_epoch(pl.Series([bucket["start_time"]] * n)),
                "bucket_end_time": pl.from_epoch(pl.Series([bucket["end_time"]] * n)),
                "organization_id": [r.get("organization_id") for r in results],
                "project_id": [r.get("project_id") for r in results],
                "line_item": [r.get("line_item") for r in results],
                "amount_value": pl.Series([r["amount"]["value"] for r in results], dtype=decimal),
                "amount_currency": [r["amount"]["currency"] for r in results],
            }
        ).to_arrow()

    frame(parsed[0]["data"][0])
    started = time.perf_counter()
    total = sum(frame(bucket).num_rows for page in parsed for bucket in page["data"])
    out["polars_seconds"] = time.perf_counter() - started
    narrow = pl.Series([Decimal("0.30000000000000004")], dtype=pl.Decimal(38, 9)).to_list()
    exact = narrow != [Decimal("0.300000000")]
    out.update(polars_rows=total, polars_version=pl.__version__, polars_refuses_loss=exact)
    return out


def main() -> None:
    """Run one mode and print its JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["ours", "connector", "floor", "shape"])
    parser.add_argument("--url")
    parser.add_argument("--rows", type=int, default=0)
    args = parser.parse_args()
    runs = {"ours": ours, "connector": connector, "floor": floor}
    result = shape(args.rows) if args.mode == "shape" else runs[args.mode](args.url)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).parent))
    __import__("use_source").apply()
    main()
