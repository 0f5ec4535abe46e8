"""Tenant onboarding: create a tenant's datasets before its first run.

``{tenant}_metadata`` (with its tables) always; then every dataset the tenant's pipelines
write or check (``raw_*``, ``silver_*``, ``gold_*`` …). Tables are created by the steps on
their first run, from the schema files, so onboarding never disagrees with a step.
"""

from __future__ import annotations

from pathlib import Path

from lib.config.loader import (
    RESERVED_FOLDERS,
    Pipeline,
    load_pipeline_file,
    pipeline_files,
    tenant_dataset,
)
from lib.config.pipeline import DqStep
from lib.errors import ConfigError, ConfigProblem, InvalidIdentifier
from lib.ids import check_slug
from lib.wiring import Runtime


def tenant_pipelines(config_dir: Path, tenant_id: str) -> list[Pipeline]:
    """Every pipeline in the tenant's config folder (none if the folder does not exist).

    Raises:
        ConfigError: every problem of every invalid pipeline file, at once.
    """
    tenant_dir = config_dir / tenant_id
    if not tenant_dir.is_dir():
        return []
    loaded: list[Pipeline] = []
    problems: list[ConfigProblem] = []
    for path in pipeline_files(tenant_dir):
        try:
            loaded.append(load_pipeline_file(path, tenant_id, tenant_dir))
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return loaded


def pipeline_datasets(pipeline: Pipeline) -> set[str]:
    """Datasets (without the tenant prefix) a pipeline's steps write or read."""
    out: set[str] = set()
    for step in pipeline.config.steps:
        target = step.table if isinstance(step, DqStep) else step.destination
        out.add(target.dataset)
    return out


def provision_tenant(rt: Runtime, tenant_id: str) -> list[str]:
    """Create the tenant's metadata dataset and tables and its pipelines' datasets.

    Idempotent: existing datasets and tables are left as they are.

    Args:
        rt: the runtime whose warehouse gets the datasets.
        tenant_id: the tenant to onboard.

    Returns:
        The physical dataset names, sorted.

    Raises:
        InvalidIdentifier: the tenant id is not a safe slug or is reserved.
        ConfigError: a pipeline file of the tenant is invalid.
    """
    check_tenant_id(tenant_id)
    return provision_datasets(rt, tenant_id, tenant_pipelines(rt.config_dir, tenant_id))


def check_tenant_id(tenant_id: str) -> None:
    """A tenant id is a safe slug and not a reserved name.

    Raises:
        InvalidIdentifier: it is not.
    """
    check_slug(tenant_id, "tenant id")
    if tenant_id in RESERVED_FOLDERS:
        raise InvalidIdentifier(f"tenant id {tenant_id!r} is reserved: choose another name")


def provision_datasets(rt: Runtime, tenant_id: str, pipelines: list[Pipeline]) -> list[str]:
    """Create the tenant's metadata dataset and tables and the given pipelines' datasets.

    Returns:
        The physical dataset names, sorted.
    """
    rt.ensure_tenant(tenant_id)
    datasets = {tenant_dataset(tenant_id, "metadata")}
    for name in sorted(set().union(*(pipeline_datasets(p) for p in pipelines))):
        dataset = tenant_dataset(tenant_id, name)
        rt.warehouse.ensure_dataset(dataset, {"tenant": tenant_id})
        datasets.add(dataset)
    return sorted(datasets)
