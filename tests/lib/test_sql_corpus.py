"""The executable BigQuery function corpus: documented results, reproduced on DuckDB.

Every case of ``tests/lib/data/bigquery_function_corpus.yml`` runs through the DuckDB
warehouse (so through :func:`lib.sql.translate`) and must give BigQuery's documented value
and type; a ``refused`` case must raise :class:`SqlTranslationError`. Coverage is computed by
parsing: every allow-listed function, and every function the project's own SQL calls, has
at least one passing example.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlglot

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.errors import SqlTranslationError
from lib.sql import translate
from lib.sql_functions import ALLOWED, REFUSED, function_names
from tests.lib.shipped_sql import parse, shipped_sql
from tests.lib.sql_corpus import DOC_PREFIX, Case, cases, compare, load_entries

ENTRIES = load_entries()
CASES = cases(ENTRIES)


@pytest.fixture(scope="module")
def warehouse() -> Iterator[DuckDBWarehouse]:
    wh = DuckDBWarehouse(":memory:")
    yield wh
    wh.close()


def _called(case: Case) -> set[str]:
    return set().union(*(function_names(t) for t in sqlglot.parse(case.query, read="bigquery")))


def _covered() -> set[str]:
    """Functions called by at least one case that runs (not a refused one)."""
    return set().union(*(_called(c) for c in CASES if c.refused is None))


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_documented_example(case: Case, warehouse: DuckDBWarehouse) -> None:
    if case.refused is not None:
        with pytest.raises(SqlTranslationError) as info:
            translate(case.query)
        assert case.refused in str(info.value)
        return
    problems = compare(case, warehouse.query(case.query))
    assert not problems, f"{case.function} ({case.doc}): " + "; ".join(problems)


def test_every_allowed_function_has_a_running_example() -> None:
    assert ALLOWED - _covered() == set()


def test_every_entry_is_an_allowed_function_its_cases_call() -> None:
    for entry in ENTRIES:
        name = entry["function"]
        assert name in ALLOWED, f"{name} has corpus examples but is not allow-listed"
        assert entry["doc"].startswith(DOC_PREFIX), f"{name}: cite BigQuery's reference"
        for case in (c for c in CASES if c.function == name):
            assert name in _called(case), f"{case.id} does not call {name}"


def test_refused_functions_are_not_allowed() -> None:
    assert ALLOWED.isdisjoint(REFUSED)


def test_every_function_of_shipped_sql_has_a_running_example() -> None:
    used: dict[str, set[str]] = {}
    for origin, text in shipped_sql().items():
        for tree in parse(origin, text):
            for name in function_names(tree):
                used.setdefault(name, set()).add(origin)
    assert used, "no shipped SQL found: the scan is broken"
    missing = {name: sorted(where) for name, where in used.items() if name not in _covered()}
    assert not missing, f"functions of shipped SQL without a corpus example: {missing}"
