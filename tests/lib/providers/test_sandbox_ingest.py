"""The connector against the real sandbox over HTTP on 127.0.0.1: every fault switch."""

from __future__ import annotations

from decimal import Decimal

import pyarrow as pa
import pytest

from lib.config.source import RateLimitConfig, RetryConfig
from lib.errors import DataError, TerminalError
from lib.providers import fetch_batches
from lib.sandbox import SandboxServer, sandbox_key
from tests.lib.providers.support import DAY, SOURCES, TENANT, FakeClock, schema, secrets, source

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def server():
    with SandboxServer(page_size=4) as running:
        yield running


@pytest.fixture(autouse=True)
def clean(server):
    assert server.wait_idle()
    server.faults.clear()
    server.requests.clear()
    yield
    assert server.wait_idle()
    server.faults.clear()


def fetch(server, name="openai_costs", clock=None, key=None, **overrides):
    clock = clock or FakeClock()
    overrides.setdefault("rate_limit", RateLimitConfig(requests_per_minute=6000, burst=100))
    batches = fetch_batches(
        source(name, **overrides),
        DAY,
        tenant_id=TENANT,
        secrets=secrets(key or sandbox_key(TENANT)),
        schema=schema(name),
        base_url=server.base_url,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    return pa.Table.from_batches(list(batches), schema=None).to_pylist()


@pytest.mark.parametrize("name", SOURCES)
def test_every_example_source_ingests_several_pages(server, name):
    rows = fetch(server, name)
    assert len(rows) > 4
    assert len(server.requests) == -(-len(rows) // 4)  # ceil: page size 4
    assert all(row[next(iter(row))] is not None for row in rows)


def test_openai_amounts_are_decimals_and_match_the_json_text(server):
    rows = fetch(server)
    assert all(isinstance(r["amount_value"], Decimal) for r in rows)
    assert {r["amount_currency"] for r in rows} == {"usd"}
    assert len({r["project_id"] for r in rows}) > 1


def test_anthropic_cents_are_exact_decimals(server):
    rows = fetch(server, "anthropic_cost_report")
    assert all(isinstance(r["amount_cents"], Decimal) for r in rows)
    assert any(r["amount_cents"] != r["amount_cents"].to_integral_value() for r in rows)


def test_rate_limit_fault_is_retried_after_retry_after(server):
    clean_rows = fetch(server)
    server.faults.set(rate_limit=2, retry_after=3)
    clock = FakeClock()
    assert fetch(server, clock=clock) == clean_rows
    assert [s for s in clock.sleeps if s == 3.0] == [3.0, 3.0]


def test_server_error_fault_is_retried_with_backoff(server):
    clean_rows = fetch(server)
    server.faults.set(server_error=2)
    clock = FakeClock()
    assert fetch(server, clock=clock) == clean_rows
    assert [1.0, 2.0] == [s for s in clock.sleeps if s in (1.0, 2.0)]


def test_server_error_beyond_max_attempts_is_transient(server):
    from lib.errors import TransientError

    server.faults.set(server_error=10)
    with pytest.raises(TransientError, match=r"page 1.*HTTP 500"):
        fetch(server, retry=RetryConfig(max_attempts=3))


def test_slow_fault_times_out_then_succeeds(server):
    clean_rows = fetch(server)
    server.faults.set(slow=0.5, slow_count=1)
    retry = RetryConfig(timeout_seconds=0.15, initial_backoff_seconds=0.01)
    clock = FakeClock()
    assert fetch(server, clock=clock, retry=retry) == clean_rows
    assert 0.01 in clock.sleeps


@pytest.mark.parametrize("fault", ["truncated_json", "malformed_json"])
def test_broken_json_faults_fail_with_a_data_error(server, fault):
    server.faults.set(**{fault: 1})
    with pytest.raises(DataError) as info:
        fetch(server)
    message = str(info.value)
    assert "openai /v1/organization/costs page 1: malformed page: invalid JSON" in message
    assert 'Sample: \'{"object": "page"' in message
    assert sandbox_key(TENANT) not in message


def test_repeat_cursor_fault_is_stopped_by_the_loop_guard(server):
    server.faults.set(repeat_cursor=True)
    with pytest.raises(DataError, match=r"page 2: malformed page: cursor .* already followed"):
        fetch(server)
    assert len(server.requests) == 2


def test_empty_pages_fault_continues_to_the_data(server):
    clean_rows = fetch(server, "anthropic_usage_messages")
    clean_requests = len(server.requests)
    server.requests.clear()
    server.faults.set(empty_pages=2)
    assert fetch(server, "anthropic_usage_messages") == clean_rows
    assert len(server.requests) == clean_requests + 2


def test_trailing_cursor_fault_does_not_cause_an_extra_request(server):
    clean_rows = fetch(server, "anthropic_cost_report")
    clean_requests = len(server.requests)
    server.requests.clear()
    server.faults.set(trailing_cursor=True)
    assert fetch(server, "anthropic_cost_report") == clean_rows
    assert len(server.requests) == clean_requests


def test_spike_multiplies_one_days_amounts(server):
    clean_rows = fetch(server, "anthropic_cost_report")
    server.faults.set(spike={"day": DAY.isoformat(), "factor": 10, "tenant": TENANT})
    spiked = fetch(server, "anthropic_cost_report")
    assert sum(r["amount_cents"] for r in spiked) == 10 * sum(r["amount_cents"] for r in clean_rows)


def test_a_wrong_key_is_rejected_terminally(server):
    with pytest.raises(TerminalError, match=r"HTTP 401.*'anthropic_admin_key' of tenant 'acme'"):
        fetch(server, "anthropic_usage_messages", key="sk-not-a-sandbox-key")


def test_pages_are_requested_only_as_batches_are_consumed(server):
    batches = fetch_batches(
        source("openai_costs"),
        DAY,
        tenant_id=TENANT,
        secrets=secrets(sandbox_key(TENANT)),
        schema=schema("openai_costs"),
        base_url=server.base_url,
    )
    assert server.requests == []
    next(batches)
    assert len(server.requests) == 1
    next(batches)
    assert len(server.requests) == 2
    batches.close()
