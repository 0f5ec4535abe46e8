"""A tenant's tables as its configs declare them: logical name → columns and who writes it.

Every ingest and transform step writes one table (``dataset.table`` without the tenant
prefix) whose columns are its destination schema file (plus the ingestion columns for raw
tables); the metadata tables come from ``configs/metadata/schemas``. Transform SQL and DQ
rules are checked against this catalog, statically.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from lib.config.loader import INGESTION_FIELDS, Pipeline
from lib.config.pipeline import IngestStep, TableTarget, TransformStep
from lib.errors import ConfigError, ConfigProblem
from lib.schema import TableSpec, load_schema_file


@dataclass(frozen=True)
class TableEntry:
    """One logical table: its columns and the step that declares them."""

    name: str
    spec: TableSpec | None
    """None when the schema file itself is invalid (reported where the step is checked)."""
    file: str
    field: str
    schema_file: str


def _spec(pipeline: Pipeline, target: TableTarget, field: str, ingestion: bool) -> TableSpec | None:
    """The destination's columns, even when its keys are wrong (that is reported elsewhere)."""
    try:
        return pipeline.table_spec(target, field, ingestion=ingestion)
    except ConfigError:
        pass
    try:
        fields = load_schema_file(pipeline.path(target.schema_file, f"{field}.schema"))
    except ConfigError:
        return None
    names = {f.name for f in fields}
    extra = [f for f in INGESTION_FIELDS if ingestion and f.name not in names]
    return TableSpec(fields=(*fields, *extra))


def step_tables(pipeline: Pipeline) -> list[TableEntry]:
    """The tables a pipeline's steps write."""
    out = []
    for index, step in enumerate(pipeline.config.steps):
        if not isinstance(step, IngestStep | TransformStep):
            continue
        field = f"steps[{index}].destination"
        target = step.destination
        spec = _spec(pipeline, target, field, isinstance(step, IngestStep))
        name = f"{target.dataset}.{target.table}"
        out.append(TableEntry(name, spec, str(pipeline.file), field, target.schema_file))
    return out


def build_catalog(
    pipelines: Iterable[Pipeline], metadata: Mapping[str, TableSpec]
) -> tuple[dict[str, TableEntry], list[ConfigProblem]]:
    """Every table of a tenant; a table declared twice with different columns is a problem.

    Args:
        pipelines: the tenant's loaded pipelines.
        metadata: metadata table name → columns (``configs/metadata/schemas``).

    Returns:
        The catalog by logical name and the conflicts found.
    """
    catalog = {
        f"metadata.{name}": TableEntry(f"metadata.{name}", spec, "configs/metadata", "", name)
        for name, spec in metadata.items()
    }
    problems = []
    for pipeline in pipelines:
        for entry in step_tables(pipeline):
            first = catalog.setdefault(entry.name, entry)
            if first is entry or first.spec is None or entry.spec is None:
                continue
            if _columns(first.spec) != _columns(entry.spec):
                problems.append(
                    ConfigProblem(
                        entry.file,
                        f"{entry.field}.schema",
                        f"table {entry.name} is also written by {first.file} ({first.field}) "
                        f"with other columns ({first.schema_file} vs {entry.schema_file})",
                        "write it with one schema file (e.g. a shared @library/… schema)",
                    )
                )
    return catalog, problems


def _columns(spec: TableSpec) -> list[tuple[str, str, str]]:
    return [(f.name.lower(), f.canonical_type, f.mode) for f in spec.fields]
