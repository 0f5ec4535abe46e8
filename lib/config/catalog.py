"""A tenant's tables as its configs declare them: logical name → columns and who writes it.

Every ingest and transform step writes one table (``dataset.table`` without the tenant
prefix). Its columns are, in order of precedence: the destination's schema file (plus the
ingestion columns for raw tables); for a REST ingest, the source's ``records.columns``; for a
transform, the schema another step gives the same table, else the SQL's output inferred
against the tables it reads (:mod:`lib.config.infer`, in dependency order). The metadata
tables come from ``configs/metadata/schemas``. Transform SQL and DQ rules are checked against
this catalog, statically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lib.config.documents import read_text
from lib.config.loader import (
    INGESTION_FIELDS,
    LIBRARY_FOLDER,
    Pipeline,
    load_pipeline_file,
    load_template,
    pipeline_files,
)
from lib.config.pipeline import IngestStep, TransformStep
from lib.config.schema_files import load_schema_file
from lib.errors import ConfigError, ConfigProblem
from lib.schema import SchemaField, TableSpec


@dataclass(frozen=True)
class TableEntry:
    """One logical table: its columns and the step that declares them."""

    name: str
    spec: TableSpec | None
    """None when its columns are unknown (the schema is invalid, reported where the step is
    checked, or could not be inferred: see ``problems``)."""
    file: str
    field: str
    schema_file: str
    """Where the columns come from, for messages (a schema file, records.columns, SQL)."""
    pipeline: Pipeline | None = None
    index: int = -1
    inferred: bool = False
    problems: tuple[ConfigProblem, ...] = ()


def _spec(pipeline: Pipeline, index: int, ingestion: bool) -> TableSpec | None:
    """The destination's columns, even when its keys are wrong (that is reported elsewhere)."""
    try:
        return destination_spec(pipeline, index)
    except ConfigError:
        pass
    step = pipeline.config.steps[index]
    assert isinstance(step, IngestStep | TransformStep)
    target = step.destination
    try:
        if target.schema_file is not None:
            fields = load_schema_file(pipeline.path(target.schema_file, "schema"))
        else:
            from lib.config.source import RestSourceConfig

            source = pipeline.source(index)
            if not isinstance(source, RestSourceConfig):
                return None
            fields = source.records.schema_fields()
    except ConfigError:
        return None
    names = {f.name for f in fields}
    extra = [f for f in INGESTION_FIELDS if ingestion and f.name not in names]
    return TableSpec(fields=(*fields, *extra))


def _described(step: IngestStep | TransformStep) -> str:
    if step.destination.schema_file is not None:
        return step.destination.schema_file
    if isinstance(step, IngestStep):
        return f"records.columns of {step.source}"
    return f"the inferred output of {step.sql}"


def step_tables(pipeline: Pipeline) -> list[TableEntry]:
    """The tables a pipeline's steps write (inferred ones without columns yet)."""
    out = []
    for index, step in enumerate(pipeline.config.steps):
        if not isinstance(step, IngestStep | TransformStep):
            continue
        target = step.destination
        inferred = isinstance(step, TransformStep) and target.schema_file is None
        spec = None if inferred else _spec(pipeline, index, isinstance(step, IngestStep))
        out.append(
            TableEntry(
                f"{target.dataset}.{target.table}",
                spec,
                str(pipeline.file),
                f"steps[{index}].destination",
                _described(step),
                pipeline,
                index,
                inferred,
            )
        )
    return out


def build_catalog(
    pipelines: Iterable[Pipeline], metadata: Mapping[str, TableSpec]
) -> tuple[dict[str, TableEntry], list[ConfigProblem]]:
    """Every table of a tenant; a table declared twice with different columns is a problem.

    Args:
        pipelines: the tenant's loaded pipelines.
        metadata: metadata table name → columns (``configs/metadata/schemas``).

    Returns:
        The catalog by logical name and the problems found (conflicts, outputs whose types
        cannot be inferred).
    """
    catalog = {
        f"metadata.{name}": TableEntry(f"metadata.{name}", spec, "configs/metadata", "", name)
        for name, spec in metadata.items()
    }
    problems: list[ConfigProblem] = []
    entries = [entry for pipeline in pipelines for entry in step_tables(pipeline)]
    for entry in entries:
        if not entry.inferred:
            problems += _add(catalog, entry)
    pending = [e for e in entries if e.inferred and e.name not in catalog]
    for entry in (e for e in entries if e.inferred and e.name in catalog):
        catalog.setdefault(entry.name, entry)  # another step gives its schema
    problems += _infer_all(catalog, pending)
    return catalog, problems


