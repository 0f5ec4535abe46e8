"""Helpers for silver/gold tests: a local platform that ran every provider and then gold.

``spend_platform`` builds the same local platform as ``tests.platform.make_platform``
(sandbox + DuckDB + in-process bus + fixed clock) but for a whole module, runs every
provider pipeline of the tenants for a window, drains, then runs ``spend_reporting``.
Expected values are computed here independently of the pipelines: straight from the
sandbox's JSON and from the GCP export fixture's rows.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx

from events.models import Window
from lib import metadata
from lib.clock import FixedClock
from lib.demo import demo_pipelines, prepare_sources, split_gold
from lib.runs import request_run
from lib.settings import Settings
from lib.sql import table_sql
from tests.platform import CONFIGS, NOW, Platform

PROVIDERS = ("openai", "anthropic", "gcp")
"""Providers every demo tenant has (the FOCUS file providers differ: acme aws, globex azure)."""
END = dt.date(2026, 11, 19)


def window(days: int, end: dt.date = END) -> Window:
    """The ``days`` days ending on ``end``."""
    return Window(start=end - dt.timedelta(days=days - 1), end=end)


def platform_settings(platform: Platform) -> Settings:
    """The settings of a running platform (where its local buckets are)."""
    return platform.rt.settings


@contextmanager
def spend_platform(
    home: Path, tenants: Sequence[str] = ("acme", "globex"), faults: dict[str, Any] | None = None
) -> Iterator[Platform]:
    """A running local platform over the repository's configs (closed on exit)."""
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.demo import demo_environment
    from lib.sandbox.server import SandboxServer
    from lib.settings import Settings
    from lib.wiring import build_runtime, install

    sandbox = SandboxServer(faults=faults)
    env = demo_environment(home, sandbox.base_url, tenants)
    env["CONVERGENCE_CONFIG_DIR"] = str(CONFIGS)
    settings = Settings.from_env(env)
    home.mkdir(parents=True, exist_ok=True)
    clock = FixedClock(NOW)
    warehouse = DuckDBWarehouse(settings.duckdb_path)
    rt = build_runtime(settings, clock=clock, warehouse=warehouse)
    install(rt)
    try:
        yield Platform(rt, sandbox, clock)
    finally:
        install(None)
        rt.close()
        sandbox.stop()


def _activate(platform: Platform) -> None:
    """Handlers use the installed runtime: install this platform's (several may be open)."""
    from lib.wiring import install

    install(platform.rt)


def run_everything(platform: Platform, span: Window, tenants: Sequence[str]) -> list[str]:
    """Every provider pipeline, drained, then every gold pipeline; returns the run ids."""
    _activate(platform)
    pipelines = [p for p in demo_pipelines(CONFIGS) if p.tenant_id in tenants]
    prepare_sources(platform.rt, pipelines, span, as_of=None)  # every late row has landed
    providers, gold = split_gold(pipelines)
    runs = []
    for group in (providers, gold):
        events = [request_run(platform.rt, p.tenant_id, p.config.pipeline_id, span) for p in group]
        platform.drain()
        for event in events:
            run_id = event.pipeline_logging_id
            status = metadata.run_status(platform.rt.warehouse, event.tenant_id, run_id)
            assert status is not None and status["status"] == "COMPLETE", status
            runs.append(run_id)
    return runs


def run_pipeline(platform: Platform, tenant: str, pipeline: str, span: Window) -> str:
    """Run one pipeline to the end; assert it completed; return its run id."""
    _activate(platform)
    event = request_run(platform.rt, tenant, pipeline, span)
    platform.drain()
    status = metadata.run_status(platform.rt.warehouse, tenant, event.pipeline_logging_id)
    assert status is not None and status["status"] == "COMPLETE", status
    return event.pipeline_logging_id


def rows(platform: Platform, sql: str, **params: Any) -> list[dict[str, Any]]:
    """Query the platform's warehouse."""
    return platform.rt.warehouse.query(sql, params)


def silver(tenant: str) -> str:
    """The quoted silver FOCUS table of ``tenant``."""
    from lib.ports import TableRef

    return table_sql(TableRef(f"{tenant}_silver_cost", "focus_daily"))


def gold(tenant: str, table: str) -> str:
    """A quoted gold table of ``tenant``."""
    from lib.ports import TableRef

    return table_sql(TableRef(f"{tenant}_gold_reporting", table))


# --- independent expectations -----------------------------------------------------------


