"""The sandbox over real HTTP: documented shapes, auth, determinism, faults, pagination."""

from __future__ import annotations

import json
from decimal import Decimal

import httpx
import pytest

from lib.sandbox import SandboxServer, sandbox_key

pytestmark = pytest.mark.integration

DAY_START = 1736899200  # 2025-01-15T00:00:00Z
OPENAI_WINDOW = {"start_time": DAY_START, "end_time": DAY_START + 86400}
ANTHROPIC_WINDOW = {"starting_at": "2025-01-15T00:00:00Z", "ending_at": "2025-01-16T00:00:00Z"}
CLIENT = httpx.Client()


@pytest.fixture(scope="module")
def server():
    with SandboxServer(page_size=8) as running:
        yield running
    CLIENT.close()


@pytest.fixture(autouse=True)
def clean(server):
    assert server.wait_idle()
    server.faults.clear()
    yield
    server.faults.clear()


def openai_get(server, path, tenant="acme", key=None, **params):
    key = sandbox_key(tenant) if key is None else key
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return CLIENT.get(server.base_url + path, params={**OPENAI_WINDOW, **params}, headers=headers)


def anthropic_get(server, path, tenant="acme", key=None, version="2023-06-01", **params):
    headers = {"x-api-key": key or sandbox_key(tenant)}
    if version:
        headers["anthropic-version"] = version
    return CLIENT.get(
        server.base_url + path, params={**ANTHROPIC_WINDOW, **params}, headers=headers
    )


def all_results(get, server, path, prefix_params=None, **kwargs):
    """Follow next_page to the end; return (results, pages)."""
    results, pages, token = [], 0, None
    while True:
        params = {**(prefix_params or {}), **({"page": token} if token else {})}
        body = get(server, path, **kwargs, **params).json()
        pages += 1
        results += [r for bucket in body["data"] for r in bucket["results"]]
        if not body["has_more"]:
            return results, pages
        token = body["next_page"]


def test_openai_costs_shape():
    with SandboxServer(page_size=3) as server:
        body = openai_get(
            server, "/v1/organization/costs", group_by=["project_id", "line_item"]
        ).json()
    assert body["object"] == "page"
    assert body["has_more"] is True and isinstance(body["next_page"], str)
    (bucket,) = body["data"]
    assert bucket["object"] == "bucket"
    assert (bucket["start_time"], bucket["end_time"]) == (DAY_START, DAY_START + 86400)
    result = bucket["results"][0]
    assert result["object"] == "organization.costs.result"
    assert isinstance(result["amount"]["value"], float)
    assert result["amount"]["currency"] == "usd"
    assert result["project_id"].startswith("proj_")
    assert result["organization_id"].startswith("org-")
    assert "," in result["line_item"]


def test_openai_usage_completions_shape(server):
    body = openai_get(
        server, "/v1/organization/usage/completions", group_by="project_id,model"
    ).json()
    result = body["data"][0]["results"][0]
    assert result["object"] == "organization.usage.completions.result"
    for field in ("input_tokens", "output_tokens", "input_cached_tokens", "num_model_requests"):
        assert isinstance(result[field], int)
    assert result["model"] and result["project_id"]
    assert result["api_key_id"] is None and result["batch"] is None  # not grouped


def test_anthropic_cost_report_shape(server):
    body = anthropic_get(
        server, "/v1/organizations/cost_report", **{"group_by[]": ["workspace_id", "description"]}
    ).json()
    assert set(body) == {"data", "has_more", "next_page"}
    assert body["next_page"].startswith("page_")
    bucket = body["data"][0]
    assert (bucket["starting_at"], bucket["ending_at"]) == tuple(ANTHROPIC_WINDOW.values())
    result = bucket["results"][0]
    assert isinstance(result["amount"], str)
    Decimal(result["amount"])  # a decimal string in cents
    assert result["currency"] == "USD"
    assert result["cost_type"] == "tokens" and result["token_type"] and result["model"]


