"""GCP billing export benchmark: export → raw → FOCUS silver, against a bare copy of the rows.

    python benchmarks/gcp_runs.py build --rows 1000000 --path F.duckdb  # the export, once
    python benchmarks/gcp_runs.py ours --path F.duckdb                  # ingest + silver
    python benchmarks/gcp_runs.py ctas --path F.duckdb                  # CREATE TABLE AS SELECT *
    python benchmarks/gcp_runs.py facts --path F.duckdb                 # rows and net of F

``build`` writes one export table with the real standard-export schema: the sandbox's export
generator (``lib.sandbox.gcp_export``: labelled projects, credits, corrections, tax rows, late
rows) for :data:`BASE_TENANTS` billing accounts over :data:`BASE_DAYS` days, then copies of
those rows shifted by whole multiples of the base period (usage, export and invoice month move
together) until the table holds ``rows`` rows. Every run works on its own copy of the file
(copied before the clock starts) with the warehouse's default memory limit and threads.

* **ours** — what the ``gcp_billing`` pipeline's steps do, without the bus: the ingest query
  (``lib.providers.gcp_export``) merged into ``raw_gcp.billing_export`` on ``row_key``, then
  ``focus_gcp.sql`` for every usage day into ``silver_cost.focus_daily`` (replace_window),
  through ``DuckDBWarehouse.write``. Seconds are the two writes, split in the result.
* **ctas** — ``CREATE TABLE … AS SELECT * FROM`` the export: the floor for moving the rows once.

Spill: a thread polls the size of DuckDB's temp directory (``<file>.tmp``) every 20 ms during
the timed part; ``ingest_spill_mib``/``silver_spill_mib`` are the peaks of each write.

Checked on every run (the harness compares them): rows in raw and in silver equal the export's,
and silver's exact ``SUM(BilledCost)`` equals the export's ``cost + credits`` summed exactly.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TENANT = "acme"
BASE_TENANTS = 40
BASE_DAYS = 90
BASE_START = dt.date(2020, 1, 1)
EXPORT = ("acme_billing_export", "gcp_billing_export_v1_BENCH")
NET_SQL = (
    "SELECT COUNT(*) AS n, SUM(CAST(cost AS DECIMAL(38, 9)) + COALESCE((SELECT "
    "SUM(CAST(c.amount AS DECIMAL(38, 9))) FROM UNNEST(credits) AS u(c)), 0)) AS net "
    'FROM "{0}"."{1}"'
)


def peak_mib() -> float:
    """This process's peak resident memory."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def build(rows: int, path: Path) -> dict[str, Any]:
    """Write the export table of ``rows`` rows into ``path``; its row count and exact net."""
    import duckdb

    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.ports import TableRef
    from lib.sandbox.gcp_export import EXPORT_FIELDS, append_rows, export_rows
    from lib.schema import TableSpec

    path.unlink(missing_ok=True)
    base = [
        row
        for tenant in range(BASE_TENANTS)
        for day in range(BASE_DAYS)
        for row in export_rows(f"t{tenant:02d}", BASE_START + dt.timedelta(days=day))
    ]
    wh = DuckDBWarehouse(path)
    seed = TableRef(EXPORT[0], "seed")
    wh.ensure_dataset(EXPORT[0])
    append_rows(wh, seed, base)
    wh.ensure_table(TableRef(*EXPORT), TableSpec(fields=EXPORT_FIELDS))
    wh.close()
    copies = -(-rows // len(base))
    with duckdb.connect(str(path)) as con:
        con.execute("SET TimeZone = 'UTC'")
        columns = [f.name for f in EXPORT_FIELDS]
        shifted = {
            "usage_start_time": "usage_start_time + shift",
            "usage_end_time": "usage_end_time + shift",
            "export_time": "export_time + shift",
            "invoice": "{'month': strftime(usage_start_time + shift, '%Y%m')}",
        }
        select = ", ".join(f"{shifted.get(c, c)} AS {c}" for c in columns)
        con.execute(
            f'INSERT INTO "{EXPORT[0]}"."{EXPORT[1]}" SELECT {select} FROM ('
            f"SELECT s.*, k, to_days(CAST(k * {BASE_DAYS} AS INTEGER)) AS shift FROM "
            f'"{EXPORT[0]}".seed AS s, range({copies}) AS r(k)) ORDER BY k LIMIT {rows}'
        )
        con.execute(f'DROP TABLE "{EXPORT[0]}".seed')
        con.execute("CHECKPOINT")
        n, net = con.execute(NET_SQL.format(*EXPORT)).fetchone()
    return {"rows": int(n), "net": str(net)}


class SpillGauge:
    """Peak bytes of DuckDB's spill files (its temp directory), polled on a thread."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.peak = 0

    def size(self) -> int:
        """Bytes in the temp directory now (0 while it does not exist)."""
        total = 0
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return 0
        for entry in entries:
            try:
                total += entry.stat().st_size
            except FileNotFoundError:
                continue
        return total

    @contextmanager
    def watching(self, every: float = 0.02) -> Iterator[SpillGauge]:
        """Poll until the block ends."""
        done = threading.Event()

        def poll() -> None:
            while not done.wait(every):
                self.peak = max(self.peak, self.size())

        thread = threading.Thread(target=poll, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            done.set()
            thread.join()
            self.peak = max(self.peak, self.size())

    def mib(self) -> float:
        """The peak in MiB."""
        return round(self.peak / 2**20, 1)


def facts(path: Path) -> dict[str, Any]:
    """Rows and exact net of an export file built earlier."""
    import duckdb

    with duckdb.connect(str(path), read_only=True) as con:
        n, net = con.execute(NET_SQL.format(*EXPORT)).fetchone()
    return {"rows": int(n), "net": str(net)}


def _copy(path: Path, scratch: Path) -> Path:
    target = scratch / "bench.duckdb"
    shutil.copyfile(path, target)
    return target


def ours(path: Path) -> dict[str, Any]:
    """Ingest the export into raw, then derive silver for every usage day."""
    from events.models import Window
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.config.loader import load_pipeline
    from lib.config.pipeline import IngestStep, TransformStep
    from lib.config.source import load_source
    from lib.providers.gcp_export import export_location, export_source, ingest_query, scan_from
    from lib.sql import qualify_for_tenant, table_sql
    from lib.steps.transform import transform_params

    pipeline = load_pipeline(REPO / "configs", TENANT, "gcp_billing")
    ingest, _, silver = pipeline.config.steps
    assert isinstance(ingest, IngestStep) and isinstance(silver, TransformStep)
    source = load_source(pipeline.path(ingest.source, "source"))
    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        wh = DuckDBWarehouse(_copy(path, Path(scratch)))
        raw = pipeline.table_ref(ingest.destination.dataset, ingest.destination.table)
        silver_ref = pipeline.table_ref(silver.destination.dataset, silver.destination.table)
        now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
        [days] = wh.query(
            f"SELECT MIN(DATE(usage_start_time)) AS first, MAX(DATE(usage_start_time)) AS last "
            f"FROM {table_sql(TableRefs.export())}"
        )
        window = Window(start=days["first"], end=days["last"])
        gauge = SpillGauge(Path(f"{scratch}/bench.duckdb.tmp"))
        with gauge.watching():
            started = time.perf_counter()
            for ref, target in ((raw, ingest.destination), (silver_ref, silver.destination)):
                wh.ensure_dataset(ref.dataset)
                wh.ensure_table(
                    ref,
                    pipeline.table_spec(target, "bench", ingestion=target is ingest.destination),
                )
            location = export_location(source, TENANT)
            rows = export_source(location, [t for t in wh.list_tables(location.dataset)])
            query = ingest_query(
                rows,
                window=window,
                read_from=scan_from(window, None, 1),
                run_id="run-bench",
                now=now,
            )
            loaded = wh.write(raw, query, ingest.destination.write_spec("run-bench"))
            ingested = time.perf_counter()
            ingest_spill, gauge.peak = gauge.mib(), 0
            all_days = sorted(loaded.dates)
            sql = qualify_for_tenant(pipeline.path(silver.sql, "sql").read_text(), TENANT)
            params = {
                "dates": all_days,
                "window_start": all_days[0],
                "window_end": all_days[-1],
                "run_id": "run-bench",
                "now": now,
            }
            from lib.ports import Query
            from lib.steps.transform import used_parameters

            wanted = used_parameters(sql)
            derived = wh.write(
                silver_ref,
                Query(sql, {k: v for k, v in params.items() if k in wanted}),
                silver.destination.write_spec("run-bench", all_days),
            )
            seconds = time.perf_counter() - started
        [check] = wh.query(
            f"SELECT (SELECT COUNT(*) FROM {table_sql(raw)}) AS raw_rows, COUNT(*) AS silver_rows, "
            f"SUM(BilledCost) AS billed FROM {table_sql(silver_ref)}"
        )
        wh.close()
    _ = transform_params
    return {
        "seconds": seconds,
        "ingest_seconds": ingested - started,
        "silver_seconds": seconds - (ingested - started),
        "peak_rss_mib": peak_mib(),
        "ingest_spill_mib": ingest_spill,
        "silver_spill_mib": gauge.mib(),
        "export_mib": round(path.stat().st_size / 2**20, 1),
        "raw_rows": int(check["raw_rows"]),
        "silver_rows": int(check["silver_rows"]),
        "net": str(check["billed"]),
        "written": loaded.rows + derived.rows,
    }


class TableRefs:
    """The export table as a TableRef."""

    @staticmethod
    def export() -> Any:
        from lib.ports import TableRef

        return TableRef(*EXPORT)


def ctas(path: Path) -> dict[str, Any]:
    """``CREATE TABLE AS SELECT *`` of the export, with the warehouse's settings."""
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse

    with tempfile.TemporaryDirectory(dir=path.parent) as scratch:
        wh = DuckDBWarehouse(_copy(path, Path(scratch)))
        wh.ensure_dataset("raw_copy")
        gauge = SpillGauge(Path(f"{scratch}/bench.duckdb.tmp"))
        with gauge.watching():
            started = time.perf_counter()
            wh.execute(f"CREATE TABLE raw_copy.export AS SELECT * FROM `{EXPORT[0]}`.`{EXPORT[1]}`")
            seconds = time.perf_counter() - started
        [check] = wh.query("SELECT COUNT(*) AS n FROM raw_copy.export")
        wh.close()
    return {
        "seconds": seconds,
        "peak_rss_mib": peak_mib(),
        "spill_mib": gauge.mib(),
        "raw_rows": int(check["n"]),
    }


def main() -> None:
    """Run one mode; print its JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["build", "facts", "ours", "ctas"])
    parser.add_argument("--path", type=Path, required=True)
    parser.add_argument("--rows", type=int, default=0)
    args = parser.parse_args()
    modes = {
        "build": lambda: build(args.rows, args.path),
        "facts": lambda: facts(args.path),
        "ours": lambda: ours(args.path),
        "ctas": lambda: ctas(args.path),
    }
    run = modes[args.mode]
    print(json.dumps(run(), default=lambda v: str(v) if isinstance(v, Decimal) else v))


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    sys.path.insert(0, str(Path(__file__).parent))
    __import__("use_source").apply()
    main()
