"""The executable BigQuery function corpus: load it, run a case on DuckDB, compare typed values.

A case is either ``sql`` (one BigQuery expression, run as ``SELECT <sql> AS result``) with
``type`` and ``result``, or ``query`` (a whole BigQuery query) with ``types`` (column →
BigQuery type, for the columns checked) and ``rows`` (column → documented value, in the
documented order). Values are written as BigQuery displays them (BYTES in base64);
:func:`expected` turns them into the Python values the warehouse port returns for that
BigQuery type, and
:func:`check_value` insists on the type as well as the value (DATE is not TIMESTAMP,
NUMERIC is a Decimal and never a float).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml

CORPUS = Path(__file__).parent / "data" / "bigquery_function_corpus.yml"
DOC_PREFIX = "https://cloud.google.com/bigquery/docs/reference/standard-sql/"


@dataclass(frozen=True)
class Case:
    """One documented example: a query, the checked columns' types, the expected rows."""

    function: str
    doc: str
    query: str
    types: dict[str, str]
    rows: list[dict[str, Any]]
    ordered: bool
    refused: str | None = None

    @property
    def id(self) -> str:
        return f"{self.function}:{' '.join(self.query.split())[:70]}"


def load_entries(path: Path = CORPUS) -> list[dict[str, Any]]:
    """The corpus entries as written (one per function)."""
    entries = yaml.safe_load(path.read_text())
    assert isinstance(entries, list), f"{path}: expected a list of entries"
    return entries


def cases(entries: list[dict[str, Any]]) -> list[Case]:
    """Every case of every entry, normalised to the ``query`` form."""
    out = []
    for entry in entries:
        for raw in entry["cases"]:
            query = f"SELECT {raw['sql']} AS result" if "sql" in raw else raw["query"]
            if "refused" in raw:
                types, rows = {}, []
            elif "sql" in raw:
                types, rows = {"result": raw["type"]}, [{"result": raw["result"]}]
            else:
                types, rows = raw["types"], raw["rows"]
            ordered = raw.get("ordered", True)
            out.append(
                Case(
                    entry["function"], entry["doc"], query, types, rows, ordered, raw.get("refused")
                )
            )
    return out


# --- expected values ------------------------------------------------------------------------

_TS = re.compile(
    r"(?P<civil>\d{4}-\d\d-\d\d[ T]\d\d:\d\d(?::\d\d(?:\.\d+)?)?)"
    r"\s*(?P<zone>UTC|[+-]\d\d(?::?\d\d)?|[A-Za-z_]+/[A-Za-z_/]+)?"
)


def _timestamp(text: str) -> dt.datetime:
    match = _TS.fullmatch(text.strip())
    assert match, f"not a BigQuery TIMESTAMP display: {text!r}"
    civil = dt.datetime.fromisoformat(match["civil"].replace(" ", "T"))
    zone = match["zone"] or "UTC"
    if zone == "UTC":
        return civil.replace(tzinfo=dt.UTC)
    if "/" in zone:
        return civil.replace(tzinfo=ZoneInfo(zone)).astimezone(dt.UTC)
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    offset = dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
    return civil.replace(tzinfo=dt.timezone(sign * offset)).astimezone(dt.UTC)


def _bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    assert str(text).lower() in ("true", "false"), f"not a BOOL: {text!r}"
    return str(text).lower() == "true"


def _array_items(text: Any) -> list[Any]:
    if isinstance(text, list):
        return text
    inner = str(text).strip()
    assert inner.startswith("[") and inner.endswith("]"), f"not an ARRAY display: {text!r}"
    inner = inner[1:-1].strip()
    return [item.strip() for item in inner.split(",")] if inner else []


_SCALARS: dict[str, Any] = {
    "INT64": lambda v: int(v),
    "FLOAT64": lambda v: float(v),
    "NUMERIC": lambda v: Decimal(str(v)),
    "BIGNUMERIC": lambda v: Decimal(str(v)),
    "BOOL": _bool,
    "STRING": lambda v: str(v),
    "BYTES": lambda v: base64.b64decode(str(v), validate=True),
    "DATE": lambda v: dt.date.fromisoformat(str(v)),
    "DATETIME": lambda v: dt.datetime.fromisoformat(str(v).replace(" ", "T")),
    "TIME": lambda v: dt.time.fromisoformat(str(v)),
    "TIMESTAMP": lambda v: _timestamp(str(v)),
    "JSON": lambda v: json.loads(v) if isinstance(v, str) else v,
}