def test_anthropic_usage_messages_shape(server):
    body = anthropic_get(
        server,
        "/v1/organizations/usage_report/messages",
        **{"group_by[]": ["model", "workspace_id"]},
    ).json()
    result = body["data"][0]["results"][0]
    assert set(result["cache_creation"]) == {
        "ephemeral_5m_input_tokens",
        "ephemeral_1h_input_tokens",
    }
    assert isinstance(result["server_tool_use"]["web_search_requests"], int)
    for field in ("uncached_input_tokens", "cache_read_input_tokens", "output_tokens"):
        assert isinstance(result[field], int)
    assert result["model"].startswith("claude-")
    assert result["api_key_id"] is None  # not grouped


@pytest.mark.parametrize("key", ["sk-wrong", "", "sk-sandbox-../etc"])
def test_openai_rejects_wrong_keys_with_its_401_shape(server, key):
    response = openai_get(server, "/v1/organization/costs", key=key)
    assert response.status_code == 401
    error = response.json()["error"]
    assert error["type"] == "invalid_request_error" and error["code"] == "invalid_api_key"


def test_anthropic_rejects_wrong_keys_and_missing_version(server):
    response = anthropic_get(server, "/v1/organizations/cost_report", key="sk-wrong")
    assert response.status_code == 401
    assert response.json() == {
        "type": "error",
        "error": {"type": "authentication_error", "message": "invalid x-api-key"},
    }
    response = anthropic_get(server, "/v1/organizations/cost_report", version=None)
    assert response.status_code == 400
    assert response.json()["error"]["type"] == "invalid_request_error"


def test_openai_bearer_key_is_not_accepted_as_anthropic_header(server):
    headers = {"Authorization": f"Bearer {sandbox_key('acme')}", "anthropic-version": "2023-06-01"}
    response = httpx.get(
        server.base_url + "/v1/organizations/cost_report", params=ANTHROPIC_WINDOW, headers=headers
    )
    assert response.status_code == 401


def test_tenant_allow_list():
    with SandboxServer(tenants=["acme"]) as server:
        assert openai_get(server, "/v1/organization/costs").status_code == 200
        assert openai_get(server, "/v1/organization/costs", tenant="globex").status_code == 401


def test_bad_parameters_get_400(server):
    assert openai_get(server, "/v1/organization/costs", start_time="yesterday").status_code == 400
    assert openai_get(server, "/v1/organization/costs", group_by="colour").status_code == 400
    bad_page = anthropic_get(server, "/v1/organizations/cost_report", page="page_!!!")
    assert bad_page.status_code == 400


def test_data_is_deterministic_per_tenant_and_day(server):
    path = "/v1/organizations/cost_report"
    group = {"group_by[]": ["workspace_id", "description"]}
    first, _ = all_results(anthropic_get, server, path, group)
    with SandboxServer(page_size=50) as other:
        again, _ = all_results(anthropic_get, other, path, group)
    assert first == again
    other_tenant, _ = all_results(anthropic_get, server, path, group, tenant="globex")
    assert other_tenant != first
    later, _ = all_results(
        anthropic_get,
        server,
        path,
        {**group, "starting_at": "2025-01-16T00:00:00Z", "ending_at": "2025-01-17T00:00:00Z"},
    )
    assert later != first


def test_small_pages_split_a_day_and_lose_nothing(server):
    path = "/v1/organization/costs"
    paged, pages = all_results(openai_get, server, path, {"group_by": ["project_id", "line_item"]})
    assert pages > 1 and len(paged) > 8
    with SandboxServer(page_size=1000) as big:
        whole, one_page = all_results(
            openai_get, big, path, {"group_by": ["project_id", "line_item"]}
        )
    assert one_page == 1
    assert paged == whole


