"""What the CLI shows: runs with live progress, run lists, one run's detail, replays."""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from events.codec import CodecError, from_cloudevent
from events.models import RunRequested, Window
from lib import metadata
from lib.config.loader import load_pipeline
from lib.ports import DeadLetterFilter
from lib.runs import request_run
from lib.settings import Settings
from lib.wiring import Runtime, build_runtime, handler_functions, install


def _console(*, stderr: bool = False) -> Console:
    """A rich console; off a terminal (CI logs, pipes) lines wrap at 160, not 80, columns."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


console = _console()
err_console = _console(stderr=True)


@contextmanager
def local_runtime(
    settings: Settings, progress: Progress | None = None, **kw: Any
) -> Iterator[Runtime]:
    """A local runtime, installed for handlers, whose handlers advance ``progress``."""
    from events.topology import load_topology

    handlers = handler_functions(load_topology())
    tasks: dict[str, Any] = {}
    if progress is not None:
        handlers = {name: _tracked(fn, progress, tasks) for name, fn in handlers.items()}
    rt = build_runtime(settings, handlers=handlers, **kw)
    rt.progress_tasks = tasks  # type: ignore[attr-defined]
    install(rt)
    try:
        yield rt
    finally:
        install(None)
        rt.close()


def _tracked(
    fn: Callable[[Any], object], progress: Progress, tasks: dict[str, Any]
) -> Callable[[Any], object]:
    def run(cloud_event: Any) -> object:
        try:
            event = from_cloudevent(cloud_event)
        except CodecError:  # poison: the handler dead-letters it
            return fn(cloud_event)
        task = tasks.get(event.pipeline_logging_id)
        if task is not None and event.next_step is not None:
            progress.update(task, completed=event.next_step.index, step=event.next_step.name)
        return fn(cloud_event)

    return run


def new_progress() -> Progress:
    """The progress display used for runs."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("[dim]{task.fields[step]}"),
        TimeElapsedColumn(),
        console=console,
    )


def drain(rt: Runtime, requested: Sequence[RunRequested], progress: Progress) -> None:
    """Deliver every pending event (local bus), then mark each run's progress final."""
    tasks = rt.progress_tasks  # type: ignore[attr-defined]
    for event in requested:
        steps = len(load_pipeline(rt.config_dir, event.tenant_id, event.pipeline_id).config.steps)
        tasks[event.pipeline_logging_id] = progress.add_task(
            f"{event.tenant_id}/{event.pipeline_id}", total=steps, step="queued"
        )
    rt.bus.run_until_idle(workers=2)  # type: ignore[attr-defined]
    for event in requested:
        status = metadata.run_status(rt.warehouse, event.tenant_id, event.pipeline_logging_id)
        state = status["status"] if status else "UNKNOWN"
        task = tasks[event.pipeline_logging_id]
        done = progress.tasks[task].total if state == "COMPLETE" else progress.tasks[task].completed
        progress.update(task, completed=done, step=state)


def run_pipelines(
    settings: Settings,
    targets: Sequence[tuple[str, str]],
    window: Window | None,
    *,
    trigger_by: str = "cli",
) -> int:
    """Request runs; in local mode deliver them here and print each run's outcome."""
    if settings.mode == "cloud":
        rt = build_runtime(settings)
        for tenant, pipeline in targets:
            event = request_run(rt, tenant, pipeline, window, trigger_by=trigger_by)
            console.print(f"requested {event.pipeline_logging_id} ({tenant}/{pipeline})")
        return 0
    progress = new_progress()
    with progress, local_runtime(settings, progress) as rt:
        requested = [request_run(rt, t, p, window, trigger_by=trigger_by) for t, p in targets]
        drain(rt, requested, progress)
    with local_runtime(settings) as rt:
        codes = [show_run_rt(rt, e.tenant_id, e.pipeline_logging_id) for e in requested]
    return max(codes, default=0)