def expected(kind: str, value: Any) -> Any:
    """The Python value the warehouse returns for a documented ``value`` of BigQuery ``kind``.

    ``None`` (YAML null) is SQL NULL. ``ARRAY<T>`` takes a YAML list or the docs' ``[a, b]``.
    """
    if value is None:
        return None
    if kind.startswith("ARRAY<"):
        inner = kind[len("ARRAY<") : -1]
        return [expected(inner, item) for item in _array_items(value)]
    assert kind in _SCALARS, f"unknown BigQuery type {kind!r} in the corpus"
    return _SCALARS[kind](value)


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "INT64": (int,),
    "FLOAT64": (float,),
    "NUMERIC": (Decimal,),
    "BIGNUMERIC": (Decimal,),
    "BOOL": (bool,),
    "STRING": (str,),
    "BYTES": (bytes,),
    "DATE": (dt.date,),
    "DATETIME": (dt.datetime,),
    "TIME": (dt.time,),
    "TIMESTAMP": (dt.datetime,),
}


def _type_problem(kind: str, actual: Any) -> str | None:
    if actual is None or kind == "JSON":
        return None
    if kind.startswith("ARRAY<"):
        if not isinstance(actual, list):
            return f"expected an ARRAY, got {type(actual).__name__}"
        inner = kind[len("ARRAY<") : -1]
        return next((p for p in (_type_problem(inner, a) for a in actual) if p), None)
    wanted = _PYTHON_TYPES[kind]
    bad = not isinstance(actual, wanted)
    bad |= isinstance(actual, bool) and kind != "BOOL"
    bad |= kind == "DATE" and isinstance(actual, dt.datetime)
    if isinstance(actual, dt.datetime):
        bad |= kind == "DATETIME" and actual.tzinfo is not None
        bad |= kind == "TIMESTAMP" and actual.tzinfo is None
    return f"expected {kind}, got {type(actual).__name__} {actual!r}" if bad else None


def _equal(want: Any, got: Any) -> bool:
    if isinstance(want, float) and isinstance(got, float):
        if math.isnan(want):
            return math.isnan(got)
        return math.isclose(want, got, rel_tol=1e-12, abs_tol=1e-300)
    if isinstance(want, list) and isinstance(got, list):
        return len(want) == len(got) and all(_equal(w, g) for w, g in zip(want, got, strict=True))
    return bool(want == got)


def check_value(kind: str, want: Any, actual: Any) -> str | None:
    """Compare a warehouse value with an :func:`expected` one; describe the mismatch, or None."""
    problem = _type_problem(kind, actual)
    if problem:
        return problem
    if not _equal(want, actual):
        return f"expected {want!r}, got {actual!r}"
    return None


def compare(case: Case, rows: list[dict[str, Any]]) -> list[str]:
    """Every difference between the rows DuckDB returned and the documented rows."""
    if len(rows) != len(case.rows):
        return [f"expected {len(case.rows)} rows, got {len(rows)}: {rows!r}"]
    want = []
    for index, documented in enumerate(case.rows):
        missing = set(case.types) - set(documented)
        assert not missing, f"{case.id}: row {index} documents no {sorted(missing)}"
        want.append({c: expected(k, documented[c]) for c, k in case.types.items()})
    got = rows
    if not case.ordered:
        want, got = _sorted(want, case.types), _sorted(rows, case.types)
    problems = []
    for index, (documented, actual) in enumerate(zip(want, got, strict=True)):
        for column, kind in case.types.items():
            if column not in actual:
                problems.append(f"row {index}: no column {column!r} in {sorted(actual)}")
                continue
            problem = check_value(kind, documented[column], actual[column])
            if problem:
                problems.append(f"row {index} {column}: {problem}")
    return problems


def _sorted(rows: list[dict[str, Any]], types: dict[str, str]) -> list[dict[str, Any]]:
    return sorted(rows, key=lambda r: tuple(repr(r.get(c)) for c in types))
