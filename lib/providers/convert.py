"""Per-value converters from parsed JSON to the Python value of a BigQuery column type.

The reference conversions: :func:`lib.providers.pages.shape_rows` applies them value by
value; the vectorised path uses them for what Arrow does not convert itself and to explain a
problem. Each raises :class:`PageProblem` naming what it expected and what it got.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_WIDE = decimal.Context(prec=200)


class PageProblem(ValueError):
    """A page does not match what the source's record mapping expects."""


Converter = Callable[[Any], Any]


def dig(obj: Any, path: str) -> Any:
    """Follow a dotted path through objects; None when a step is missing or null.

    Raises:
        PageProblem: a step of the path is not an object.
    """
    for part in path.split("."):
        if obj is None:
            return None
        if not isinstance(obj, Mapping):
            raise PageProblem(f"expected an object at {part!r} of {path!r}, got {_kind(obj)}")
        obj = obj.get(part)
    return obj


def _kind(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean"}.get(
        type(value), "number" if isinstance(value, int | Decimal) else type(value).__name__
    )


def _bad(value: Any, want: str) -> PageProblem:
    return PageProblem(f"expected {want}, got {_kind(value)} {str(value)[:40]!r}")


def _to_string(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    raise _bad(value, "a string")


def _decimal_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(type(value).__name__)


def _to_json(value: Any) -> str:
    return json.dumps(value, default=_decimal_default, separators=(",", ":"), sort_keys=True)


_INT64 = range(-(2**63), 2**63)


def _to_int(value: Any) -> int:
    integral = (
        (isinstance(value, int) and not isinstance(value, bool))
        or (isinstance(value, Decimal) and value.is_finite() and value == value.to_integral_value())
        or (isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()) is not None)
    )
    if not integral:
        raise _bad(value, "an integer")
    number = int(value)
    if number not in _INT64:
        raise _bad(value, "an integer within INT64's range")
    return number


def _to_float(value: Any) -> float:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:
            raise _bad(value, "a number within FLOAT64's range") from None
    raise _bad(value, "a number")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    raise _bad(value, "true or false")


def _parse_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return Decimal(value)
    if isinstance(value, str):
        try:
            return Decimal(value.strip())
        except decimal.InvalidOperation:
            pass
    raise _bad(value, "a decimal number or decimal string")


def decimal_converter(precision: int, scale: int, *, round_half_even: bool = False) -> Converter:
    """A converter to an exact Decimal that must fit ``(precision, scale)``.

    Digits beyond ``scale`` are an error unless ``round_half_even`` (the column's explicit
    ``rounding: half_even``) asks to round them away.
    """
    quantum = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Decimal:
        number = _parse_decimal(value)
        if not number.is_finite():
            raise _bad(value, "a finite decimal")
        places = max(0, -int(number.normalize(_WIDE).as_tuple().exponent))
        if places > scale and round_half_even:
            number = number.quantize(quantum, decimal.ROUND_HALF_EVEN, _WIDE)
        elif places > scale:
            raise PageProblem(
                f"{number} has {places} decimal places but the column holds {scale}; widen "
                "the column in the schema file (e.g. BIGNUMERIC with precision 38, scale 30) "
                "or set rounding: half_even on the column"
            )
        if number == 0:
            return Decimal(0)  # 0E+100 is zero, and fits
        if number.adjusted() + 1 > precision - scale:
            raise PageProblem(f"{number} has too many integer digits for the column")
        return number

    return convert


def _to_timestamp(value: Any) -> dt.datetime:
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        try:
            return EPOCH + dt.timedelta(microseconds=int(Decimal(value) * 1_000_000))
        except (OverflowError, ValueError, decimal.InvalidOperation):
            raise _bad(value, "unix seconds within years 1-9999") from None
    if isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            pass
        else:
            return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed
    raise _bad(value, "unix seconds or an RFC 3339 timestamp")


def _to_datetime(value: Any) -> dt.datetime:
    if isinstance(value, str):
        try:
            return dt.datetime.fromisoformat(value.strip()).replace(tzinfo=None)
        except ValueError:
            pass
    raise _bad(value, "an ISO datetime string")


def _to_date(value: Any) -> dt.date:
    if isinstance(value, str) and len(value.strip()) == 10:
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    return _to_timestamp(value).astimezone(dt.UTC).date()


CONVERTERS: dict[str, Converter] = {
    "STRING": _to_string,
    "JSON": _to_json,
    "INT64": _to_int,
    "FLOAT64": _to_float,
    "BOOL": _to_bool,
    "TIMESTAMP": _to_timestamp,
    "DATETIME": _to_datetime,
    "DATE": _to_date,
}
