"""The vectorised page shaping gives exactly the row-by-row reference's batches and problems.

``shape_page`` (columns at once, Arrow conversions) must equal ``shape_rows`` (the reference:
value by value, each problem located): same batches (schema, values, boundaries), or the same
``PageProblem`` message after the same batches. Checked over the sandbox's pages for every
example source (one and several daily buckets per page), the connector tests' provider
examples, and seeded random pages of tricky values for every column type.
"""

from __future__ import annotations

import datetime as dt
import json
import random
from decimal import Decimal
from typing import Any

import pyarrow as pa
import pytest

from lib.config.source import RecordsConfig
from lib.providers.pages import PageProblem, Plan, build_plan, shape_page, shape_rows
from lib.providers.paging import Pager
from lib.providers.rest import first_params
from lib.sandbox import SandboxServer, sandbox_key
from lib.schema import SchemaField
from tests.lib.providers.support import DAY, SOURCES, cost, openai_page, raw_numbers, schema, source
from tests.lib.providers.test_rest_connector import ANTHROPIC_PAGE

Outcome = tuple[list[pa.RecordBatch], str | None]


def outcome(batches: Any) -> Outcome:
    """Every batch yielded, then the problem raised (if any)."""
    seen: list[pa.RecordBatch] = []
    try:
        for batch in batches:
            seen.append(batch)
    except PageProblem as exc:
        return seen, str(exc)
    return seen, None


def assert_same(payload: Any, plan: Plan, batch_rows: int = 10_000) -> Outcome:
    fast = outcome(shape_page(payload, plan, batch_rows))
    reference = outcome(shape_rows(payload, plan, batch_rows))
    assert fast[1] == reference[1]
    assert [b.num_rows for b in fast[0]] == [b.num_rows for b in reference[0]]
    for mine, theirs in zip(fast[0], reference[0], strict=True):
        assert mine.schema == theirs.schema
        assert mine.equals(theirs), (mine.to_pylist()[:3], theirs.to_pylist()[:3])
    return fast


def parse(body: str | bytes) -> Any:
    return json.loads(body, parse_float=Decimal)


def plan_of(name: str) -> Plan:
    return build_plan(source(name).records, schema(name), name)


def sandbox_pages(server: SandboxServer, name: str, days: int, tenant: str) -> list[Any]:
    """Every page of ``days`` days (one request window) of a source, as parsed JSON."""
    src = source(name)
    params = first_params(src, DAY)
    end_param = src.end_param or ""
    last = dt.datetime(DAY.year, DAY.month, DAY.day, tzinfo=dt.UTC) + dt.timedelta(days=days)
    end: str | int = int(last.timestamp())
    if src.time_format == "rfc3339":
        end = last.strftime("%Y-%m-%dT%H:%M:%SZ")
    params = params.set(end_param, str(end)).set("limit", str(days))
    pager = Pager(src.pagination, src.endpoint, params)
    key = sandbox_key(tenant)
    headers = {"authorization": f"Bearer {key}", "x-api-key": key, **src.headers}
    pages, request = [], pager.first()
    while request is not None:
        body = server.answer(src.endpoint, str(request.params), headers)
        assert isinstance(body, bytes), body
        pages.append(parse(body))
        rows = sum(len(b.get("results", [])) for b in pages[-1]["data"])
        request = pager.next(pages[-1], request, rows, None)  # type: ignore[arg-type]
    return pages


@pytest.mark.parametrize("name", SOURCES)
@pytest.mark.parametrize("days", [1, 7])
def test_sandbox_pages_shape_identically(name, days):
    server = SandboxServer(page_size=50, scale=3)
    try:
        plan = plan_of(name)
        total = 0
        for tenant in ("acme", "globex"):
            for payload in sandbox_pages(server, name, days, tenant):
                for batch_rows in (10_000, 7):
                    batches, problem = assert_same(payload, plan, batch_rows)
                    assert problem is None
                total += sum(b.num_rows for b in batches)
        assert total > 20 * days
    finally:
        server.stop()


def test_provider_examples_shape_identically():
    costs = parse(
        raw_numbers(
            openai_page(
                [cost("0.30000000000000004"), cost("0.1"), cost("1e-7"), cost("12345678.5")],
                True,
                "c2",
            )
        )
    )
    batches, problem = assert_same(costs, plan_of("openai_costs"))
    assert problem is None and batches[0].num_rows == 4
    cents = parse(ANTHROPIC_PAGE % "0.000000001")
    batches, problem = assert_same(cents, plan_of("anthropic_cost_report"))
    assert problem is None
    assert batches[0].column("amount_cents").to_pylist()[1] == Decimal("0.000000001")


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("0.30000000000000004", None),
        ('" 12.5 "', None),  # a decimal string with spaces: Arrow declines, Python strips
        ('"1_000"', None),
        ('"abc"', "expected a decimal number or decimal string"),
        ("1e-25", "25 decimal places but the column holds 24"),
        ("123456789012345.5", "too many integer digits"),
        ("true", "expected a decimal number"),
        ("NaN", "expected a decimal number"),
        ("null", "required field is missing or null"),
    ],
)
def test_openai_amounts_shape_identically(value, problem):
    body = openai_page([cost("1"), cost("2"), cost("VALUE"), cost("3")], False, None)
    payload = parse(raw_numbers(body.replace('"@@VALUE@@"', value)))
    for batch_rows in (10_000, 2):
        _, raised = assert_same(payload, plan_of("openai_costs"), batch_rows)
        assert (raised is None) if problem is None else (problem in (raised or ""))
    if problem is not None:
        assert raised is not None and "data[0].results[2].amount.value" in raised


