"""The price catalog as config: dated list prices per model, and a tenant's negotiated rates.

Two kinds of file (docs/cost_intelligence.md#the-price-catalog):

* **Catalog files** ``configs/_library/prices/{provider}.yml`` (:class:`PriceCatalog`): the
  provider's published prices per model, each entry valid from its ``effective_from`` until
  the next entry of the model. Prices are USD per 1M tokens per meter (``input``,
  ``cached_input``, ``cache_write_5m``, ``cache_write_1h``, ``output``) and service tier
  (``standard``, ``batch``, ``priority``, ``flex``), optionally a second set for the long
  context window; request-priced tools (``web_search``) are per 1,000 requests.
* **The tenant's price source** (:class:`PriceCatalogSourceConfig`, ``kind: price_catalog``)
  read by an ingest step: which catalog, and ``contracted:`` rates (a discount off list or
  explicit per-1M prices, dated) that become FOCUS ContractedUnitPrice.

Prices are exact decimals: write them quoted (``"0.075"``); a YAML number is read from its
text, never through a binary float.
"""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from lib.config.pipeline import RelPath
from lib.config.source_common import ProviderName

__all__ = [
    "METERS",
    "TIERS",
    "ContractedRate",
    "ModelPrice",
    "PriceCatalog",
    "PriceCatalogSourceConfig",
    "RequestPrice",
    "TierPrices",
]

TIERS = ("standard", "batch", "priority", "flex")
"""Service tiers a catalog prices (usage tiers are normalised to these in the SQL)."""
METERS = ("input", "cached_input", "cache_write_5m", "cache_write_1h", "output")
"""Token meters, per 1M tokens (Anthropic's cache reads are ``cached_input``)."""
MAX_DECIMALS = 12
_MODEL = r"^[A-Za-z0-9][A-Za-z0-9._:\-/]{0,99}$"


def _exact(value: Decimal) -> Decimal:
    exponent = value.as_tuple().exponent
    if not value.is_finite() or (isinstance(exponent, int) and -exponent > MAX_DECIMALS):
        raise ValueError(f"{value} has more than {MAX_DECIMALS} decimals")
    return value


Price = Annotated[Decimal, Field(ge=0), AfterValidator(_exact)]
"""A price in the catalog's currency; exact (at most 12 decimals)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MeterPrices(_Strict):
    """USD per 1M tokens of each meter a model bills (omit the meters it does not)."""

    input: Price | None = None
    cached_input: Price | None = None
    cache_write_5m: Price | None = None
    cache_write_1h: Price | None = None
    output: Price | None = None

    def items(self) -> list[tuple[str, Decimal]]:
        """(meter, price per 1M) of every priced meter, in :data:`METERS` order."""
        return [(m, p) for m in METERS if (p := getattr(self, m)) is not None]


class TierPrices(_Strict):
    """Meter prices per service tier; ``standard`` is the on-demand price."""

    standard: MeterPrices
    batch: MeterPrices | None = None
    priority: MeterPrices | None = None
    flex: MeterPrices | None = None

    def tiers(self) -> list[tuple[str, MeterPrices]]:
        """(tier, prices) of every priced tier, in :data:`TIERS` order."""
        return [(t, p) for t in TIERS if (p := getattr(self, t)) is not None]


class ModelPrice(TierPrices):
    """A model's prices from ``effective_from`` (UTC day) until its next entry."""

    effective_from: dt.date
    long_context: TierPrices | None = Field(
        default=None,
        description="prices when the request's input exceeds the standard context window "
        "(usage context_window = the catalog's long_context_window)",
    )


def _ordered(entries: list[ModelPrice]) -> list[ModelPrice]:
    days = [e.effective_from for e in entries]
    if days != sorted(set(days)):
        raise ValueError("entries must be in effective_from order, each day once")
    return entries


ModelEntries = Annotated[list[ModelPrice], Field(min_length=1), AfterValidator(_ordered)]


