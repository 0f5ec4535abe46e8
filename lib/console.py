"""What the CLI shows: consoles, live run progress, and the tables of runs, letters and traces.

Operations (open a runtime, request, deliver, recover, replay) live in ``lib/commands.py``;
this module only renders what they found.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from events.codec import CodecError, from_cloudevent
from lib.states import RunStatus

if TYPE_CHECKING:
    from lib.lifecycle import RunState
    from lib.ports import DeadLetter
    from lib.recovery import Recovery
    from lib.run_view import RunView


def _console(*, stderr: bool = False) -> Console:
    """A rich console; off a terminal (CI logs, pipes) lines wrap at 160, not 80, columns."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 160)


console = _console()
err_console = _console(stderr=True)


class RunProgress:
    """One live bar per requested run, advanced by the handlers as its events arrive.

    Use as a context manager around the delivery; :meth:`wrap` the handler functions the
    local runtime delivers to, :meth:`add` each requested run, :meth:`finish` with the
    statuses the runs ended in.
    """

    def __init__(self) -> None:
        self.display = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("[dim]{task.fields[step]}"),
            TimeElapsedColumn(),
            console=console,
        )
        self._tasks: dict[str, TaskID] = {}

    def __enter__(self) -> RunProgress:
        self.display.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.display.__exit__(None, None, None)

    def wrap(
        self, handlers: Mapping[str, Callable[[Any], object]]
    ) -> dict[str, Callable[[Any], object]]:
        """The handlers, each first moving its run's bar to the step the event starts."""
        return {name: self._tracked(fn) for name, fn in handlers.items()}

    def add(self, run_id: str, label: str, steps: int) -> None:
        """A bar for ``run_id`` of ``steps`` steps, queued."""
        self._tasks[run_id] = self.display.add_task(label, total=steps, step="queued")

    def finish(self, run_id: str, status: str) -> None:
        """Mark the run's bar final: full when it completed, where it stopped otherwise."""
        task = self._tasks[run_id]
        shown = self.display.tasks[task]
        done = shown.total if status == RunStatus.COMPLETE else shown.completed
        self.display.update(task, completed=done, step=status)

    def _tracked(self, fn: Callable[[Any], object]) -> Callable[[Any], object]:
        def run(cloud_event: Any) -> object:
            try:
                event = from_cloudevent(cloud_event)
            except CodecError:  # poison: the handler dead-letters it
                return fn(cloud_event)
            task = self._tasks.get(event.pipeline_logging_id)
            if task is not None and event.next_step is not None:
                self.display.update(
                    task, completed=event.next_step.index, step=event.next_step.name
                )
            return fn(cloud_event)

        return run


def print_runs(
    tenant: str,
    shown: Sequence[tuple[Mapping[str, Any], RunStatus, RunState | None]],
    since_note: str | None,
) -> None:
    """A tenant's runs as a table (STALLED ones say what they wait on), then hints."""
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
    if since_note is not None:
        console.print(since_note)
    if any(current == RunStatus.STALLED for _, current, _ in shown):
        console.print(
            f"STALLED runs stopped progressing: `convergence recover --tenant {tenant}` "
            "re-drives them from their metadata"
        )


def print_run_view(view: RunView) -> None:
    """One run: provenance, timeline, DQ summary, error and cause."""
    colour = {
        RunStatus.COMPLETE: "green",
        RunStatus.FAILED: "red",
        RunStatus.STALLED: "red",
    }.get(view.status, "yellow")
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
    if view.cause and view.status != RunStatus.COMPLETE:
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


def print_letters(letters: Sequence[DeadLetter], dry_run: bool) -> None:
    """Dead letters (moved, or that would move) as a table."""
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


def print_recoveries(plans: Sequence[Recovery], dry_run: bool) -> None:
    """What recovery published (or would publish)."""
    verb = "would publish" if dry_run else "published"
    for plan in plans:
        console.print(f"{verb}: {plan.describe()}", highlight=False)
    if not plans:
        console.print("nothing to recover: no stalled run (or the run has already ended)")
