"""Seeded synthetic usage for the sandbox: the same (tenant, day) always gives the same rows.

Every value comes from ``random.Random`` seeded with a SHA-256 of its coordinates, so data is
stable across runs and processes, differs between tenants, and needs no state. Usage facts
(tokens, requests) are generated first and costs are derived from them with list prices, so
the cost and usage endpoints of one provider agree with each other.

``aggregate`` folds rows to the dimensions a request groups by (ungrouped dimensions become
null), as the real APIs do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

# model: (input, cached input, output) $/MTok — OpenAI's list prices, as in
# configs/_library/prices/openai.yml (the sandbox bills what the price catalog expects)
OPENAI_MODELS: dict[str, tuple[float, float, float]] = {
    "gpt-4o-2024-08-06": (2.5, 1.25, 10.0),
    "gpt-4o-mini-2024-07-18": (0.15, 0.075, 0.6),
    "o3-mini-2025-01-31": (1.1, 0.55, 4.4),
    "gpt-4.1-2025-04-14": (2.0, 0.5, 8.0),
}
ANTHROPIC_MODELS: dict[str, tuple[str, Decimal, Decimal]] = {
    "claude-sonnet-4-20250514": ("Claude Sonnet 4", Decimal("3"), Decimal("15")),
    "claude-3-5-haiku-20241022": ("Claude Haiku 3.5", Decimal("0.8"), Decimal("4")),
    "claude-opus-4-20250514": ("Claude Opus 4", Decimal("15"), Decimal("75")),
}
# token type: (priced on "input" or "output", multiplier of that price, description suffix)
ANTHROPIC_TOKEN_TYPES: dict[str, tuple[str, Decimal, str]] = {
    "uncached_input_tokens": ("input", Decimal("1"), "Input Tokens"),
    "cache_read_input_tokens": ("input", Decimal("0.1"), "Cache Read Input Tokens"),
    "cache_creation.ephemeral_5m_input_tokens": ("input", Decimal("1.25"), "Cache Write 5m"),
    "cache_creation.ephemeral_1h_input_tokens": ("input", Decimal("2"), "Cache Write 1h"),
    "output_tokens": ("output", Decimal("1"), "Output Tokens"),
}
WEB_SEARCH_CENTS_PER_REQUEST = Decimal("1")  # $10 per 1,000 searches


def rng(*parts: object) -> random.Random:
    """A generator seeded from ``parts`` (stable across processes, unlike ``hash``)."""
    digest = hashlib.sha256("|".join(str(p) for p in parts).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 (test data, not crypto)


def ident(prefix: str, *parts: object, length: int = 24) -> str:
    """A stable provider-looking id, e.g. ``proj_3fa1…``."""
    return prefix + hashlib.sha256("|".join(str(p) for p in parts).encode()).hexdigest()[:length]


@dataclass(frozen=True)
class Spike:
    """Multiply one day's usage (and so its costs) by ``factor``, optionally for one tenant."""

    day: dt.date
    factor: Decimal
    tenant: str | None = None

    def applies(self, tenant: str, day: dt.date) -> bool:
        """Whether this spike changes ``tenant`` on ``day``."""
        return self.day == day and self.tenant in (None, tenant)


def volume(r: random.Random, low: int, high: int, factor: Decimal) -> int:
    """A random count in ``[low, high]`` scaled by ``factor``."""
    return int(r.randint(low, high) * factor)


def openai_usage(tenant: str, day: dt.date, scale: int, factor: Decimal) -> list[dict[str, Any]]:
    """Completions usage facts per (project, model, batch) for one day."""
    org = ident("org-", tenant)
    rows = []
    for p in range(3 * scale):
        project = ident("proj_", tenant, p)
        for model in OPENAI_MODELS:
            r = rng("openai", tenant, day, project, model)
            if r.random() < 0.2:
                continue
            batch = r.random() < 0.25
            input_tokens = volume(r, 20_000, 4_000_000, factor)
            rows.append({
                "organization_id": org, "project_id": project, "model": model,
                "api_key_id": ident("key_", tenant, project, length=16), "user_id": None,
                "batch": batch, "service_tier": "default",
                "input_tokens": input_tokens,
                "input_cached_tokens": int(input_tokens * r.uniform(0, 0.6)),
                "output_tokens": volume(r, 5_000, 800_000, factor),
                "input_audio_tokens": 0, "output_audio_tokens": 0,
                "num_model_requests": volume(r, 10, 5_000, factor),
            })  # fmt: skip
    return rows


