"""``convergence demo``: sandboxes up, every demo tenant's pipelines for the last days, summary.

Runs entirely on the embedded default (DuckDB file + in-process bus) against local sandbox
provider APIs on 127.0.0.1, so it needs no account and no network.

It writes to the default home (``CONVERGENCE_HOME``, else ``.convergence``), so ``convergence
runs``, ``status``, ``trace``, ``report`` and ``replay`` then work from the same folder with no
setting. A re-run starts clean when the home's state was created by the demo (its marker file)
or there is none; state the demo did not create is kept and the demo stops, saying so, unless
``--fresh`` asks to replace it. Other folders in the home (``simulate/``) are never touched.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.table import Table

from events.models import RunRequested, Window
from lib import metadata
from lib.clock import SystemClock
from lib.commands import delivering, drain, show_run_on
from lib.config.loader import Pipeline, load_pipeline_file, pipeline_files, tenants
from lib.config.pipeline import IngestStep, TransformStep
from lib.console import RunProgress, console
from lib.ports import Clock
from lib.report.html import default_path, write_report
from lib.report.model import build_report
from lib.report.text import print_report
from lib.runs import default_window, request_run
from lib.settings import Settings
from lib.sql import table_sql
from lib.wiring import Runtime, open_runtime

DEMO_MARKER = ".convergence-demo"
DEMO_FAULTS: Mapping[str, Any] = {"rate_limit": 2, "server_error": 1}
PROVIDERS = ("openai", "anthropic")
DEMO_BACKOFF_SCALE = "0.01"  # the topology's 10 s … 600 s redelivery backoff, 100 times faster
OVERBILLED_MODEL = "claude-opus-4-20250514"
"""The demo's sandbox over-bills this model by 10 % for acme on one day, so cost
reconciliation has something to find (docs/cost_intelligence.md#reconciliation)."""


def demo_environment(home: Path, base_url: str, tenant_ids: Iterable[str]) -> dict[str, str]:
    """Environment for the demo: local mode, sandbox URLs and the sandbox keys as secrets."""
    env = {
        "CONVERGENCE_MODE": "local",
        "CONVERGENCE_HOME": str(home),
        "CONVERGENCE_CONFIG_DIR": os.environ.get("CONVERGENCE_CONFIG_DIR", "configs"),
        "CONVERGENCE_BUS_BACKOFF_SCALE": DEMO_BACKOFF_SCALE,
        # Tenants' runs are delivered on two bus workers, each sending many small
        # statements: one DuckDB thread per statement lets each worker have a core, where
        # DuckDB's default (a thread per core for every statement) makes them contend.
        "CONVERGENCE_DUCKDB_THREADS": os.environ.get("CONVERGENCE_DUCKDB_THREADS", "1"),
        # the sample FOCUS exports (AWS, Azure) go here, never into a bucket folder of the home
        "CONVERGENCE_BUCKETS_DIR": str(home / DEMO_BUCKETS),
    }
    for provider in PROVIDERS:
        env[f"CONVERGENCE_{provider.upper()}_BASE_URL"] = base_url
    for tenant in tenant_ids:
        env[f"CONVERGENCE_SECRET_{tenant.upper()}_OPENAI_ADMIN_KEY"] = f"sk-sandbox-{tenant}"
        env[f"CONVERGENCE_SECRET_{tenant.upper()}_ANTHROPIC_ADMIN_KEY"] = f"sk-sandbox-{tenant}"
    return env


DEMO_BUCKETS = "demo_buckets"
"""The demo's stand-in for the tenants' export buckets (sample AWS and Azure FOCUS files)."""
STATE = ("convergence.duckdb", "convergence.duckdb.wal", "bus", "traces", "reports", DEMO_BUCKETS)
"""What a run leaves in a home (and what a re-run of the demo replaces)."""


def fresh_home(home: Path, *, fresh: bool = False) -> list[str]:
    """Make ``home`` ready for the demo; returns the entries of ``home`` it keeps.

    The state of a previous demo (marker file present) is replaced; so is any state when
    ``fresh``. Anything else in the home is kept.

    Raises:
        SystemExit: the home holds state the demo did not create and ``fresh`` is not set.
    """
    home.mkdir(parents=True, exist_ok=True)
    marker = home / DEMO_MARKER
    state = [name for name in STATE if (home / name).exists()]
    if state and not marker.exists() and not fresh:
        raise SystemExit(
            f"{home} holds state the demo did not create ({', '.join(state)}): the demo keeps "
            "it and stops. Run `convergence demo --fresh` to replace it with the demo's, or "
            "`convergence demo --home DIR` (or CONVERGENCE_HOME=DIR) to run the demo elsewhere."
        )
    for name in state:
        path = home / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    marker.write_text("created by convergence demo: a re-run of the demo replaces this state\n")
    return sorted(p.name for p in home.iterdir() if p.name not in (DEMO_MARKER, *STATE))


def demo_pipelines(config_dir: Path) -> list[Pipeline]:
    """Every pipeline of every tenant folder."""
    out = []
    for tenant in tenants(config_dir):
        tenant_dir = config_dir / tenant
        out += [load_pipeline_file(p, tenant, tenant_dir) for p in pipeline_files(tenant_dir)]
    return [p for p in out if p.config.enabled]


def run_demo(
    home: Path,
    *,
    days: int = 7,
    faults: bool = False,
    clock: Clock | None = None,
    fresh: bool = False,
) -> int:
    """Run the demo and print its summary; exit code 0 when every run completed."""
    from lib.sandbox.server import SandboxServer

    config_dir = Path(os.environ.get("CONVERGENCE_CONFIG_DIR", "configs"))
    pipelines = demo_pipelines(config_dir)
    kept = fresh_home(home, fresh=fresh)
    if kept:
        console.print(f"{home}: starting the demo's state afresh, keeping {', '.join(kept)}")
    with SandboxServer(faults=dict(DEMO_FAULTS) if faults else None) as sandbox:
        tenant_ids = sorted({p.tenant_id for p in pipelines})
        settings = Settings.from_env(demo_environment(home, sandbox.base_url, tenant_ids))
        with (
            RunProgress() as progress,
            delivering(settings, progress, clock=clock or SystemClock(), backoff_scale=0.01) as rt,
        ):
            window = Window(**default_window(rt, days).model_dump())
            sandbox.faults.set(overbill=overbill(window))
            # The export holds what Google had exported by now: late rows are still missing,
            # exactly as in a real deployment on this morning.
            prepare_sources(rt, pipelines, window, as_of=rt.clock.now())
            providers, gold = split_gold(pipelines)
            # 1) every provider pipeline (ingest → DQ → FOCUS silver), delivered to the end;
            requested = request_all(rt, providers, window)
            drain(rt, requested, progress)
            # 2) only then the gold pipelines, which read the complete silver table.
            gold_requested = request_all(rt, gold, window)
            drain(rt, gold_requested, progress)
            requested += gold_requested
    with open_runtime(settings) as rt:
        codes = [show_run_on(rt, e.tenant_id, e.pipeline_logging_id) for e in requested]
        print_summary(rt, pipelines)
        reports = print_gold_summary(rt, sorted({p.tenant_id for p in gold}), home)
        print_intelligence_summary(rt, sorted({p.tenant_id for p in gold}))
    console.print(f"\nDuckDB file: [bold]{settings.duckdb_path.resolve()}[/bold]")
    for path in reports:
        console.print(f"Spend report: [bold]{path.resolve()}[/bold]")
    console.print(next_steps(home, requested))
    return max(codes, default=0)


def overbill(window: Window) -> dict[str, Any]:
    """The sandbox switch planting one over-billed day for acme (two days before the end)."""
    day = max(window.start, window.end - dt.timedelta(days=2))
    return {"day": day.isoformat(), "model": OVERBILLED_MODEL, "factor": "1.1", "tenant": "acme"}


def print_intelligence_summary(rt: Runtime, tenant_ids: list[str]) -> None:
    """One line per tenant: what reconciliation flagged, the priciest model, each budget."""
    table = Table("tenant", "reconciliation", "top cost per 1M tokens", "budgets",
                  title="Cost intelligence")  # fmt: skip
    for tenant in tenant_ids:
        intel = build_report(rt.warehouse, tenant).intel
        checked = sum(int(r["line_items"]) for r in intel.reconciliation)
        recon = f"{checked} line items, {intel.flagged} flagged"
        unit = "-"
        if intel.unit_costs:
            top = max(intel.unit_costs, key=lambda r: r["cost_per_million_tokens"] or 0)
            unit = f"{top['model']}: {top['cost_per_million_tokens']:.2f}/1M"
        budgets = "; ".join(
            f"{b['budget_name']} {b['actual_percent'] or 0:.0f}% (forecast "
            f"{b['forecast_percent'] or 0:.0f}%)"
            for b in intel.budgets
        )
        table.add_row(tenant, recon, unit, budgets or "-")
    console.print(table)
    console.print(
        f"The sandbox over-bills {OVERBILLED_MODEL} for acme on one day: reconciliation "
        "flags those line items (see the report)."
    )


def next_steps(home: Path, requested: list[RunRequested]) -> str:
    """What to type next, from the same folder (the home is the default one, or named)."""
    default = home == Settings.from_env().home
    prefix = "" if default else f"CONVERGENCE_HOME={home} "
    run = next((e for e in requested if e.tenant_id == "acme"), requested[0] if requested else None)
    lines = ["\nNext, from this folder:"]
    if run is not None:
        tenant = run.tenant_id
        lines += [
            f"  {prefix}convergence runs --tenant {tenant}",
            f"  {prefix}convergence status {run.pipeline_logging_id} --tenant {tenant}",
            f"  {prefix}convergence trace {run.pipeline_logging_id} --tenant {tenant}",
            f"  {prefix}convergence report --tenant {tenant}",
            f"  {prefix}convergence replay --tenant {tenant} --dry-run",
        ]
    return "\n".join(lines)


def split_gold(pipelines: list[Pipeline]) -> tuple[list[Pipeline], list[Pipeline]]:
    """(provider pipelines, gold pipelines): gold ones are labelled ``layer: gold``."""
    gold = [p for p in pipelines if p.config.labels.get("layer") == "gold"]
    return [p for p in pipelines if p not in gold], gold


def request_all(rt: Runtime, pipelines: list[Pipeline], window: Window) -> list[RunRequested]:
    """Request one demo run per pipeline for ``window``."""
    return [
        request_run(rt, p.tenant_id, p.config.pipeline_id, window, trigger_by="demo")
        for p in pipelines
    ]


def print_gold_summary(rt: Runtime, tenant_ids: list[str], home: Path) -> list[Path]:
    """Each tenant's gold spend tables; write each HTML report and return their paths."""
    paths = []
    for tenant in tenant_ids:
        report = build_report(rt.warehouse, tenant)
        print_report(report, console)
        paths.append(write_report(report, default_path(home, report)))
    return paths


def prepare_sources(
    rt: Runtime, pipelines: list[Pipeline], window: Window, *, as_of: dt.datetime | None
) -> None:
    """Write the local stand-ins of warehouse-resident sources (GCP billing export) and of
    bucket-delivered ones (AWS and Azure FOCUS exports, into the local bucket folder).

    Args:
        rt: where to write them.
        pipelines: the pipelines whose sources to prepare.
        window: usage days to write.
        as_of: keep only export rows exported by then, as a real export would hold them at
            that moment (the demo passes its clock's now); None writes every row, as if every
            late row had already landed.
    """
    for pipeline in pipelines:
        for index, step in enumerate(pipeline.config.steps):
            if not isinstance(step, IngestStep):
                continue
            source = pipeline.source(index)
            if source.kind == "bigquery_export":
                from lib.sandbox.gcp_export import write_export

                write_export(rt.warehouse, pipeline.tenant_id, source, window, as_of=as_of)
            elif source.kind == "focus_files":
                from lib.sandbox.focus_exports import write_source

                write_source(rt.settings, pipeline.tenant_id, source, window.end, as_of=as_of)


def destinations(pipeline: Pipeline) -> list[tuple[str, str]]:
    """(dataset, table) of every step destination of a pipeline."""
    return [
        (s.destination.dataset, s.destination.table)
        for s in pipeline.config.steps
        if isinstance(s, IngestStep | TransformStep)
    ]


def print_summary(rt: Runtime, pipelines: list[Pipeline]) -> None:
    """Rows per table, DQ outcome per tenant."""
    rows = Table("tenant", "table", "rows", title="Tables")
    for pipeline in pipelines:
        for dataset, table in destinations(pipeline):
            ref = pipeline.table_ref(dataset, table)
            count = "-"
            if rt.warehouse.table_exists(ref):
                count = str(
                    rt.warehouse.query(f"SELECT COUNT(*) AS n FROM {table_sql(ref)}")[0]["n"]
                )
            rows.add_row(pipeline.tenant_id, str(ref), count)
    console.print(rows)
    dq = Table(
        "tenant",
        "expectations",
        "passed",
        "failed (critical)",
        "failed (warning)",
        title="Data quality",
    )
    for tenant in sorted({p.tenant_id for p in pipelines}):
        r = rt.warehouse.query(
            "SELECT COUNT(*) AS n, COUNTIF(success) AS ok, "
            "COUNTIF(NOT success AND severity = 'critical') AS crit, "
            "COUNTIF(NOT success AND severity = 'warning') AS warn "
            f"FROM {table_sql(metadata.metadata_table(tenant, 'dq_results'))}"
        )[0]
        dq.add_row(tenant, str(r["n"]), str(r["ok"]), str(r["crit"]), str(r["warn"]))
    console.print(dq)
