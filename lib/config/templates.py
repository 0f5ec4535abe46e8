"""Pipeline templates: a tenant's file ``extends`` a library pipeline and states what differs.

A template is a complete pipeline at ``configs/_library/pipelines/{name}/{name}.yml`` with its
sources, DQ rules and schemas beside it. A tenant's pipeline file::

    extends: "@library/pipelines/openai_costs"
    description: OpenAI costs for acme
    schedule: {cron: "0 7 * * *"}
    secrets: {openai_admin_key: openai_eu_admin_key}
    steps:
      check_costs: {on_failure: alert}
      silver_focus: {enabled: false}

is merged onto the template (:mod:`lib.config.layers` rules; ``steps`` is a mapping by step
name: an existing step's keys merge into it, ``enabled: false`` removes it, a new name with a
``type:`` adds a step at the end or ``after:`` another). Relative paths of the template
resolve in its folder (they become ``@library/pipelines/{name}/…``), the tenant's in the
tenant's pipeline folder. Every merged value keeps its origin, so problems name the template
or the tenant file, with the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from events.ids import PipelineId, StepName
from lib.config.documents import Document, Loc, read_document
from lib.config.layers import Layered, Merge, Origin, copy_layer
from lib.config.pipeline import LIBRARY_PREFIX
from lib.config.problems import load_model
from lib.errors import ConfigError

TEMPLATE_FOLDER = "pipelines"
TEMPLATE_PREFIX = f"{LIBRARY_PREFIX}{TEMPLATE_FOLDER}/"
TEMPLATE_PATTERN = r"^@library/pipelines/[a-z][a-z0-9_]{2,40}$"
PATH_KEYS = ("source", "rules", "sql")
"""Step keys holding a file path (plus ``destination.schema``)."""


class StepOverride(BaseModel):
    """What a tenant changes in one step of the template (any step key), or a new step."""

    model_config = ConfigDict(extra="allow", frozen=True)

    enabled: bool = Field(True, description="false removes the template's step")
    after: StepName | None = Field(
        None, description="a NEW step goes after this step (default: at the end)"
    )


class PipelineOverride(BaseModel):
    """A tenant's pipeline file that extends a template: only what differs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    extends: str = Field(
        pattern=TEMPLATE_PATTERN,
        description='The template, e.g. "@library/pipelines/openai_costs".',
    )
    pipeline_id: PipelineId | None = Field(None, description="Default: the file name.")
    description: str | None = None
    enabled: bool | None = None
    schedule: dict[str, Any] | None = Field(None, description="Merged onto the template's.")
    default_window_days: int | None = None
    labels: dict[str, str | None] = Field(
        default_factory=dict, description="Merged onto the template's; null removes a label."
    )
    secrets: dict[str, str] = Field(
        default_factory=dict,
        description="Secret name the template's sources use → the name this tenant uses.",
    )
    steps: dict[StepName, StepOverride] = Field(
        default_factory=dict,
        description="Step name → what changes ({enabled: false} removes it); a new name with "
        "a type adds a step.",
    )


def template_name(extends: str) -> str:
    """``@library/pipelines/openai_costs`` → ``openai_costs``."""
    return extends.removeprefix(TEMPLATE_PREFIX)


def template_file(library_dir: Path, name: str) -> Path:
    """The template file of ``name``: ``_library/pipelines/{name}/{name}.yml``."""
    return library_dir / TEMPLATE_FOLDER / name / f"{name}.yml"


def template_names(library_dir: Path) -> list[str]:
    """Every template in the library."""
    folder = library_dir / TEMPLATE_FOLDER
    if not folder.is_dir():
        return []
    return sorted(p.name for p in folder.iterdir() if (p / f"{p.name}.yml").is_file())


def extends_of(doc: Document) -> str | None:
    """The ``extends:`` of a parsed pipeline file, if it has one."""
    data = doc.data
    return data.get("extends") if isinstance(data, dict) and "extends" in data else None


def template_layer(library_dir: Path, name: str) -> Layered:
    """A template's data with its relative paths made ``@library/pipelines/{name}/…``.

    Raises:
        ConfigError: unreadable or not a mapping, or it extends another template.
    """
    path = template_file(library_dir, name)
    doc = read_document(path)
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "expected a mapping (key: value lines) at the top")])
    if "extends" in doc.data:
        raise ConfigError(
            [
                doc.problem(
                    ("extends",),
                    "a template cannot extend another template",
                    "write the whole pipeline here; tenants extend it",
                )
            ]
        )
    layer = Layered.of(doc)
    steps = layer.data.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if not isinstance(step, dict):
            continue
        for holder, key in [(step, k) for k in PATH_KEYS] + [(step.get("destination"), "schema")]:
            if isinstance(holder, dict) and key in holder:
                holder[key] = _in_folder(holder[key], name)
    return layer


def _in_folder(value: Any, name: str) -> Any:
    if not isinstance(value, str) or value.startswith(LIBRARY_PREFIX):
        return value
    return f"{TEMPLATE_PREFIX}{name}/{value}"


