"""`convergence demo` end to end: every run completes, and the summary and report appear."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from pathlib import Path

import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.clock import FixedClock
from lib.demo import DEMO_MARKER, fresh_home, run_demo
from lib.ports import TableRef
from lib.sandbox.gcp_export import export_rows
from lib.sql import table_sql
from tests.platform import CONFIGS

NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


def test_demo_completes_every_run_and_points_to_its_outputs(tmp_path, capsys):
    home = tmp_path / "demo"
    code = run_demo(home, days=3, faults=True, clock=FixedClock(NOW))
    out = capsys.readouterr().out
    assert code == 0, out
    assert "FAILED" not in out
    joined = out.replace("\n", "")  # rich wraps long paths
    assert f"DuckDB file: {home.resolve() / 'convergence.duckdb'}" in joined
    reports = re.findall(r"Spend report: (\S+?\.html)", joined)
    assert len(reports) == 2 and all(Path(p).is_file() for p in reports)
    for title in ("Reconciliation", "Unit economics", "Budgets", "Cost intelligence"):
        assert title in out, title
    assert re.search(r"acme .*\d+ line items, [1-9]\d* flagged", out), "the planted over-billing"
    page = Path(next(p for p in reports if "acme" in p)).read_text(encoding="utf-8")
    assert 'data-chart="budget"' in page and 'data-status="over_billed"' in page
    assert 'data-chart="unit_costs"' in page
    wh = DuckDBWarehouse(home / "convergence.duckdb")
    try:
        for tenant in ("acme", "globex"):
            statuses = wh.query(
                "SELECT pipeline_id, status FROM "
                f"{table_sql(TableRef(f'{tenant}_metadata', 'pipeline_runs'))} "
                "QUALIFY ROW_NUMBER() OVER (PARTITION BY pipeline_logging_id "
                "ORDER BY recorded_at DESC, CASE status WHEN 'REQUESTED' THEN 0 "
                "WHEN 'RUNNING' THEN 1 ELSE 2 END DESC) = 1"
            )
            assert {r["status"] for r in statuses} == {"COMPLETE"}
            files = {"acme": "aws", "globex": "azure"}[tenant]
            assert {r["pipeline_id"] for r in statuses} == {
                "openai_costs",
                "anthropic_costs",
                "gcp_billing",
                f"{files}_focus",
                "spend_reporting",
                "cost_intelligence",
            }
            providers = wh.query(
                "SELECT DISTINCT x_provider FROM "
                f"{table_sql(TableRef(f'{tenant}_silver_cost', 'focus_daily'))} ORDER BY 1"
            )
            assert [r["x_provider"] for r in providers] == sorted(
                ["anthropic", "gcp", "openai", files]
            )
            days = wh.query(
                "SELECT MIN(x_charge_date) AS lo, MAX(x_charge_date) AS hi FROM "
                f"{table_sql(TableRef(f'{tenant}_silver_cost', 'focus_daily'))} "
                "WHERE x_provider IN ('openai', 'anthropic')"
            )[0]
            assert (days["lo"], days["hi"]) == (dt.date(2026, 11, 17), dt.date(2026, 11, 19))
            assert_gcp_gold_is_what_the_export_held_at(wh, tenant, NOW)
    finally:
        wh.close()


def assert_gcp_gold_is_what_the_export_held_at(wh, tenant: str, now: dt.datetime) -> None:
    """The demo's export arrives like a real one: gold holds the rows exported by ``now``."""
    days = [dt.date(2026, 11, 17) + dt.timedelta(days=i) for i in range(3)]
    held, everything = {}, {}
    for day in days:
        rows = export_rows(tenant, day)
        held[day] = net(r for r in rows if r["export_time"] <= now)
        everything[day] = net(rows)
    got = {
        r["d"]: r["t"]
        for r in wh.query(
            "SELECT charge_date AS d, SUM(billed_cost) AS t FROM "
            f"{table_sql(TableRef(f'{tenant}_gold_reporting', 'daily_spend'))} "
            "WHERE provider = 'gcp' GROUP BY d"
        )
    }
    assert got == {d: v for d, v in held.items() if v}
    assert held != everything, "some of the export's rows land after the demo's morning"


def net(rows) -> Decimal:
    return sum(
        (
            Decimal(repr(r["cost"]))
            + sum((Decimal(repr(c["amount"])) for c in r["credits"]), Decimal(0))
            for r in rows
        ),
        Decimal(0),
    )


def test_demo_keeps_state_it_did_not_create_unless_asked_for_a_fresh_start(tmp_path, capsys):
    home = tmp_path / "home"
    home.mkdir()
    wh = DuckDBWarehouse(home / "convergence.duckdb")  # somebody's own runs
    wh.ensure_dataset("acme_metadata")
    wh.close()
    (home / "simulate").mkdir()
    (home / "simulate" / "keep.txt").write_text("keep me")
    before = (home / "convergence.duckdb").read_bytes()
    with pytest.raises(SystemExit, match="holds state the demo did not create") as info:
        run_demo(home, days=1, clock=FixedClock(NOW))
    assert "convergence demo --fresh" in str(info.value)
    assert (home / "convergence.duckdb").read_bytes() == before

    assert fresh_home(home, fresh=True) == ["simulate"]
    assert not (home / "convergence.duckdb").exists()
    assert (home / "simulate" / "keep.txt").read_text() == "keep me"
    assert (home / DEMO_MARKER).is_file()


def test_a_rerun_of_the_demo_replaces_only_the_demos_own_state(tmp_path):
    home = tmp_path / "home"
    assert fresh_home(home) == []
    (home / "bus").mkdir()
    (home / "convergence.duckdb").write_text("a previous demo")
    (home / "notes.md").write_text("mine")
    assert fresh_home(home) == ["notes.md"]
    assert not (home / "bus").exists() and not (home / "convergence.duckdb").exists()


@pytest.mark.integration
def test_after_the_demo_the_readme_commands_work_from_the_same_folder(
    tmp_path, monkeypatch, capsys
):
    from lib.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CONVERGENCE_HOME", raising=False)
    monkeypatch.setenv("CONVERGENCE_CONFIG_DIR", str(CONFIGS))
    assert main(["demo", "--days", "1"]) == 0
    out = capsys.readouterr().out.replace("\n", " ")
    assert (tmp_path / ".convergence" / "convergence.duckdb").is_file()
    assert "convergence runs --tenant acme" in out and "CONVERGENCE_HOME=" not in out
    run_id = re.search(r"convergence status (run-[0-9a-f]{20}) --tenant acme", out).group(1)

    assert main(["runs", "--tenant", "acme"]) == 0
    listed = capsys.readouterr().out
    assert run_id in listed and "COMPLETE" in listed and "demo" in listed
    assert main(["status", run_id, "--tenant", "acme"]) == 0
    assert "requested by demo" in capsys.readouterr().out.replace("\n", " ")
    assert main(["trace", run_id, "--tenant", "acme"]) == 0
    assert "run.request" in capsys.readouterr().out
    assert main(["report", "--tenant", "acme"]) == 0
    assert "acme" in capsys.readouterr().out
    assert main(["replay", "--tenant", "acme", "--dry-run"]) == 0
    assert "would move 0 dead-lettered event(s)" in capsys.readouterr().out

    assert main(["demo", "--days", "1"]) == 0  # a re-run starts clean
    capsys.readouterr()
    assert main(["runs", "--tenant", "acme"]) == 0
    assert run_id not in capsys.readouterr().out
