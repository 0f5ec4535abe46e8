"""Pieces every source kind shares (lib/config/source.py and the cost-intelligence sources)."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

__all__ = ["PROVIDER_PATTERN", "ProviderName"]

PROVIDER_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"


def _provider_name(value: str) -> str:
    if not re.fullmatch(PROVIDER_PATTERN, value):
        raise ValueError(
            f"provider {value[:60]!r} is not a valid provider name: use 2-40 characters of "
            "lowercase a-z, 0-9 and _, starting with a letter (e.g. openai, mistral_ai)"
        )
    return value


ProviderName = Annotated[
    str,
    AfterValidator(_provider_name),
    WithJsonSchema({"type": "string", "pattern": PROVIDER_PATTERN}),
]
"""A provider's free name: labels its rows (x_provider) and names its overrides."""
