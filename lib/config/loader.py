"""Find and load a tenant's pipelines; resolve every file they reference, confined to the tenant.

Layout: ``configs/{tenant}/{cloud}/{domain}/{pipeline}/{pipeline}.yml`` with the pipeline's
``_dq.yml``, ``_output_schema.json``, source files and SQL beside it. Paths in a pipeline file
are relative to its folder and may not leave the tenant's folder.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

from lib.config.pipeline import LIBRARY_PREFIX, PipelineConfig, TableTarget
from lib.config.problems import load_model
from lib.errors import ConfigError, ConfigProblem
from lib.ids import check_slug
from lib.ports import TableRef
from lib.schema import SchemaField, TableSpec, load_schema_file

RESERVED_FOLDERS = frozenset({"metadata"})
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
    """A loaded pipeline of one tenant, with helpers to resolve what it references."""

    tenant_id: str
    config: PipelineConfig
    file: Path
    tenant_dir: Path

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
            raise ConfigError(
                [ConfigProblem(str(self.file), field, f"{relative!r} leaves {where}")]
            )
        if not resolved.is_file():
            raise ConfigError(
                [
                    ConfigProblem(
                        str(self.file),
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
        """The destination's TableSpec: schema file (+ ingestion columns for raw tables)."""
        path = self.path(target.schema_file, f"{field}.schema")
        try:
            fields = load_schema_file(path)
        except ConfigError:
            raise
        except Exception as exc:
            raise ConfigError(
                [ConfigProblem(str(path), "(file)", f"invalid BigQuery JSON schema: {exc}")]
            ) from exc
        names = {f.name for f in fields}
        if ingestion:
            fields += [f for f in INGESTION_FIELDS if f.name not in names]
        partition = target.partition_field or ("ingestion_date" if ingestion else None)
        spec = TableSpec(
            fields=tuple(fields), partition_field=partition, cluster_by=tuple(target.cluster_by)
        )
        _check_columns(spec, target, str(self.file), field)
        return spec


def _check_columns(spec: TableSpec, target: TableTarget, file: str, field: str) -> None:
    names = set(spec.names)
    used = {
        "merge_keys": target.merge_keys,
        "cluster_by": target.cluster_by,
        "partition_field": [target.partition_field] if target.partition_field else [],
        "window_column": [target.window_column] if target.window_column else [],
        "replace_scope": list(target.replace_scope),
    }
    problems = [
        ConfigProblem(
            file,
            f"{field}.{key}",
            f"column {col!r} is not in {target.schema_file}",
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
    """Load one pipeline file; its ``pipeline_id`` must equal its file name.

    Raises:
        ConfigError: every problem found in the file.
    """
    config = load_model(path, PipelineConfig)
    if config.pipeline_id != path.stem:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    "pipeline_id",
                    f"{config.pipeline_id!r} does not match the file name {path.name!r}",
                    f"write pipeline_id: {path.stem} or rename the file",
                )
            ]
        )
    return Pipeline(tenant_id=tenant_id, config=config, file=path, tenant_dir=tenant_dir)


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
