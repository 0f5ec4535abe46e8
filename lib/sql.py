"""The SQL layer: BigQuery-dialect SQL rendered for an engine, safely, in one place.

Everything Convergence hands to a Warehouse is BigQuery SQL with ``@name`` parameters.
This module is pure (sqlglot only) and offers:

* :func:`transpile` / :func:`translate` — BigQuery → another dialect (DuckDB by default),
  with ``unsupported_level=RAISE``. For DuckDB, every function must be on the allow-list of
  :mod:`lib.sql_functions`, and where sqlglot's output would *run* but give a different
  answer than BigQuery, a fix-up of :mod:`lib.sql_fixups` either repairs the tree or raises
  :class:`~lib.errors.SqlTranslationError`; a wrong query is never returned.
* :func:`table_sql` — a quoted ``dataset.table`` reference.
* :func:`qualify_for_tenant` — the renderer for transform/user SQL: logical two-part names
  (``raw_openai.costs``) become the tenant's quoted datasets (```acme_raw_openai`.`costs```).

Known DuckDB difference that no fix-up can repair without column types: dividing two
NUMERIC values yields DOUBLE in DuckDB (NUMERIC in BigQuery). Casting the quotient back to
NUMERIC rounds to 9 places, which is exact for money values of up to ~15 significant digits.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

import sqlglot
from sqlglot import ErrorLevel, exp
from sqlglot.errors import SqlglotError

from lib.errors import InvalidIdentifier, SqlTranslationError
from lib.ids import check_slug
from lib.ports import TableRef
from lib.sql_fixups import FIXUPS, Unfaithful

__all__ = [
    "TENANT_LAYERS",
    "Statement",
    "check_identifier",
    "qualify_for_tenant",
    "snippet",
    "table_sql",
    "translate",
    "transpile",
]

_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.S)
IDENTIFIER_PATTERN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
TENANT_LAYERS = frozenset({"metadata", "raw", "silver", "gold"})
"""First word of every per-tenant dataset (``{tenant}_{layer}[_suffix]``)."""


@dataclass(frozen=True)
class Statement:
    """One translated statement and the ``@parameters`` it uses (names, without ``@``)."""

    sql: str
    params: tuple[str, ...]


def snippet(sql: str) -> str:
    """``sql`` on one line, cut at 120 characters (for messages)."""
    return " ".join(sql.split())[:120]


def _fail(sql: str, cause: object) -> SqlTranslationError:
    return SqlTranslationError(f"cannot run BigQuery SQL {snippet(sql)!r}: {cause}")


def check_identifier(name: str, what: str = "identifier") -> str:
    """Return ``name`` if it is a safe dataset/table/column name.

    Raises:
        InvalidIdentifier: naming the value and the allowed pattern.
    """
    if isinstance(name, str) and IDENTIFIER_PATTERN.fullmatch(name):
        return name
    raise InvalidIdentifier(
        f"invalid {what} {name!r:.60}: use letters, digits and _, starting with a letter or _"
    )


@functools.lru_cache(maxsize=4096)
def table_sql(ref: TableRef, dialect: str = "bigquery") -> str:
    """Render ``ref`` as a quoted two-part identifier in ``dialect``.

    Args:
        ref: the table.
        dialect: a sqlglot dialect name.

    Returns:
        e.g. ```raw_openai`.`costs``` (BigQuery) or ``"raw_openai"."costs"`` (DuckDB).

    Raises:
        InvalidIdentifier: a dataset or table name is unsafe.
    """
    return _table_exp(ref).sql(dialect=dialect)


def _table_exp(ref: TableRef) -> exp.Table:
    return exp.Table(
        this=exp.to_identifier(check_identifier(ref.table, "table name"), quoted=True),
        db=exp.to_identifier(check_identifier(ref.dataset, "dataset name"), quoted=True),
    )


def _parse(sql: str) -> list[exp.Expr]:
    try:
        trees = sqlglot.parse(sql, read="bigquery", error_level=ErrorLevel.RAISE)
    except SqlglotError as exc:
        raise _fail(sql, exc) from exc
    statements = [t for t in trees if t is not None]
    if not statements:
        raise _fail(sql, "no statement found")
    return statements


def translate(sql: str, *, write: str = "duckdb") -> list[Statement]:
    """Translate a BigQuery script statement by statement.

    Args:
        sql: BigQuery SQL, one statement or a ``;``-separated script.
        write: target sqlglot dialect.

    Returns:
        One :class:`Statement` per input statement, in order.

    Raises:
        SqlTranslationError: the SQL does not parse, or uses something the target cannot
            run with BigQuery's meaning (names the first 120 characters and the cause).
    """
    return list(_translate(sql, write))


@functools.lru_cache(maxsize=1024)
def _translate(sql: str, write: str) -> tuple[Statement, ...]:
    """:func:`translate`, memoised: handlers send the same statements with new parameters."""
    out = []
    trees = _parse(sql)
    for tree in trees:
        # Rendering a statement back to BigQuery costs as much as translating it: the error
        # message shows the caller's own text unless it is a script of several statements.
        text = _COMMENTS.sub(" ", sql) if len(trees) == 1 else tree.sql(dialect="bigquery")
        try:
            for fix in FIXUPS.get(write, ()):
                tree = fix(tree)
            rendered = tree.sql(dialect=write, unsupported_level=ErrorLevel.RAISE)
        except (SqlglotError, Unfaithful) as exc:
            raise _fail(text, exc) from exc
        names = dict.fromkeys(p.name for p in tree.find_all(exp.Parameter))
        out.append(Statement(rendered, tuple(names)))
    return tuple(out)


def transpile(sql: str, *, write: str = "duckdb") -> list[str]:
    """Translate BigQuery SQL to ``write``; a script yields one string per statement.

    ``@name`` parameters come out as the target's named parameters (DuckDB ``$name``).

    Raises:
        SqlTranslationError: see :func:`translate`.
    """
    return [s.sql for s in translate(sql, write=write)]


# --- tenant qualification ---------------------------------------------------------------


def qualify_for_tenant(sql: str, tenant_id: str) -> str:
    """Point every ``dataset.table`` of ``sql`` at ``tenant_id``'s datasets.

    ``raw_openai.costs`` becomes ```{tenant}_raw_openai`.`costs```; CTE names are left alone.
    A logical dataset must start with a layer word (:data:`TENANT_LAYERS`) and contain no
    other layer word, so no spelling can reach another tenant's ``{other}_{layer}`` dataset.

    Args:
        sql: BigQuery SQL (may be a script) using logical dataset names.
        tenant_id: validated with :func:`lib.ids.check_slug`.

    Returns:
        BigQuery SQL with quoted, tenant-qualified table references.

    Raises:
        InvalidIdentifier: the tenant id or a name is unsafe.
        SqlTranslationError: a three-part name, a one-part name that is not a CTE, a
            column qualified with a dataset, or a dataset outside the tenant's layers.
    """
    return _qualify(sql, tenant_id)


@functools.lru_cache(maxsize=512)
def _qualify(sql: str, tenant_id: str) -> str:
    check_slug(tenant_id, "tenant id")
    rendered = []
    for tree in _parse(sql):
        ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
        for table in list(tree.find_all(exp.Table)):
            _qualify_table(table, tenant_id, ctes, sql)
        for column in tree.find_all(exp.Column):
            if column.args.get("db") is not None:
                raise _fail(sql, f"column {column.sql('bigquery')} names a dataset; use an alias")
        rendered.append(tree.sql(dialect="bigquery"))
    return ";\n".join(rendered)


def _qualify_table(table: exp.Table, tenant_id: str, ctes: set[str], sql: str) -> None:
    if isinstance(table.this, exp.Func) or isinstance(table.parent, exp.Unnest):
        return
    if table.args.get("catalog") is not None:
        raise _fail(sql, f"three-part name {table.sql('bigquery')}: write dataset.table")
    if not table.db:
        if table.name in ctes:
            return
        raise _fail(sql, f"table {table.name!r} needs a dataset: write dataset.table")
    dataset = _check_layer(table.db, sql)
    name = check_identifier(table.name, "table name")
    table.set("db", exp.to_identifier(f"{tenant_id}_{dataset}", quoted=True))
    table.set("this", exp.to_identifier(name, quoted=True))


def _check_layer(dataset: str, sql: str) -> str:
    check_identifier(dataset, "dataset name")
    words = dataset.split("_")
    if words[0] not in TENANT_LAYERS or TENANT_LAYERS.intersection(words[1:]):
        layers = ", ".join(sorted(TENANT_LAYERS))
        raise _fail(
            sql,
            f"dataset {dataset!r} is not one of this tenant's datasets: write a logical "
            f"name starting with one of {layers} (e.g. raw_openai), without a tenant prefix",
        )
    return dataset
