"""``convergence trace RUN``: a run's spans as a tree, from the local span file.

Locally every span of a run (``run.request``, each handler, step, warehouse statement and
provider HTTP call) is in ``$CONVERGENCE_HOME/traces/spans.jsonl``; this draws the run's trace
as an indented tree with durations and the attributes that matter (rows, bytes, status). In
cloud mode it prints the Cloud Trace link of the run's trace instead.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from lib.console import console
from lib.settings import Settings
from lib.span_file import read_spans, span_file
from lib.wiring import open_runtime

SHOWN_ATTRIBUTES = {
    "db.rows": "rows",
    "db.bytes_billed": "bytes_billed",
    "convergence.api_calls": "api_calls",
    "convergence.pages": "pages",
    "http.response.status_code": "status",
    "http.status_code": "status",
    "url.full": "url",
    "http.url": "url",
    "db.table": "table",
    "notify.channel": "channel",
    "notify.outcome": "outcome",
}


def trace_tree(records: Iterable[dict[str, Any]]) -> list[str]:
    """The lines of an indented tree of span records (children in start order)."""
    spans = sorted(records, key=lambda r: r.get("start") or "")
    ids = {r["span_id"] for r in spans}
    children: dict[str | None, list[dict[str, Any]]] = defaultdict(list)
    for record in spans:
        parent = record.get("parent_span_id")
        children[parent if parent in ids else None].append(record)
    lines: list[str] = []

    def walk(parent: str | None, depth: int) -> None:
        for record in children.get(parent, []):
            lines.append("  " * depth + _describe(record))
            walk(record["span_id"], depth + 1)

    walk(None, 0)
    return lines


def _describe(record: dict[str, Any]) -> str:
    attrs = record.get("attributes") or {}
    named = {label: attrs[k] for k, label in reversed(SHOWN_ATTRIBUTES.items()) if k in attrs}
    order = list(dict.fromkeys(SHOWN_ATTRIBUTES.values()))
    shown = [f"{label}={named[label]}" for label in order if label in named]
    status = "" if record.get("status") != "ERROR" else f" ERROR {record.get('status_message')}"
    took = record.get("duration_ms")
    duration = f" {took:.1f}ms" if isinstance(took, int | float) else ""
    return f"{record['name']}{duration}{status}{' ' + ' '.join(shown) if shown else ''}"


def show_trace(settings: Settings, tenant: str, run_id: str) -> int:
    """Print the trace of ``run_id``; exit code 1 when the run or its spans are not found."""
    from lib.ids import check_run_id, check_slug
    from lib.run_view import load_run_view

    check_slug(tenant, "tenant id")
    check_run_id(run_id)
    with open_runtime(settings) as runtime:
        runtime.ensure_tenant(tenant)
        view = load_run_view(runtime, tenant, run_id)
    if view is None or not view.trace_id:
        console.print(f"[red]no trace recorded for run {run_id} of tenant {tenant}[/red]")
        return 1
    if settings.mode == "cloud":
        console.print(
            f"trace {view.trace_id}: https://console.cloud.google.com/traces/list?"
            f"project={settings.project}&tid={view.trace_id}",
            highlight=False,
        )
        return 0
    path = span_file(settings.home)
    lines = trace_tree(read_spans(path, view.trace_id))
    if not lines:
        console.print(
            f"[yellow]no span of trace {view.trace_id} in {path}[/yellow] (spans go there "
            "unless OTEL_TRACES_EXPORTER leaves out `file`)",
            highlight=False,
        )
        return 1
    console.print(f"trace {view.trace_id} ({len(lines)} spans, from {path})", highlight=False)
    for line in lines:
        console.print(line, highlight=False, markup=False)
    return 0
