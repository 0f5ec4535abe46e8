"""Injection corpus: path traversal, quotes, backticks, unicode look-alikes, oversized ids.

Every hostile id is refused with a logged 400 before it reaches SQL or the filesystem; the
response never echoes it; nothing is published; the tenant's tables are intact afterwards.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from werkzeug.test import Client

from lib.metadata import TABLES, metadata_table
from lib.wiring import Runtime
from tests.lib.api import harness

CORPUS = [
    "../../etc/passwd",
    "..",
    "openai_costs/../../globex/openai/cost/openai_costs",
    "..\\..\\windows\\win.ini",
    "%2e%2e%2fetc%2fpasswd",  # double-encoded: arrives as %2e… after one decode
    "openai_costs'; DROP TABLE acme_metadata.api_keys; --",
    "openai_costs' OR '1'='1",
    'openai_costs" OR "1"="1',
    "openai_costs`; SELECT 1; `",
    "`acme_metadata`.`api_keys`",
    "openai_costs;",
    "openai_costs\x00",
    "openai_costs\n",
    "openai_costs\r\nX-Injected: 1",
    "open ai_costs",
    "${jndi:ldap://127.0.0.1/x}",
    "{{7*7}}",
    "<script>alert(1)</script>",
    "open\u0430i_costs",  # Cyrillic a
    "\uff4f\uff50\uff45\uff4e\uff41\uff49_costs",  # fullwidth "openai"
    "openai_costs\u200b",  # zero-width space
    "openai_cost\u017f",  # long s (case-folds to s)
    "OPENAI_COSTS",
    "openai_costs" + "_x" * 20,  # one character over the limit
    "a" * 5000,
    "ab",
    "",
]
PIPELINE_PATHS = [f"/pipelines/run/{quote(v, safe='')}" for v in CORPUS]
RUN_PATHS = [f"/pipelines/runs/{quote(v, safe='')}" for v in CORPUS]
RUN_PATHS += [f"/pipelines/runs/{quote('run-' + v, safe='')}" for v in CORPUS[:-1]]


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Runtime, Client, str]]:
    root = tmp_path_factory.mktemp("injection")
    rt = harness.make_runtime(root / "home", harness.make_config(root))
    with harness.installed(rt):
        yield rt, harness.client(), harness.onboard(rt).active["acme"]
    rt.close()


def _check_refused(
    world: tuple[Runtime, Client, str], method: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    rt, client, key = world
    before = len(rt.bus.published_events())  # type: ignore[attr-defined]
    with caplog.at_level(logging.WARNING, logger="lib.api"):
        resp = client.open(path, method=method, headers=harness.auth(key))
    assert resp.status_code == 400, (path, resp.get_data(as_text=True))
    assert resp.mimetype == "application/problem+json"
    assert resp.get_json()["type"].endswith("/invalid-identifier")
    assert any("rejected request input" in r.getMessage() for r in caplog.records)
    assert len(rt.bus.published_events()) == before  # type: ignore[attr-defined]
    for table in TABLES:
        assert rt.warehouse.table_exists(metadata_table("acme", table))


@pytest.mark.parametrize("path", PIPELINE_PATHS)
def test_hostile_pipeline_ids_are_400(world, path: str, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    _check_refused(world, "POST", path, caplog)


@pytest.mark.parametrize("path", RUN_PATHS)
def test_hostile_run_ids_are_400(world, path: str, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    _check_refused(world, "GET", path, caplog)


@pytest.mark.parametrize("value", CORPUS[5:12])
def test_responses_never_echo_hostile_input(world, value: str) -> None:  # type: ignore[no-untyped-def]
    _, client, key = world
    resp = client.open(
        f"/pipelines/run/{quote(value, safe='')}", method="POST", headers=harness.auth(key)
    )
    assert value.encode() not in resp.get_data()


def test_log_lines_are_escaped_and_truncated(world, caplog: pytest.LogCaptureFixture) -> None:  # type: ignore[no-untyped-def]
    _, client, key = world
    hostile = "x\r\nFAKE LOG LINE severity=CRITICAL" + "y" * 500
    with caplog.at_level(logging.WARNING, logger="lib.api"):
        client.open(f"/pipelines/runs/{quote(hostile, safe='')}", headers=harness.auth(key))
    [record] = [r for r in caplog.records if "rejected" in r.getMessage()]
    assert "\n" not in record.getMessage() and "\r" not in record.getMessage()
    assert "y" * 100 not in record.getMessage()


@pytest.mark.parametrize(
    "query",
    [
        "status=COMPLETE' OR '1'='1",
        "status=complete",
        "status=COMPLETE%00",
        "since=2025-01-01'; DROP TABLE x; --",
        "since=2025-01-01T00:00:00%2B00:00%0A",
        "limit=1;DELETE",
        "limit=%EF%BC%91",  # fullwidth digit one
        "since=%EF%BC%92025-01-01",
    ],
)
def test_hostile_query_parameters_are_400(world, query: str) -> None:  # type: ignore[no-untyped-def]
    _, client, key = world
    resp = client.open(f"/pipelines/runs?{query}", headers=harness.auth(key))
    assert resp.status_code == 400, resp.get_data(as_text=True)


@pytest.mark.parametrize(
    "header",
    [
        "Bearer cvg_acme' OR 1=1 --",
        "Bearer ../../etc/passwd",
        "Bearer cvg_\uff41cme_000000000000_" + "0" * 64,
        "Bearer " + "cvg_acme_" + "a" * 10_000,
        "Basic YWNtZTphY21l",
    ],
)
def test_hostile_keys_are_401(world, header: str) -> None:  # type: ignore[no-untyped-def]
    _, client, _ = world
    resp = client.open("/pipelines/runs", headers={"Authorization": header})
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")


def test_hostile_tenant_header_is_400_when_auth_is_disabled(tmp_path) -> None:  # type: ignore[no-untyped-def]
    rt = harness.make_runtime(tmp_path / "h", harness.make_config(tmp_path), {"DISABLE_AUTH": "1"})
    with harness.installed(rt):
        client = harness.client()
        for tenant in ["../globex", "acme' --", "\u0430cme", "metadata;", "a" * 500]:
            resp = client.open(
                "/pipelines/runs", headers={"X-Tenant-Id": tenant.encode("utf-8").decode("latin-1")}
            )
            assert resp.status_code == 400, tenant
    rt.close()
