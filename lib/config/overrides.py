"""Rewrite a tenant's pipeline file with ``source_overrides`` for some of its sources.

Where time is simulated (``convergence simulate``, tests) REST retry backoffs are shortened by
writing the override into the tenant's file, the way an operator would, so the run reads it
like any other config.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lib.config.documents import read_document
from lib.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from lib.config.source import AnySource


def write_rest_overrides(path: Path, tenant_id: str, overrides: dict[str, Any]) -> list[str]:
    """Add ``source_overrides`` to every REST ingest step of a pipeline file, in the file.

    A file that ``extends`` a template gets them under ``steps: {name: …}``; a whole
    pipeline in its steps' list. Existing overrides are kept (the new keys merge in). Used to
    shorten retry backoffs where time is simulated (``convergence simulate``, tests).

    Args:
        path: the tenant's pipeline file.
        tenant_id: its tenant.
        overrides: what to merge into every REST source, e.g. ``{"retry": {...}}``.

    Returns:
        The names of the steps changed.

    Raises:
        ConfigError: the pipeline or one of its sources is invalid.
    """
    from lib.config.source import RestSourceConfig

    return write_source_overrides(
        path, tenant_id, lambda source: overrides if isinstance(source, RestSourceConfig) else None
    )


def write_source_overrides(
    path: Path, tenant_id: str, overrides_for: Callable[[AnySource], dict[str, Any] | None]
) -> list[str]:
    """Add ``source_overrides`` to the ingest steps of a pipeline file, in the file.

    Like :func:`write_rest_overrides`, for whichever sources ``overrides_for`` answers a
    mapping for (``None``: the step is left alone); e.g. a copied tenant's own FOCUS export
    folder where a simulation copies tenants.

    Args:
        path: the tenant's pipeline file.
        tenant_id: its tenant.
        overrides_for: the overrides of a step's resolved source, or ``None``.

    Returns:
        The names of the steps changed.

    Raises:
        ConfigError: the pipeline or one of its sources is invalid.
    """
    import yaml

    from lib.config.loader import load_pipeline_file
    from lib.config.pipeline import IngestStep

    pipeline = load_pipeline_file(path, tenant_id, _tenant_dir(path, tenant_id))
    changes = []
    for index, step in enumerate(pipeline.config.steps):
        if isinstance(step, IngestStep):
            values = overrides_for(pipeline.source(index))
            if values is not None:
                changes.append((index, step.name, values))
    if not changes:
        return []
    text = path.read_text()
    data = read_document(path).data
    for index, name, values in changes:
        if "extends" in data:
            step = data.setdefault("steps", {}).setdefault(name, {})
        else:
            step = data["steps"][index]
        _merge_into(step.setdefault("source_overrides", {}), values)
    comments = "".join(f"{line}\n" for line in _leading_comments(text))
    path.write_text(comments + yaml.safe_dump(data, sort_keys=False))
    return [name for _, name, _ in changes]


def _leading_comments(text: str) -> list[str]:
    lines = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def _tenant_dir(path: Path, tenant_id: str) -> Path:
    for parent in path.parents:
        if parent.name == tenant_id:
            return parent
    raise ConfigError([ConfigProblem(str(path), "(file)", f"not in a folder named {tenant_id}")])


def _merge_into(target: dict[str, Any], values: dict[str, Any]) -> None:
    for key, value in values.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _merge_into(target[key], value)
        else:
            target[key] = value
