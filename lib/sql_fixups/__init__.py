"""DuckDB fix-ups: repair or refuse BigQuery that DuckDB would run with another meaning.

:func:`lib.sql.translate` applies :data:`FIXUPS` to the parsed BigQuery tree, in order, before
rendering it for the target dialect. The first one checks every function against the
allow-list of :mod:`lib.sql_functions`; the others either rewrite a construct so DuckDB
computes BigQuery's answer, or raise :class:`Unfaithful` naming it and what to write instead.
Every rewrite is exercised by the executable function corpus
(``tests/lib/data/bigquery_function_corpus.yml``); a refusal is never a silent fallback.

All fix-ups assume the session time zone is UTC, as BigQuery's default (the DuckDB adapter
sets it when it opens the file).
"""

from __future__ import annotations

from lib.sql_fixups._tree import Fixup, Unfaithful
from lib.sql_fixups.checks import faithful_functions, statements
from lib.sql_fixups.numbers import casts, exact_numeric, float_literals, integer_rounding
from lib.sql_fixups.shapes import (
    array_agg_limit,
    json_functions,
    printf_format,
    safe_prefix,
    trim_sets,
    unnest_offsets,
)
from lib.sql_fixups.temporal import (
    date_results,
    time_formats,
    timestamp_diff,
    timestamp_results,
    unix_epochs,
    weekdays,
)

__all__ = ["FIXUPS", "Fixup", "Unfaithful"]

FIXUPS: dict[str, tuple[Fixup, ...]] = {
    "duckdb": (
        statements,
        faithful_functions,
        exact_numeric,
        float_literals,
        integer_rounding,
        json_functions,
        unnest_offsets,
        casts,
        printf_format,
        time_formats,
        trim_sets,
        date_results,
        timestamp_results,
        unix_epochs,
        timestamp_diff,
        weekdays,
        safe_prefix,
        array_agg_limit,
    ),
}
"""Per target dialect, tree rewrites applied before rendering (one place per engine)."""