def show_runs(
    settings: Settings,
    tenant: str,
    *,
    status: str | None,
    since: dt.datetime | None,
    limit: int = 50,
) -> int:
    """Print a tenant's runs (newest first); a run that stopped progressing shows as STALLED."""
    from lib.lifecycle import run_state
    from lib.states import RunStatus

    rt = build_runtime(settings) if settings.mode == "cloud" else None
    stored = None if status == RunStatus.STALLED else status
    with maybe_local(settings, rt) as rt:
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
    table = Table("run", "pipeline", "status", "trigger", "window", "requested at", "error")
    for r, current, state in shown:
        window = f"{r['window_start']} → {r['window_end']}"
        note = r["error"] or ""
        if state is not None and current == RunStatus.STALLED:
            note = f"waits on step {state.waiting_on}: {state.last_error or 'no error recorded'}"
        table.add_row(
            r["pipeline_logging_id"],
            r["pipeline_id"],
            str(current),
            r.get("trigger_by") or "",
            window,
            str(r["requested_at"]),
            note[:80],
        )
    console.print(table)
    if since is not None:
        console.print(f"{len(shown)} run(s) requested since {since:%Y-%m-%d %H:%M} UTC")
    if any(current == RunStatus.STALLED for _, current, _ in shown):
        console.print(
            f"STALLED runs stopped progressing: `convergence recover --tenant {tenant}` "
            "re-drives them from their metadata"
        )
    return 0


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
        rt = build_runtime(settings)
        plans = recover(rt, tenant, run_id=run_id, force=force, dry_run=dry_run)
        _print_recoveries(plans, dry_run)
        return 0
    progress = new_progress()
    with progress, local_runtime(settings, progress) as rt:
        if not dry_run:
            rt.bus.run_until_idle(workers=2)  # type: ignore[attr-defined]  # journaled messages
        plans = recover(rt, tenant, run_id=run_id, force=force, dry_run=dry_run)
        _print_recoveries(plans, dry_run)
        if not dry_run and plans:
            rt.bus.run_until_idle(workers=2)  # type: ignore[attr-defined]
    if dry_run or not plans:
        return 0
    with local_runtime(settings) as rt:
        return max(show_run_rt(rt, tenant, p.run_id) for p in plans)


def _print_recoveries(plans: Sequence[Any], dry_run: bool) -> None:
    verb = "would publish" if dry_run else "published"
    for plan in plans:
        console.print(f"{verb}: {plan.describe()}", highlight=False)
    if not plans:
        console.print("nothing to recover: no stalled run (or the run has already ended)")


@contextmanager
def maybe_local(settings: Settings, rt: Runtime | None) -> Iterator[Runtime]:
    """``rt`` (a cloud runtime), or a local runtime for the block when it is None."""
    if rt is not None:
        yield rt
        return
    with local_runtime(settings) as local:
        yield local


def show_run(settings: Settings, tenant: str, run_id: str) -> int:
    """Print one run; exit code 1 when it failed or is unknown."""
    with maybe_local(settings, build_runtime(settings) if settings.mode == "cloud" else None) as rt:
        return show_run_rt(rt, tenant, run_id)


def show_run_rt(rt: Runtime, tenant: str, run_id: str) -> int:
    """Print one run from an open runtime: provenance, timeline, DQ summary, error and cause."""
    from lib.ids import check_run_id, check_slug
    from lib.run_view import load_run_view

    check_slug(tenant, "tenant id")
    check_run_id(run_id)
    rt.ensure_tenant(tenant)
    view = load_run_view(rt, tenant, run_id)
    if view is None:
        console.print(f"[red]no run {run_id} for tenant {tenant}[/red]")
        return 1
    _print_view(view)
    if view.stalled_note:
        console.print(
            f"[red]stalled:[/red] {view.stalled_note}. "
            f"Re-drive it: convergence recover --tenant {tenant} --run {run_id}",
            highlight=False,
        )
    return 0 if view.status == "COMPLETE" else 1


