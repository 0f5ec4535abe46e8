"""Static checks that the columns a config names exist in the table it names.

* DQ rules: every ``column`` / ``column_list`` entry and every column of a row-count
  ``filter`` resolves in the checked table's schema (``a.b`` walks RECORD fields); the
  column's type suits the expectation; the table has ``pipeline_logging_id`` (DQ checks the
  run's own rows).
* Ingest: a REST source's ``records.columns`` fill the raw table's columns with types REST can
  convert; a billing export destination merges on its row key and holds every export column.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from sqlglot import exp

from lib.config.documents import Document, Loc, Located, parse_field
from lib.config.dq import (
    CompoundUniqueKwargs,
    DqRules,
    ExpectColumnMaxToBeRecent,
    ExpectColumnSumToBeBetween,
    RowCountKwargs,
)
from lib.config.pipeline import TableTarget
from lib.config.problems import did_you_mean
from lib.config.source import BigQueryExportSourceConfig, RestSourceConfig
from lib.errors import ConfigError, ConfigProblem
from lib.schema import SchemaField, TableSpec

if TYPE_CHECKING:
    from lib.config.loader import Pipeline

RUN_COLUMN = "pipeline_logging_id"
_TIME_TYPES = frozenset({"DATE", "DATETIME", "TIMESTAMP"})
_NUMBER_TYPES = frozenset({"INT64", "FLOAT64", "NUMERIC", "BIGNUMERIC"})


def resolve(fields: Sequence[SchemaField], path: str) -> SchemaField | str:
    """The field at dotted ``path`` (``service.description``), or why there is none."""
    current: Sequence[SchemaField] = fields
    found: SchemaField | None = None
    parts = path.split(".")
    for depth, part in enumerate(parts):
        by_name = {f.name.lower(): f for f in current}
        found = by_name.get(part.lower())
        where = ".".join(parts[:depth]) or "the table"
        if found is None:
            names = [f.name for f in current]
            close = did_you_mean(part, names).strip()
            guess = f" ({close})" if close else ""
            return f"{part!r} is not a column of {where}{guess}; columns: {', '.join(names)}"
        if depth < len(parts) - 1:
            if found.mode == "REPEATED":
                return f"{found.name!r} is REPEATED: a check cannot reach into an array"
            if found.canonical_type != "RECORD":
                return f"{found.name!r} is {found.type}, not a RECORD with fields"
            current = found.fields
    assert found is not None
    return found


def dq_problems(
    doc: Located, rules: DqRules, spec: TableSpec, table: str, count: int | None = None
) -> list[ConfigProblem]:
    """Problems of a rules file's column references against the checked table.

    Args:
        doc: the parsed rules (for files and lines).
        rules: the validated rules.
        spec: the checked table's columns.
        table: the table's logical name, for messages.
        count: check the columns of only the first ``count`` expectations (the ones written
            in a file; implied ones name the destination's keys, checked with it).
    """
    problems: list[ConfigProblem] = []
    if RUN_COLUMN not in spec.names:
        problems.append(
            doc.problem(
                (),
                f"table {table} has no {RUN_COLUMN} column: a DQ step checks the run's own rows",
                f"add {RUN_COLUMN} (STRING) to its schema, or check a table that has it",
            )
        )
    for index, expectation in enumerate(rules.expectations[:count]):
        kwargs = expectation.kwargs
        base: Loc = ("expectations", index, "kwargs")
        if isinstance(kwargs, CompoundUniqueKwargs):
            for position, name in enumerate(kwargs.column_list):
                loc: Loc = (*base, "column_list", position)
                problems += _column_problem(doc, loc, spec, table, name, scalar=True)
        elif getattr(kwargs, "column", None):
            problems += _typed_column(doc, (*base, "column"), spec, table, expectation)
        if isinstance(kwargs, RowCountKwargs) and kwargs.filter:
            problems += _filter_problems(doc, (*base, "filter"), spec, table, kwargs.filter)
    return problems


def _column_problem(
    doc: Located, loc: Loc, spec: TableSpec, table: str, name: str, *, scalar: bool
) -> list[ConfigProblem]:
    found = resolve(spec.fields, name)
    if isinstance(found, str):
        return [doc.problem(loc, f"column {name!r} not found in {table}: {found}")]
    if scalar and (found.mode == "REPEATED" or found.canonical_type == "RECORD"):
        kind = "REPEATED" if found.mode == "REPEATED" else "a RECORD"
        return [
            doc.problem(
                loc,
                f"column {name!r} of {table} is {kind}: this check needs a scalar column",
                "name a field inside it, e.g. record.field",
            )
        ]
    return []


def _typed_column(
    doc: Located, loc: Loc, spec: TableSpec, table: str, expectation: object
) -> list[ConfigProblem]:
    name: str = expectation.kwargs.column  # type: ignore[attr-defined]
    problems = _column_problem(doc, loc, spec, table, name, scalar=True)
    if problems:
        return problems
    found = resolve(spec.fields, name)
    assert isinstance(found, SchemaField)
    wanted = None
    if isinstance(expectation, ExpectColumnMaxToBeRecent):
        wanted = _TIME_TYPES
    elif isinstance(expectation, ExpectColumnSumToBeBetween):
        wanted = _NUMBER_TYPES
    if wanted is not None and found.canonical_type not in wanted:
        return [
            doc.problem(
                loc,
                f"column {name!r} of {table} is {found.type}; this expectation needs "
                f"{' or '.join(sorted(wanted))}",
                "choose a column of that type",
            )
        ]
    return []


def _filter_problems(
    doc: Located, loc: Loc, spec: TableSpec, table: str, text: str
) -> list[ConfigProblem]:
    from lib.dq.sql_filter import parse_filter  # lib.dq imports lib.config.dq

    problems: list[ConfigProblem] = []
    for column in parse_filter(text).find_all(exp.Column):
        name = ".".join(part.name for part in column.parts)
        found = resolve(spec.fields, name)
        if isinstance(found, str):
            problems.append(
                doc.problem(loc, f"filter column {name!r} not found in {table}: {found}")
            )
    return problems


def rest_problems(source: RestSourceConfig, doc: Located, spec: TableSpec) -> list[ConfigProblem]:
    """A REST source's column mapping against the raw table it fills.

    Args:
        source: the validated source.
        doc: its parsed data (a file, or the file merged with a step's overrides), which
            names the file and line of each problem.
        spec: the raw table's columns (its schema file, or derived from the mapping).
    """
    from lib.providers.pages import build_plan  # pyarrow: only when a REST source is checked

    where = str(getattr(doc, "path", ""))
    problems = _declared_types(source, spec, where)
    try:
        build_plan(source.records, spec.fields, where)
    except ConfigError as exc:
        problems += exc.problems
    return [_relocated(doc, p) for p in problems]


def _declared_types(source: RestSourceConfig, spec: TableSpec, where: str) -> list[ConfigProblem]:
    """Columns whose declared ``type`` disagrees with the schema file the table names."""
    out = []
    by_name = {f.name: f for f in spec.fields}
    for name, column in source.records.columns.items():
        found = by_name.get(name)
        if column.type is None or found is None:
            continue
        declared = column.schema_field(name)
        if _type_of(declared) != _type_of(found):
            out.append(
                ConfigProblem(
                    where,
                    f"records.columns.{name}.type",
                    f"type {column.type} disagrees with the table schema ({_type_of(found)})",
                    "declare the type once: drop the schema file (the mapping defines the "
                    "table) or make them equal",
                )
            )
    return out


def _type_of(field: SchemaField) -> str:
    from lib.schema import EMBEDDED_BIGNUMERIC

    kind = field.canonical_type
    if kind not in ("NUMERIC", "BIGNUMERIC") or field.precision is None:
        return kind
    default = EMBEDDED_BIGNUMERIC[1] if kind == "BIGNUMERIC" else 9
    return f"{kind}({field.precision},{field.scale if field.scale is not None else default})"


def _relocated(doc: Located, problem: ConfigProblem) -> ConfigProblem:
    relocate = getattr(doc, "relocate", None)
    if relocate is not None:
        return relocate(problem)  # type: ignore[no-any-return]
    assert isinstance(doc, Document)
    return with_line(doc, problem)


def export_problems(
    source: BigQueryExportSourceConfig,
    target: TableTarget,
    spec: TableSpec,
    pipeline: Pipeline,
    field: str,
) -> list[ConfigProblem]:
    """A billing export's destination: merged on the row key, holding every export column."""
    del source  # every export source yields the same columns
    from lib.providers.gcp_export import ROW_KEY, output_columns

    problems = []
    if target.write_mode != "merge" or list(target.merge_keys) != [ROW_KEY]:
        problems.append(
            pipeline.problem(
                field,
                "a billing export destination must merge on its row key",
                f"write write_mode: merge and merge_keys: [{ROW_KEY}]",
            )
        )
    missing = [c for c in output_columns() if c not in spec.names]
    if missing:
        problems.append(
            pipeline.problem(
                f"{field}.schema",
                f"the raw table schema lacks the export columns {missing}",
                "start from configs/_library/pipelines/gcp_billing/gcp_billing_output_schema.json",
            )
        )
    return problems


def with_line(doc: Document, problem: ConfigProblem) -> ConfigProblem:
    """``problem`` with the line of its field in ``doc`` (unchanged if it has one)."""
    if problem.line is not None or problem.file != str(doc.path):
        return problem
    from dataclasses import replace

    return replace(problem, line=doc.line(parse_field(problem.field)))
