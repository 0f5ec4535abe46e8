"""Cross-tenant matrix: every endpoint, own/other tenant, valid/revoked/missing key.

A key acts for exactly one tenant. Another tenant's pipelines and runs answer exactly like ones
that do not exist, and nothing is published or recorded for them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from werkzeug.test import Client, TestResponse

from lib import metadata
from lib.runs import request_run
from lib.wiring import Runtime
from tests.lib.api import harness

OWN_PIPELINE = {"acme": "acme_only", "globex": "globex_only"}
OTHER = {"acme": "globex", "globex": "acme"}


@dataclass(frozen=True)
class World:
    rt: Runtime
    client: Client
    keys: harness.Keys
    runs: dict[str, str]  # tenant → one of its run ids


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("cross")
    rt = harness.make_runtime(root / "home", harness.make_config(root))
    with harness.installed(rt):
        keys = harness.onboard(rt)
        runs = {t: request_run(rt, t, p).pipeline_logging_id for t, p in OWN_PIPELINE.items()}
        yield World(rt, harness.client(), keys, runs)
    rt.close()


def _key(w: World, caller: str, state: str) -> str | None:
    return {"valid": w.keys.active, "revoked": w.keys.revoked}.get(state, {}).get(caller)


def _send(w: World, endpoint: str, caller: str, target: str, key: str | None) -> TestResponse:
    if endpoint == "trigger":
        return harness.call(w.client, "POST", f"/pipelines/run/{OWN_PIPELINE[target]}", key)
    if endpoint == "get":
        return harness.call(w.client, "GET", f"/pipelines/runs/{w.runs[target]}", key)
    headers = {"X-Tenant-Id": target}  # ignored with auth on: the key decides
    return harness.call(w.client, "GET", f"/pipelines/runs?tenant={target}", key, headers=headers)


EXPECTED = {
    ("trigger", "own", "valid"): 202,
    ("trigger", "other", "valid"): 404,
    ("get", "own", "valid"): 200,
    ("get", "other", "valid"): 404,
    ("list", "own", "valid"): 200,
    ("list", "other", "valid"): 200,  # but only the caller's own runs
} | {
    (endpoint, side, state): 401
    for endpoint in ("trigger", "get", "list")
    for side in ("own", "other")
    for state in ("revoked", "missing")
}


def _published(w: World) -> int:
    return len(w.rt.bus.published_events())  # type: ignore[attr-defined]


@pytest.mark.parametrize("caller", ["acme", "globex"])
@pytest.mark.parametrize(("endpoint", "side", "state"), sorted(EXPECTED))
def test_matrix(world: World, caller: str, endpoint: str, side: str, state: str) -> None:
    target = caller if side == "own" else OTHER[caller]
    before = _published(world)
    resp = _send(world, endpoint, caller, target, _key(world, caller, state))
    assert resp.status_code == EXPECTED[(endpoint, side, state)], resp.get_data(as_text=True)
    if resp.status_code >= 400:
        assert resp.mimetype == "application/problem+json"
    body = resp.get_json()
    if endpoint == "trigger" and resp.status_code == 202:
        assert metadata.run_status(world.rt.warehouse, caller, body["run_id"]) is not None
        assert _published(world) == before + 1
    else:
        assert _published(world) == before  # nothing triggered for anybody
    if endpoint == "list" and resp.status_code == 200:
        listed = {r["run_id"] for r in body["runs"]}
        assert world.runs[caller] in listed
        assert world.runs[OTHER[caller]] not in listed
        assert {r["pipeline_id"] for r in body["runs"]} <= {"acme_only", "globex_only"} - {
            OWN_PIPELINE[OTHER[caller]]
        }
    if endpoint == "get" and resp.status_code == 200:
        assert body["run_id"] == world.runs[caller]


def test_other_tenants_run_is_indistinguishable_from_a_missing_one(world: World) -> None:
    key = world.keys.active["acme"]
    theirs = harness.call(world.client, "GET", f"/pipelines/runs/{world.runs['globex']}", key)
    missing_id = "run-" + "0" * (len(world.runs["globex"]) - 4)
    missing = harness.call(world.client, "GET", f"/pipelines/runs/{missing_id}", key)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_data() == missing.get_data()
    assert dict(theirs.headers) == dict(missing.headers)


def test_other_tenants_pipeline_is_indistinguishable_from_a_missing_one(world: World) -> None:
    key = world.keys.active["acme"]
    theirs = harness.call(world.client, "POST", "/pipelines/run/globex_only", key)
    missing = harness.call(world.client, "POST", "/pipelines/run/zzzzzz_only", key)
    assert theirs.status_code == missing.status_code == 404
    assert theirs.get_data() == missing.get_data().replace(b"zzzzzz_only", b"globex_only")
    assert dict(theirs.headers) == dict(missing.headers)


def test_a_key_relabelled_to_another_tenant_is_refused(world: World) -> None:
    forged = world.keys.active["acme"].replace("cvg_acme_", "cvg_globex_", 1)
    for path in ("/pipelines/runs", f"/pipelines/runs/{world.runs['globex']}"):
        assert harness.call(world.client, "GET", path, forged).status_code == 401


def test_x_api_key_header_obeys_the_same_rules(world: World) -> None:
    headers = {"X-API-Key": world.keys.active["globex"]}
    own = harness.call(
        world.client, "GET", f"/pipelines/runs/{world.runs['globex']}", None, headers=headers
    )
    other = harness.call(
        world.client, "GET", f"/pipelines/runs/{world.runs['acme']}", None, headers=headers
    )
    assert (own.status_code, other.status_code) == (200, 404)
