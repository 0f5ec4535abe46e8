"""Find and load a tenant's pipelines; resolve every file they reference, confined to the tenant.

Layout: ``configs/{tenant}/…/{pipeline}/{pipeline}.yml`` (e.g. ``{cloud}/{domain}/`` folders
in between). A pipeline file either is a whole pipeline, with its ``_dq.yml``, source files,
schemas and SQL beside it, or ``extends`` a library template and states what differs
(:mod:`lib.config.templates`). Paths in a tenant's file are relative to its folder and may not
leave the tenant's folder; ``@library/…`` paths resolve in ``configs/_library``.

A loaded :class:`Pipeline` keeps the merged data with the origin of every value, so a problem
found later (a missing file, an unknown column) names the file and line that wrote it.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.config.documents import Document, Loc, parse_field, read_document
from lib.config.layers import Layered, merge_layers
from lib.config.pipeline import LIBRARY_PREFIX, IngestStep, PipelineConfig, TableTarget
from lib.config.problems import load_model
from lib.config.schema_files import load_schema_file
from lib.errors import ConfigError, ConfigProblem
from lib.ids import check_slug
from lib.ports import TableRef
from lib.schema import SchemaField, TableSpec

if TYPE_CHECKING:
    from lib.config.source import AnySource

RESERVED_FOLDERS = frozenset({"metadata", "admin"})
"""Not tenants: ``metadata`` holds the metadata schemas; ``admin`` owns the admin API keys."""
LIBRARY_FOLDER = "_library"
INGESTION_FIELDS = (
    SchemaField(name="ingestion_date", type="DATE", mode="REQUIRED"),
    SchemaField(name="ingestion_timestamp", type="TIMESTAMP", mode="REQUIRED"),
    SchemaField(name="pipeline_logging_id", type="STRING", mode="REQUIRED"),
)


def tenant_dataset(tenant_id: str, dataset: str) -> str:
    """The physical dataset of a tenant: ``{tenant}_{dataset}``."""
    return f"{check_slug(tenant_id, 'tenant id')}_{dataset}"


@functools.lru_cache(maxsize=256)
def resolved_dir(folder: Path) -> Path:
    """``folder.resolve()``, remembered: the tenant and library folders every config path is
    checked against (a handler resolves them for every file of every event)."""
    return folder.resolve()


@dataclass(frozen=True)
class Pipeline:
    """A loaded pipeline of one tenant, with helpers to resolve what it references.

    ``file`` is the tenant's pipeline file; ``template`` the library template it extends, if
    any; ``layer`` the merged data with every value's origin (for problems and ``config show``).
    """

    tenant_id: str
    config: PipelineConfig
    file: Path
    tenant_dir: Path
    layer: Layered | None = field(default=None, compare=False, repr=False)
    template: Path | None = None
    cache: dict[tuple[str, int], Any] = field(default_factory=dict, compare=False, repr=False)
    """Sources and destination schemas already resolved (a Pipeline lives for one event).

    DQ rules and destination schemas are resolved above this layer, where the DQ models and the
    table catalog live (``lib.config.derived.step_rules``,
    ``lib.config.catalog.destination_spec``)."""

    def problem(self, where: str | Loc, message: str, hint: str = "") -> ConfigProblem:
        """A problem at a field of the resolved pipeline (``steps[0].source``), named by the
        file and line that wrote it (the template or the tenant's file)."""
        loc = parse_field(where) if isinstance(where, str) else where
        if self.layer is None:
            return ConfigProblem(
                str(self.file), where if isinstance(where, str) else "", message, hint
            )
        return self.layer.problem(loc, message, hint)

    def relocate(self, problem: ConfigProblem) -> ConfigProblem:
        """A problem reported against ``file`` and a resolved field, moved to its origin."""
        return self.layer.relocate(problem) if self.layer is not None else problem

    def source(self, index: int) -> AnySource:
        """The source of ingest step ``index``: its file, the step's ``source_overrides``
        merged on, secret names renamed by the pipeline's ``secrets``.

        Raises:
            ConfigError: the file is missing or the merged source is invalid.
        """
        from lib.config.source import load_source, source_from

        key = ("source", index)
        if key not in self.cache:
            step = self.config.steps[index]
            assert isinstance(step, IngestStep)
            if step.source_overrides or self.config.secrets:
                layer, path = self.source_layer(index)
                self.cache[key] = source_from(layer, path)
            else:  # the file as it is: no merge, no origins to keep
                self.cache[key] = load_source(self.path(step.source, f"steps[{index}].source"))
        return self.cache[key]  # type: ignore[no-any-return]

    def source_layer(self, index: int, *, rename: bool = True) -> tuple[Layered, Path]:
        """The merged source data of ingest step ``index`` (origins kept) and its file;
        ``rename=False`` keeps the secret name the source file states."""
        step = self.config.steps[index]
        assert isinstance(step, IngestStep)
        path = self.path(step.source, f"steps[{index}].source")
        layer = Layered.of(read_document(path))
        if step.source_overrides and self.layer is not None:
            over = self.layer.sub(("steps", index, "source_overrides"))
            layer = merge_layers(layer, over)
        return (_rename_secret(layer, self) if rename else layer), path

    @property
    def folder(self) -> Path:
        """The pipeline's folder; relative paths start here."""
        return self.file.parent

    @property
    def library_dir(self) -> Path:
        """``configs/_library``: SQL and schemas every tenant shares (``@library/…`` paths)."""
        return self.tenant_dir.parent / LIBRARY_FOLDER

    def path(self, relative: str, field: str) -> Path:
        """Resolve a config path: against the pipeline folder (confined to the tenant's
        folder) or, for ``@library/…``, against the shared library (confined to it).

        Raises:
            ConfigError: the path leaves its folder or does not exist.
        """
        shared = relative.startswith(LIBRARY_PREFIX)
        base = self.library_dir if shared else self.folder
        bound = self.library_dir if shared else self.tenant_dir
        resolved = (base / relative.removeprefix(LIBRARY_PREFIX)).resolve()
        if not resolved.is_relative_to(resolved_dir(bound)):
            where = "the shared library" if shared else "the tenant folder"
            raise ConfigError([self.problem(field, f"{relative!r} leaves {where}")])
        if not resolved.is_file():
            raise ConfigError(
                [
                    self.problem(
                        field,
                        f"file {relative!r} not found in {base}",
                        "create it or fix the path (relative to the pipeline folder, or "
                        "@library/… for configs/_library)",
                    )
                ]
            )
        return resolved

    def table_ref(self, dataset: str, table: str) -> TableRef:
        """The physical table for a tenant-relative dataset and table."""
        return TableRef(tenant_dataset(self.tenant_id, dataset), table)

    def table_spec(self, target: TableTarget, field: str, *, ingestion: bool = False) -> TableSpec:
        """The destination's TableSpec from its schema file (+ ingestion columns for raw
        tables); ``lib.config.catalog.destination_spec`` also serves destinations without
        one."""
        if target.schema_file is None:
            raise ConfigError([self.problem(f"{field}.schema", "no schema file given")])
        path = self.path(target.schema_file, f"{field}.schema")
        try:
            fields = load_schema_file(path)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                [ConfigProblem(str(path), "(file)", f"invalid BigQuery JSON schema: {exc}")]
            ) from exc
        return self.spec_of(fields, target, field, ingestion=ingestion, named=target.schema_file)

    def spec_of(
        self,
        fields: list[SchemaField],
        target: TableTarget,
        field: str,
        *,
        ingestion: bool,
        named: str,
    ) -> TableSpec:
        """A destination's TableSpec from its columns; its keys must name some of them.

        Args:
            fields: the columns (without the ingestion columns).
            target: the destination.
            field: its config path, e.g. ``steps[0].destination``.
            ingestion: a raw table (gets the ingestion columns and their partitioning).
            named: where the columns come from, for messages.

        Raises:
            ConfigError: a key, cluster, partition or window column is not a column.
        """
        names = {f.name for f in fields}
        if ingestion:
            fields = [*fields, *(f for f in INGESTION_FIELDS if f.name not in names)]
        partition = target.partition_field or ("ingestion_date" if ingestion else None)
        spec = TableSpec(
            fields=tuple(fields), partition_field=partition, cluster_by=tuple(target.cluster_by)
        )
        _check_columns(spec, target, self, field, named)
        return spec