def openai_costs(usage: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost line items derived from usage; values are floats, as OpenAI sends them."""
    rows = []
    for u in usage:
        if u["model"] is None:  # usage the API reports without a model has no priced line item
            continue
        price_in, price_cached, price_out = OPENAI_MODELS[u["model"]]
        discount = 0.5 if u["batch"] else 1.0
        uncached = u["input_tokens"] - u["input_cached_tokens"]
        items = {
            f"{u['model']}, input": uncached * price_in / 1e6 * discount,
            f"{u['model']}, cached input": u["input_cached_tokens"] * price_cached / 1e6 * discount,
            f"{u['model']}, output": u["output_tokens"] * price_out / 1e6 * discount,
        }
        for line_item, value in items.items():
            rows.append({
                "organization_id": u["organization_id"], "project_id": u["project_id"],
                "line_item": line_item, "value": value,
            })  # fmt: skip
    return rows


def anthropic_usage(tenant: str, day: dt.date, scale: int, factor: Decimal) -> list[dict[str, Any]]:
    """Messages usage facts per (workspace, api key, model, service tier) for one day."""
    workspaces: list[str | None] = [None] + [ident("wrkspc_", tenant, w) for w in range(2 * scale)]
    rows = []
    for workspace in workspaces:
        api_key = ident("apikey_", tenant, workspace)
        for model in ANTHROPIC_MODELS:
            for tier in ("standard", "batch"):
                r = rng("anthropic", tenant, day, workspace, model, tier)
                if r.random() < (0.3 if tier == "standard" else 0.7):
                    continue
                rows.append({
                    "workspace_id": workspace, "api_key_id": api_key, "model": model,
                    "service_tier": tier, "context_window": "0-200k", "inference_geo": "global",
                    "uncached_input_tokens": volume(r, 10_000, 3_000_000, factor),
                    "cache_read_input_tokens": volume(r, 0, 2_000_000, factor),
                    "cache_creation.ephemeral_5m_input_tokens": volume(r, 0, 400_000, factor),
                    "cache_creation.ephemeral_1h_input_tokens": volume(r, 0, 100_000, factor),
                    "output_tokens": volume(r, 2_000, 600_000, factor),
                    "server_tool_use.web_search_requests": volume(r, 0, 40, factor),
                })  # fmt: skip
    return rows


def anthropic_costs(usage: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Cost rows derived from usage; ``amount`` is Decimal cents (sent as a string)."""
    rows = []
    for u in usage:
        name, price_in, price_out = ANTHROPIC_MODELS[u["model"]]
        discount = Decimal("0.5") if u["service_tier"] == "batch" else Decimal("1")
        for token_type, (side, multiplier, label) in ANTHROPIC_TOKEN_TYPES.items():
            price = (price_out if side == "output" else price_in) * multiplier
            cents = Decimal(u[token_type]) * price * discount / Decimal(10_000)
            rows.append(_cost_row(u, "tokens", f"{name} Usage - {label}", token_type, cents))
        searches = u["server_tool_use.web_search_requests"]
        if searches:
            cents = searches * WEB_SEARCH_CENTS_PER_REQUEST
            rows.append(_cost_row(u, "web_search", "Web Search", None, cents))
    return rows


def _cost_row(
    usage: dict[str, Any],
    cost_type: str,
    description: str,
    token_type: str | None,
    cents: Decimal,
) -> dict[str, Any]:
    return {
        "workspace_id": usage["workspace_id"], "description": description,
        "cost_type": cost_type, "model": usage["model"] if token_type else None,
        "service_tier": usage["service_tier"] if token_type else None,
        "token_type": token_type,
        "context_window": usage["context_window"] if token_type else None,
        "inference_geo": usage["inference_geo"] if token_type else None,
        "currency": "USD", "amount": cents,
    }  # fmt: skip


def aggregate(
    rows: Iterable[dict[str, Any]],
    dims: Sequence[str],
    grouped: Iterable[str],
    metrics: Sequence[str],
) -> list[dict[str, Any]]:
    """Sum ``metrics`` over the dimensions not in ``grouped`` (those become null)."""
    keep = set(grouped)
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row.get(d) if d in keep else None for d in dims)
        acc = out.get(key)
        if acc is None:
            out[key] = {**dict(zip(dims, key, strict=True)), **{m: row[m] for m in metrics}}
            continue
        for m in metrics:
            acc[m] += row[m]
    return list(out.values())