def _add(catalog: dict[str, TableEntry], entry: TableEntry) -> list[ConfigProblem]:
    first = catalog.setdefault(entry.name, entry)
    if first is entry or first.spec is None or entry.spec is None:
        return []
    if _columns(first.spec) == _columns(entry.spec):
        return []
    assert entry.pipeline is not None
    return [
        entry.pipeline.problem(
            f"{entry.field}.schema",
            f"table {entry.name} is also written by {first.file} ({first.field}) "
            f"with other columns ({first.schema_file} vs {entry.schema_file})",
            "write it with one schema (e.g. a shared @library/… schema file)",
        )
    ]


def _infer_all(catalog: dict[str, TableEntry], pending: list[TableEntry]) -> list[ConfigProblem]:
    """Infer transform outputs in dependency order (a table read before it is known waits)."""
    problems: list[ConfigProblem] = []
    waiting = list(pending)
    while waiting:
        names = {e.name for e in waiting}
        ready = [e for e in waiting if not (_reads(e) & names) - {e.name}]
        if not ready:
            for entry in waiting:
                problems.append(_cycle(entry, names))
                catalog.setdefault(entry.name, entry)
            break
        for entry in ready:
            inferred, found = _infer(entry, catalog)
            problems += found + _add(catalog, inferred)
            waiting.remove(entry)
    return problems


def _reads(entry: TableEntry) -> set[str]:
    from lib.config.infer import logical_tables

    text = _sql(entry)
    return logical_tables(text) if text is not None else set()


def _sql(entry: TableEntry) -> str | None:
    assert entry.pipeline is not None
    step = entry.pipeline.config.steps[entry.index]
    assert isinstance(step, TransformStep)
    try:
        return read_text(entry.pipeline.path(step.sql, f"steps[{entry.index}].sql"))
    except ConfigError:
        return None


def _cycle(entry: TableEntry, names: set[str]) -> ConfigProblem:
    assert entry.pipeline is not None
    others = ", ".join(sorted((_reads(entry) & names) - {entry.name}))
    return entry.pipeline.problem(
        f"{entry.field}.schema",
        f"cannot infer the columns of {entry.name}: its SQL reads {others}, whose columns are "
        "inferred from it in turn",
        "give one of these destinations a schema: file",
    )


def _infer(
    entry: TableEntry, catalog: dict[str, TableEntry]
) -> tuple[TableEntry, list[ConfigProblem]]:
    from dataclasses import replace

    from lib.config.infer import infer_fields

    assert entry.pipeline is not None
    text = _sql(entry)
    if text is None:
        return entry, []
    step = entry.pipeline.config.steps[entry.index]
    assert isinstance(step, TransformStep)
    tables = {name: e.spec for name, e in catalog.items()}
    fields, problems = infer_fields(text, tables)
    sql = entry.pipeline.path(step.sql, f"steps[{entry.index}].sql")
    found = [replace(p, file=str(sql)) for p in problems]
    if fields is None:
        return replace(entry, problems=tuple(found)), found
    try:
        spec = entry.pipeline.spec_of(
            fields, step.destination, entry.field, ingestion=False, named=entry.schema_file
        )
    except ConfigError as exc:
        spec, found = TableSpec(fields=tuple(fields)), [*found, *exc.problems]
    return replace(entry, spec=spec, problems=tuple(found)), found