def _print_view(view: Any) -> None:
    colour = {"COMPLETE": "green", "FAILED": "red", "STALLED": "red"}.get(view.status, "yellow")
    took = f" in {_seconds(view.duration.total_seconds())}" if view.duration else ""
    console.print(
        f"[bold]{view.tenant_id}/{view.pipeline_id}[/bold] {view.run_id}: "
        f"[{colour}]{view.status}[/{colour}]{took} · window {view.window}",
        highlight=False,
    )
    for line in _provenance_lines(view.provenance):
        console.print(f"  {line}", highlight=False)
    table = Table("time (UTC)", "what", "status", "attempt", "duration", "rows", "detail")
    for entry in view.timeline:
        table.add_row(
            f"{entry.at:%Y-%m-%d %H:%M:%S}",
            entry.what,
            entry.status,
            str(entry.attempt or ""),
            _seconds(entry.duration_ms / 1000) if entry.duration_ms is not None else "",
            "" if entry.rows is None else str(entry.rows),
            entry.detail[:300],
        )
    console.print(table)
    console.print(f"DQ: {view.dq.describe()}", highlight=False)
    if view.error:
        console.print(f"[red]error:[/red] {view.error}", highlight=False)
    if view.cause and view.status != "COMPLETE":
        console.print(f"[red]cause:[/red] {view.cause}", highlight=False)


def _seconds(value: float) -> str:
    return f"{value:.2f}s" if value < 120 else f"{value / 60:.1f}min"


def _provenance_lines(p: dict[str, Any]) -> list[str]:
    if not p:
        return ["provenance: not recorded (a run requested before provenance existed)"]
    trigger = p.get("trigger") or {}
    config = p.get("config_version") or {}
    git = config.get("git_commit")
    dirty = " (uncommitted changes)" if config.get("git_dirty") else ""
    worker = p.get("worker") or {}
    where = worker.get("revision") or worker.get("host") or "?"
    return [
        f"requested by {trigger.get('type')} ({trigger.get('by')}) on {where}",
        f"config {str(config.get('sha256', '?'))[:12]} ({len(config.get('files') or {})} files"
        f"{', git ' + git[:12] + dirty if git else ''}) · code {p.get('code_version')}",
        f"trace {p.get('trace_id') or 'none'}",
    ]


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
        rt = build_runtime(settings)
        moved = rt.bus.replay(selection, dry_run=dry_run)
        _print_letters(moved, dry_run)
        if not dry_run:
            _note_replayed(rt, moved)
        return 0
    progress = new_progress()
    with progress, local_runtime(settings, progress) as rt:
        moved = rt.bus.replay(selection, dry_run=dry_run)
        _print_letters(moved, dry_run)
        if not dry_run:
            _note_replayed(rt, moved)
        pending = len(rt.bus.pending())  # type: ignore[attr-defined]
        if pending:
            console.print(f"{pending} delivery(ies) waiting in the local bus journal")
        if dry_run or not (moved or pending):
            return 0
        rt.bus.run_until_idle(workers=2)  # type: ignore[attr-defined]
        again = _dead_lettered_again(rt, selection, moved)
        runs = _runs_to_show(rt, moved)
    with local_runtime(settings) as rt:
        codes = [show_run_rt(rt, t, r) for t, r in sorted(runs)]
    return max([*codes, 1 if again else 0])


def _note_replayed(rt: Runtime, moved: Sequence[Any]) -> None:
    """Record on each run a replayed letter belongs to that (and by whom) it was replayed."""
    from lib.recovery import note_redrive

    for tenant, run in sorted(_runs_to_show(rt, moved)):
        note_redrive(rt, tenant, run, "replay")


def _dead_lettered_again(rt: Runtime, selection: DeadLetterFilter, moved: Sequence[Any]) -> int:
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


def _runs_to_show(rt: Runtime, moved: Sequence[Any]) -> set[tuple[str, str]]:
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


def _print_letters(letters: Sequence[Any], dry_run: bool) -> None:
    verb = "would move" if dry_run else "moved"
    table = Table(
        "topic", "tenant", "pipeline", "run", "attempts", "dead-lettered at", "last error"
    )
    for m in letters:
        a = m.attributes
        table.add_row(
            m.topic,
            a.get("tenant_id", ""),
            a.get("pipeline_id", ""),
            a.get("run_id", ""),
            str(m.attempts),
            str(m.dead_lettered_at),
            m.last_error[:300],
        )
    console.print(table)
    console.print(f"{verb} {len(letters)} dead-lettered event(s)")
