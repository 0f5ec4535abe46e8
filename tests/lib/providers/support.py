"""Shared helpers for connector tests: example sources, a fake clock, page builders."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from lib.adapters.env_secrets import EnvSecrets
from lib.config.schema_files import load_schema_file
from lib.config.source import RestSourceConfig, load_source
from lib.schema import SchemaField

DATA = Path(__file__).parent / "data"
DAY = dt.date(2025, 1, 15)
TENANT = "acme"
SECRET = "sk-test-VERY-SECRET-0123456789"
SOURCES = (
    "openai_costs",
    "openai_usage_completions",
    "anthropic_cost_report",
    "anthropic_usage_messages",
)


def source(name: str, **overrides: Any) -> RestSourceConfig:
    """An example source from ``data/``, with top-level fields replaced."""
    loaded = load_source(DATA / f"{name}.source.yml")
    assert isinstance(loaded, RestSourceConfig)
    return loaded.model_copy(update=overrides) if overrides else loaded


def schema(name: str) -> list[SchemaField]:
    """The example raw-table schema of a source."""
    return load_schema_file(DATA / f"{name}.schema.json")


def secrets(value: str = SECRET, tenant: str = TENANT) -> EnvSecrets:
    """Secrets holding both providers' admin keys for ``tenant``."""
    prefix = f"CONVERGENCE_SECRET_{tenant.upper()}_"
    return EnvSecrets({f"{prefix}OPENAI_ADMIN_KEY": value, f"{prefix}ANTHROPIC_ADMIN_KEY": value})


class FakeClock:
    """``sleep`` advances ``monotonic``; every sleep is recorded."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


def openai_page(results: list[dict[str, Any]], has_more: bool, next_page: str | None) -> str:
    """An OpenAI costs page (raw JSON text) with one bucket for DAY."""
    start = int(dt.datetime(2025, 1, 15, tzinfo=dt.UTC).timestamp())
    bucket = {"object": "bucket", "start_time": start, "end_time": start + 86400}
    data = [{**bucket, "results": results}] if results else []
    return json.dumps(
        {"object": "page", "data": data, "has_more": has_more, "next_page": next_page}
    )


def cost(value: str, project: str = "proj_1", line_item: str = "gpt-4o, input") -> dict[str, Any]:
    """An OpenAI cost result; ``value`` is inserted as raw JSON number text later."""
    return {
        "object": "organization.costs.result",
        "amount": {"value": f"@@{value}@@", "currency": "usd"},
        "line_item": line_item,
        "project_id": project,
        "organization_id": "org-1",
    }


def raw_numbers(text: str) -> str:
    """Turn ``"@@0.1@@"`` placeholders into bare JSON numbers (exact text control)."""
    return text.replace('"@@', "").replace('@@"', "")


class Pages:
    """A MockTransport handler serving canned responses in order and recording requests."""

    def __init__(self, *responses: httpx.Response | str | Callable[[], httpx.Response]) -> None:
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        item = self.responses[min(len(self.requests), len(self.responses)) - 1]
        if callable(item) and not isinstance(item, httpx.Response):
            return item()
        if isinstance(item, str):
            return httpx.Response(200, content=raw_numbers(item).encode())
        return item

    @property
    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self)
