"""Run the fault suite and rewrite docs/reliability.md with its figures.

``python -m tests.reliability.report`` (or ``nox -s reliability``): runs ``pytest
tests/reliability`` — the same scenarios and assertions as the test suite — with every
scenario recording what it measured, then renders the table. A scenario that breaks an
invariant makes pytest fail, and the table says so.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "reliability.md"
BEGIN, END = "<!-- figures:begin -->", "<!-- figures:end -->"
COLUMNS = (
    ("scenario", "scenario"),
    ("runs", "runs"),
    ("lost", "rows lost"),
    ("duplicated", "rows duplicated"),
    ("stuck", "stuck runs"),
    ("terminal_records", "terminal records"),
    ("completed_events", "run.completed (distinct)"),
    ("completed_publishes", "run.completed (publishes)"),
    ("extra_step_executions", "extra step executions"),
    ("tracebacks", "tracebacks"),
    ("recovered_by", "resumed by"),
)


def table(figures: list[dict[str, object]]) -> str:
    """The markdown table of every scenario's figures."""
    head = "| " + " | ".join(title for _, title in COLUMNS) + " |"
    rule = "|" + "|".join("---" for _ in COLUMNS) + "|"
    rows = [
        "| " + " | ".join(str(f.get(key, "")) or "-" for key, _ in COLUMNS) + " |" for f in figures
    ]
    return "\n".join([head, rule, *rows])


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "figures.jsonl"
        env = {**os.environ, "CONVERGENCE_FAULT_FIGURES": str(log)}
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/reliability"],
            cwd=REPO,
            env=env,
        )
        lines = log.read_text().splitlines() if log.exists() else []
    figures = [json.loads(line) for line in lines if line.strip()]
    stamp = (
        f"Measured {dt.date.today()} on {platform.machine()}, Python "
        f"{platform.python_version()}, {os.cpu_count()} CPUs; pytest exit code "
        f"{done.returncode} ({'every invariant held' if done.returncode == 0 else 'FAILURES'})."
    )
    text = DOC.read_text()
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    DOC.write_text(f"{text[:start]}\n{stamp}\n\n{table(figures)}\n{text[end:]}")
    print(f"{len(figures)} scenario(s) written to {DOC}")
    return done.returncode


if __name__ == "__main__":
    sys.exit(main())
