"""Run provenance and what `status`, `runs` and `trace` show: trigger, config and code version,
worker, trace id; a timeline with attempts, durations, rows, DQ and the error with its cause."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import socket
import subprocess
from pathlib import Path

import pytest

from lib import metadata
from lib.cli import _since, main
from lib.demo import demo_environment
from lib.keys import parse_key
from lib.provenance import code_version, run_files
from lib.sandbox.server import SandboxServer
from lib.settings import Settings
from lib.wiring import build_runtime
from tests.lib.api.harness import call
from tests.platform import fast_retry_configs

REPO = Path(__file__).resolve().parents[2]
RUN = ["run", "openai_costs", "--tenant", "acme", "--start", "2026-11-01", "--end", "2026-11-02"]


@pytest.fixture
def local_env(tmp_path, monkeypatch):
    with SandboxServer() as sandbox:
        env = demo_environment(tmp_path / "home", sandbox.base_url, ["acme"])
        env["CONVERGENCE_CONFIG_DIR"] = str(fast_retry_configs(tmp_path))
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        yield sandbox


def joined(capsys) -> str:
    out = capsys.readouterr()
    return (out.out + out.err).replace("\n", " ")


def run_id_of(text: str) -> str:
    return re.search(r"(run-[0-9a-f]{20})", text).group(1)


def requested_record(run_id: str) -> dict:
    rt = build_runtime(Settings.from_env())
    try:
        history = metadata.run_history(rt.warehouse, "acme", run_id)
        steps = metadata.step_history(rt.warehouse, "acme", run_id)
    finally:
        rt.close()
    return {"history": history, "steps": steps}


def test_a_cli_run_records_its_provenance(local_env, capsys):
    assert main(RUN) == 0
    run_id = run_id_of(joined(capsys))
    found = requested_record(run_id)
    first = found["history"][0]
    assert first["status"] == "REQUESTED"
    meta = first["run_metadata"]

    assert meta["trigger"]["type"] == "cli"
    assert (
        meta["trigger"]["by"].startswith("user:") and socket.gethostname() in meta["trigger"]["by"]
    )
    assert meta["worker"]["host"] == socket.gethostname()
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert meta["code_version"] == code_version() and meta["code_version"].endswith(head[:12])

    # the config version: every file the run used, hashed independently here
    config_dir = Path(Settings.from_env().config_dir)
    files = meta["config_version"]["files"]
    template = config_dir / "_library/pipelines/openai_costs"
    for path in (
        config_dir / "acme/openai/cost/openai_costs/openai_costs.yml",  # acme's override
        template / "openai_costs.yml",  # the template it extends
        template / "openai_costs_source.yml",
        template / "openai_costs_dq.yml",
    ):
        relative = str(path.resolve().relative_to(config_dir.resolve()))
        assert files[relative] == hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    assert any(name.startswith("_library/focus/") for name in files)
    assert meta["config_version"]["git_commit"] is None  # a copied tree is no repository

    # the trace id is the one every step record carries
    assert len(meta["trace_id"]) == 32 and meta["traceparent"].split("-")[1] == meta["trace_id"]
    assert {s["metadata"]["trace_id"] for s in found["steps"]} == {meta["trace_id"]}


def test_changing_a_config_file_changes_the_config_version(local_env, capsys):
    assert main(RUN) == 0
    before = requested_record(run_id_of(joined(capsys)))["history"][0]["run_metadata"]
    config_dir = Path(Settings.from_env().config_dir)
    dq = config_dir / "_library/pipelines/openai_costs/openai_costs_dq.yml"
    dq.write_text(dq.read_text() + "\n# reviewed\n")
    assert main(RUN) == 0
    after = requested_record(run_id_of(joined(capsys)))["history"][0]["run_metadata"]
    assert after["config_version"]["sha256"] != before["config_version"]["sha256"]
    changed = {
        k
        for k, v in after["config_version"]["files"].items()
        if before["config_version"]["files"].get(k) != v
    }
    assert changed == {"_library/pipelines/openai_costs/openai_costs_dq.yml"}


def test_the_repositorys_configs_carry_its_git_commit(tmp_path):
    from lib.config.loader import load_pipeline
    from lib.provenance import config_version

    pipeline = load_pipeline(REPO / "configs", "acme", "openai_costs")
    version = config_version(pipeline, REPO / "configs")
    head = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    assert version["git_commit"] == head
    assert set(version["files"]) == {
        str(p.relative_to((REPO / "configs").resolve())) for p in run_files(pipeline)
    }


def test_an_api_run_records_the_key_that_asked(rt, keys, client):
    resp = call(client, "POST", "/pipelines/run/openai_costs", keys.active["acme"])
    assert resp.status_code == 202
    run = metadata.run_history(rt.warehouse, "acme", resp.get_json()["run_id"])[0]
    key_id = parse_key(keys.active["acme"])[1]
    assert run["run_metadata"]["trigger"] == {"type": "api", "by": f"api-key:{key_id}"}
    assert keys.active["acme"].rpartition("_")[2] not in str(run["run_metadata"])


def test_status_shows_a_timeline_with_attempts_rows_dq_trace_and_the_error_cause(local_env, capsys):
    local_env.faults.set(server_error=2)  # the first delivery of ingest fails, the second works
    assert main(RUN) == 0
    run_id = run_id_of(joined(capsys))
    assert main(["status", run_id, "--tenant", "acme"]) == 0
    out = joined(capsys)
    trace_id = requested_record(run_id)["history"][0]["run_metadata"]["trace_id"]
    assert f"trace {trace_id}" in out
    assert "requested by cli (user:" in out
    for status in ("REQUESTED", "RUNNING", "RETRYING", "COMPLETE"):
        assert status in out
    cells = re.sub(r"[│┃]", " ", out)
    assert re.search(r"#0 ingest_costs \(ingest\)\s+RETRYING\s+1\s+.*HTTP 500", cells)
    assert re.search(r"#0 ingest_costs \(ingest\)\s+COMPLETE\s+2\s+\d+\.\d\ds\s+\d+", cells)
    assert re.search(r"DQ: \d+ expectations: \d+ passed, 0 critical failure", out)
    assert "API call(s)" in out


def test_status_of_a_failed_run_names_the_error_and_its_cause(local_env, capsys, monkeypatch):
    monkeypatch.setenv("CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY", "sk-wrong")
    assert main(RUN) == 1
    run_id = run_id_of(joined(capsys))
    assert main(["status", run_id, "--tenant", "acme"]) == 1
    out = joined(capsys)
    assert "FAILED" in out and "error:" in out and "401" in out
    assert re.search(r"cause: step ingest_costs \(ingest, attempt 1\) failed: .*401", out)


def test_runs_filters_by_status_and_since(local_env, capsys):
    assert main(RUN) == 0
    run_id = run_id_of(joined(capsys))
    assert main(["runs", "--tenant", "acme", "--status", "COMPLETE", "--since", "24h"]) == 0
    out = joined(capsys)
    assert run_id in out and "1 run(s) requested since" in out and "cli" in out
    assert main(["runs", "--tenant", "acme", "--status", "FAILED", "--since", "24h"]) == 0
    assert run_id not in joined(capsys)
    future = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert main(["runs", "--tenant", "acme", "--since", future]) == 0
    assert run_id not in joined(capsys)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("24h", dt.timedelta(hours=24)),
        ("7d", dt.timedelta(days=7)),
        ("30m", dt.timedelta(minutes=30)),
    ],
)
def test_since_accepts_durations(text, back):
    moment = _since(text)
    assert abs((dt.datetime.now(dt.UTC) - back) - moment) < dt.timedelta(minutes=1)


def test_since_refuses_what_it_cannot_read(capsys):
    with pytest.raises(SystemExit):
        main(["runs", "--tenant", "acme", "--since", "yesterday"])
    assert "write e.g. 24h, 7d, 30m or YYYY-MM-DD" in joined(capsys)


def test_replay_is_recorded_on_the_run_and_trace_draws_the_runs_spans(local_env, capsys):
    local_env.faults.set(server_error=100_000)
    assert main([*RUN[:-4], "--start", "2026-11-01", "--end", "2026-11-01"]) == 1
    run_id = run_id_of(joined(capsys))
    local_env.faults.clear()
    assert main(["replay", "--tenant", "acme"]) == 0
    capsys.readouterr()
    assert main(["status", run_id, "--tenant", "acme"]) == 0
    out = joined(capsys)
    assert re.search(r"run\s+RUNNING\s+replay by user:", re.sub(r"[│┃]", " ", out))
    assert main(["trace", run_id, "--tenant", "acme"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("run.request")
    assert any(line.startswith("  ingest.handle") for line in lines)
    assert any("step ingest_costs" in line for line in lines)
    assert any("warehouse.write" in line and "rows=" in line for line in lines)
