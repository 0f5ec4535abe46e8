"""Pure: a price catalog and a tenant's negotiated rates → the rows of its price table.

One row per (model, service tier, context window, meter) and date range over which both the
list price and the contracted price are constant. The SQL joins usage to the row whose
``[effective_from, effective_to)`` holds the usage day. Unit prices are per pricing unit
(one token, one request): the catalog's per-1M (per-1,000) price divided exactly.

:func:`changed_days` compares the rows a table holds with new ones: a price that changed
re-prices exactly the days it applies to (up to today), so silver and gold re-derive them
through the change log like any late data (lib/changes.py).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from lib.config.prices import ContractedRate, MeterPrices, PriceCatalog, TierPrices
from lib.errors import ConfigError, ConfigProblem

__all__ = ["PRICE_COLUMNS", "PriceRow", "changed_days", "price_rows"]

TOKENS_PER_BLOCK = 1_000_000
REQUESTS_PER_BLOCK = 1_000
UNIT_SCALE = 24
"""Decimals a unit price may have (the embedded engine's BIGNUMERIC scale)."""


@dataclass(frozen=True, order=True)
class PriceRow:
    """One row of a price table (the ingestion columns are added by the loader)."""

    provider: str
    model: str
    service_tier: str
    context_window: str
    meter: str
    effective_from: dt.date
    effective_to: dt.date | None
    pricing_unit: str
    block_size: int
    list_block_price: Decimal
    contracted_block_price: Decimal
    list_unit_price: Decimal
    contracted_unit_price: Decimal
    currency: str
    catalog_version: str
    contracted_source: str | None

    def as_dict(self) -> dict[str, Any]:
        """The row as column → value."""
        return asdict(self)


PRICE_COLUMNS = tuple(PriceRow.__dataclass_fields__)
"""The price table's columns, in order (its schema file adds the ingestion columns)."""


@dataclass(frozen=True)
class _Segment:
    start: dt.date
    end: dt.date | None
    price: Decimal


@dataclass(frozen=True)
class _Key:
    model: str
    tier: str
    context: str
    meter: str
    unit: str
    block: int
    standard_context: bool


def price_rows(
    catalog: PriceCatalog, contracted: Sequence[ContractedRate] = (), *, file: str = "(catalog)"
) -> list[PriceRow]:
    """Every row of the price table for ``catalog`` with the tenant's ``contracted`` rates.

    Raises:
        ConfigError: a unit price needs more than 24 decimals (naming model and meter).
    """
    rows: list[PriceRow] = []
    for key, segments in _list_segments(catalog).items():
        for start, end, listed, (agreed, source) in _split(key, segments, contracted):
            rows.append(_row(catalog, key, start, end, listed, agreed, source, file))
    return sorted(rows)


def _list_segments(catalog: PriceCatalog) -> dict[_Key, list[_Segment]]:
    out: dict[_Key, list[_Segment]] = {}
    for model, entries in catalog.models.items():
        for i, entry in enumerate(entries):
            end = entries[i + 1].effective_from if i + 1 < len(entries) else None
            sets: list[tuple[str, TierPrices, bool]] = [(catalog.context_window, entry, True)]
            if entry.long_context is not None and catalog.long_context_window:
                sets.append((catalog.long_context_window, entry.long_context, False))
            for context, tiers, standard in sets:
                for tier, meters in tiers.tiers():
                    for meter, price in meters.items():
                        key = _Key(
                            model, tier, context, meter, "Tokens", TOKENS_PER_BLOCK, standard
                        )
                        out.setdefault(key, []).append(_Segment(entry.effective_from, end, price))
    for tool, request_entries in catalog.requests.items():
        for i, request in enumerate(request_entries):
            end = request_entries[i + 1].effective_from if i + 1 < len(request_entries) else None
            key = _Key(tool, "standard", "all", tool, "Requests", REQUESTS_PER_BLOCK, False)
            out.setdefault(key, []).append(
                _Segment(request.effective_from, end, request.per_thousand)
            )
    return out


_Agreed = tuple[Decimal, str | None]


def _split(
    key: _Key, segments: list[_Segment], contracted: Sequence[ContractedRate]
) -> list[tuple[dt.date, dt.date | None, Decimal, _Agreed]]:
    """Cut each list segment where a contracted rate starts or ends; merge equal neighbours."""
    rates = [c for c in contracted if not c.models or key.model in c.models]
    edges = {d for c in rates for d in (c.effective_from, c.effective_to) if d is not None}
    pieces: list[tuple[dt.date, dt.date | None, Decimal, _Agreed]] = []
    for seg in segments:
        inner = sorted(d for d in edges if d > seg.start and (seg.end is None or d < seg.end))
        bounds: list[dt.date | None] = [seg.start, *inner, seg.end]
        for start, end in itertools.pairwise(bounds):
            assert start is not None
            agreed = _contracted(key, seg.price, start, rates)
            last = pieces[-1] if pieces else None
            if last and last[1] == start and last[2] == seg.price and last[3] == agreed:
                pieces[-1] = (last[0], end, seg.price, agreed)
            else:
                pieces.append((start, end, seg.price, agreed))
    return pieces


def _contracted(
    key: _Key, listed: Decimal, day: dt.date, rates: Sequence[ContractedRate]
) -> _Agreed:
    """The contracted per-block price on ``day``: the last rate covering it wins."""
    for rate in reversed(rates):
        if not rate.covers(key.model, day):
            continue
        explicit = _explicit(rate.prices, key) if key.standard_context else None
        if explicit is not None:
            return explicit, "contracted price"
        if rate.discount_percent is not None:
            percent = rate.discount_percent
            return listed * (100 - percent) / 100, f"{percent.normalize():f}% off list"
    return listed, None


def _explicit(prices: TierPrices | None, key: _Key) -> Decimal | None:
    if prices is None:
        return None
    meters: MeterPrices | None = getattr(prices, key.tier, None)
    value = getattr(meters, key.meter, None) if meters is not None else None
    return value if isinstance(value, Decimal) else None


def _row(
    catalog: PriceCatalog,
    key: _Key,
    start: dt.date,
    end: dt.date | None,
    listed: Decimal,
    agreed: Decimal,
    source: str | None,
    file: str,
) -> PriceRow:
    return PriceRow(
        provider=catalog.provider,
        model=key.model,
        service_tier=key.tier,
        context_window=key.context,
        meter=key.meter,
        effective_from=start,
        effective_to=end,
        pricing_unit=key.unit,
        block_size=key.block,
        list_block_price=listed,
        contracted_block_price=agreed,
        list_unit_price=_unit(listed, key, file),
        contracted_unit_price=_unit(agreed, key, file),
        currency=catalog.currency,
        catalog_version=catalog.version,
        contracted_source=source,
    )


def _unit(block_price: Decimal, key: _Key, file: str) -> Decimal:
    unit = block_price / key.block
    exponent = unit.as_tuple().exponent
    if isinstance(exponent, int) and -exponent > UNIT_SCALE:
        raise ConfigError(
            [
                ConfigProblem(
                    file,
                    f"models.{key.model}",
                    f"{key.meter} ({key.tier}) costs {unit} per {key.unit[:-1].lower()}: more "
                    f"than {UNIT_SCALE} decimals, which the price table cannot hold exactly",
                    "use a price or discount with fewer decimals",
                )
            ]
        )
    return unit


def changed_days(old: Iterable[PriceRow], new: Iterable[PriceRow], today: dt.date) -> set[dt.date]:
    """The days, up to ``today``, on which some price differs between ``old`` and ``new``.

    Compared per (model, tier, context window, meter) and day: a row split or extended
    without changing a price re-prices nothing; a price that appeared, disappeared or changed
    re-prices exactly the days it covers.
    """
    before, after = _by_price_key(old), _by_price_key(new)
    days: set[dt.date] = set()
    for key in before.keys() | after.keys():
        was, now = before.get(key, []), after.get(key, [])
        bounds = sorted({b for r in (*was, *now) for b in (r.effective_from, r.effective_to) if b})
        for start, end in zip(bounds, [*bounds[1:], None], strict=True):
            if start > today or _price_on(was, start) == _price_on(now, start):
                continue
            last = today if end is None else min(today, end - _DAY)
            days.update(start + _DAY * i for i in range((last - start).days + 1))
    return days


def _by_price_key(rows: Iterable[PriceRow]) -> dict[tuple[str, ...], list[PriceRow]]:
    out: dict[tuple[str, ...], list[PriceRow]] = {}
    for r in rows:
        key = (r.provider, r.model, r.service_tier, r.context_window, r.meter)
        out.setdefault(key, []).append(r)
    return out


def _price_on(rows: Sequence[PriceRow], day: dt.date) -> tuple[Any, ...] | None:
    for r in rows:
        if r.effective_from <= day and (r.effective_to is None or day < r.effective_to):
            return (r.pricing_unit, r.list_unit_price, r.contracted_unit_price, r.currency)
    return None


_DAY = dt.timedelta(days=1)
