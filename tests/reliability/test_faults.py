"""The fault suite (fast part): kill -9 at every boundary of every step type, duplicates,
outages, transient warehouse errors and concurrent runs — 0 rows lost or duplicated, 0 stuck
runs, exactly one terminal record and one ``run.completed`` per run, 0 tracebacks.

The figures of a full run are in docs/reliability.md (``python -m tests.reliability.report``).
"""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from tests.reliability import harness, scenarios
from tests.reliability.harness import KILL_POINTS, Figures, Home

pytestmark = pytest.mark.faults
FIGURES_ENV = "CONVERGENCE_FAULT_FIGURES"
"""When set, every scenario appends its figures to this JSONL file (tests/reliability/report.py)."""


def keep(figures: Figures) -> Figures:
    """Record the scenario's figures for the report (when asked), then hand them back."""
    path = os.environ.get(FIGURES_ENV)
    if path:
        with open(path, "a") as out:
            out.write(json.dumps(dataclasses.asdict(figures)) + "\n")
    return figures


@pytest.fixture(scope="module")
def sandbox():
    from lib.sandbox.server import SandboxServer

    with SandboxServer(tenants=["acme"]) as server:
        yield server


@pytest.fixture(scope="module")
def clean(sandbox, tmp_path_factory):
    return harness.clean_snapshot(Home(tmp_path_factory.mktemp("clean"), sandbox.base_url))


@pytest.mark.parametrize(
    ("point", "step_type"), KILL_POINTS, ids=[f"{p}-{s}" for p, s in KILL_POINTS]
)
def test_kill_at_every_boundary_loses_nothing_and_ends_the_run_once(
    point, step_type, sandbox, clean, tmp_path
):
    figures = keep(harness.kill_scenario(point, step_type, Home(tmp_path, sandbox.base_url), clean))
    assert figures.ok, figures


@pytest.mark.parametrize("copies", [2, 3, 5])
def test_duplicate_deliveries_on_two_workers_run_each_step_once(copies, make_platform, clean):
    figures = keep(scenarios.duplicates(make_platform, clean, copies))
    assert figures.ok, figures
    assert figures.completed_publishes == 1


def test_provider_outage_dead_letters_then_replay_completes(make_platform, clean, tmp_path):
    figures = keep(scenarios.outage_then_replay(make_platform, clean, tmp_path))
    assert figures.ok, figures


def test_transient_warehouse_errors_are_retried_to_the_same_rows(make_platform, clean):
    figures = keep(scenarios.flaky_warehouse(make_platform, clean))
    assert figures.ok, figures


def test_concurrent_runs_of_the_same_window_both_complete_with_clean_rows(make_platform, clean):
    figures = keep(scenarios.concurrent_runs(make_platform, clean))
    assert figures.ok, figures