class RequestPrice(_Strict):
    """A request-priced tool (e.g. Anthropic web search), per 1,000 requests."""

    effective_from: dt.date
    per_thousand: Price


def _request_ordered(entries: list[RequestPrice]) -> list[RequestPrice]:
    days = [e.effective_from for e in entries]
    if days != sorted(set(days)):
        raise ValueError("entries must be in effective_from order, each day once")
    return entries


class PriceCatalog(_Strict):
    """A provider's published price list (``configs/_library/prices/{provider}.yml``)."""

    provider: ProviderName
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    version: str = Field(
        min_length=1, max_length=40, description="catalog version, e.g. the review date"
    )
    source: str = Field(pattern=r"^https://\S+$", description="where the prices are published")
    context_window: str = Field(
        default="all",
        pattern=r"^[A-Za-z0-9\-]{1,20}$",
        description="the usage context_window the standard prices apply to (e.g. 0-200k)",
    )
    long_context_window: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9\-]{1,20}$",
        description="the usage context_window long_context prices apply to (e.g. 200k-1M)",
    )
    models: dict[Annotated[str, Field(pattern=_MODEL)], ModelEntries] = Field(min_length=1)
    requests: dict[
        Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{1,39}$")],
        Annotated[list[RequestPrice], Field(min_length=1), AfterValidator(_request_ordered)],
    ] = Field(default_factory=dict, description="request-priced tools, e.g. web_search")

    @model_validator(mode="after")
    def _long_context_named(self) -> PriceCatalog:
        uses_long = any(e.long_context for entries in self.models.values() for e in entries)
        if uses_long and not self.long_context_window:
            raise ValueError(
                "entries give long_context prices but long_context_window is not set; write "
                "the usage context_window they apply to, e.g. long_context_window: 200k-1M"
            )
        return self


class ContractedRate(_Strict):
    """Negotiated rates for some models over some days (FOCUS ContractedUnitPrice).

    Either a ``discount_percent`` off every list price of the models, or explicit per-1M
    ``prices`` for some tiers and meters (the others stay at list), or both (explicit prices
    win). When several entries cover a day, the last one in the file wins.
    """

    models: list[Annotated[str, Field(pattern=_MODEL)]] = Field(
        default_factory=list, description="the models it applies to; empty: every model"
    )
    effective_from: dt.date
    effective_to: dt.date | None = Field(
        default=None, description="first day it no longer applies (exclusive); none: open"
    )
    discount_percent: Annotated[Decimal, Field(ge=0, le=100), AfterValidator(_exact)] | None = None
    prices: TierPrices | None = None

    @model_validator(mode="after")
    def _something(self) -> ContractedRate:
        if self.discount_percent is None and self.prices is None:
            raise ValueError("write discount_percent (off list) or prices (per 1M tokens)")
        if self.effective_to is not None and self.effective_to <= self.effective_from:
            raise ValueError("effective_to must be after effective_from")
        return self

    def covers(self, model: str, day: dt.date) -> bool:
        """Whether this rate applies to ``model`` on ``day``."""
        in_range = self.effective_from <= day and (
            self.effective_to is None or day < self.effective_to
        )
        return in_range and (not self.models or model in self.models)


_LIBRARY_PRICES = re.compile(r"^@library/prices/[a-z][a-z0-9_]*\.yml$")


def _library_catalog(value: str) -> str:
    if not _LIBRARY_PRICES.fullmatch(value):
        raise ValueError(
            f"{value!r}: name a catalog of configs/_library/prices, e.g. @library/prices/openai.yml"
        )
    return value


class PriceCatalogSourceConfig(_Strict):
    """Load a price catalog (and the tenant's negotiated rates) into a price table."""

    kind: Literal["price_catalog"]
    catalog: Annotated[RelPath, AfterValidator(_library_catalog)] = Field(
        description="the catalog file, e.g. @library/prices/openai.yml"
    )
    contracted: list[ContractedRate] = Field(
        default_factory=list,
        description="negotiated rates; without them ContractedUnitPrice is the list price",
    )