def resolve(doc: Document, library_dir: Path) -> tuple[Layered, Path]:
    """A tenant file that ``extends`` a template, merged onto it.

    Args:
        doc: the tenant's parsed pipeline file.
        library_dir: ``configs/_library``.

    Returns:
        The merged pipeline data (origins kept) and the template file.

    Raises:
        ConfigError: an invalid override file, an unknown template, or overrides that do not
            apply (unknown step, add/remove on a missing item …), every problem at once.
    """
    load_model(doc.path, PipelineOverride, doc)
    name = template_name(doc.data["extends"])
    path = template_file(library_dir, name)
    if not path.is_file():
        known = ", ".join(template_names(library_dir)) or "(none)"
        raise ConfigError(
            [
                doc.problem(
                    ("extends",),
                    f"no template {doc.data['extends']!r}: {path} does not exist",
                    f"templates: {known}",
                )
            ]
        )
    base = template_layer(library_dir, name)
    merged = _merge(base, doc)
    return merged, path


def _merge(base: Layered, doc: Document) -> Layered:
    over = Layered.of(doc)
    top = {k: v for k, v in over.data.items() if k not in ("extends", "steps")}
    merge = Merge(base, Layered(over.path, top, over.origins))
    data = merge.value((), (), ())
    origins = {k: o for k, o in merge.origins.items() if not k or k[0] != "steps"}
    merge.origins = origins
    if "steps" in base.data:
        data["steps"] = _Steps(merge, base, over).merged()
        origins[("steps",)] = base.origins[("steps",)]
    if "pipeline_id" not in top:
        data["pipeline_id"] = doc.path.stem
        origins[("pipeline_id",)] = Origin(str(doc.path), ("pipeline_id",), None)
    merge.raise_problems()
    return Layered(doc.path, data, merge.origins)


class _Steps:
    """The template's steps with the tenant's step overrides applied (by step name)."""

    def __init__(self, merge: Merge, base: Layered, over: Layered) -> None:
        self.merge, self.base = merge, base
        raw = over.data.get("steps") or {}
        self.overrides: dict[str, dict[str, Any]] = raw
        self.over = Layered(over.path, {"steps": _without_controls(raw)}, over.origins)
        steps = base.data["steps"]
        self.steps: list[Any] = steps if isinstance(steps, list) else []
        self.names = [s.get("name") if isinstance(s, dict) else None for s in self.steps]

    def problem(self, loc: Loc, message: str, hint: str = "") -> None:
        self.merge.problems.append(self.over.problem(("steps", *loc), message, hint))

    def merged(self) -> list[Any]:
        if not isinstance(self.base.data["steps"], list):
            return copy_layer(self.base, ("steps",), ("steps",), self.merge.origins)  # type: ignore[no-any-return]
        order: list[tuple[str, Any]] = []
        for index, name in enumerate(self.names):
            override = self.overrides.get(name) if isinstance(name, str) else None
            if override is not None and override.get("enabled") is False:
                continue
            order.append(("template", index))
        for name, override in self.overrides.items():
            self._check(name, override)
            if name not in self.names and "type" in override:
                self._insert(order, name, override)
        return [self._step(position, entry) for position, entry in enumerate(order)]

    def _check(self, name: str, override: dict[str, Any]) -> None:
        steps = ", ".join(str(n) for n in self.names)
        if "name" in override:
            self.problem((name, "name"), "a step override cannot rename the step", "remove it")
        if name in self.names:
            if override.get("after") is not None:
                self.problem(
                    (name, "after"),
                    "after: places a NEW step; the template's steps keep their order",
                    "remove it",
                )
            return
        if override.get("enabled") is False:
            self.problem((name,), f"no step {name!r} to disable in the template", f"steps: {steps}")
        elif "type" not in override:
            self.problem(
                (name,),
                f"no step {name!r} in the template (its steps: {steps})",
                "fix the name, or add a step by giving its type (ingest, dq or transform) "
                "and its keys",
            )

    def _insert(self, order: list[tuple[str, Any]], name: str, override: dict[str, Any]) -> None:
        after = override.get("after")
        if after is None:
            order.append(("new", name))
            return
        for position, (kind, key) in enumerate(order):
            if (self.names[key] if kind == "template" else key) == after:
                order.insert(position + 1, ("new", name))
                return
        self.problem(
            (name, "after"),
            f"no step {after!r} to place {name!r} after",
            "name a step of the resolved pipeline",
        )
        order.append(("new", name))

    def _step(self, position: int, entry: tuple[str, Any]) -> Any:
        kind, key = entry
        dst: Loc = ("steps", position)
        origins = self.merge.origins
        if kind == "template":
            name = self.names[key]
            if isinstance(name, str) and name in self.overrides:
                merge = Merge(self.base, self.over, origins, self.merge.problems)
                return merge.value(("steps", key), ("steps", name), dst)
            return copy_layer(self.base, ("steps", key), dst, origins)
        data = copy_layer(self.over, ("steps", key), dst, origins)
        origins[(*dst, "name")] = self.over.origin(("steps", key)) or Origin("", (), None)
        return {"name": key, **data}


def _without_controls(steps: dict[str, Any]) -> dict[str, Any]:
    """Step overrides without ``enabled``/``after`` (they steer the merge, not the step)."""
    out = {}
    for name, override in steps.items():
        if isinstance(override, dict):
            out[name] = {k: v for k, v in override.items() if k not in ("enabled", "after")}
    return out
