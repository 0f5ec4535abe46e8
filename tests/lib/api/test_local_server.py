"""A local API server built from the environment delivers its runs by itself."""

from __future__ import annotations

import time
from pathlib import Path

import functions_framework

from lib.demo import demo_environment
from lib.sandbox.server import SandboxServer
from lib.wiring import install

REPO = Path(__file__).resolve().parents[3]


def test_local_api_server_completes_runs_without_a_manual_drain(tmp_path, monkeypatch):
    with SandboxServer() as sandbox:
        env = demo_environment(tmp_path / "home", sandbox.base_url, ["acme"])
        env |= {"CONVERGENCE_CONFIG_DIR": str(REPO / "configs"), "DISABLE_AUTH": "true"}
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        install(None)  # as in a fresh server process: the runtime is built from the environment
        app = functions_framework.create_app(
            target="api", source=str(REPO / "handlers" / "api.py"), signature_type="http"
        )
        client = app.test_client()
        headers = {"X-Tenant-Id": "acme"}
        created = client.post(
            "/pipelines/run/openai_costs",
            json={"start": "2026-11-01", "end": "2026-11-02"},
            headers=headers,
        )
        assert created.status_code == 202, created.get_data(as_text=True)
        run_id = created.get_json()["run_id"]
        status = None
        for _ in range(300):
            status = client.get(f"/pipelines/runs/{run_id}", headers=headers).get_json()["status"]
            if status in ("COMPLETE", "FAILED"):
                break
            time.sleep(0.1)
        try:
            assert status == "COMPLETE"
        finally:
            from lib.wiring import runtime

            rt = runtime()
            install(None)
            time.sleep(0.2)
            rt.close()