def inferred_spec(
    pipeline: Pipeline, index: int, catalog: Mapping[str, TableEntry] | None
) -> list[SchemaField]:
    """The columns of transform step ``index``'s destination, which names no schema file.

    Raises:
        ConfigError: they cannot be inferred (the reasons).
    """
    step = pipeline.config.steps[index]
    assert isinstance(step, TransformStep)
    name = f"{step.destination.dataset}.{step.destination.table}"
    tables = catalog if catalog is not None else tenant_catalog(pipeline)
    entry = tables.get(name)
    if entry is not None and entry.spec is not None:
        return list(entry.spec.fields)
    reasons = list(entry.problems) if entry is not None else []
    raise ConfigError(
        reasons
        or [
            pipeline.problem(
                f"steps[{index}].destination.schema",
                f"cannot infer the columns of {name} from {step.sql}",
                "run `convergence validate`, or give the destination a schema: file",
            )
        ]
    )


def tenant_catalog(pipeline: Pipeline) -> dict[str, TableEntry]:
    """The catalog of the pipeline's tenant (every pipeline that loads), for run time."""
    tenant_dir = pipeline.tenant_dir
    config_dir = tenant_dir.parent
    if tenant_dir.name == LIBRARY_FOLDER:
        from lib.config.templates import template_names

        loaded = _loadable(lambda n: load_template(tenant_dir, n), template_names(tenant_dir))
    else:
        paths = pipeline_files(tenant_dir)
        loaded = _loadable(lambda p: load_pipeline_file(p, pipeline.tenant_id, tenant_dir), paths)
    metadata = metadata_specs(config_dir / "metadata" / "schemas")
    return build_catalog(loaded, metadata)[0]


def _loadable(load: object, items: Iterable[object]) -> list[Pipeline]:
    out = []
    for item in items:
        try:
            out.append(load(item))  # type: ignore[operator]
        except ConfigError:
            continue
    return out


def metadata_specs(folder: Path) -> dict[str, TableSpec]:
    """The metadata tables by name (``configs/metadata/schemas/*.json``)."""
    return {
        path.stem: TableSpec(fields=tuple(load_schema_file(path)))
        for path in sorted(folder.glob("*.json"))
    }


def _columns(spec: TableSpec) -> list[tuple[str, str, str]]:
    return [(f.name.lower(), f.canonical_type, f.mode) for f in spec.fields]


def destination_spec(pipeline: Pipeline, index: int, catalog: Any = None) -> TableSpec:
    """The destination of step ``index``: its schema file, or the columns derived from its REST
    source's ``records.columns``, or its SQL's output, inferred (remembered on the pipeline).

    Args:
        pipeline: the loaded pipeline.
        index: an ingest or transform step.
        catalog: the tenant's tables (:func:`build_catalog`), to infer a transform's output
            without loading the tenant's other pipelines again.

    Raises:
        ConfigError: the schema cannot be read, derived or inferred.
    """
    key = ("destination", index)
    if key not in pipeline.cache:
        pipeline.cache[key] = _destination_spec(pipeline, index, catalog)
    spec: TableSpec = pipeline.cache[key]
    return spec


def _destination_spec(pipeline: Pipeline, index: int, catalog: Any) -> TableSpec:
    step = pipeline.config.steps[index]
    assert isinstance(step, IngestStep | TransformStep)
    target, field = step.destination, f"steps[{index}].destination"
    ingest = isinstance(step, IngestStep)
    if target.schema_file is not None:
        return pipeline.table_spec(target, field, ingestion=ingest)
    if isinstance(step, IngestStep):
        return _derived(pipeline, index)
    fields = inferred_spec(pipeline, index, catalog)
    return pipeline.spec_of(
        fields, target, field, ingestion=False, named=f"the output of {step.sql}"
    )


def _derived(pipeline: Pipeline, index: int) -> TableSpec:
    from lib.config.source import RestSourceConfig

    step = pipeline.config.steps[index]
    assert isinstance(step, IngestStep)
    field = f"steps[{index}].destination"
    source = pipeline.source(index)
    if not isinstance(source, RestSourceConfig):
        raise ConfigError(
            [
                pipeline.problem(
                    f"{field}.schema",
                    f"a {source.kind} source has no records.columns to derive the raw table from",
                    "name the raw table's schema file: schema: …_output_schema.json",
                )
            ]
        )
    fields = source.records.schema_fields()
    named = f"the records.columns of {step.source}"
    return pipeline.spec_of(fields, step.destination, field, ingestion=True, named=named)
