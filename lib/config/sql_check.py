"""Static checks of a transform's SQL against the tables its tenant's pipelines write.

A transform file holds one BigQuery query over logical tables (``raw_openai.costs``). Each
logical table's columns come from the schema file of the step that writes it (see
:mod:`lib.config.catalog`). Without touching a warehouse, this module finds:

* more than one statement, or a statement that is not a query;
* tables no step writes, ``@parameters`` the transform step does not bind;
* columns (and struct fields) that no table in scope has, or that several have (ambiguous);
* output columns the destination schema lacks, REQUIRED destination columns never written,
  and output columns named twice.

Column resolution is sqlglot's ``qualify`` (with the catalog as schema) and ``annotate_types``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import ParseError, SqlglotError
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope
from sqlglot.schema import MappingSchema

from lib.config.pipeline import BUILTIN_PARAMETERS
from lib.config.problems import did_you_mean
from lib.errors import ConfigProblem, ConvergenceError
from lib.schema import SchemaField, TableSpec

TRANSFORM_PARAMETERS = BUILTIN_PARAMETERS
"""The ``@parameters`` every transform's SQL may use (bound by the transform step); a step's
own ``parameters:`` add to them."""

_FIELD = "(sql)"
_RENDERED_FOR = "tenant"
"""The tenant id a query is rendered for when checked (any valid id gives the same result)."""


@dataclass(frozen=True)
class Destination:
    """Where the query's result goes: the table's schema and the file that declares it."""

    name: str
    spec: TableSpec
    schema_file: str


def check_transform_sql(
    path: Path,
    text: str,
    tenant_id: str,
    tables: Mapping[str, TableSpec | None],
    destination: Destination | None,
    parameters: Iterable[str] = (),
) -> list[ConfigProblem]:
    """Every static problem of one transform SQL file.

    Args:
        path: the SQL file (named in every problem).
        text: its text.
        tenant_id: the tenant it is rendered for (``lib.sql.qualify_for_tenant``). Rendering
            only prefixes the logical datasets, so the outcome is the same for every tenant:
            the check is memoised without it and a thousand tenants sharing a library SQL
            file and its tables cost one check.
        tables: logical ``dataset.table`` → columns, every table the tenant's steps write
            (None: columns unknown because its schema file is invalid; columns of a query
            reading it are then not checked).
        destination: the step's destination, to check the query's output columns.
        parameters: the names of the step's own ``parameters:`` (besides the built-ins).
    """
    del tenant_id  # see Args
    frozen = tuple(sorted(tables.items()))
    found = _check_cached(text, _RENDERED_FOR, frozen, destination, tuple(sorted(parameters)))
    return [replace(problem, file=str(path)) for problem in found]


@functools.lru_cache(maxsize=1024)
def _check_cached(
    text: str,
    tenant_id: str,
    tables: tuple[tuple[str, TableSpec | None], ...],
    destination: Destination | None,
    parameters: tuple[str, ...] = (),
) -> tuple[ConfigProblem, ...]:
    """Memoised: a thousand tenants share a library SQL file and usually its tables."""
    return tuple(_check("", text, tenant_id, dict(tables), destination, parameters))


def _check(
    file: str,
    text: str,
    tenant_id: str,
    tables: Mapping[str, TableSpec | None],
    destination: Destination | None,
    parameters: tuple[str, ...] = (),
) -> list[ConfigProblem]:
    check = _Check(file, text, tables, (*TRANSFORM_PARAMETERS, *parameters))
    tree = check.single_query()
    if tree is None:
        return check.problems
    check.tables_and_parameters(tree)
    if check.problems:
        return check.problems
    problem = _translation_problem(text, tenant_id)
    if problem:
        check.add(
            problem,
            "write BigQuery Standard SQL over this tenant's logical datasets, with functions the "
            "embedded engine runs with BigQuery's meaning (docs/sql.md)",
        )
        return check.problems
    if check.reads_unknown_columns(tree):
        return check.problems
    qualified = check.columns(tree)
    if qualified is not None and destination is not None and not check.problems:
        check.outputs(qualified, destination)
    return check.problems


def sql_type(field: SchemaField) -> exp.DataType:
    """The sqlglot type of a schema column (RECORD → STRUCT, REPEATED → ARRAY)."""
    return exp.DataType.build(_type_text(field), dialect="bigquery")


def _type_text(field: SchemaField) -> str:
    base = field.canonical_type
    if base == "RECORD":
        members = ", ".join(f"`{f.name}` {_type_text(f)}" for f in field.fields)
        base = f"STRUCT<{members}>"
    return f"ARRAY<{base}>" if field.mode == "REPEATED" else base


def _listing(names: Iterable[str], limit: int = 40) -> str:
    names = list(names)
    more = f", … ({len(names) - limit} more)" if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def _line(node: exp.Expr | None) -> int | None:
    """The line a node was parsed from (identifiers carry it), if known."""
    if node is None:
        return None
    for candidate in (node, node.this, *node.find_all(exp.Identifier, exp.Var)):
        line = candidate.meta.get("line") if isinstance(candidate, exp.Expr) else None
        if line:
            return int(line)
    return None


class _Check:
    """One SQL file's checks; problems accumulate in ``problems``."""

    def __init__(
        self,
        file: str,
        text: str,
        tables: Mapping[str, TableSpec | None],
        parameters: tuple[str, ...] = TRANSFORM_PARAMETERS,
    ) -> None:
        self.file, self.text, self.tables = file, text, tables
        self.parameters = parameters
        self.problems: list[ConfigProblem] = []
        self.lower = {name.lower(): name for name in tables}

    def add(self, message: str, hint: str = "", line: int | None = None) -> None:
        self.problems.append(ConfigProblem(self.file, _FIELD, message, hint, line=line))

    def single_query(self) -> exp.Expr | None:
        try:
            trees = [t for t in sqlglot.parse(self.text, read="bigquery") if t is not None]
        except ParseError as exc:
            error = exc.errors[0] if exc.errors else {}
            self.add(f"invalid SQL: {error.get('description', exc)}", "", error.get("line"))
            return None
        except SqlglotError as exc:
            self.add(f"invalid SQL: {exc}")
            return None
        if len(trees) != 1:
            self.add(
                f"the file holds {len(trees)} statements; a transform is exactly one query",
                "keep one SELECT (chain steps with WITH …); the step writes its result",
                self._second_statement_line(),
            )
            return None
        tree = trees[0]
        if not isinstance(tree, exp.Query):
            self.add(
                f"a transform is a query, not {tree.key.upper()}",
                "write only the SELECT: the step writes its result to the destination table",
                1,
            )
            return None
        return tree

    def _second_statement_line(self) -> int | None:
        tokens = sqlglot.Dialect.get_or_raise("bigquery").tokenize(self.text)
        for index, token in enumerate(tokens[:-1]):
            if token.token_type == TokenType.SEMICOLON:
                return tokens[index + 1].line
        return None

    def tables_and_parameters(self, tree: exp.Expr) -> None:
        ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
        for table in tree.find_all(exp.Table):
            if isinstance(table.this, exp.Func) or isinstance(table.parent, exp.Unnest):
                continue
            if not table.db and table.name.lower() in ctes:
                continue
            name = f"{table.db}.{table.name}"
            if table.catalog:
                self.add(
                    f"three-part name {table.catalog}.{name}: a transform reads only its "
                    "tenant's tables",
                    "write dataset.table with a logical dataset, e.g. raw_openai.costs",
                    _line(table),
                )
            elif not table.db:
                self.add(
                    f"table {table.name!r} needs a dataset (and is not a WITH name)",
                    "write dataset.table, e.g. raw_openai.costs",
                    _line(table),
                )
            elif name.lower() not in self.lower:
                guess = did_you_mean(name.lower(), self.lower, self.lower.__getitem__)
                self.add(
                    f"unknown table {name}: no step of this tenant's pipelines writes it",
                    f"{guess}tables: {_listing(sorted(self.tables))}",
                    _line(table),
                )
        for param in tree.find_all(exp.Parameter):
            if param.name not in self.parameters:
                guess = did_you_mean(param.name, self.parameters, "@{}".format)
                self.add(
                    f"unknown parameter @{param.name}",
                    f"{guess}this step binds @{', @'.join(self.parameters)} (declare more "
                    "under the step's parameters:)",
                    self._text_line(rf"@{re.escape(param.name)}\b"),
                )

    def _text_line(self, pattern: str) -> int | None:
        """Line of the first match of ``pattern`` in the file (for nodes without a line)."""
        match = re.search(pattern, self.text)
        return self.text.count("\n", 0, match.start()) + 1 if match else None

    def reads_unknown_columns(self, tree: exp.Expr) -> bool:
        """Whether the query reads a table whose schema file is invalid."""
        read = {f"{t.db}.{t.name}".lower() for t in tree.find_all(exp.Table) if t.db}
        return any(self.tables[self.lower[name]] is None for name in read & set(self.lower))

    def _schema(self) -> dict[str, dict[str, dict[str, exp.DataType]]]:
        schema: dict[str, dict[str, dict[str, exp.DataType]]] = {}
        for name, spec in self.tables.items():
            if spec is None:
                continue
            dataset, _, table = name.partition(".")
            schema.setdefault(dataset, {})[table] = {f.name: sql_type(f) for f in spec.fields}
        return schema

    def columns(self, tree: exp.Expr) -> exp.Expr | None:
        schema = MappingSchema(self._schema(), dialect="bigquery")  # type: ignore[arg-type]
        try:
            qualified = qualify(
                tree.copy(),
                schema=schema,
                dialect="bigquery",
                validate_qualify_columns=False,
                allow_partial_qualification=True,
                quote_identifiers=False,
                identify=False,
            )
            qualified = annotate_types(qualified, schema=schema, dialect="bigquery")
        except SqlglotError as exc:
            self.add(f"cannot resolve the query's columns: {exc}")
            return None
        reported: set[tuple[str, str]] = set()
        for scope in traverse_scope(qualified):
            for column in scope.columns:
                self._column(scope, column, reported)
        self._struct_fields(qualified, reported)
        return qualified

    def _column(self, scope: Scope, column: exp.Column, reported: set[tuple[str, str]]) -> None:
        if column.table:
            source, found = _source(scope, column.table)
            if not found:
                self._report(reported, column, f"unknown table or alias {column.table!r}", "")
                return
            known = self._columns_of(source)
            if known is not None and column.name.lower() not in {k.lower() for k in known}:
                self._unknown(reported, column, f"{column.table}", known)
            return
        owners: list[str] = []
        for current in _scopes_outward(scope):  # the column's own FROM first, then outer ones
            owners = [
                alias
                for alias, (_node, source) in current.selected_sources.items()
                if column.name.lower() in {k.lower() for k in self._columns_of(source) or []}
            ]
            if owners:
                break
        if len(owners) > 1:
            self._report(
                reported,
                column,
                f"column {self._spelt(column)!r} is ambiguous: {', '.join(owners)} all have it",
                f"qualify it, e.g. {owners[0]}.{self._spelt(column)}",
            )
            return
        if not owners:
            known = [
                name
                for _alias, (_node, source) in scope.selected_sources.items()
                for name in self._columns_of(source) or []
            ]
            self._unknown(reported, column, "the tables in its FROM", known)

    def _unknown(
        self, reported: set[tuple[str, str]], column: exp.Column, where: str, known: list[str]
    ) -> None:
        spelt = self._spelt(column)
        guess = did_you_mean(spelt, known)
        self._report(
            reported,
            column,
            f"unknown column {spelt!r}: not in {where}",
            f"{guess}columns: {_listing(dict.fromkeys(known))}",
        )

    def _report(
        self, reported: set[tuple[str, str]], node: exp.Column, message: str, hint: str
    ) -> None:
        key = (message, str(_line(node)))
        if key not in reported:
            reported.add(key)
            self.add(message, hint, _line(node))

    def _spelt(self, node: exp.Expr) -> str:
        """The name as written in the file (qualify lowercases identifiers)."""
        ident = node.this if isinstance(node, exp.Column | exp.Dot) else node
        if isinstance(ident, exp.Identifier):
            start, end = ident.meta.get("start"), ident.meta.get("end")
            if isinstance(start, int) and isinstance(end, int):
                return self.text[start : end + 1].strip("`")
        return node.name

    def _columns_of(self, source: object) -> list[str] | None:
        if isinstance(source, exp.Table):
            spec = self.tables.get(self.lower.get(f"{source.db}.{source.name}".lower(), ""))
            return [f.name for f in spec.fields] if spec else None
        if isinstance(source, Scope):
            query = source.expression
            names = query.named_selects if isinstance(query, exp.Query) else ["*"]
            return None if "*" in names else names
        return None

    def _struct_fields(self, tree: exp.Expr, reported: set[tuple[str, str]]) -> None:
        for dot in tree.find_all(exp.Dot):
            base = dot.this.type
            if base is None or not base.is_type(exp.DataType.Type.STRUCT):
                continue
            members = [m.name for m in base.expressions]
            if dot.name.lower() in {m.lower() for m in members}:
                continue
            spelt = self._spelt(dot.expression) if isinstance(dot.expression, exp.Expr) else ""
            name = spelt or dot.name
            guess = did_you_mean(name, members)
            key = (f"field {name}", str(_line(dot.expression)))
            if key not in reported:
                reported.add(key)
                self.add(
                    f"unknown field {name!r} of struct {dot.this.sql('bigquery')}",
                    f"{guess}fields: {_listing(members)}",
                    _line(dot.expression),
                )

    def outputs(self, tree: exp.Expr, destination: Destination) -> None:
        if not isinstance(tree, exp.Query):
            return
        names = tree.named_selects
        if "*" in names:
            return
        wanted = {f.name.lower(): f for f in destination.spec.fields}
        seen: set[str] = set()
        for select in tree.selects:
            name = select.alias_or_name
            if name.lower() in seen:
                self.add(
                    f"output column {name!r} is written twice",
                    "alias one of them",
                    _line(select.args.get("alias") or select),
                )
            seen.add(name.lower())
            if name.lower() not in wanted:
                guess = did_you_mean(name, [f.name for f in wanted.values()])
                self.add(
                    f"output column {self._spelt_output(select)!r} is not in the destination "
                    f"{destination.name} ({destination.schema_file})",
                    f"{guess}add it to the schema file or drop it from the SELECT",
                    _line(select.args.get("alias") or select),
                )
        missing = [f.name for f in destination.spec.fields if f.mode == "REQUIRED"]
        absent = [name for name in missing if name.lower() not in seen]
        if absent:
            self.add(
                f"the query never writes REQUIRED column(s) {', '.join(absent)} of "
                f"{destination.name}",
                "select a value for each (… AS column) or make the column NULLABLE",
                _line(tree.selects[0]) if tree.selects else None,
            )

    def _spelt_output(self, select: exp.Expr) -> str:
        alias = select.args.get("alias")
        return self._spelt(alias) if isinstance(alias, exp.Identifier) else select.alias_or_name


def _translation_problem(text: str, tenant_id: str) -> str | None:
    """Why the SQL cannot be rendered for the tenant and run by the embedded engine, if so."""
    from lib.sql import qualify_for_tenant, transpile

    try:
        transpile(qualify_for_tenant(text, tenant_id))
    except ConvergenceError as exc:
        return str(exc)
    return None


def _source(scope: Scope, name: str) -> tuple[object, bool]:
    for current in _scopes_outward(scope):
        if name in current.sources:
            return current.sources[name], True
    return None, False


def _scopes_outward(scope: Scope) -> list[Scope]:
    out: list[Scope] = []
    current: Scope | None = scope
    while current is not None:
        out.append(current)
        current = current.parent
    return out
