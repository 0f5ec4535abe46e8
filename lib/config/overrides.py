"""Rewrite a tenant's pipeline file with ``source_overrides`` for every REST source.

Where time is simulated (``convergence simulate``, tests) REST retry backoffs are shortened by
writing the override into the tenant's file, the way an operator would, so the run reads it
like any other config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lib.config.documents import read_document
from lib.errors import ConfigError, ConfigProblem


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
    import yaml

    from lib.config.loader import load_pipeline_file
    from lib.config.pipeline import IngestStep
    from lib.config.source import RestSourceConfig

    pipeline = load_pipeline_file(path, tenant_id, _tenant_dir(path, tenant_id))
    rest = [
        (index, step.name)
        for index, step in enumerate(pipeline.config.steps)
        if isinstance(step, IngestStep) and isinstance(pipeline.source(index), RestSourceConfig)
    ]
    text = path.read_text()
    data = read_document(path).data
    for index, name in rest:
        if "extends" in data:
            step = data.setdefault("steps", {}).setdefault(name, {})
        else:
            step = data["steps"][index]
        _merge_into(step.setdefault("source_overrides", {}), overrides)
    comments = "".join(f"{line}\n" for line in _leading_comments(text))
    path.write_text(comments + yaml.safe_dump(data, sort_keys=False))
    return [name for _, name in rest]


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
