"""Read config files strictly and remember where every value is, so problems name a line.

Every config file is read through here:

* :func:`read_text` decodes UTF-8 strictly; a bad byte is reported with its byte offset and
  line, never as a traceback.
* :func:`read_document` parses YAML (``.yml``) or JSON (``.json``) into a :class:`Document`:
  the data plus the line of every key and list item. A key written twice in one mapping is an
  error (YAML and JSON parsers silently keep the last one).
* :meth:`Document.locate` maps a pydantic error location to the field path as written in the
  file (discriminator tags such as ``ingest`` dropped) and its line.
"""

from __future__ import annotations

import copy
import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import yaml

from lib.errors import ConfigError, ConfigProblem

Loc = tuple[int | str, ...]
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when built with it: ~10x
YAML_SUFFIXES = (".yml", ".yaml")


def field_path(loc: Loc) -> str:
    """``("steps", 1, "destination")`` → ``steps[1].destination``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(root)"


def parse_field(field: str) -> Loc:
    """``steps[0].destination.merge_keys`` → ``("steps", 0, "destination", "merge_keys")``."""
    loc: list[int | str] = []
    for part in field.split("."):
        name, _, rest = part.partition("[")
        if name:
            loc.append(name)
        for index in rest.replace("]", "").split("[") if rest else []:
            loc.append(int(index) if index.isdigit() else index)
    return tuple(loc)


def read_text(path: Path) -> str:
    """A config file's text, decoded as strict UTF-8.

    Raises:
        ConfigError: the file is missing, unreadable or not UTF-8 (names the byte offset,
            the line and the byte).
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError as exc:
        raise ConfigError([ConfigProblem(str(path), "(file)", "file not found")]) from exc
    except OSError as exc:
        raise ConfigError(
            [ConfigProblem(str(path), "(file)", f"cannot read the file: {exc.strerror}")]
        ) from exc
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        byte = raw[exc.start : exc.start + 1].hex()
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    "(file)",
                    f"not UTF-8: byte 0x{byte} at byte offset {exc.start} ({exc.reason})",
                    "save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
                    line=line,
                )
            ]
        ) from exc


class Located(Protocol):
    """Parsed config data that can name where a value was written (a file, or merged layers)."""

    @property
    def data(self) -> Any:
        """The parsed data."""

    def problem(self, loc: Loc, message: str, hint: str = "") -> ConfigProblem:
        """A problem at ``loc`` of the data: file, field path, line, message, hint."""


@dataclass(frozen=True)
class Document:
    """A parsed config file: its data and the line of every key and list item."""

    path: Path
    data: Any
    lines: Mapping[Loc, int] = field(default_factory=dict)

    def line(self, path: Loc) -> int | None:
        """Line of ``path`` (a key or list item), or of its nearest ancestor in the file."""
        for end in range(len(path), -1, -1):
            found = self.lines.get(tuple(path[:end]))
            if found is not None:
                return found
        return None

    def locate(self, loc: Loc) -> tuple[Loc, int | None]:
        """The path as written in the file and its line, for a pydantic error location.

        Parts that are not in the file are dropped (union tags such as ``ingest`` or
        ``expect_column_values_to_be_unique``, and union member labels after a scalar), except
        a last key that is missing from its mapping: that names what to add.
        """
        node, path = self.data, []
        for index, part in enumerate(loc):
            last = index == len(loc) - 1
            if isinstance(node, dict):
                if part in node:
                    node = node[part]
                    path.append(part)
                elif last:
                    path.append(part)
                continue
            if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node):
                node = node[part]
                path.append(part)
                continue
            break
        return tuple(path), self.line(tuple(path))

    def problem(self, loc: Loc, message: str, hint: str = "") -> ConfigProblem:
        """A problem at ``loc`` (file, field path, line, message, hint)."""
        path, line = self.locate(loc)
        return ConfigProblem(str(self.path), field_path(path), message, hint, line=line)