# --- seeded random pages over every column type -------------------------------------------

FIELDS = [
    SchemaField(name="start", type="TIMESTAMP", mode="REQUIRED"),
    SchemaField(name="s", type="STRING"),
    SchemaField(name="j", type="JSON"),
    SchemaField(name="i", type="INT64"),
    SchemaField(name="f", type="FLOAT64"),
    SchemaField(name="n", type="NUMERIC"),
    SchemaField(name="b", type="BIGNUMERIC", precision=38, scale=30),
    SchemaField(name="r", type="NUMERIC"),
    SchemaField(name="t", type="TIMESTAMP"),
    SchemaField(name="dt", type="DATETIME"),
    SchemaField(name="d", type="DATE"),
    SchemaField(name="ok", type="BOOL"),
    SchemaField(name="need", type="STRING", mode="REQUIRED"),
    SchemaField(name="label", type="STRING"),
]
RECORDS = RecordsConfig.model_validate(
    {
        "path": "data",
        "each": "rows",
        "columns": {
            "start": {"path": "meta.start", "scope": "parent"},
            "s": "v.s",
            "j": "v.j",
            "i": "v.i",
            "f": "v.f",
            "n": "v.n",
            "b": "deep.er.b",
            "r": {"path": "v.r", "rounding": "half_even"},
            "t": "v.t",
            "dt": "v.dt",
            "d": "v.d",
            "ok": "ok",
            "need": "need",
            "label": {"path": "meta.label", "scope": "parent"},
        },
    }
)
TRICKY: list[Any] = [
    None,
    "text",
    " padded ",
    "",
    "12",
    "-7",
    "1.5",
    " 2.25 ",
    "1_000",
    "1e5",
    "NaN",
    "2025-01-15T00:00:00Z",
    "2025-01-15T01:00:00+01:00",
    "2025-01-15",
    "2025-01-15 10:00:00",
    0,
    1,
    -3,
    10**20,
    1736899200,
    True,
    False,
    Decimal("0.1"),
    Decimal("0.30000000000000004"),
    Decimal("1.5000000000"),
    Decimal("1E+2"),
    Decimal("-0.0"),
    Decimal("123456789012345678901234567890"),
    Decimal("1736899200.5"),
    {"a": Decimal("1.10")},
    [1, "x"],
]


def random_page(rng: random.Random, buckets: int, rows: int) -> dict[str, Any]:
    noise = rng.choice([0.0, 0.01, 0.03, 0.1])

    def _value(rng: random.Random, clean: Any) -> Any:
        return rng.choice(TRICKY) if rng.random() < noise else clean

    data = []
    for k in range(buckets):
        bucket_rows = []
        for i in range(rng.randint(0, rows)):
            v = {
                "s": _value(rng, f"s{i % 7}"),
                "j": _value(rng, {"k": [i, Decimal("0.5")]}),
                "i": _value(rng, i),
                "f": _value(rng, Decimal("0.25")),
                "n": _value(rng, Decimal(i) / 8),
                "r": _value(rng, Decimal("0.1234567891")),
                "t": _value(rng, 1736899200 + i),
                "dt": _value(rng, "2025-01-15T10:00:00"),
                "d": _value(rng, "2025-01-15"),
            }
            row = {
                "v": _value(rng, v),
                "deep": {"er": {"b": _value(rng, Decimal(i) / 3 if i % 3 == 0 else Decimal(i))}},
                "ok": _value(rng, i % 2 == 0),
                "need": _value(rng, "x"),
            }
            bucket_rows.append(row)
        start = _value(rng, 1736899200 + 86400 * k) if rng.random() < 0.3 else 1736899200
        label = rng.choice([None, f"bucket {k}", _value(rng, "x")])
        data.append({"meta": {"start": start, "label": label}, "rows": bucket_rows})
    return {"data": data}


def test_random_pages_of_every_type_shape_identically():
    plan = build_plan(RECORDS, FIELDS, "fuzz")
    rng = random.Random(20250115)
    outcomes = {"ok": 0, "problem": 0}
    for _ in range(400):
        payload = random_page(rng, rng.randint(1, 3), 12)
        for batch_rows in (10_000, 5):
            _, problem = assert_same(payload, plan, batch_rows)
        outcomes["problem" if problem else "ok"] += 1
    assert min(outcomes.values()) > 50  # both outcomes were exercised


def test_clean_random_pages_take_the_vectorised_path(monkeypatch):
    """Clean pages never fall back (the fallback would hide a slow path)."""
    import lib.providers.pages as pages

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("fell back to the row-by-row path")

    plan = plan_of("openai_costs")
    payload = parse(raw_numbers(openai_page([cost(str(i / 7)) for i in range(50)], False, None)))
    monkeypatch.setattr(pages, "shape_rows", refuse)
    [batch] = shape_page(payload, plan, 10_000)
    assert batch.num_rows == 50


@pytest.mark.parametrize(
    "payload",
    [
        {"data": "nope"},
        {"data": [{"meta": {}, "rows": "nope"}]},
        {"data": [1]},
        {"data": [{"meta": {}, "rows": [1]}]},
        {"data": [{"meta": 5, "rows": [{"need": "x"}]}]},
        {"data": [{"meta": {"start": 1}, "rows": [{"need": "x", "v": 3}]}]},
        {"nodata": []},
        [],
    ],
)
def test_malformed_structures_raise_the_same_problem(payload):
    plan = build_plan(RECORDS, FIELDS, "fuzz")
    _, problem = assert_same(payload, plan)
    assert problem is not None
