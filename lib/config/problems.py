"""Turn pydantic failures into ConfigProblems: file, line, field, message and a hint.

The one hint engine for every config model (pipelines, sources, DQ rules, table schemas):
field paths are the ones written in the file (discriminator tags dropped), unknown keys get a
"did you mean" or the allowed keys, a missing key says what to add, a wrong tag lists the
valid ones.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, TypeVar, get_args

from pydantic import BaseModel, TypeAdapter, ValidationError

from lib.config.documents import Loc, Located, field_path, read_document, read_text
from lib.errors import ConfigError, ConfigProblem

__all__ = [
    "did_you_mean",
    "field_path",
    "load_model",
    "problems_from_validation",
    "validate_document",
]


def did_you_mean(word: str, choices: Iterable[str], spell: Callable[[str], str] = repr) -> str:
    """The hint every config check gives for a misspelt name: ``"did you mean 'x'? "`` for the
    closest of ``choices`` (``spell`` writes it), or ``""`` when none is close."""
    close = difflib.get_close_matches(word, list(choices), n=1)
    return f"did you mean {spell(close[0])}? " if close else ""


M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")
_TAG_FIELDS = ("type", "kind", "expectation_type")


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    return [m for arg in get_args(annotation) for m in _models_in(arg)]


def _tags(model: type[BaseModel]) -> tuple[Any, ...]:
    for name in _TAG_FIELDS:
        field = model.model_fields.get(name)
        if field is not None:
            return get_args(field.annotation)
    return ()


def _models_at(root: Any, loc: Loc) -> list[type[BaseModel]]:
    """The models (several for a union) that may be at ``loc`` (walks nested models)."""
    current: list[type[BaseModel]] = _models_in(root)
    for part in loc:
        if isinstance(part, int):
            continue
        tagged = [m for m in current if part in _tags(m)]
        if tagged:
            current = tagged
            continue
        fields = [m.model_fields[part] for m in current if part in m.model_fields]
        current = [sub for f in fields for sub in _models_in(f.annotation)] or current
    return current


def _allowed_fields(root: Any, loc: Loc) -> list[str]:
    """Keys allowed in the mapping that holds ``loc[-1]``."""
    models = _models_at(root, loc[:-1])
    return sorted({f.alias or n for m in models for n, f in m.model_fields.items()})


def _tag_problem(doc: Located, error: Any, root: Any, loc: Loc) -> ConfigProblem:
    ctx = error.get("ctx", {})
    name = str(ctx.get("discriminator", "type")).strip("'")
    valid = [str(t) for m in _models_at(root, loc) for t in _tags(m)]
    listing = f"write one of {', '.join(map(repr, valid))}" if valid else ""
    what = name.replace("_", " ")
    if error["type"] == "union_tag_not_found":
        return doc.problem((*loc, name), f"missing `{name}`", listing)
    tag = str(ctx.get("tag", ""))
    hint = did_you_mean(tag, valid) + listing
    return doc.problem((*loc, name), f"unknown {what} {tag[:60]!r}", hint)


def _hint(error: Any, root: Any, loc: Loc) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        allowed = _allowed_fields(root, loc)
        if guess := did_you_mean(str(loc[-1]), allowed):
            return guess.strip()
        return "remove this key" + (f"; allowed keys: {', '.join(allowed)}" if allowed else "")
    if kind == "missing":
        return f"add `{loc[-1]}:` here"
    if kind in ("literal_error", "enum"):
        expected = error.get("ctx", {}).get("expected", "")
        return f"write one of {expected}" if expected else ""
    return ""


def _problem(doc: Located, error: Any, root: Any) -> ConfigProblem:
    loc: Loc = tuple(error["loc"])
    kind = error["type"]
    message = error["msg"].removeprefix("Value error, ")
    if kind.startswith("union_tag"):
        return _tag_problem(doc, error, root, loc)
    return doc.problem(loc, message, _hint(error, root, loc))


def problems_from_validation(doc: Located, exc: ValidationError, root: Any) -> list[ConfigProblem]:
    """One ConfigProblem per pydantic error, with its line and a hint where one can be given.

    Args:
        doc: the parsed file (for field paths as written and line numbers).
        exc: the validation failure.
        root: the model (or type) the file was validated against.
    """
    return [_problem(doc, error, root) for error in exc.errors()]


def validate_document(doc: Located, adapter: TypeAdapter[T], root: Any) -> T:
    """Validate a parsed file with a TypeAdapter; every failure becomes a ConfigProblem.

    Raises:
        ConfigError: every problem in the file.
    """
    try:
        return adapter.validate_python(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(doc, exc, root)) from exc


def load_model(path: Path, model: type[M], doc: Located | None = None) -> M:
    """Validate the file (or an already parsed ``doc`` of it) against ``model``.

    A file read here is validated once per text: handlers load the same configs for every
    event, and config models are frozen (callers share the instance; never mutate it).

    Raises:
        ConfigError: unreadable or invalid file, every problem at once.
    """
    if doc is not None:
        return _validate(doc, model)
    key = (model, str(path), read_text(path))
    cached = _VALID.get(key)
    if cached is None:
        cached = _validate(read_document(path), model)
        if len(_VALID) >= _VALID_MAX:
            _VALID.clear()
        _VALID[key] = cached
    assert isinstance(cached, model)
    return cached


def _validate(doc: Located, model: type[M]) -> M:
    if not isinstance(doc.data, dict):
        raise ConfigError([doc.problem((), "expected a mapping (key: value lines) at the top")])
    try:
        return model.model_validate(doc.data)
    except ValidationError as exc:
        raise ConfigError(problems_from_validation(doc, exc, model)) from exc


_VALID: dict[tuple[type[BaseModel], str, str], BaseModel] = {}
"""Validated models by (model, path, text); a file whose text changed is validated again."""
_VALID_MAX = 2048