def read_document(path: Path) -> Document:
    """Parse a YAML (``.yml``/``.yaml``) or JSON file with line numbers.

    Raises:
        ConfigError: unreadable or non-UTF-8 file, syntax error (with line and column), or a
            key written twice in one mapping.
    """
    text = read_text(path)
    key = (str(path), text)
    parsed = _PARSED.get(key)
    if parsed is None:
        parsed = (
            _yaml_document(path, text)
            if path.suffix in YAML_SUFFIXES
            else (_json_document(path, text))
        )
        if len(_PARSED) >= _PARSED_MAX:
            _PARSED.clear()
        _PARSED[key] = parsed
    return dataclasses.replace(parsed, data=copy.deepcopy(parsed.data))


_PARSED: dict[tuple[str, str], Document] = {}
"""Parsed files by (path, text): handlers read the same configs on every event; a file whose
text changed is parsed again. Callers get their own copy of the data."""
_PARSED_MAX = 2048


def _yaml_document(path: Path, text: str) -> Document:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        lines: dict[Loc, int] = {}
        problems: list[ConfigProblem] = []
        if node is not None:
            _Walker(str(path), lines, problems).walk(node, ())
        if problems:
            raise ConfigError(problems)
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_syntax_error(path, exc) from exc
    finally:
        loader.dispose()
    return Document(path, data, lines)


def _yaml_syntax_error(path: Path, exc: yaml.YAMLError) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    reason = getattr(exc, "problem", None) or str(exc)
    line = mark.line + 1 if mark else None
    field = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(file)"
    return ConfigError(
        [
            ConfigProblem(
                str(path), field, f"invalid YAML: {reason}", "fix the YAML syntax", line=line
            )
        ]
    )


@dataclass
class _Walker:
    """Records the line of every key and item; refuses a key written twice in a mapping."""

    file: str
    lines: dict[Loc, int]
    problems: list[ConfigProblem]
    seen: set[int] = field(default_factory=set)

    def walk(self, node: yaml.Node, path: Loc) -> None:
        if id(node) in self.seen:  # an alias: walked once (no blow-up, no recursion)
            return
        self.seen.add(id(node))
        self.lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self._mapping(node, path)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self.walk(item, (*path, index))

    def _mapping(self, node: yaml.MappingNode, path: Loc) -> None:
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key, line = key_node.value, key_node.start_mark.line + 1
            if key in first:
                self.problems.append(_duplicate(self.file, (*path, key), first[key], line))
                continue
            first[key] = line
            self.lines[(*path, key)] = line
            self.walk(value_node, (*path, key))


def _duplicate(file: str, path: Loc, first: int, again: int) -> ConfigProblem:
    return ConfigProblem(
        file,
        field_path(path),
        f"key {str(path[-1])!r} is written twice (lines {first} and {again}); "
        "only one value can apply",
        "remove one of them (a duplicate key would otherwise silently override the first)",
        line=again,
    )


def _json_document(path: Path, text: str) -> Document:
    duplicates: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in items:
            if key in out:
                duplicates.append(key)
            out[key] = value
        return out

    try:
        data = json.loads(text, object_pairs_hook=pairs)
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise ConfigError(
            [
                ConfigProblem(
                    str(path),
                    where,
                    f"invalid JSON: {exc.msg}",
                    "fix the JSON syntax",
                    line=exc.lineno,
                )
            ]
        ) from exc
    lines, problems = _json_lines(path, text)
    if duplicates and not problems:
        problems = [
            ConfigProblem(str(path), "(file)", f"key {k!r} is written twice in one object")
            for k in dict.fromkeys(duplicates)
        ]
    if problems:
        raise ConfigError(problems)
    return Document(path, data, lines)


def _json_lines(path: Path, text: str) -> tuple[dict[Loc, int], list[ConfigProblem]]:
    """Lines and duplicate keys of a JSON text, read with the YAML composer (JSON ⊂ YAML).

    A JSON text the YAML composer cannot read (rare: e.g. tabs) just has no line numbers.
    """
    lines: dict[Loc, int] = {}
    problems: list[ConfigProblem] = []
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            _Walker(str(path), lines, problems).walk(node, ())
    except yaml.YAMLError:
        return {}, []
    finally:
        loader.dispose()
    return lines, problems
