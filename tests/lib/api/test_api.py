"""The control plane through functions-framework's app: runs, statuses, errors, limits."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from werkzeug.test import Client

from events.models import RunRequested
from lib import metadata
from lib.api import MAX_BODY_BYTES, ApiRequest, check_settings, handle
from lib.errors import WarehouseUnavailable
from lib.settings import Settings
from lib.wiring import Runtime
from tests.lib.api import harness
from tests.lib.api.harness import Keys, call

ACME_RUN = "/pipelines/run/openai_costs"


def _requested(rt: Runtime) -> list[RunRequested]:
    return [e for e in rt.bus.published_events("run-requested") if isinstance(e, RunRequested)]  # type: ignore[attr-defined]


def test_post_requests_a_run_for_the_keys_tenant(rt: Runtime, keys: Keys, client: Client) -> None:
    resp = call(client, "POST", ACME_RUN, keys.active["acme"])
    assert resp.status_code == 202
    body = resp.get_json()
    assert body["status"] == "REQUESTED" and body["pipeline_id"] == "openai_costs"
    assert body["window"] == {"start": "2025-03-07", "end": "2025-03-09"}  # 3 days before today
    assert body["trigger_by"] == "api"
    assert resp.headers["Location"] == f"/pipelines/runs/{body['run_id']}"
    [event] = _requested(rt)
    assert (event.tenant_id, event.pipeline_logging_id) == ("acme", body["run_id"])
    row = metadata.run_status(rt.warehouse, "acme", body["run_id"])
    assert row is not None and row["status"] == "REQUESTED"


def test_post_with_window_and_trigger(rt: Runtime, keys: Keys, client: Client) -> None:
    payload = {"start": "2025-02-01", "end": "2025-02-03", "trigger_by": "airflow"}
    resp = call(
        client, "POST", ACME_RUN, headers={"X-API-Key": keys.active["globex"]}, json=payload
    )
    assert resp.status_code == 202, resp.get_json()
    [event] = _requested(rt)
    assert event.tenant_id == "globex"
    assert (str(event.window.start), str(event.window.end)) == ("2025-02-01", "2025-02-03")
    assert event.trigger_by == "api:airflow"


def test_single_day_window(rt: Runtime, keys: Keys, client: Client) -> None:
    resp = call(client, "POST", ACME_RUN, keys.active["acme"], json={"start": "2025-03-01"})
    assert resp.get_json()["window"] == {"start": "2025-03-01", "end": "2025-03-01"}


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"start": "2025-3-1"}, "invalid-body"),
        ({"start": None}, "invalid-body"),
        ({"start": 20250301}, "invalid-body"),
        ({"tenant_id": "globex"}, "invalid-body"),  # the tenant never comes from the body
        ({"trigger_by": "a b"}, "invalid-body"),
        ({"trigger_by": "x" * 91}, "invalid-body"),
        (["start"], "invalid-body"),
    ],
)
def test_invalid_bodies_are_400(
    rt: Runtime, keys: Keys, client: Client, payload: object, kind: str
) -> None:
    resp = call(client, "POST", ACME_RUN, keys.active["acme"], json=payload)
    assert resp.status_code == 400
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith("/" + kind)
    assert _requested(rt) == []


@pytest.mark.parametrize(
    ("payload", "kind"),
    [
        ({"start": "2025-03-05", "end": "2025-03-01"}, "invalid-window"),
        ({"start": "2025-03-05", "end": "2025-03-11"}, "invalid-window"),  # after today
        ({"start": "2023-01-01", "end": "2025-03-01"}, "invalid-window"),  # > 400 days
        ({"start": "2025-02-30"}, "invalid-date"),
    ],
)
def test_impossible_windows_are_422(
    rt: Runtime, keys: Keys, client: Client, payload: object, kind: str
) -> None:
    resp = call(client, "POST", ACME_RUN, keys.active["acme"], json=payload)
    assert resp.status_code == 422
    assert resp.get_json()["type"].endswith("/" + kind)
    assert _requested(rt) == []


@pytest.mark.parametrize("raw", [b"{", b"\xff\xfe", b"[" * 50_000, b"null"])
def test_unreadable_json_is_400(rt: Runtime, keys: Keys, client: Client, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    resp = call(client, "POST", ACME_RUN, keys.active["acme"], data=raw, headers=headers)
    assert resp.status_code == 400
    assert resp.get_json()["status"] == 400


def test_non_json_body_is_415(rt: Runtime, keys: Keys, client: Client) -> None:
    headers = {"Content-Type": "text/plain"}
    resp = call(client, "POST", ACME_RUN, keys.active["acme"], data=b"start=x", headers=headers)
    assert resp.status_code == 415


def test_body_over_64_kib_is_413(rt: Runtime, keys: Keys, client: Client) -> None:
    big = json.dumps({"trigger_by": "x" * MAX_BODY_BYTES})
    resp = call(
        client,
        "POST",
        ACME_RUN,
        keys.active["acme"],
        data=big,
        headers={"Content-Type": "application/json"},
    )
    assert resp.status_code == 413
    assert resp.mimetype == "application/problem+json"
    assert _requested(rt) == []


def test_body_limit_holds_without_content_length(rt: Runtime, keys: Keys) -> None:
    key = {"X-API-Key": keys.active["acme"]}
    request = ApiRequest("POST", ACME_RUN, key, {}, b"", body_too_large=True)
    assert handle(rt, request).status == 413


@pytest.mark.parametrize(("size", "status"), [(MAX_BODY_BYTES, None), (MAX_BODY_BYTES + 1, 413)])
def test_a_body_without_content_length_is_read_up_to_the_limit(size: int, status: Any) -> None:
    import io

    from werkzeug.wrappers import Request

    from lib.api.http import ApiProblem
    from lib.api.wsgi import read_body

    environ = {
        "REQUEST_METHOD": "POST",
        "wsgi.input": io.BytesIO(b"x" * size),
        "wsgi.input_terminated": True,  # a chunked body: no Content-Length
    }
    if status is None:
        assert len(read_body(Request(environ), timeout=5)) == size
    else:
        with pytest.raises(ApiProblem) as info:
            read_body(Request(environ), timeout=5)
        assert info.value.status == status


def test_the_body_is_read_only_after_the_key_is_verified(rt: Runtime, keys: Keys) -> None:
    reads: list[str] = []

    def reader() -> bytes:
        reads.append("read")
        return b""

    for key, status in ((None, 401), ("cvg_acme_000000000000_" + "0" * 64, 401)):
        headers = {} if key is None else {"X-API-Key": key}
        request = ApiRequest("POST", ACME_RUN, headers, read_body=reader)
        assert handle(rt, request).status == status
    assert reads == []
    request = ApiRequest("POST", ACME_RUN, {"X-API-Key": keys.active["acme"]}, read_body=reader)
    assert handle(rt, request).status == 202
    assert reads == ["read"]


def test_a_body_that_stops_arriving_is_408(rt: Runtime, keys: Keys) -> None:
    from lib.api.http import ApiProblem

    def stalled() -> bytes:
        raise ApiProblem(408, "body-timeout", "the body stopped arriving")

    request = ApiRequest("POST", ACME_RUN, {"X-API-Key": keys.active["acme"]}, read_body=stalled)
    response = handle(rt, request)
    assert (response.status, response.body["title"]) == (408, "Request Timeout")
    assert _requested(rt) == []


def test_a_huge_numeric_parameter_is_400_not_500(keys: Keys, client: Client) -> None:
    resp = call(client, "GET", "/pipelines/runs?limit=" + "9" * 5000, keys.active["acme"])
    assert resp.status_code == 400
    assert "limit" in resp.get_json()["detail"]


def test_unknown_pipeline_is_404_and_disabled_is_409(keys: Keys, client: Client) -> None:
    assert (
        call(client, "POST", "/pipelines/run/nope_pipeline", keys.active["acme"]).status_code == 404
    )
    resp = call(client, "POST", "/pipelines/run/acme_paused", keys.active["acme"])
    assert resp.status_code == 409
    assert "disabled" in resp.get_json()["detail"]


def test_get_run_and_list_runs(rt: Runtime, keys: Keys, client: Client) -> None:
    key = keys.active["acme"]
    run_id = call(client, "POST", ACME_RUN, key).get_json()["run_id"]
    rt.clock.advance(hours=1)  # type: ignore[attr-defined]
    second = call(client, "POST", ACME_RUN, key).get_json()["run_id"]
    detail = call(client, "GET", f"/pipelines/runs/{run_id}", key).get_json()
    assert detail["status"] == "REQUESTED" and detail["steps"] == []
    assert detail["dq"] == {
        "expectations": 0,
        "passed": 0,
        "failed": 0,
        "warnings": 0,
        "failures": [],
    }
    listed = call(client, "GET", "/pipelines/runs", key).get_json()["runs"]
    assert [r["run_id"] for r in listed] == [second, run_id]
    since = call(client, "GET", "/pipelines/runs?since=2025-03-10T12:30:00Z", key).get_json()
    assert [r["run_id"] for r in since["runs"]] == [second]
    assert call(client, "GET", "/pipelines/runs?status=COMPLETE", key).get_json() == {"runs": []}
    assert len(call(client, "GET", "/pipelines/runs?limit=1", key).get_json()["runs"]) == 1


@pytest.mark.parametrize(
    ("query", "status"),
    [
        ("status=DONE", 400),
        ("since=yesterday", 400),
        ("since=2025-03-01%0A", 400),
        ("since=2025-02-30", 422),
        ("limit=0", 400),
        ("limit=201", 400),
        ("limit=1e3", 400),
        ("status=FAILED&status=COMPLETE", 400),
    ],
)
def test_invalid_list_parameters(keys: Keys, client: Client, query: str, status: int) -> None:
    resp = call(client, "GET", f"/pipelines/runs?{query}", keys.active["acme"])
    assert resp.status_code == status


def test_unknown_run_is_404(keys: Keys, client: Client) -> None:
    resp = call(client, "GET", "/pipelines/runs/run-00000000000000000000", keys.active["acme"])
    assert resp.status_code == 404
    assert resp.get_json()["detail"] == "no such run for this tenant"


def test_routing_errors(keys: Keys, client: Client) -> None:
    key = keys.active["acme"]
    resp = call(client, "GET", ACME_RUN, key)
    assert (resp.status_code, resp.headers["Allow"]) == (405, "POST")
    assert call(client, "DELETE", "/pipelines/runs", key).status_code == 405
    assert call(client, "GET", "/", key).status_code == 404
    assert call(client, "GET", "/pipelines", key).mimetype == "application/problem+json"


def test_disable_auth_picks_tenant_from_header_in_local_mode(
    tmp_path: Path, config_dir: Path
) -> None:
    rt = harness.make_runtime(tmp_path / "noauth", config_dir, {"DISABLE_AUTH": "true"})
    with harness.installed(rt):
        c = harness.client()
        resp = call(c, "POST", ACME_RUN, headers={"X-Tenant-Id": "globex"})
        assert resp.status_code == 202
        [event] = _requested(rt)
        assert event.tenant_id == "globex"
        assert call(c, "GET", "/pipelines/runs?tenant=globex").status_code == 200
        assert call(c, "GET", "/pipelines/runs").status_code == 401
        assert (
            call(c, "GET", "/pipelines/runs", headers={"X-Tenant-Id": "../acme"}).status_code == 400
        )
    rt.close()


def test_disable_auth_is_refused_in_cloud_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="DISABLE_AUTH"):
        check_settings(Settings(mode="cloud", disable_auth=True, project="p"))
    check_settings(Settings(mode="local", disable_auth=True))
    monkeypatch.setenv("CONVERGENCE_MODE", "cloud")
    monkeypatch.setenv("DISABLE_AUTH", "true")
    with pytest.raises(ValueError, match="refused in cloud mode"):
        functions_framework.create_app(target="api", source=str(harness.REPO / "handlers/api.py"))


@pytest.mark.integration
def test_end_to_end_run_reports_steps_and_dq(tmp_path: Path, config_dir: Path) -> None:
    from lib.sandbox.server import SandboxServer

    with SandboxServer() as sandbox:
        env = {
            "CONVERGENCE_OPENAI_BASE_URL": sandbox.base_url,
            "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-sandbox-acme",
        }
        rt = harness.make_runtime(tmp_path / "e2e", config_dir, env, real=True)
        with harness.installed(rt):
            keys = harness.onboard(rt)
            c = harness.client()
            run_id = call(c, "POST", ACME_RUN, keys.active["acme"]).get_json()["run_id"]
            rt.bus.run_until_idle()  # type: ignore[attr-defined]
            detail = call(c, "GET", f"/pipelines/runs/{run_id}", keys.active["acme"]).get_json()
        rt.close()
    assert detail["status"] == "COMPLETE" and detail["error"] is None
    assert [s["name"] for s in detail["steps"]] == [
        "ingest_costs",
        "check_costs",
        "ingest_usage",
        "check_usage",
        "load_prices",
        "silver_focus",
        "price_usage",
        "check_prices",
    ]
    assert all(s["status"] == "COMPLETE" and s["rows_processed"] > 0 for s in detail["steps"])
    assert all(s["duration_ms"] is not None for s in detail["steps"])
    dq = detail["dq"]
    assert dq["expectations"] > 0 and dq["failed"] == 0
    # The harness's day (2025-03) precedes gpt-4.1's first catalog price (2025-04-14): the
    # sandbox's gpt-4.1 usage is unpriced, a warning that names the model.
    assert [(f["expectation"], f["severity"]) for f in dq["failures"]] == [
        ("unpriced_usage", "warning")
    ]


class _FailingWarehouse:
    """A Warehouse whose queries fail with ``error`` (everything else passes through)."""

    def __init__(self, inner: Any, error: Exception) -> None:
        self._inner, self._error = inner, error

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def query(self, sql: str, params: Any = None) -> Any:
        raise self._error


@pytest.mark.parametrize(
    ("error", "status"),
    [(WarehouseUnavailable("bq 503"), 503), (RuntimeError("boom at /secret/path"), 500)],
)
def test_failures_become_problems_without_internals(
    rt: Runtime, keys: Keys, error: Exception, status: int
) -> None:
    broken = dataclasses.replace(rt, warehouse=_FailingWarehouse(rt.warehouse, error))
    request = ApiRequest("GET", "/pipelines/runs", {"X-API-Key": keys.active["acme"]})
    response = handle(broken, request)
    assert response.status == status and response.content_type == "application/problem+json"
    assert str(error) not in response.encoded().decode()
    assert ("Retry-After" in response.headers) is (status == 503)


def test_public_names_are_exported() -> None:
    import lib.api

    public = {n for n in vars(lib.api) if not n.startswith("_")} - {"annotations"}
    modules = {"auth", "health", "http", "routing", "validation", "views", "wsgi"}
    assert set(lib.api.__all__) == public - modules


def test_liveness_needs_no_key_and_builds_no_runtime() -> None:
    def no_runtime() -> Runtime:
        raise AssertionError("liveness must not build the runtime")

    response = handle(no_runtime, ApiRequest("GET", "/healthz"))
    assert (response.status, response.body) == (200, {"status": "ok"})
    assert handle(no_runtime, ApiRequest("POST", "/healthz")).status == 405


def test_readiness_names_the_failing_component(rt: Runtime, monkeypatch) -> None:
    assert handle(rt, ApiRequest("GET", "/readyz")).body == {
        "status": "ready",
        "checks": {"warehouse": "ok", "bus": "ok"},
    }

    def unreachable() -> None:
        raise WarehouseUnavailable("journal is gone")

    monkeypatch.setattr(rt.bus, "check", unreachable)
    response = handle(rt, ApiRequest("GET", "/readyz"))
    assert response.status == 503
    assert response.body["checks"] == {"warehouse": "ok", "bus": "failing"}
    assert "bus" in response.body["detail"] and "journal is gone" not in response.body["detail"]
    assert response.headers["Retry-After"] == "10"
