"""What the run commands do: request, deliver, list, show, recover and replay runs; report.

Each command opens the runtime it needs (``lib/wiring.py``): in cloud mode it publishes and
returns (the Cloud Run handlers do the work); on the embedded default it opens the local
runtime, delivers the bus here with a live bar per run (``lib/console.py``), then shows how
each run ended. ``convergence report`` reads a tenant's gold tables into a spend report
(``lib/report/``), prints it and writes its HTML page.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from events.models import RunRequested, Window
from lib import metadata
from lib.config.loader import load_pipeline
from lib.console import (
    RunProgress,
    console,
    err_console,
    print_letters,
    print_recoveries,
    print_run_view,
    print_runs,
)
from lib.ids import check_slug
from lib.ports import Clock, DeadLetter, DeadLetterFilter
from lib.report.html import default_path, write_report
from lib.report.model import build_report
from lib.report.text import print_report
from lib.runs import request_run
from lib.settings import Settings
from lib.states import RunStatus
from lib.wiring import LocalRuntime, Runtime, handler_functions, open_local_runtime, open_runtime

DELIVERY_WORKERS = 2
"""Threads delivering the local bus (the machines this runs on have two cores)."""


@contextmanager
def delivering(
    settings: Settings,
    progress: RunProgress,
    *,
    clock: Clock | None = None,
    backoff_scale: float | None = None,
) -> Iterator[LocalRuntime]:
    """The local runtime, installed, whose handlers advance ``progress`` as runs move."""
    from events.topology import load_topology

    handlers = progress.wrap(handler_functions(load_topology()))
    with open_local_runtime(
        settings, handlers=handlers, clock=clock, backoff_scale=backoff_scale
    ) as rt:
        yield rt


def drain(rt: LocalRuntime, requested: Sequence[RunRequested], progress: RunProgress) -> None:
    """Deliver every pending event on the local bus, then mark each run's bar final."""
    for event in requested:
        steps = len(load_pipeline(rt.config_dir, event.tenant_id, event.pipeline_id).config.steps)
        progress.add(event.pipeline_logging_id, f"{event.tenant_id}/{event.pipeline_id}", steps)
    rt.bus.run_until_idle(workers=DELIVERY_WORKERS)
    for event in requested:
        status = metadata.run_status(rt.warehouse, event.tenant_id, event.pipeline_logging_id)
        progress.finish(event.pipeline_logging_id, status["status"] if status else "UNKNOWN")


def run_pipelines(
    settings: Settings,
    targets: Sequence[tuple[str, str]],
    window: Window | None,
    *,
    trigger_by: str = "cli",
) -> int:
    """Request runs; in local mode deliver them here and print each run's outcome."""
    if settings.mode == "cloud":
        with open_runtime(settings) as rt:
            for tenant, pipeline in targets:
                event = request_run(rt, tenant, pipeline, window, trigger_by=trigger_by)
                console.print(f"requested {event.pipeline_logging_id} ({tenant}/{pipeline})")
        return 0
    with RunProgress() as progress, delivering(settings, progress) as local:
        requested = [request_run(local, t, p, window, trigger_by=trigger_by) for t, p in targets]
        drain(local, requested, progress)
    with open_runtime(settings) as rt:
        codes = [show_run_on(rt, e.tenant_id, e.pipeline_logging_id) for e in requested]
    return max(codes, default=0)


def show_runs(
    settings: Settings,
    tenant: str,
    *,
    status: RunStatus | None,
    since: dt.datetime | None,
    limit: int = 50,
) -> int:
    """Print a tenant's runs (newest first); a run that stopped progressing shows as STALLED."""
    from lib.lifecycle import run_state

    stored = None if status == RunStatus.STALLED else status
    with open_runtime(settings) as rt:
        rt.ensure_tenant(tenant)
        rows = metadata.list_runs(rt.warehouse, tenant, status=stored, since=since, limit=limit)
        shown = []
        for r in rows:
            state = None
            if not RunStatus(r["status"]).terminal:
                state = run_state(rt.warehouse, rt.clock, tenant, r["pipeline_logging_id"])
            current = state.status if state else RunStatus(r["status"])
            if status == RunStatus.STALLED and current != RunStatus.STALLED:
                continue
            shown.append((r, current, state))
    note = None
    if since is not None:
        note = f"{len(shown)} run(s) requested since {since:%Y-%m-%d %H:%M} UTC"
    print_runs(tenant, shown, note)
    return 0


def show_run(settings: Settings, tenant: str, run_id: str) -> int:
    """Print one run; exit code 1 when it failed or is unknown."""
    with open_runtime(settings) as rt:
        return show_run_on(rt, tenant, run_id)


def show_run_on(rt: Runtime, tenant: str, run_id: str) -> int:
    """Print one run from an open runtime; exit code 1 unless it completed."""
    from lib.ids import check_run_id, check_slug
    from lib.run_view import load_run_view

    check_slug(tenant, "tenant id")
    check_run_id(run_id)
    rt.ensure_tenant(tenant)
    view = load_run_view(rt, tenant, run_id)
    if view is None:
        console.print(f"[red]no run {run_id} for tenant {tenant}[/red]")
        return 1
    print_run_view(view)
    if view.stalled_note:
        console.print(
            f"[red]stalled:[/red] {view.stalled_note}. "
            f"Re-drive it: convergence recover --tenant {tenant} --run {run_id}",
            highlight=False,
        )
    return 0 if view.status == RunStatus.COMPLETE else 1


