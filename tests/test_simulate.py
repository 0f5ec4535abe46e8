"""The day-2 simulator: weeks of scheduled runs stay equal to the truth, and it catches regressions.

``convergence simulate`` (lib/simulate.py) is the acceptance test of late data, restatements and
snapshots. These tests run it for real (sandbox, billing export, in-process bus, DuckDB) and
then put back, one at a time, each defect the day-2 work removed — a fixed look-back, a merge
where the provider sends snapshots, money rounded to nine decimals, a documented null that
stops the run — and require the simulator to report it.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
from pathlib import Path

import pytest

from lib.simulate import SimulationSpec, Violation, run_simulation
from tests.platform import CONFIGS, append_override

pytestmark = pytest.mark.simulation


def simulate(tmp_path: Path, **spec: object) -> str:
    out = io.StringIO()
    run_simulation(SimulationSpec(**spec), tmp_path / "sim", out)  # type: ignore[arg-type]
    return out.getvalue()


def configs_with(tmp_path: Path, edit) -> Path:
    """A copy of configs/ with one file edited: ``edit(root)`` changes it in place."""
    root = tmp_path / "configs"
    shutil.copytree(CONFIGS, root)
    edit(root)
    return root


def replace_in(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{old!r} not in {path}"
    path.write_text(text.replace(old, new))


@pytest.mark.timeout(1200)  # a hang guard sized for a loaded 2-core machine; see BENCHMARKS.md
def test_sixty_days_for_two_tenants_keep_gold_equal_to_the_truth(tmp_path):
    out = simulate(tmp_path, days=60, tenants=2, seed=7)
    lines = out.splitlines()
    assert lines[0].startswith("simulating 60 days from 2026-09-01 for 2 tenant(s)")
    days = [line for line in lines[1:] if line.endswith("ok")]
    assert len(days) == 60
    assert all(" runs 12/12 " in line for line in days)
    late = [int(line.split("late export rows")[1].split()[0]) for line in days]
    assert sum(late) > 50, "the export must deliver plenty of late rows"


def test_the_same_seed_gives_the_same_output_byte_for_byte(tmp_path):
    first = simulate(tmp_path / "a", days=3, tenants=1, seed=3)
    again = simulate(tmp_path / "b", days=3, tenants=1, seed=3)
    other = simulate(tmp_path / "c", days=3, tenants=1, seed=4)
    assert first == again
    assert first != other


def test_a_fixed_look_back_is_caught(tmp_path, monkeypatch):
    from lib.steps import transform

    def three_days_back(window, changed, trailing_days):
        window = sorted(window)
        start = window[0] - dt.timedelta(days=3)
        return [start + dt.timedelta(days=i) for i in range((window[-1] - start).days + 1)]

    monkeypatch.setattr(transform, "derive_days", three_days_back)
    with pytest.raises(Violation) as caught:
        simulate(tmp_path, days=14, tenants=1, seed=7)
    # late export rows (gcp) and re-delivered FOCUS periods (aws) both reach past a look-back
    assert any(provider in caught.value.key for provider in ("gcp", "aws"))


def test_merging_a_snapshot_source_is_caught(tmp_path):
    def merge_costs(root: Path) -> None:  # acme's override turns the snapshot into a merge
        pipeline = root / "acme/openai/cost/openai_costs/openai_costs.yml"
        append_override(pipeline, "steps:\n  ingest_costs:\n    destination: {write_mode: merge}\n")

    with pytest.raises(Violation) as caught:
        simulate(
            tmp_path, days=6, tenants=1, seed=7, config_dir=configs_with(tmp_path, merge_costs)
        )
    assert caught.value.table.endswith("`daily_spend`") and "openai" in caught.value.key


def test_rounding_money_to_nine_decimals_is_caught(tmp_path):
    def round_cents(root: Path) -> None:
        sql = root / "_library/focus/focus_anthropic.sql"
        replace_in(sql, "AS BIGNUMERIC) AS cost", "AS NUMERIC) AS cost")

    with pytest.raises(Violation) as caught:
        simulate(
            tmp_path, days=3, tenants=1, seed=7, config_dir=configs_with(tmp_path, round_cents)
        )
    assert "anthropic" in caught.value.key


def test_a_documented_null_that_stops_the_run_is_caught(tmp_path):
    def critical_model(root: Path) -> None:
        rules = root / "_library/pipelines/openai_costs/openai_usage_dq.yml"
        replace_in(rules, "    severity: warning\n", "")

    with pytest.raises(Violation) as caught:
        simulate(
            tmp_path, days=8, tenants=1, seed=7, config_dir=configs_with(tmp_path, critical_model)
        )
    assert caught.value.table.endswith("pipeline_runs") and caught.value.expected == "COMPLETE"


def test_outages_and_duplicate_deliveries_keep_gold_equal_to_the_truth(tmp_path):
    out = simulate(tmp_path, days=6, tenants=1, seed=5, faults=("duplicates", "outage"))
    days = out.splitlines()[1:]
    assert len(days) == 6 and all(line.endswith("ok") for line in days)
    assert " runs  4/6 " in days[4], "the outage day's REST runs wait in the dead letters"
    assert " runs  6/6 " in days[5], "and complete after the next morning's replay"
    assert "dead-lettered" in (tmp_path / "sim" / "simulate.log").read_text()


def test_a_wrong_list_price_is_caught_by_reconciliation(tmp_path):
    def cheaper_gpt4o(root: Path) -> None:
        catalog = root / "_library/prices/openai.yml"
        replace_in(catalog, 'standard: {input: "2.50",', 'standard: {input: "2.40",')

    with pytest.raises(Violation) as caught:
        simulate(
            tmp_path, days=3, tenants=1, seed=7, config_dir=configs_with(tmp_path, cheaper_gpt4o)
        )
    assert caught.value.table.endswith("`cost_reconciliation`")
    assert "gpt-4o-2024-08-06, input" in caught.value.key


def test_unknown_fault_modes_are_refused():
    with pytest.raises(ValueError, match="unknown fault mode"):
        SimulationSpec(faults=("meteor",))
