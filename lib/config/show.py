"""``convergence config show PIPELINE --tenant T``: the resolved pipeline and where each value
comes from.

Prints, as YAML with a ``# file:line`` comment on every value (the library template's file
or the tenant's):

* the pipeline after the tenant's overrides were merged onto its template;
* each ingest step's source, with the step's ``source_overrides`` and secret renames applied;
* each DQ step's expectations: the rules file's, the inline ones, the implied ones;
* each destination's columns and where they come from (schema file, ``records.columns``,
  inferred from the SQL);
* the schedule in words and its next three run times.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lib.config.catalog import destination_spec
from lib.config.derived import step_rules
from lib.config.documents import Loc, field_path
from lib.config.layers import Layered, Origin
from lib.config.loader import Pipeline
from lib.config.pipeline import DqStep, IngestStep, TransformStep
from lib.errors import ConfigError
from lib.schema import SchemaField

_COMMENT_COLUMN = 60


@dataclass(frozen=True)
class Line:
    """One output line and the origin of the value it shows."""

    text: str
    origin: Origin | None = None


def scalar(value: Any) -> str:
    """A scalar (or a list of scalars) as one line of YAML flow style."""
    text = yaml.safe_dump(value, default_flow_style=True, allow_unicode=True, width=10_000)
    return text.strip().removesuffix("...").strip()


def layer_lines(layer: Layered, loc: Loc = (), indent: int = 0) -> Iterator[Line]:
    """The YAML lines of the value at ``loc`` of a merged layer, each with its origin."""
    data: Any = layer.data
    for part in loc:
        data = data[part]
    yield from _mapping(layer, data, loc, indent) if isinstance(data, dict) else ()


def _mapping(layer: Layered, data: dict[str, Any], loc: Loc, indent: int) -> Iterator[Line]:
    pad = " " * indent
    for key, value in data.items():
        here = (*loc, key)
        if isinstance(value, dict) and value:
            yield Line(f"{pad}{key}:", layer.origin(here))
            yield from _mapping(layer, value, here, indent + 2)
        elif isinstance(value, list) and any(isinstance(v, dict | list) for v in value):
            yield Line(f"{pad}{key}:", layer.origin(here))
            yield from _items(layer, value, here, indent + 2)
        else:
            yield Line(f"{pad}{key}: {scalar(value)}", _scalar_origin(layer, here, value))


def _scalar_origin(layer: Layered, loc: Loc, value: Any) -> Origin | None:
    """A flow list's origin: its own, or its last item's when items came from elsewhere."""
    origin = layer.origin(loc)
    if isinstance(value, list) and value:
        last = layer.origin((*loc, len(value) - 1))
        if last is not None and origin is not None and last.file != origin.file:
            return last
    return origin


def _items(layer: Layered, items: list[Any], loc: Loc, indent: int) -> Iterator[Line]:
    pad = " " * indent
    for index, item in enumerate(items):
        here = (*loc, index)
        if not isinstance(item, dict):
            yield Line(f"{pad}- {scalar(item)}", layer.origin(here))
            continue
        lines = list(_mapping(layer, item, here, indent + 2))
        for position, line in enumerate(lines):
            text = f"{pad}- {line.text.lstrip()}" if position == 0 else line.text
            yield Line(text, line.origin)


def render(lines: list[Line], config_dir: Path) -> str:
    """The lines with their origins as aligned ``# file:line`` comments."""
    out = []
    for line in lines:
        if line.origin is None:
            out.append(line.text)
            continue
        out.append(f"{line.text.ljust(_COMMENT_COLUMN)}  # {where(line.origin, config_dir)}")
    return "\n".join(out) + "\n"


def where(origin: Origin, config_dir: Path) -> str:
    """``_library/pipelines/openai_costs/openai_costs.yml:9`` (relative to the config root)."""
    shown = _relative(Path(origin.file), config_dir)
    return f"{shown}:{origin.line}" if origin.line else f"{shown} (file name)"


def show_pipeline(pipeline: Pipeline, config_dir: Path, now: dt.datetime) -> str:
    """The whole ``config show`` text of one resolved pipeline.

    Args:
        pipeline: the loaded pipeline (its layer holds the origins).
        config_dir: the config root, for relative file names.
        now: when "next runs" start (an aware datetime).

    Raises:
        ConfigError: a source, rules file or schema of the pipeline is invalid.
    """
    assert pipeline.layer is not None
    parts = [_title(pipeline, config_dir)]
    parts.append(render(list(layer_lines(pipeline.layer)), config_dir))
    parts += [_source(pipeline, i, config_dir) for i in _indexes(pipeline, IngestStep)]
    parts += [_rules(pipeline, i, config_dir) for i in _indexes(pipeline, DqStep)]
    parts.append(_tables(pipeline))
    parts.append(_schedule(pipeline, now))
    return "\n".join(parts)


