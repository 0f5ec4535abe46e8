"""The `convergence` CLI on the embedded default: run, runs, status, replay, validate."""

from __future__ import annotations

import re

import pytest

from lib.cli import main
from lib.demo import demo_environment
from lib.sandbox.server import SandboxServer
from tests.platform import CONFIGS, fast_retry_configs


@pytest.fixture
def local_env(tmp_path, monkeypatch):
    with SandboxServer() as sandbox:
        env = demo_environment(tmp_path / "home", sandbox.base_url, ["acme"])
        env["CONVERGENCE_CONFIG_DIR"] = str(fast_retry_configs(tmp_path))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield sandbox


def joined(capsys):
    out = capsys.readouterr()
    return (out.out + out.err).replace("\n", "")


def test_run_then_runs_and_status(local_env, capsys):
    args = [
        "run",
        "openai_costs",
        "--tenant",
        "acme",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-02",
    ]
    assert main(args) == 0
    out = joined(capsys)
    run_id = re.search(r"(run-[0-9a-f]{20})", out).group(1)
    assert "COMPLETE" in out and "silver_focus" in out
    assert main(["runs", "--tenant", "acme"]) == 0
    assert run_id in joined(capsys)
    assert main(["runs", "--tenant", "acme", "--status", "FAILED"]) == 0
    assert run_id not in joined(capsys)
    assert main(["status", run_id, "--tenant", "acme"]) == 0
    assert "ingest_costs" in joined(capsys)


def test_status_of_an_unknown_run_exits_non_zero(local_env, capsys):
    assert main(["status", "run-00000000000000000000", "--tenant", "acme"]) == 1
    assert "no run run-00000000000000000000 for tenant acme" in joined(capsys)


def test_unsafe_tenant_is_refused_with_the_rule(local_env, capsys):
    assert main(["run", "openai_costs", "--tenant", "../etc"]) == 2
    assert "invalid tenant id" in joined(capsys)


def test_outage_dead_letters_then_replay_dry_run_and_replay(local_env, capsys):
    local_env.faults.set(server_error=100_000)
    args = [
        "run",
        "openai_costs",
        "--tenant",
        "acme",
        "--start",
        "2026-11-01",
        "--end",
        "2026-11-01",
    ]
    assert main(args) == 1  # the run did not complete: its ingest event was dead-lettered
    capsys.readouterr()
    assert main(["replay", "--tenant", "acme", "--dry-run"]) == 0
    assert "would move 1 dead-lettered event(s)" in joined(capsys)
    local_env.faults.clear()
    assert main(["replay", "--tenant", "acme"]) == 0
    out = joined(capsys)
    assert "moved 1 dead-lettered event(s)" in out and "COMPLETE" in out
    assert main(["replay", "--tenant", "acme", "--dry-run"]) == 0
    assert "would move 0 dead-lettered event(s)" in joined(capsys)


def test_validate_reports_ok_and_problems(tmp_path, capsys):
    assert main(["validate", str(CONFIGS)]) == 0
    assert "valid under" in joined(capsys)
    assert main(["validate", str(tmp_path / "missing")]) == 1
    assert "config folder not found" in joined(capsys)


def test_window_ending_before_it_starts_is_refused(local_env, capsys):
    args = [
        "run",
        "openai_costs",
        "--tenant",
        "acme",
        "--start",
        "2026-11-05",
        "--end",
        "2026-11-01",
    ]
    assert main(args) == 2
    assert "window end 2026-11-01 is before start 2026-11-05" in joined(capsys)


def test_malformed_date_names_the_format(capsys):
    with pytest.raises(SystemExit):
        main(["run", "openai_costs", "--tenant", "acme", "--start", "11/05/2026"])
    assert "write YYYY-MM-DD" in joined(capsys)


def test_simulate_help_names_every_fault_mode(capsys):
    from lib.simulate import FAULTS

    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert [f for f in FAULTS if f not in help_text] == []
