"""REST connector against httpx.MockTransport: pagination, retries, exact money, bad pages."""

from __future__ import annotations

import ast
import datetime as dt
import json
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa
import pytest

from lib.adapters.env_secrets import EnvSecrets
from lib.config.source import PaginationConfig, RateLimitConfig, RetryConfig
from lib.errors import ConfigError, DataError, SecretNotFound, TerminalError, TransientError
from lib.providers import fetch_batches
from lib.schema import SchemaField
from tests.lib.providers.support import (
    DAY,
    SECRET,
    TENANT,
    FakeClock,
    Pages,
    cost,
    openai_page,
    schema,
    secrets,
    source,
)

COSTS = "openai_costs"


def run(pages: Pages, clock: FakeClock | None = None, name: str = COSTS, **overrides):
    clock = clock or FakeClock()
    batches = fetch_batches(
        source(name, **overrides),
        DAY,
        tenant_id=TENANT,
        secrets=secrets(),
        schema=schema(name),
        transport=pages.transport,
        sleep=clock.sleep,
        monotonic=clock.monotonic,
    )
    return list(batches)


def rows(batches: list[pa.RecordBatch]) -> list[dict]:
    return [row for batch in batches for row in batch.to_pylist()]


def test_cursor_pages_are_followed_with_window_params_and_bearer_auth():
    pages = Pages(
        openai_page([cost("1.5"), cost("2")], True, "cur_2"),
        openai_page([cost("3", project="proj_2")], False, None),
    )
    out = rows(run(pages))
    assert [r["amount_value"] for r in out] == [Decimal("1.5"), Decimal(2), Decimal(3)]
    first, second = pages.requests
    assert first.url.path == "/v1/organization/costs"
    assert first.url.params["start_time"] == "1736899200"  # 2025-01-15T00:00Z
    assert first.url.params["end_time"] == "1736985600"
    assert first.url.params.get_list("group_by") == ["project_id", "line_item"]
    assert "page" not in first.url.params
    assert second.url.params["page"] == "cur_2"
    assert first.headers["authorization"] == f"Bearer {SECRET}"
    assert out[0]["bucket_start_time"] == dt.datetime(2025, 1, 15, tzinfo=dt.UTC)


def test_empty_page_with_has_more_continues():
    pages = Pages(
        openai_page([], True, "cur_2"),
        openai_page([], True, "cur_3"),
        openai_page([cost("4")], False, None),
    )
    assert [r["amount_value"] for r in rows(run(pages))] == [Decimal(4)]
    assert len(pages.requests) == 3


def test_last_page_still_returning_a_cursor_stops_when_has_more_is_false():
    pages = Pages(openai_page([cost("1")], False, "cur_never_followed"))
    assert len(rows(run(pages))) == 1
    assert len(pages.requests) == 1


def test_repeated_cursor_is_a_data_error_naming_the_page():
    pages = Pages(openai_page([cost("1")], True, "same"))
    with pytest.raises(DataError) as info:
        run(pages)
    message = str(info.value)
    assert "openai /v1/organization/costs page 2" in message
    assert "already followed" in message
    assert len(pages.requests) == 2


def test_more_than_max_pages_is_a_data_error():
    counter = iter(range(100))
    pages = Pages(lambda: httpx.Response(200, text=openai_page([], True, f"c{next(counter)}")))
    with pytest.raises(DataError, match="max_pages=3"):
        run(pages, pagination=PaginationConfig(max_pages=3))
    assert len(pages.requests) == 3


def test_retry_after_is_honoured():
    clock = FakeClock()
    pages = Pages(
        httpx.Response(429, headers={"Retry-After": "7"}, json={"error": {}}),
        openai_page([cost("1")], False, None),
    )
    assert len(rows(run(pages, clock))) == 1
    assert clock.sleeps == [7.0]