def _rename_secret(layer: Layered, pipeline: Pipeline) -> Layered:
    """The source with ``auth.secret`` renamed by the pipeline's ``secrets`` mapping."""
    data = layer.data
    renames = pipeline.config.secrets
    auth = data.get("auth") if isinstance(data, dict) else None
    secret = auth.get("secret") if isinstance(auth, dict) else None
    if not isinstance(secret, str) or secret not in renames:
        return layer
    assert isinstance(auth, dict)
    auth["secret"] = renames[secret]
    if pipeline.layer is not None:
        origin = pipeline.layer.origin(("secrets", secret))
        if origin is not None:
            layer.origins[("auth", "secret")] = origin
    return layer


def _check_columns(
    spec: TableSpec, target: TableTarget, pipeline: Pipeline, field: str, named: str
) -> None:
    names = set(spec.names)
    used = {
        "merge_keys": target.merge_keys,
        "cluster_by": target.cluster_by,
        "partition_field": [target.partition_field] if target.partition_field else [],
        "window_column": [target.window_column] if target.window_column else [],
        "replace_scope": list(target.replace_scope),
    }
    problems = [
        pipeline.problem(
            f"{field}.{key}",
            f"column {col!r} is not in {named}",
            f"use one of: {', '.join(sorted(names))}",
        )
        for key, cols in used.items()
        for col in cols
        if col not in names
    ]
    if problems:
        raise ConfigError(problems)


