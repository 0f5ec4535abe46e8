"""Turn YAML/JSON and pydantic failures into ConfigProblems: file, field, message, hint."""

from __future__ import annotations

import difflib
import json
from pathlib import Path
from typing import Any, TypeVar, get_args

import yaml
from pydantic import BaseModel, ValidationError

from lib.errors import ConfigError, ConfigProblem

M = TypeVar("M", bound=BaseModel)


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("steps", 1, "destination")`` → ``steps[1].destination``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    field = model.model_fields.get("type") or model.model_fields.get("kind")
    return get_args(field.annotation) if field is not None else ()


def _allowed_fields(model: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Keys allowed in the mapping that holds ``loc[-1]`` (walks nested models and unions)."""
    current: list[type[BaseModel]] = [model]
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        tagged = [m for m in current if part in _tags(m)]
        if tagged:
            current = tagged
            continue
        fields = [m.model_fields[part] for m in current if part in m.model_fields]
        current = [sub for f in fields for sub in _models_in(f.annotation)] or current
    names = {f.alias or n for m in current for n, f in m.model_fields.items()}
    return sorted(names)


def _hint(error: Any, model: type[BaseModel]) -> str:
    kind = error["type"]
    loc = tuple(error["loc"])
    if kind == "extra_forbidden":
        allowed = _allowed_fields(model, loc)
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
        if close:
            return f"did you mean '{close[0]}'?"
        return "remove this key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return f"add '{loc[-1]}:' here"
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"write one of {expected}" if expected else ""
    if kind.startswith("union_tag"):
        tags = error.get("ctx", {}).get("expected_tags", "")
        return f"write one of {tags}" if tags else ""
    return ""


def problems_from_validation(
    file: Path | str, exc: ValidationError, model: type[BaseModel]
) -> list[ConfigProblem]:
    """One ConfigProblem per pydantic error, with a hint where one can be given."""
    problems = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        problems.append(
            ConfigProblem(str(file), field_path(tuple(error["loc"])), message, _hint(error, model))
        )
    return problems


def read_yaml(path: Path) -> Any:
    """Parse a YAML file; syntax errors become a ConfigError with line and column."""
    try:
        return yaml.safe_load(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError([ConfigProblem(str(path), "(file)", "file not found")]) from exc
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
        reason = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            [ConfigProblem(str(path), where, f"invalid YAML: {reason}", "fix the YAML syntax")]
        ) from exc


def read_json(path: Path) -> Any:
    """Parse a JSON file; syntax errors become a ConfigError with line and column."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError([ConfigProblem(str(path), "(file)", "file not found")]) from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    f"line {exc.lineno}, column {exc.colno}",
                    f"invalid JSON: {exc.msg}",
                    "fix the JSON syntax",
                )
            ]
        ) from exc


def load_model(path: Path, model: type[M], data: Any | None = None) -> M:
    """Validate ``data`` (or the parsed file) against ``model``; raise ConfigError on failure."""
    if data is None:
        data = read_yaml(path) if path.suffix in (".yml", ".yaml") else read_json(path)
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem(str(path), "(root)", "expected a mapping at the top level")]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(path, exc, model)) from exc