def test_retry_after_as_http_date_is_honoured():
    clock = FakeClock()
    headers = {
        "Retry-After": "Wed, 15 Jan 2025 00:00:12 GMT",
        "Date": "Wed, 15 Jan 2025 00:00:02 GMT",
    }
    pages = Pages(httpx.Response(503, headers=headers), openai_page([cost("1")], False, None))
    run(pages, clock)
    assert clock.sleeps == [10.0]


def _raise(exc: Exception):
    def respond() -> httpx.Response:
        raise exc

    return respond


def test_5xx_timeouts_and_connection_errors_back_off_exponentially():
    clock = FakeClock()
    pages = Pages(
        httpx.Response(500),
        _raise(httpx.ReadTimeout("slow")),
        _raise(httpx.ConnectError("refused")),
        httpx.Response(502),
        openai_page([cost("1")], False, None),
    )
    retry = RetryConfig(initial_backoff_seconds=1, max_backoff_seconds=5, max_attempts=6)
    assert len(rows(run(pages, clock, retry=retry))) == 1
    assert clock.sleeps == [1.0, 2.0, 4.0, 5.0]


def test_budget_exhaustion_raises_transient_error_with_context():
    clock = FakeClock()
    pages = Pages(httpx.Response(503, text=f"down {SECRET}"))
    retry = RetryConfig(initial_backoff_seconds=4, budget_seconds=10, max_attempts=50)
    with pytest.raises(TransientError) as info:
        run(pages, clock, retry=retry)
    message = str(info.value)
    assert "openai /v1/organization/costs page 1" in message
    assert "HTTP 503" in message
    assert "2 attempt(s)" in message
    assert SECRET not in message
    assert clock.sleeps == [4.0]


def test_max_attempts_exhaustion_raises_transient_error():
    pages = Pages(httpx.Response(429))
    with pytest.raises(TransientError, match=r"3 attempt\(s\).*HTTP 429"):
        run(pages, retry=RetryConfig(max_attempts=3))
    assert len(pages.requests) == 3


def test_rejected_credentials_are_terminal_and_name_the_secret_not_its_value():
    pages = Pages(httpx.Response(401, json={"error": {"message": f"bad key {SECRET}"}}))
    with pytest.raises(TerminalError) as info:
        run(pages)
    assert not isinstance(info.value, TransientError)
    assert "'openai_admin_key' of tenant 'acme'" in str(info.value)
    assert SECRET not in str(info.value)
    assert len(pages.requests) == 1


def test_other_4xx_is_terminal_with_a_masked_sample():
    pages = Pages(httpx.Response(400, text=f"bad group_by; key={SECRET}"))
    with pytest.raises(TerminalError, match="HTTP 400") as info:
        run(pages)
    assert SECRET not in str(info.value) and "***" in str(info.value)


def test_openai_float_amounts_are_exact_decimals_of_the_json_text():
    pages = Pages(
        openai_page(
            [cost("0.30000000000000004"), cost("0.1"), cost("1e-7"), cost("12345678.5")],
            False,
            None,
        )
    )
    batches = run(pages)
    assert batches[0].schema.field("amount_value").type == pa.decimal128(38, 24)
    values = [r["amount_value"] for r in rows(batches)]
    assert values == [
        Decimal("0.30000000000000004"),
        Decimal("0.1"),
        Decimal("0.0000001"),
        Decimal("12345678.5"),
    ]
    assert values[0] != Decimal(0.1 + 0.2)  # the float would not be exact


def amount_only() -> tuple[list[SchemaField], Any]:
    """The OpenAI costs source reduced to its amount: a NUMERIC(38,9) value and its currency."""
    narrow = [
        SchemaField(name="amount_value", type="NUMERIC", mode="REQUIRED"),
        SchemaField(name="amount_currency", type="STRING"),
    ]
    src = source(COSTS)
    columns = {
        k: v for k, v in src.records.columns.items() if k in ("amount_value", "amount_currency")
    }
    strict = src.model_copy(update={"records": src.records.model_copy(update={"columns": columns})})
    return narrow, strict