def pipeline_files(tenant_dir: Path, pipeline_id: str | None = None) -> list[Path]:
    """Pipeline files under a tenant folder: ``{name}/{name}.yml`` (optionally one id)."""
    pattern = f"**/{pipeline_id}.yml" if pipeline_id else "**/*.yml"
    return sorted(
        p
        for p in tenant_dir.glob(pattern)
        if p.stem == p.parent.name and p.resolve().is_relative_to(tenant_dir.resolve())
    )


def tenants(config_dir: Path) -> list[str]:
    """Tenant folders under the config root."""
    return sorted(
        p.name
        for p in config_dir.iterdir()
        if p.is_dir() and p.name not in RESERVED_FOLDERS and not p.name.startswith((".", "_"))
    )


def load_pipeline_file(path: Path, tenant_id: str, tenant_dir: Path) -> Pipeline:
    """Load one pipeline file (merged onto its template if it ``extends`` one); its
    ``pipeline_id`` must equal its file name.

    Raises:
        ConfigError: every problem found in the file (and its template).
    """
    return load_pipeline_doc(read_document(path), tenant_id, tenant_dir)


def load_pipeline_doc(doc: Document, tenant_id: str, tenant_dir: Path) -> Pipeline:
    """Load a parsed pipeline file (see :func:`load_pipeline_file`); the file need not exist
    yet (onboarding checks the files it is about to write).

    Raises:
        ConfigError: every problem found in the file (and its template).
    """
    from lib.config.templates import extends_of, resolve

    path = doc.path
    template = None
    if extends_of(doc) is not None:
        layer, template = resolve(doc, tenant_dir.parent / LIBRARY_FOLDER)
    else:
        layer = Layered.of(doc)
    config = load_model(path, PipelineConfig, layer)
    if config.pipeline_id != path.stem:
        raise ConfigError(
            [
                layer.problem(
                    ("pipeline_id",),
                    f"{config.pipeline_id!r} does not match the file name {path.name!r}",
                    f"write pipeline_id: {path.stem} or rename the file",
                )
            ]
        )
    return Pipeline(tenant_id, config, path, tenant_dir, layer, template)


def load_template(library_dir: Path, name: str, tenant_id: str = "library") -> Pipeline:
    """Load a library template on its own (``convergence validate`` checks every template).

    Raises:
        ConfigError: every problem found in the template.
    """
    from lib.config.templates import template_layer

    layer = template_layer(library_dir, name)
    path = layer.path
    config = load_model(path, PipelineConfig, layer)
    if config.pipeline_id != name:
        raise ConfigError(
            [
                layer.problem(
                    ("pipeline_id",),
                    f"{config.pipeline_id!r} does not match the template folder {name!r}",
                    f"write pipeline_id: {name} or rename the folder",
                )
            ]
        )
    return Pipeline(tenant_id, config, path, library_dir, layer, path)


def load_pipeline(config_dir: Path, tenant_id: str, pipeline_id: str) -> Pipeline:
    """Find ``**/{pipeline_id}.yml`` in the tenant's folder only and load it.

    Raises:
        InvalidIdentifier: tenant or pipeline id is not a safe slug.
        ConfigError: no such pipeline, several, or an invalid file.
    """
    check_slug(tenant_id, "tenant id")
    check_slug(pipeline_id, "pipeline id")
    tenant_dir = config_dir / tenant_id
    if tenant_id in RESERVED_FOLDERS or not tenant_dir.is_dir():
        raise ConfigError(
            [
                ConfigProblem(
                    str(tenant_dir),
                    "(folder)",
                    f"tenant {tenant_id!r} has no config folder",
                    f"create {tenant_dir}/ or check the tenant id",
                )
            ]
        )
    found = pipeline_files(tenant_dir, pipeline_id)
    if len(found) != 1:
        message = "no pipeline file" if not found else f"{len(found)} pipeline files"
        raise ConfigError(
            [
                ConfigProblem(
                    str(tenant_dir),
                    "(folder)",
                    f"{message} named {pipeline_id}.yml for tenant {tenant_id!r}",
                    "pipeline files live at {cloud}/{domain}/{pipeline}/{pipeline}.yml",
                )
            ]
        )
    return load_pipeline_file(found[0], tenant_id, tenant_dir)
