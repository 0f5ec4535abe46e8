"""The fault suite: try each fault against a real local platform and count what went wrong.

Every scenario runs the OpenAI pipeline (ingest → DQ → ingest → DQ → transform) for one day
against the provider sandbox on the embedded default, under a fault, then measures the
invariants of docs/reliability.md against a clean run of the same day:

* rows lost / duplicated — raw costs, raw usage and the FOCUS silver rows, compared as
  multisets with the clean run's (run ids and ingestion times left out);
* stuck runs — runs not COMPLETE at the end;
* terminal records — COMPLETE/FAILED transitions of the run (must be exactly 1);
* ``run.completed`` — distinct event ids published (must be 1) and publishes in all;
* step executions — COMPLETE records per step (must be 1 each);
* tracebacks — in the output of every process involved.

``pytest tests/reliability`` asserts the invariants; ``python -m tests.reliability.report``
runs every scenario and rewrites docs/reliability.md with the figures.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lib import faultpoints

REPO = Path(__file__).resolve().parents[2]
CONFIGS = REPO / "configs"
TENANT, PIPELINE = "acme", "openai_costs"
DAY = dt.date(2026, 11, 18)
STEPS = ("ingest_costs", "check_costs", "ingest_usage", "check_usage", "silver_focus")
TABLES = {
    "raw costs": ("acme_raw_openai", "costs", ("ingestion_date", "ingestion_timestamp",
                                               "pipeline_logging_id")),
    "raw usage": ("acme_raw_openai", "usage_completions", ("ingestion_date",
                                                          "ingestion_timestamp",
                                                          "pipeline_logging_id")),
    "silver": ("acme_silver_cost", "focus_daily", ("x_pipeline_logging_id",)),
}  # fmt: skip


@dataclass
class Figures:
    """What one scenario did and what went wrong (everything but ``runs`` should be 0/1)."""

    scenario: str
    runs: int = 1
    stuck: int = 0
    lost: int = 0
    duplicated: int = 0
    terminal_records: int = 0
    completed_events: int = 0
    completed_publishes: int = 0
    extra_step_executions: int = 0
    tracebacks: int = 0
    recovered_by: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every invariant held."""
        return (
            self.stuck == self.lost == self.duplicated == self.extra_step_executions == 0
            and self.terminal_records == self.runs
            and self.completed_events == self.runs
            and self.tracebacks == 0
        )


# --- measuring ----------------------------------------------------------------------------


def table_rows(warehouse: Any, dataset: str, table: str, drop: tuple[str, ...]) -> Counter:
    """The table's rows as a multiset of JSON texts, some columns left out."""
    rows = warehouse.query(f"SELECT * FROM `{dataset}`.`{table}`")
    return Counter(
        json.dumps({k: v for k, v in sorted(r.items()) if k not in drop}, default=str) for r in rows
    )


def snapshot(warehouse: Any) -> dict[str, Counter]:
    """Every compared table of the tenant."""
    return {name: table_rows(warehouse, *spec) for name, spec in TABLES.items()}


def measure(
    figures: Figures,
    warehouse: Any,
    clean: dict[str, Counter],
    run_ids: list[str],
    published: list[dict[str, Any]],
) -> Figures:
    """Fill ``figures`` from the warehouse after the scenario, against the clean snapshot."""
    got = snapshot(warehouse)
    for name, want in clean.items():
        figures.lost += sum((want - got[name]).values())
        figures.duplicated += sum((got[name] - want).values())
    for run_id in run_ids:
        statuses = [
            r["status"]
            for r in warehouse.query(
                "SELECT status FROM `acme_metadata`.`pipeline_runs` WHERE pipeline_logging_id = "
                "@r ORDER BY recorded_at DESC",
                {"r": run_id},
            )
        ]
        figures.terminal_records += sum(s in ("COMPLETE", "FAILED") for s in statuses)
        figures.stuck += "COMPLETE" not in statuses
        done = Counter(
            r["step_name"]
            for r in warehouse.query(
                "SELECT step_name FROM `acme_metadata`.`step_logs` WHERE pipeline_logging_id = "
                "@r AND status = 'COMPLETE'",
                {"r": run_id},
            )
        )
        figures.extra_step_executions += sum(max(0, done[s] - 1) for s in STEPS)
        figures.stuck += any(done[s] == 0 for s in STEPS)
    completed = [p for p in published if p["type"].startswith("convergence.run.completed")]
    figures.completed_events = len({p["event_id"] for p in completed if p["run"] in run_ids})
    figures.completed_publishes = sum(1 for p in completed if p["run"] in run_ids)
    return figures


# --- processes ------------------------------------------------------------------------------


@dataclass
class Home:
    """One scenario's state: a local home, its configs and the sandbox it talks to."""

    path: Path
    base_url: str
    configs: Path = CONFIGS

    def worker(self, mode: str, crash: str | None = None, timeout: float = 240) -> str:
        """Run ``tests.reliability.worker`` in a process; its combined output."""
        env = {k: v for k, v in os.environ.items() if k != faultpoints.ENV}
        if crash:
            env[faultpoints.ENV] = crash
        argv = [sys.executable, "-m", "tests.reliability.worker", mode, str(self.path),
                str(self.configs), self.base_url, TENANT, PIPELINE, DAY.isoformat(),
                DAY.isoformat()]  # fmt: skip
        done = subprocess.run(
            argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
        )
        output = done.stdout + done.stderr
        if crash and done.returncode != -9:
            raise AssertionError(f"{mode} with {crash} ended with {done.returncode}:\n{output}")
        if not crash and done.returncode != 0:
            raise AssertionError(f"{mode} failed with {done.returncode}:\n{output}")
        return output

    def published(self) -> list[dict[str, Any]]:
        log = self.path / "published.jsonl"
        lines = log.read_text().splitlines() if log.exists() else []
        return [json.loads(line) for line in lines if line.strip()]

    @contextmanager
    def warehouse(self) -> Iterator[Any]:
        from lib.adapters.duckdb_warehouse import DuckDBWarehouse

        wh = DuckDBWarehouse(self.path / "state" / "convergence.duckdb")
        try:
            yield wh
        finally:
            wh.close()


def tracebacks(output: str) -> int:
    return output.count("Traceback (most recent call last)")


def kill_scenario(point: str, step_type: str, home: Home, clean: dict[str, Counter]) -> Figures:
    """SIGKILL the run at ``point`` of its first ``step_type`` step; recover; measure."""
    figures = Figures(f"kill -9 {point} ({step_type})")
    first = home.worker("run", crash=f"{point}:{step_type}")
    figures.tracebacks += tracebacks(first)
    second = home.worker("recover")
    figures.tracebacks += tracebacks(second)
    plans = json.loads((home.path / "recovered.json").read_text())
    figures.recovered_by = "recover" if plans else "journal"
    run_id = (home.path / "run_id").read_text().strip()
    with home.warehouse() as wh:
        return measure(figures, wh, clean, [run_id], home.published())


def clean_snapshot(home: Home) -> dict[str, Counter]:
    """The tables after an undisturbed run of the same day (the reference)."""
    home.worker("run")
    with home.warehouse() as wh:
        return snapshot(wh)


Scenario = Callable[..., Figures]
KILL_POINTS = [
    (point, step) for step in ("ingest", "dq", "transform") for point in faultpoints.POINTS
]
"""Every boundary of every step type."""