def test_numeric_column_refuses_to_round_unless_asked():
    narrow, strict = amount_only()
    page = openai_page([cost("0.30000000000000004")], False, None)

    def fetch(cfg):
        return list(
            fetch_batches(
                cfg,
                DAY,
                tenant_id=TENANT,
                secrets=secrets(),
                schema=narrow,
                transport=Pages(page).transport,
                sleep=FakeClock().sleep,
            )
        )

    with pytest.raises(DataError, match="17 decimal places but the column holds 9"):
        fetch(strict)
    columns = strict.records.columns
    rounding = {
        **columns,
        "amount_value": columns["amount_value"].model_copy(update={"rounding": "half_even"}),
    }
    lenient = strict.model_copy(
        update={"records": strict.records.model_copy(update={"columns": rounding})}
    )
    assert rows(fetch(lenient))[0]["amount_value"] == Decimal("0.300000000")


def _anthropic_result(**fields: object) -> dict:
    base = dict.fromkeys(
        (
            "workspace_id",
            "description",
            "cost_type",
            "model",
            "service_tier",
            "token_type",
            "context_window",
            "inference_geo",
        ),
    )
    return {**base, "currency": "USD", **fields}


ANTHROPIC_PAGE = json.dumps(
    {
        "data": [
            {
                "starting_at": "2025-01-15T00:00:00Z",
                "ending_at": "2025-01-16T00:00:00Z",
                "results": [
                    _anthropic_result(
                        description="Claude Sonnet 4 Usage - Input Tokens",
                        cost_type="tokens",
                        model="claude-sonnet-4-20250514",
                        token_type="uncached_input_tokens",
                        amount="1234.5678",
                    ),
                    _anthropic_result(
                        workspace_id="wrkspc_1", cost_type="web_search", amount="AMOUNT"
                    ),
                ],
            }
        ],
        "has_more": False,
        "next_page": None,
    }
).replace("AMOUNT", "%s")


def test_anthropic_cents_strings_stay_exact_and_api_key_header_is_sent():
    pages = Pages(ANTHROPIC_PAGE % "0.000000001")
    out = rows(run(pages, name="anthropic_cost_report"))
    assert [r["amount_cents"] for r in out] == [Decimal("1234.5678"), Decimal("0.000000001")]
    assert str(out[0]["amount_cents"]).rstrip("0") == "1234.5678"
    assert out[0]["bucket_starting_at"] == dt.datetime(2025, 1, 15, tzinfo=dt.UTC)
    request = pages.requests[0]
    assert request.headers["x-api-key"] == SECRET
    assert request.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in request.headers
    assert request.url.params["starting_at"] == "2025-01-15T00:00:00Z"
    assert request.url.params.get_list("group_by[]") == ["workspace_id", "description"]


def test_anthropic_cents_with_more_places_than_the_column_fail_instead_of_rounding():
    with pytest.raises(DataError, match="23 decimal places"):
        run(Pages(ANTHROPIC_PAGE % "0.00000000000000000000001"), name="anthropic_cost_report")


def test_anthropic_cents_with_many_places_stay_exact():
    (batch,) = run(Pages(ANTHROPIC_PAGE % "0.1234567890123456789012"), name="anthropic_cost_report")
    assert batch.column("amount_cents").to_pylist()[-1] == Decimal("0.1234567890123456789012")


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ('{"object": "page", "data": [{"object": "bucket", "start_time": 1, "end', "invalid JSON"),
        ("<html>502 Bad Gateway</html>", "invalid JSON"),
        ('{"object": "page", "has_more": false}', "required field 'data'"),
        ('{"data": [{"start_time": 1, "end_time": 2}], "has_more": false}', "data[0].results"),
        (
            '{"data": [{"start_time": 1, "end_time": 2, "results": [{"amount": {"value": "abc", '
            '"currency": "usd"}}]}], "has_more": false}',
            "amount.value (column amount_value): expected a decimal",
        ),
        (
            '{"data": [{"start_time": 1, "end_time": 2, "results": [{"amount": {"currency": '
            '"usd"}}]}], "has_more": false}',
            "amount.value (column amount_value): required field is missing",
        ),
        ("[1, 2, 3]", "expected a JSON object"),
    ],
)
def test_malformed_page_is_a_data_error_with_context_and_sample(body, problem):
    pages = Pages(openai_page([cost("1")], True, "cur_2"), body)
    with pytest.raises(DataError) as info:
        run(pages)
    message = str(info.value)
    assert "openai /v1/organization/costs page 2" in message
    assert problem in message
    assert "Sample: " + repr(body[:200]) in message
    assert "start_time=" not in message  # the endpoint, never the query


