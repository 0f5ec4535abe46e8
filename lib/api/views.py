"""The API's operations: trigger a run, show one run, list runs (all scoped to one tenant);
onboard a tenant (admin scope).

Another tenant's run or pipeline is looked up in the caller's own datasets only, so it is
answered exactly like one that does not exist.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from lib import metadata
from lib.api import validation
from lib.api.auth import requester
from lib.api.http import ApiProblem, ApiRequest, ApiResponse
from lib.config.loader import RESERVED_FOLDERS, pipeline_files
from lib.errors import ConfigError
from lib.provenance import Trigger
from lib.runs import request_run
from lib.sql import table_sql
from lib.states import RunStatus
from lib.wiring import Runtime


def _iso(value: Any) -> str | None:
    return None if value is None else value.isoformat()


def _window(row: dict[str, Any]) -> dict[str, str] | None:
    if row.get("window_start") is None:
        return None
    return {"start": _iso(row["window_start"]), "end": _iso(row["window_end"])}  # type: ignore[dict-item]


def _pipeline_exists(rt: Runtime, tenant_id: str, pipeline_id: str) -> bool:
    tenant_dir = rt.config_dir / tenant_id
    if tenant_id in RESERVED_FOLDERS or not tenant_dir.is_dir():
        return False
    return bool(pipeline_files(tenant_dir, pipeline_id))


def trigger_run(rt: Runtime, request: ApiRequest, tenant_id: str, raw_id: str) -> ApiResponse:
    """``POST /pipelines/run/{pipeline_id}``: record REQUESTED, publish ``run.requested``.

    Raises:
        ApiProblem: 400 invalid id or body, 404 no such pipeline, 409 disabled or invalid.
    """
    pipeline_id = validation.pipeline_id(raw_id)
    body = validation.run_body(request, rt.clock.now().date())
    if not _pipeline_exists(rt, tenant_id, pipeline_id):
        raise ApiProblem(404, "not-found", f"no pipeline {pipeline_id!r} for this tenant")
    try:
        event = request_run(
            rt,
            tenant_id,
            pipeline_id,
            body.window,
            trigger_by=body.trigger_by,
            trigger=Trigger(type="api", by=requester(request)),
        )
    except ConfigError as exc:
        problems = "; ".join(f"{p.field}: {p.message}" for p in exc.problems)
        raise ApiProblem(
            409, "pipeline-not-runnable", f"{problems} (run `convergence validate`)"
        ) from exc
    run_path = f"/pipelines/runs/{event.pipeline_logging_id}"
    body_out = {
        "run_id": event.pipeline_logging_id,
        "status": RunStatus.REQUESTED,
        "pipeline_id": pipeline_id,
        "window": {"start": _iso(event.window.start), "end": _iso(event.window.end)},
        "trigger_by": event.trigger_by,
        "requested_at": _iso(event.occurred_at),
        "links": {"self": run_path},
    }
    return ApiResponse(202, body_out, {"Location": run_path})


def _summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "run_id": row["pipeline_logging_id"],
        "pipeline_id": row["pipeline_id"],
        "status": row["status"],
        "trigger_by": row.get("trigger_by"),
        "window": _window(row),
        "requested_at": _iso(row.get("requested_at")),
        "updated_at": _iso(row["recorded_at"]),
        "error": row.get("error"),
    }


def _steps(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[int, dict[str, Any]] = {}
    for record in history:
        latest[record["step_index"]] = record
    return [
        {
            "index": r["step_index"],
            "name": r["step_name"],
            "type": r["step_type"],
            "status": r["status"],
            "started_at": _iso(r["started_at"]),
            "ended_at": _iso(r["ended_at"]),
            "duration_ms": r["duration_ms"],
            "rows_processed": r["rows_processed"],
            "error": r["error"],
        }
        for r in (latest[i] for i in sorted(latest))
    ]


def _dq_summary(rt: Runtime, tenant_id: str, run_id: str) -> dict[str, Any]:
    rows = rt.warehouse.query(
        "SELECT step_name, table_name, expectation_name, severity, success, unexpected_count "
        f"FROM {table_sql(metadata.metadata_table(tenant_id, 'dq_results'))} "
        "WHERE pipeline_logging_id = @run_id ORDER BY step_name, expectation_name",
        {"run_id": run_id},
    )
    failures = [
        {
            "step": r["step_name"],
            "table": r["table_name"],
            "expectation": r["expectation_name"],
            "severity": r["severity"],
            "unexpected_count": r["unexpected_count"],
        }
        for r in rows
        if not r["success"]
    ]
    return {
        "expectations": len(rows),
        "passed": len(rows) - len(failures),
        "failed": sum(1 for f in failures if f["severity"] == "critical"),
        "warnings": sum(1 for f in failures if f["severity"] != "critical"),
        "failures": failures,
    }


def _requested_at(rt: Runtime, tenant_id: str, run_id: str) -> dt.datetime | None:
    rows = rt.warehouse.query(
        "SELECT MIN(recorded_at) AS first_seen "
        f"FROM {table_sql(metadata.metadata_table(tenant_id, 'pipeline_runs'))} "
        "WHERE pipeline_logging_id = @run_id",
        {"run_id": run_id},
    )
    return rows[0]["first_seen"] if rows else None


def get_run(rt: Runtime, request: ApiRequest, tenant_id: str, raw_id: str) -> ApiResponse:
    """``GET /pipelines/runs/{run_id}``: status, steps, DQ summary and error of one run.

    Raises:
        ApiProblem: 400 invalid id, 404 no such run for this tenant.
    """
    run_id = validation.run_id(raw_id)
    rt.ensure_tenant(tenant_id)
    status = metadata.run_status(rt.warehouse, tenant_id, run_id)
    if status is None:
        raise ApiProblem(404, "not-found", "no such run for this tenant")
    status["requested_at"] = _requested_at(rt, tenant_id, run_id)
    body = {
        **_summary(status),
        "steps": _steps(metadata.step_history(rt.warehouse, tenant_id, run_id)),
        "dq": _dq_summary(rt, tenant_id, run_id),
    }
    return ApiResponse(200, body)


def list_runs(rt: Runtime, request: ApiRequest, tenant_id: str, _: str = "") -> ApiResponse:
    """``GET /pipelines/runs``: the tenant's runs, newest first.

    Raises:
        ApiProblem: 400 for invalid query parameters.
    """
    query = validation.run_filter(request)
    rt.ensure_tenant(tenant_id)
    rows = metadata.list_runs(
        rt.warehouse, tenant_id, status=query.status, since=query.since, limit=query.limit
    )
    return ApiResponse(200, {"runs": [_summary(r) for r in rows]})


def create_tenant(rt: Runtime, request: ApiRequest, _admin: str, _: str = "") -> ApiResponse:
    """``POST /tenants`` (admin): onboard a tenant from library templates.

    Local mode writes the tenant's pipeline files under the config root; in cloud mode the
    configs come from the repository, so the files are returned to be committed. Both
    provision the datasets and list the secrets to create and the next steps.

    Raises:
        ApiProblem: 400 invalid body, unknown template or reserved tenant id; 409 a template
            that does not load.
    """
    from lib.onboarding import onboard_tenant, plan_files

    body = validation.tenant_body(request)
    try:
        plan_files(rt.config_dir, body.tenant_id, body.pipelines)
    except ConfigError as exc:
        detail = "; ".join(f"{p.message} ({p.hint})" for p in exc.problems)
        raise validation.reject("invalid-body", detail, body.pipelines) from exc
    try:
        done = onboard_tenant(rt, body.tenant_id, body.pipelines, write=rt.settings.mode == "local")
    except ConfigError as exc:
        problems = "; ".join(f"{p.file}: {p.field}: {p.message}" for p in exc.problems[:5])
        raise ApiProblem(
            409, "not-onboardable", f"{problems} (run `convergence validate`)"
        ) from exc
    out = {
        "tenant_id": done.tenant_id,
        "written": done.written,
        "files": [
            {
                "pipeline_id": f.pipeline_id,
                "path": f"configs/{f.path.as_posix()}",
                "created": f.created,
                "content": f.text,
            }
            for f in done.files
        ],
        "datasets": done.datasets,
        "secrets": [
            {"name": s.name, "secret_id": s.secret_id, "variable": s.variable} for s in done.secrets
        ],
        "next": done.next_steps,
    }
    return ApiResponse(201 if any(f.created for f in done.files) else 200, out)