def test_ungrouped_dimensions_are_null_and_amounts_add_up(server):
    path = "/v1/organizations/cost_report"
    detailed, _ = all_results(
        anthropic_get, server, path, {"group_by[]": ["workspace_id", "description"]}
    )
    totals, _ = all_results(anthropic_get, server, path, {})
    assert len(totals) == 1
    assert totals[0]["workspace_id"] is None and totals[0]["description"] is None
    assert Decimal(totals[0]["amount"]) == sum(Decimal(r["amount"]) for r in detailed)


def test_multi_day_window_has_one_bucket_per_day(server):
    window = {"starting_at": "2025-01-01T00:00:00Z", "ending_at": "2025-01-04T00:00:00Z"}
    with SandboxServer(page_size=1000) as big:
        body = anthropic_get(big, "/v1/organizations/usage_report/messages", **window).json()
    assert [b["starting_at"][:10] for b in body["data"]] == [
        "2025-01-01",
        "2025-01-02",
        "2025-01-03",
    ]


def test_rate_limit_and_server_error_faults_answer_n_requests(server):
    server.faults.set(rate_limit=1, retry_after=2, server_error=1)
    first = openai_get(server, "/v1/organization/costs")
    assert first.status_code == 429 and first.headers["retry-after"] == "2"
    assert first.json()["error"]["code"] == "rate_limit_exceeded"
    second = anthropic_get(server, "/v1/organizations/cost_report")
    assert second.status_code == 500 and second.json()["error"]["type"] == "api_error"
    assert openai_get(server, "/v1/organization/costs").status_code == 200


def test_json_faults_break_the_next_pages_only(server):
    server.faults.set(truncated_json=1, malformed_json=1)
    for _ in range(2):
        with pytest.raises(json.JSONDecodeError):
            json.loads(openai_get(server, "/v1/organization/costs").text)
    assert openai_get(server, "/v1/organization/costs").json()["object"] == "page"


def test_repeat_cursor_fault_never_advances(server):
    server.faults.set(repeat_cursor=True)
    first = openai_get(server, "/v1/organization/costs").json()
    second = openai_get(server, "/v1/organization/costs", page=first["next_page"]).json()
    assert second["has_more"] is True and second["next_page"] == first["next_page"]
    assert second["data"] == first["data"]


def test_faults_over_http(server):
    url = server.base_url + "/_sandbox/faults"
    state = httpx.post(url, json={"server_error": 2, "spike": {"day": "2025-01-15"}}).json()
    assert state["server_error"] == 2 and state["spike"]["factor"] == "10"
    assert server.faults.state.server_error == 2
    assert httpx.get(url).json()["server_error"] == 2
    assert httpx.post(url, json={"no_such_switch": 1}).status_code == 400
    assert httpx.post(url, json={"rate_limit": -1}).status_code == 400
    assert httpx.delete(url).json()["server_error"] == 0
    assert server.faults.state.spike is None


def test_faults_at_construction_and_slow():
    with SandboxServer(faults={"server_error": 1, "slow": 0.2, "slow_count": 1}) as server:
        first = openai_get(server, "/v1/organization/costs")
        assert first.status_code == 500
        assert first.elapsed.total_seconds() >= 0.2
        second = openai_get(server, "/v1/organization/costs")
        assert second.status_code == 200 and second.elapsed.total_seconds() < 0.2


def test_spike_multiplies_only_the_given_day_and_tenant(server):
    path = "/v1/organizations/cost_report"
    before, _ = all_results(anthropic_get, server, path, {})
    other_before, _ = all_results(anthropic_get, server, path, {}, tenant="globex")
    server.faults.set(spike={"day": "2025-01-15", "factor": 3, "tenant": "acme"})
    after, _ = all_results(anthropic_get, server, path, {})
    other_after, _ = all_results(anthropic_get, server, path, {}, tenant="globex")
    assert Decimal(after[0]["amount"]) == 3 * Decimal(before[0]["amount"])
    assert other_after == other_before