def test_malformed_page_sample_masks_the_api_key_and_is_short():
    body = '{"echo": "' + SECRET + '", "data": "x' + "y" * 500 + '"'
    with pytest.raises(DataError) as info:
        run(Pages(body))
    message = str(info.value)
    assert SECRET not in message
    assert "***" in message
    sample = message.split("Sample: ", 1)[1]
    assert len(ast.literal_eval(sample.split(". The provider")[0])) == 200


def test_missing_secret_names_secret_tenant_and_variable_before_any_request():
    pages = Pages(openai_page([], False, None))
    with pytest.raises(SecretNotFound) as info:
        fetch_batches(
            source(COSTS),
            DAY,
            tenant_id=TENANT,
            secrets=EnvSecrets({}),
            schema=schema(COSTS),
            transport=pages.transport,
        )
    message = str(info.value)
    assert "'openai_admin_key'" in message and "'acme'" in message
    assert "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY" in message
    assert pages.requests == []


def test_batches_are_yielded_before_the_next_page_is_fetched():
    pages = Pages(
        openai_page([cost("1")], True, "c2"),
        openai_page([cost("2")], True, "c3"),
        openai_page([cost("3")], False, None),
    )
    batches = fetch_batches(
        source(COSTS),
        DAY,
        tenant_id=TENANT,
        secrets=secrets(),
        schema=schema(COSTS),
        transport=pages.transport,
        sleep=FakeClock().sleep,
    )
    assert len(pages.requests) == 0
    seen = []
    for batch in batches:
        seen.append((batch.column("amount_value")[0].as_py(), len(pages.requests)))
    assert seen == [(Decimal(1), 1), (Decimal(2), 2), (Decimal(3), 3)]


def test_a_page_is_split_into_batches_of_batch_rows():
    pages = Pages(openai_page([cost(str(i)) for i in range(5)], False, None))
    batches = fetch_batches(
        source(COSTS),
        DAY,
        tenant_id=TENANT,
        secrets=secrets(),
        schema=schema(COSTS),
        transport=pages.transport,
        batch_rows=2,
    )
    assert [b.num_rows for b in batches] == [2, 2, 1]


def test_token_bucket_paces_requests():
    clock = FakeClock()
    pages = Pages(
        openai_page([cost("1")], True, "c2"),
        openai_page([cost("2")], True, "c3"),
        openai_page([cost("3")], False, None),
    )
    run(pages, clock, rate_limit=RateLimitConfig(requests_per_minute=30, burst=1))
    assert clock.sleeps == [2.0, 2.0]


def test_page_number_pagination_stops_after_an_empty_page():
    pages = Pages(
        openai_page([cost("1")], None, None),
        openai_page([cost("2")], None, None),
        openai_page([], None, None),
    )
    pagination = PaginationConfig(
        type="page_number", has_more_field=None, page_size_param="limit", page_size=1
    )
    assert len(rows(run(pages, pagination=pagination))) == 2
    assert [r.url.params["page"] for r in pages.requests] == ["1", "2", "3"]
    assert pages.requests[0].url.params["limit"] == "1"