def _indexes(pipeline: Pipeline, kind: type) -> list[int]:
    return [i for i, step in enumerate(pipeline.config.steps) if isinstance(step, kind)]


def _relative(path: Path, config_dir: Path) -> str:
    try:
        return str(path.resolve().relative_to(config_dir.resolve()))
    except ValueError:
        return str(path)


def _title(pipeline: Pipeline, config_dir: Path) -> str:
    lines = [f"# pipeline {pipeline.config.pipeline_id} of tenant {pipeline.tenant_id}"]
    lines.append(f"# tenant file: {_relative(pipeline.file, config_dir)}")
    if pipeline.template is not None:
        template = _relative(pipeline.template, config_dir)
        lines.append(f"# template:    {template} (what the tenant's file does not override)")
    return "\n".join(lines) + "\n"


def _source(pipeline: Pipeline, index: int, config_dir: Path) -> str:
    step = pipeline.config.steps[index]
    layer, _ = pipeline.source_layer(index)
    pipeline.source(index)  # validated: a broken source is an error, not a listing
    head = f"# source of steps[{index}] {step.name} ({step.source})"  # type: ignore[union-attr]
    return f"{head}\n{render(list(layer_lines(layer)), config_dir)}"


def _rules(pipeline: Pipeline, index: int, config_dir: Path) -> str:
    from lib.config.derived import RulesLocator, implied_origin
    from lib.config.documents import read_document

    step = pipeline.config.steps[index]
    assert isinstance(step, DqStep)
    rules = step_rules(pipeline, index)
    doc = read_document(pipeline.path(step.rules, "rules")) if step.rules else None
    locator = RulesLocator(pipeline, index, doc)
    written = locator.from_file + locator.inline
    lines = [
        f"# expectations of steps[{index}] {step.name} on {step.table.dataset}.{step.table.table}"
    ]
    for position, expectation in enumerate(rules.expectations):
        text = f"- {expectation.label} ({expectation.severity})"
        if position < written:
            problem = locator.problem(("expectations", position), "")
            origin = where(Origin(problem.file, (), problem.line), config_dir)
        else:
            found = implied_origin(pipeline, step)
            origin = "implied"
            if found is not None:
                origin = f"implied by {where(found, config_dir)} ({field_path(found.loc)})"
        lines.append(f"{text.ljust(_COMMENT_COLUMN)}  # {origin}")
    return "\n".join(lines) + "\n"


def _tables(pipeline: Pipeline) -> str:
    from lib.config.catalog import _described

    lines = ["# destination tables (columns and where they come from)"]
    for index, step in enumerate(pipeline.config.steps):
        if not isinstance(step, IngestStep | TransformStep):
            continue
        target = step.destination
        lines.append(f"{target.dataset}.{target.table}  ← {_described(step)}")
        try:
            spec = destination_spec(pipeline, index)
        except ConfigError as exc:
            lines.append(f"  (unknown: {exc.problems[0].message})")
            continue
        lines += _wrapped([f"{f.name} {_type(f)}" for f in spec.fields])
    return "\n".join(lines) + "\n"


def _wrapped(items: list[str], width: int = 98) -> list[str]:
    lines, current = [], "  "
    for item in items:
        if len(current) + len(item) + 2 > width and current.strip():
            lines.append(current.rstrip())
            current = "  "
        current += f"{item}, "
    return [*lines, current.rstrip().removesuffix(",")]


def _type(field: SchemaField) -> str:
    kind = field.canonical_type
    if field.precision is not None:
        kind += f"({field.precision},{field.scale or 0})"
    return (
        kind
        + (" REQUIRED" if field.mode == "REQUIRED" else "")
        + ("[]" if field.mode == "REPEATED" else "")
    )


def _schedule(pipeline: Pipeline, now: dt.datetime) -> str:
    from lib.config.schedule import describe, next_runs

    schedule = pipeline.config.schedule
    if schedule is None:
        return "# schedule: none (runs only when requested)\n"
    runs = next_runs(schedule.cron, schedule.time_zone, now)
    lines = [f"# schedule: {schedule.cron} ({schedule.time_zone}): {describe(schedule.cron)}"]
    lines += [f"#   next run: {run.isoformat()}" for run in runs]
    if not pipeline.config.enabled:
        lines.append("#   (the pipeline is disabled: enabled: false)")
    return "\n".join(lines) + "\n"