def recover_runs(
    settings: Settings,
    tenant: str,
    *,
    run_id: str | None,
    force: bool,
    dry_run: bool,
) -> int:
    """Re-drive a tenant's stalled runs (or one run); locally, resume the bus journal first."""
    from lib.recovery import recover

    if settings.mode == "cloud":
        with open_runtime(settings) as rt:
            print_recoveries(
                recover(rt, tenant, run_id=run_id, force=force, dry_run=dry_run), dry_run
            )
        return 0
    with RunProgress() as progress, delivering(settings, progress) as local:
        if not dry_run:
            local.bus.run_until_idle(workers=DELIVERY_WORKERS)  # journaled messages first
        plans = recover(local, tenant, run_id=run_id, force=force, dry_run=dry_run)
        print_recoveries(plans, dry_run)
        if not dry_run and plans:
            local.bus.run_until_idle(workers=DELIVERY_WORKERS)
    if dry_run or not plans:
        return 0
    with open_runtime(settings) as rt:
        return max(show_run_on(rt, tenant, p.run_id) for p in plans)


def replay(
    settings: Settings,
    *,
    tenant: str | None,
    pipeline: str | None,
    since: dt.datetime | None,
    until: dt.datetime | None,
    dry_run: bool,
) -> int:
    """Replay dead letters; in local mode also deliver them (and any journaled leftovers)."""
    selection = DeadLetterFilter(tenant_id=tenant, pipeline_id=pipeline, since=since, until=until)
    if settings.mode == "cloud":
        with open_runtime(settings) as rt:
            moved = rt.bus.replay(selection, dry_run=dry_run)
            print_letters(moved, dry_run)
            if not dry_run:
                _note_replayed(rt, moved)
        return 0
    with RunProgress() as progress, delivering(settings, progress) as local:
        moved = local.bus.replay(selection, dry_run=dry_run)
        print_letters(moved, dry_run)
        if not dry_run:
            _note_replayed(local, moved)
        pending = len(local.bus.pending())
        if pending:
            console.print(f"{pending} delivery(ies) waiting in the local bus journal")
        if dry_run or not (moved or pending):
            return 0
        local.bus.run_until_idle(workers=DELIVERY_WORKERS)
        again = _dead_lettered_again(local, selection, moved)
        runs = _runs_to_show(local, moved)
    with open_runtime(settings) as rt:
        codes = [show_run_on(rt, t, r) for t, r in sorted(runs)]
    return max([*codes, 1 if again else 0])


def _note_replayed(rt: Runtime, moved: Sequence[DeadLetter]) -> None:
    """Record on each run a replayed letter belongs to that (and by whom) it was replayed."""
    from lib.recovery import note_redrive

    for tenant, run in sorted(_runs_to_show(rt, moved)):
        note_redrive(rt, tenant, run, "replay")


def _dead_lettered_again(
    rt: Runtime, selection: DeadLetterFilter, moved: Sequence[DeadLetter]
) -> int:
    """How many replayed messages came straight back (still poison); says so."""
    back = {letter.data for letter in rt.bus.dead_letters(selection)}
    again = sum(1 for m in moved if m.data in back)
    if again:
        err_console.print(
            f"[yellow]{again} replayed message(s) were dead-lettered again[/yellow]: see "
            "`convergence replay --dry-run` for why",
            highlight=False,
        )
    return again


def _runs_to_show(rt: Runtime, moved: Sequence[DeadLetter]) -> set[tuple[str, str]]:
    """(tenant, run) of replayed letters that name a valid run of a configured tenant."""
    from events.ids import run_id_problem, slug_problem
    from lib.errors import UnknownTenant
    from lib.steps.poison import check_tenant

    runs = set()
    for m in moved:
        tenant, run = m.attributes.get("tenant_id"), m.attributes.get("run_id")
        if not tenant or not run or slug_problem(tenant, "tenant id") or run_id_problem(run):
            continue
        try:
            check_tenant(rt.config_dir, tenant)  # showing a run must create nothing
        except UnknownTenant:
            continue
        runs.add((tenant, run))
    return runs


def run_report(settings: Settings, tenant_id: str, month: dt.date | None, out: Path | None) -> int:
    """``convergence report``: print the spend tables and write the HTML file.

    Args:
        settings: picks the warehouse (local DuckDB file or BigQuery).
        tenant_id: the tenant.
        month: any day of the month to report; default the newest month with spend.
        out: the HTML file; default ``{home}/reports/{tenant}-{YYYY-MM}.html``.

    Returns:
        0 (errors raise).

    Raises:
        ConfigError: the tenant has no gold tables yet.
    """
    check_slug(tenant_id, "tenant id")
    with open_runtime(settings) as rt:
        report = build_report(rt.warehouse, tenant_id, month)
    print_report(report, console)
    path = write_report(report, out or default_path(settings.home, report))
    console.print(f"Report: [bold]{path.resolve()}[/bold]")
    return 0