def test_offset_pagination_advances_by_the_items_read_and_stops_after_a_short_page():
    pages = Pages(  # an item is a daily bucket (records.path: data) holding its rows
        openai_page([cost("1"), cost("2")], None, None),
        openai_page([cost("3")], None, None),
        openai_page([], None, None),
    )
    pagination = PaginationConfig(
        type="offset", has_more_field=None, page_size_param="limit", page_size=1
    )
    assert len(rows(run(pages, pagination=pagination))) == 3
    assert [r.url.params["offset"] for r in pages.requests] == ["0", "1", "2"]
    assert {r.url.params["limit"] for r in pages.requests} == {"1"}


def test_offset_pagination_follows_has_more_and_refuses_an_empty_page_that_has_more():
    pages = Pages(
        openai_page([cost("1")], True, None),
        openai_page([cost("2")], False, None),
    )
    pagination = PaginationConfig(type="offset", offset_param="skip")
    assert len(rows(run(pages, pagination=pagination))) == 2
    assert [r.url.params["skip"] for r in pages.requests] == ["0", "1"]
    looping = Pages(openai_page([], True, None))
    with pytest.raises(DataError, match="offset would not move"):
        rows(run(looping, pagination=pagination))


def test_next_link_pagination_follows_relative_links_on_the_same_origin():
    first = openai_page([cost("1")], None, None).replace(
        '"next_page": null', '"next": "/v1/organization/costs?after=x"'
    )
    pages = Pages(first, openai_page([cost("2")], None, None))
    pagination = PaginationConfig(type="next_link", next_link_field="next")
    assert len(rows(run(pages, pagination=pagination))) == 2
    assert str(pages.requests[1].url) == "https://api.openai.com/v1/organization/costs?after=x"


def test_next_link_to_another_origin_is_refused():
    first = openai_page([cost("1")], None, None).replace(
        '"next_page": null', '"next": "https://evil.example/steal"'
    )
    pages = Pages(first, openai_page([], None, None))
    with pytest.raises(DataError, match="another origin"):
        run(pages, pagination=PaginationConfig(type="next_link"))
    assert len(pages.requests) == 1


def test_base_url_override_is_used():
    pages = Pages(openai_page([], False, None))
    list(
        fetch_batches(
            source(COSTS),
            DAY,
            tenant_id=TENANT,
            secrets=secrets(),
            schema=schema(COSTS),
            base_url="http://127.0.0.1:9/prefix",
            transport=pages.transport,
        )
    )
    assert str(pages.requests[0].url).startswith("http://127.0.0.1:9/prefix/v1/organization/costs?")


def test_mapped_column_missing_from_schema_is_a_config_error():
    narrow = [f for f in schema(COSTS) if f.name != "line_item"]
    with pytest.raises(ConfigError) as info:
        fetch_batches(source(COSTS), DAY, tenant_id=TENANT, secrets=secrets(), schema=narrow)
    assert info.value.problems[0].field == "records.columns.line_item"


def test_repeated_schema_field_cannot_be_mapped():
    fields = [*schema(COSTS)]
    fields[4] = SchemaField(name="line_item", type="STRING", mode="REPEATED")
    with pytest.raises(ConfigError, match="REPEATED"):
        fetch_batches(source(COSTS), DAY, tenant_id=TENANT, secrets=secrets(), schema=fields)


def test_a_decimal_beyond_its_scale_names_provider_column_path_and_value():
    """Never rounded: the error says who sent what, where, and which column refused it."""
    narrow, strict = amount_only()
    page = openai_page([cost("1.5"), cost("2.0000000001")], False, None)
    with pytest.raises(DataError) as info:
        list(
            fetch_batches(
                strict,
                DAY,
                tenant_id=TENANT,
                secrets=secrets(),
                schema=narrow,
                transport=Pages(page).transport,
            )
        )
    message = str(info.value)
    assert "openai /v1/organization/costs page 1" in message
    assert "data[0].results[1].amount.value (column amount_value)" in message
    assert "2.0000000001 has 10 decimal places but the column holds 9" in message
