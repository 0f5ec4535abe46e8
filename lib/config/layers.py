"""Merge config layers (a library template, then a tenant's overrides) and remember origins.

The merge rules, the ones docs/configuration.md#merge-rules documents:

* a mapping merges key by key, recursively (``labels``, ``schedule``, ``destination`` …);
* ``key: null`` in an override removes the key: the model's default applies again;
* a list is replaced as a whole, unless the override is the add/remove form
  ``{add: [...], remove: [...]}`` (either or both): ``remove`` drops items equal to the given
  ones (each must be present), then ``add`` appends;
* any other value replaces.

The merged data keeps the origin of every key and list item — file, the field path as written
there and its line — so a problem in the merged config names the file and line that wrote the
faulty value, template or override (:class:`Layered` answers ``problem`` like a
:class:`~lib.config.documents.Document`).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from lib.config.documents import Document, Loc, field_path, parse_field
from lib.errors import ConfigError, ConfigProblem

LIST_OPS = frozenset({"add", "remove"})


@dataclass(frozen=True)
class Origin:
    """Where a value was written: the file, the field path as written there, its line."""

    file: str
    loc: Loc
    line: int | None

    def below(self, rest: Loc) -> Origin:
        """The origin of a value under this one that has none of its own (a missing key)."""
        return Origin(self.file, (*self.loc, *rest), self.line)


def is_list_op(value: Any) -> bool:
    """Whether ``value`` is the add/remove form ``{add: [...], remove: [...]}``."""
    return isinstance(value, dict) and bool(value) and set(value) <= LIST_OPS


@dataclass
class Layered:
    """Merged config data with the origin of every key and list item.

    ``path`` is the file the merged config is known by (a tenant's pipeline file); problems
    name the origin's file, which may be another one (the template).
    """

    path: Path
    data: Any = None
    origins: dict[Loc, Origin] = field(default_factory=dict)

    @classmethod
    def of(cls, doc: Document, path: Path | None = None) -> Layered:
        """One document as a layer (every value's origin is that document)."""
        out = cls(path or doc.path)
        out.data = copy_value(doc, (), (), out.origins)
        return out

    def origin(self, loc: Loc) -> Origin | None:
        """The origin of ``loc``, or of its nearest ancestor extended by the rest of ``loc``."""
        for end in range(len(loc), -1, -1):
            found = self.origins.get(tuple(loc[:end]))
            if found is not None:
                return found if end == len(loc) else found.below(tuple(loc[end:]))
        return None

    def locate(self, loc: Loc) -> Loc:
        """The data path of a pydantic error location (tags dropped; see Document.locate)."""
        return Document(self.path, self.data).locate(loc)[0]

    def problem(self, loc: Loc, message: str, hint: str = "") -> ConfigProblem:
        """A problem at ``loc`` of the merged data, named by the file and line that wrote it."""
        found = self.origin(self.locate(loc))
        if found is None:
            return ConfigProblem(str(self.path), field_path(loc), message, hint)
        return ConfigProblem(found.file, field_path(found.loc), message, hint, line=found.line)

    def relocate(self, problem: ConfigProblem) -> ConfigProblem:
        """A problem reported against ``path`` and a merged field, moved to its origin."""
        if problem.file != str(self.path) or problem.field.startswith("("):
            return problem
        found = self.origin(parse_field(problem.field))
        if found is None:
            return problem
        line = problem.line if problem.line is not None and found.file == problem.file else None
        return replace(
            problem, file=found.file, field=field_path(found.loc), line=line or found.line
        )

    def sub(self, loc: Loc) -> Layered:
        """The layer of the value at ``loc`` (its origins re-rooted there)."""
        out = Layered(self.path, _get(self.data, loc))
        size = len(loc)
        out.origins = {k[size:]: o for k, o in self.origins.items() if k[:size] == loc}
        return out


def _get(data: Any, loc: Loc) -> Any:
    for part in loc:
        data = data[part]
    return data


def copy_value(doc: Document, src: Loc, dst: Loc, origins: dict[Loc, Origin]) -> Any:
    """The value at ``src`` of ``doc``, recording the origin of it and everything under it."""
    return _copy(_get(doc.data, src), doc, src, dst, origins)


def _copy(value: Any, doc: Document, src: Loc, dst: Loc, origins: dict[Loc, Origin]) -> Any:
    origins[dst] = Origin(str(doc.path), src, doc.line(src))
    if isinstance(value, dict):
        return {k: _copy(v, doc, (*src, k), (*dst, k), origins) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v, doc, (*src, i), (*dst, i), origins) for i, v in enumerate(value)]
    return value


def copy_layer(layer: Layered, src: Loc, dst: Loc, origins: dict[Loc, Origin]) -> Any:
    """The value at ``src`` of a merged layer, keeping the origins it already has."""
    size = len(src)
    for loc, origin in layer.origins.items():
        if loc[:size] == src:
            origins[(*dst, *loc[size:])] = origin
    return copy.deepcopy(_get(layer.data, src))


@dataclass
class Merge:
    """One merge of an override layer onto a base layer; problems are collected."""

    base: Layered
    over: Layered
    origins: dict[Loc, Origin] = field(default_factory=dict)
    problems: list[ConfigProblem] = field(default_factory=list)

    def value(self, base_loc: Loc | None, over_loc: Loc, dst: Loc) -> Any:
        """The override's value at ``over_loc`` merged onto the base's at ``base_loc``."""
        over = _get(self.over.data, over_loc)
        has_base = base_loc is not None and _has(self.base.data, base_loc)
        base = _get(self.base.data, base_loc) if has_base and base_loc is not None else None
        if is_list_op(over) and (base is None or isinstance(base, list)):
            return self._list_op(base_loc if has_base else None, base, over_loc, dst)
        if isinstance(over, dict) and isinstance(base, dict) and base_loc is not None:
            return self._mapping(base_loc, base, over_loc, dst)
        return copy_layer(self.over, over_loc, dst, self.origins)

    def _mapping(self, base_loc: Loc, base: dict[str, Any], over_loc: Loc, dst: Loc) -> Any:
        over: dict[str, Any] = _get(self.over.data, over_loc)
        # A problem of the mapping as a whole (two keys that do not fit together, a key
        # removed with null) is the override's doing: the base was valid on its own. The
        # root stays the base's: a key missing there is missing from the template.
        root = self.base.origins.get(base_loc) if not base_loc else None
        if root is not None:
            self.origins[dst] = root
        else:
            self._origin(over_loc, dst)
        out: dict[str, Any] = {}
        for key in [*base, *(k for k in over if k not in base)]:  # the base's order first
            if key not in over:
                out[key] = copy_layer(self.base, (*base_loc, key), (*dst, key), self.origins)
            elif over[key] is not None:  # null removes the key: the default applies
                out[key] = self.value((*base_loc, key), (*over_loc, key), (*dst, key))
        return out

    def _origin(self, over_loc: Loc, dst: Loc) -> None:
        found = self.over.origins.get(over_loc)
        if found is not None:
            self.origins[dst] = found

    def _list_op(self, base_loc: Loc | None, base: Any, over_loc: Loc, dst: Loc) -> list[Any]:
        spec: dict[str, Any] = _get(self.over.data, over_loc)
        self._origin(over_loc, dst)
        for name in ("remove", "add"):
            if name in spec and not isinstance(spec[name], list):
                self.problems.append(
                    self.over.problem((*over_loc, name), f"{name}: expects a list", "e.g. [a, b]")
                )
                return []
        kept: list[tuple[Layered, Loc]] = (
            [(self.base, (*base_loc, i)) for i in range(len(base))] if base_loc is not None else []
        )
        for index, item in enumerate(spec.get("remove", [])):
            match = next(
                (k for k in kept if k[0] is self.base and _get(self.base.data, k[1]) == item), None
            )
            if match is None:
                self.problems.append(
                    self.over.problem(
                        (*over_loc, "remove", index),
                        f"cannot remove {item!r}: the template's list does not hold it",
                        f"the list holds: {_preview(base)}",
                    )
                )
                continue
            kept.remove(match)
        kept += [(self.over, (*over_loc, "add", i)) for i in range(len(spec.get("add", [])))]
        return [
            copy_layer(layer, loc, (*dst, position), self.origins)
            for position, (layer, loc) in enumerate(kept)
        ]

    def raise_problems(self) -> None:
        """Raise every problem found while merging.

        Raises:
            ConfigError: the merge found problems.
        """
        if self.problems:
            raise ConfigError(self.problems)


def _has(data: Any, loc: Loc) -> bool:
    for part in loc:
        if isinstance(data, dict):
            if part not in data:
                return False
        elif not (isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)):
            return False
        data = data[part]
    return True


def _preview(value: Any) -> str:
    if not isinstance(value, list) or not value:
        return "(nothing)"
    return ", ".join(repr(v) for v in value[:10]) + (" …" if len(value) > 10 else "")


def merge_layers(base: Layered, over: Layered, over_loc: Loc = ()) -> Layered:
    """The mapping at ``over_loc`` of ``over`` merged onto ``base`` (see the module rules).

    Raises:
        ConfigError: an add/remove form that does not apply (every problem at once).
    """
    merge = Merge(base, over)
    data = merge.value((), over_loc, ())
    merge.raise_problems()
    return Layered(base.path, data, merge.origins)
