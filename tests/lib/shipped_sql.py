"""Every BigQuery SQL text the project ships, found by parsing rather than listed by hand.

* ``configs/**/*.sql`` — transform SQL of the shipped pipelines;
* SQL literals in ``lib/`` (outside ``lib/adapters``, whose SQL is the engine's own dialect):
  every string constant or f-string that starts like a statement, with each ``{...}``
  placeholder read as an identifier (a table, column list or filter at that place);
* SQL built by code: the DQ plan of every expectation type.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import sqlglot
from sqlglot import exp

ROOT = Path(__file__).resolve().parents[2]
_STATEMENT = re.compile(r"^\s*(WITH|SELECT|INSERT|DELETE|MERGE|UPDATE|CREATE)\s")


def config_sql() -> dict[str, str]:
    """``configs/…/x.sql`` → its text."""
    return {
        str(p.relative_to(ROOT)): p.read_text() for p in sorted((ROOT / "configs").rglob("*.sql"))
    }


def _text(node: ast.expr) -> str | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        parts = [
            v.value if isinstance(v, ast.Constant) else "placeholder_t"
            for v in node.values
            if isinstance(v, ast.Constant | ast.FormattedValue)
        ]
        return "".join(str(p) for p in parts)
    return None


def _literals(path: Path) -> Iterator[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    parts = {id(v) for n in ast.walk(tree) if isinstance(n, ast.JoinedStr) for v in n.values}
    for node in ast.walk(tree):
        if id(node) in parts:
            continue  # a piece of an f-string, read whole below
        if isinstance(node, ast.JoinedStr):
            text = _text(node)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            text = node.value
        else:
            continue
        if text and _STATEMENT.match(text):
            yield node.lineno, text.format(t="placeholder_t") if "{t}" in text else text


def lib_sql() -> dict[str, str]:
    """``lib/x.py:LINE`` → each SQL statement literal of ``lib/`` outside the adapters."""
    found = {}
    for path in sorted((ROOT / "lib").rglob("*.py")):
        if "adapters" in path.parts:
            continue
        for line, text in _literals(path):
            found[f"{path.relative_to(ROOT)}:{line}"] = text
    return found


def built_sql() -> dict[str, str]:
    """SQL the project assembles with sqlglot builders, for every shape it can take."""
    from lib.dq import plan_dq
    from tests.lib.dq.dq_support import NOW, TABLE
    from tests.lib.dq.test_plan import every_expectation

    plan = plan_dq(TABLE, every_expectation(), scope={"pipeline_logging_id": "r"}, now=NOW)
    return {"lib/dq/plan.py (every expectation type)": plan.sql}


def shipped_sql() -> dict[str, str]:
    """Every shipped BigQuery SQL text, keyed by where it comes from."""
    return config_sql() | lib_sql() | built_sql()


def parse(origin: str, text: str) -> list[exp.Expr]:
    """Parse one shipped text as BigQuery (a script may hold several statements)."""
    try:
        return [t for t in sqlglot.parse(text, read="bigquery") if t is not None]
    except sqlglot.errors.SqlglotError as exc:
        raise AssertionError(f"{origin}: shipped SQL does not parse as BigQuery: {exc}") from exc