def _pages(base_url: str, path: str, params: dict[str, Any], headers: dict[str, str]) -> Any:
    page = None
    while True:
        query = {**params, **({"page": page} if page else {})}
        response = httpx.get(f"{base_url}{path}", params=query, headers=headers)
        response.raise_for_status()
        body = json.loads(response.content, parse_float=Decimal)
        yield from body["data"]
        if not body["has_more"]:
            return
        page = body["next_page"]


def expected_openai(base_url: str, tenant: str, day: dt.date) -> Decimal:
    """OpenAI's total cost of ``day`` from the sandbox's JSON (floats read as decimals)."""
    start = int(dt.datetime.combine(day, dt.time(), dt.UTC).timestamp())
    params = {
        "start_time": start,
        "end_time": start + 86400,
        "bucket_width": "1d",
        "group_by": ["project_id", "line_item"],
    }
    headers = {"Authorization": f"Bearer sk-sandbox-{tenant}"}
    buckets = _pages(base_url, "/v1/organization/costs", params, headers)
    return sum((r["amount"]["value"] for b in buckets for r in b["results"]), Decimal(0))


def expected_anthropic(base_url: str, tenant: str, day: dt.date) -> Decimal:
    """Anthropic's total cost of ``day`` in dollars from the sandbox's cent strings."""
    start = dt.datetime.combine(day, dt.time(), dt.UTC)
    params = {
        "starting_at": start.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "ending_at": (start + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "bucket_width": "1d",
        "group_by[]": ["workspace_id", "description"],
    }
    headers = {"x-api-key": f"sk-sandbox-{tenant}", "anthropic-version": "2023-06-01"}
    buckets = _pages(base_url, "/v1/organizations/cost_report", params, headers)
    cents = sum((Decimal(r["amount"]) for b in buckets for r in b["results"]), Decimal(0))
    return cents / 100


def expected_gcp(tenant: str, day: dt.date) -> Decimal:
    """Google Cloud's net cost (cost + credits) of ``day`` from the export fixture's rows."""
    from lib.sandbox.gcp_export import export_rows

    total = Decimal(0)
    for row in export_rows(tenant, day):
        total += Decimal(str(row["cost"]))
        total += sum((Decimal(str(c["amount"])) for c in row["credits"]), Decimal(0))
    return total


def focus_sources(tenant: str) -> list[Any]:
    """The ``focus_files`` sources of a tenant's pipelines (AWS, Azure exports)."""
    from lib.config.focus_files import FocusFilesSourceConfig
    from lib.config.pipeline import IngestStep

    found = []
    for pipeline in demo_pipelines(CONFIGS):
        for index, step in enumerate(pipeline.config.steps):
            if pipeline.tenant_id == tenant and isinstance(step, IngestStep):
                source = pipeline.source(index)  # with the tenant's bucket and prefix
                if isinstance(source, FocusFilesSourceConfig):
                    found.append(source)
    return found


def file_rows(path: Path) -> list[dict[str, Any]]:
    """The rows of a delivered export file, every value as the file holds it."""
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    import csv

    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def exact(value: Any) -> Decimal:
    """A file's number as the decimal it was written as (a double's shortest repr)."""
    return Decimal(repr(value)) if isinstance(value, float) else Decimal(value)


def expected_focus(settings: Settings, tenant: str) -> dict[tuple[dt.date, str], Decimal]:
    """(charge day, provider) → the sum of BilledCost over every export file in the tenant's
    (local) buckets: the truth of the FOCUS file sources, read from the files themselves."""
    out: dict[tuple[dt.date, str], Decimal] = {}
    for source in focus_sources(tenant):
        folder = Path(settings.bucket_folder(source.bucket, source.prefix))
        for path in sorted(folder.rglob(f"*.{source.format}")):
            for row in file_rows(path):
                day = dt.date.fromisoformat(str(row["ChargePeriodStart"])[:10])
                key = (day, source.provider)
                out[key] = out.get(key, Decimal(0)) + exact(row["BilledCost"])
    return out


def expected_daily(
    base_url: str, tenant: str, span: Window, settings: Settings | None = None
) -> dict[tuple[dt.date, str], Decimal]:
    """(day, provider) → expected BilledCost for every day of ``span`` (and, with the
    platform's ``settings``, every day the tenant's FOCUS export files hold: a delivery holds
    whole billing periods)."""
    out = {}
    for day in span.days():
        out[(day, "openai")] = expected_openai(base_url, tenant, day)
        out[(day, "anthropic")] = expected_anthropic(base_url, tenant, day)
        out[(day, "gcp")] = expected_gcp(tenant, day)
    if settings is not None:
        out.update(expected_focus(settings, tenant))
    return out
