"""The dlt reference for REST ingest: ``rest_api`` source + merge into DuckDB; one JSON line.

Runs in its own venv (``.nox/bench-dlt``, dlt and its DuckDB extra only) and imports nothing
from this project. Same server, same day, same rows and merge keys as ``ingest_runs.py ours``:
the ``rest_api`` source follows OpenAI's cursor (``next_page`` → ``page``) and selects the
``data`` buckets; a yield map emits one row per result with its bucket's start and end, as this
project's ``scope: parent`` columns do. dlt reads JSON numbers as floats (it has no exact
path from JSON text), so its sum is compared to 6 decimal places.

    .nox/bench-dlt/bin/python benchmarks/dlt_ingest.py --url http://127.0.0.1:N --format jsonl
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

START = int(dt.datetime(2026, 11, 1, tzinfo=dt.UTC).timestamp())
KEYS = ["bucket_start_time", "project_id", "line_item"]


def rows(bucket: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One row per cost result, carrying its bucket's bounds."""
    start = dt.datetime.fromtimestamp(bucket["start_time"], dt.UTC)
    end = dt.datetime.fromtimestamp(bucket["end_time"], dt.UTC)
    for result in bucket["results"]:
        yield {
            "bucket_start_time": start,
            "bucket_end_time": end,
            "organization_id": result.get("organization_id"),
            "project_id": result.get("project_id"),
            "line_item": result.get("line_item"),
            "amount_value": result["amount"]["value"],
            "amount_currency": result["amount"]["currency"],
        }


def run(url: str, file_format: str) -> dict[str, Any]:
    """Load one day through dlt; report time, peak RSS and what was loaded."""
    import dlt
    import duckdb
    from dlt.sources.rest_api import rest_api_resources

    config: Any = {
        "client": {
            "base_url": url,
            "paginator": {"type": "cursor", "cursor_path": "next_page", "cursor_param": "page"},
        },
        "resources": [
            {
                "name": "costs",
                "endpoint": {
                    "path": "/v1/organization/costs",
                    "params": {
                        "start_time": START,
                        "end_time": START + 86_400,
                        "bucket_width": "1d",
                    },
                    "data_selector": "data",
                },
            }
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "dlt.duckdb"
        [resource_] = rest_api_resources(config)
        costs = resource_.add_yield_map(rows)
        costs.apply_hints(primary_key=KEYS, write_disposition="merge")
        pipeline = dlt.pipeline(
            pipeline_name="bench",
            destination=dlt.destinations.duckdb(str(path)),
            dataset_name="raw_openai",
            pipelines_dir=str(Path(tmp) / "pipelines"),
        )
        started = time.perf_counter()
        pipeline.run(costs, loader_file_format=file_format)
        seconds = time.perf_counter() - started
        with duckdb.connect(str(path), read_only=True) as con:
            n, keys, total = con.execute(
                "SELECT COUNT(*), COUNT(DISTINCT (bucket_start_time, project_id, line_item)), "
                "SUM(amount_value) FROM raw_openai.costs"
            ).fetchone()
    return {
        "rows": n,
        "seconds": seconds,
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        "loaded": n,
        "keys": keys,
        "sum": f"{total:.6f}",
        "format": file_format,
        "version": dlt.__version__,
    }


def main() -> None:
    """Parse arguments, run once, print the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--url", required=True)
    parser.add_argument("--format", default="jsonl", choices=["jsonl", "parquet", "insert_values"])
    args = parser.parse_args()
    print(json.dumps(run(args.url, args.format)))


if __name__ == "__main__":
    main()
