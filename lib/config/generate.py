"""Write JSON Schemas for editors from the config models (``python -m lib.config.generate``).

The pydantic models are the single source of truth; ``configs/_schemas/*.schema.json`` are
generated from them and a test fails when they drift. Point an editor at them, e.g. with a
``# yaml-language-server: $schema=../../../../_schemas/pipeline.schema.json`` first line
(every shipped YAML file has one; a tenant's file that ``extends`` a template points at
``pipeline_override.schema.json``). :func:`schema_line` writes that line for a file.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import TypeAdapter

from lib.config.dq import DqRules
from lib.config.pipeline import PipelineConfig
from lib.config.prices import PriceCatalog
from lib.config.source import SourceConfig
from lib.config.templates import PipelineOverride
from lib.notify.config import NotificationsConfig
from lib.schema import SchemaField

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "configs" / "_schemas"


def schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema of every config file kind."""
    out: dict[str, dict[str, Any]] = {
        "pipeline.schema.json": PipelineConfig.model_json_schema(),
        "pipeline_override.schema.json": PipelineOverride.model_json_schema(),
        "source.schema.json": TypeAdapter(SourceConfig).json_schema(),
        "dq.schema.json": DqRules.model_json_schema(),
        "table_schema.schema.json": TypeAdapter(list[SchemaField]).json_schema(),
        "prices.schema.json": PriceCatalog.model_json_schema(),
        "notifications.schema.json": NotificationsConfig.model_json_schema(),
    }
    for name, schema in out.items():
        schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
        schema["$id"] = f"https://convergence.dev/configs/{name}"
    return out


def render() -> dict[str, str]:
    """File name → file text."""
    return {n: json.dumps(s, indent=2, sort_keys=True) + "\n" for n, s in schemas().items()}


def schema_line(path: Path, config_dir: Path, schema: str) -> str:
    """The ``# yaml-language-server: $schema=…`` first line of a YAML config file.

    Args:
        path: the file, somewhere under ``config_dir``.
        config_dir: the config root (``configs``), which holds ``_schemas/``.
        schema: the schema's file name, e.g. ``pipeline_override.schema.json``.
    """
    depth = len(path.relative_to(config_dir).parts) - 1
    return f"# yaml-language-server: $schema={'../' * depth}_schemas/{schema}\n"


def main() -> None:
    """Regenerate ``configs/_schemas``."""
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in render().items():
        (SCHEMA_DIR / name).write_text(text)


if __name__ == "__main__":
    main()
