"""Evaluate this repository's Terraform offline, so tests can compare it with the code.

No provider can be downloaded here, so ``terraform plan`` cannot run. Instead every ``*.tf``
file is parsed with python-hcl2's Lark grammar and the subset of HCL the configuration uses is
evaluated: variables (defaults overlaid by the test's values), locals, ``for_each`` over maps
and sets, ``dynamic`` blocks, for-expressions, conditionals, string templates and the functions
in :data:`FUNCTIONS`. A reference to another resource (``google_pubsub_topic.topic["x"].id``)
stays symbolic, as a :class:`Ref` the tests can resolve to the instance it names.

Anything outside that subset raises :class:`Unsupported` naming the construct, so a test fails
loudly instead of guessing; extend the evaluator when the Terraform grows a new construct.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import hcl2
from lark import Token, Tree


class Unsupported(Exception):
    """The Terraform uses HCL this evaluator does not implement."""


@dataclass(frozen=True)
class Ref:
    """A symbolic reference to another block's attribute: ``type.name[key].attr``."""

    parts: tuple[tuple[str, Any], ...]  # ("attr", name) | ("index", key)

    def extend(self, kind: str, value: Any) -> Ref:
        return Ref((*self.parts, (kind, value)))

    @property
    def address(self) -> str:
        """``type.name`` (or ``data.type.name``) of the referenced block."""
        names = [v for k, v in self.parts if k == "attr"]
        return ".".join(names[:3] if names[0] == "data" else names[:2])

    @property
    def key(self) -> Any:
        """The instance key, or None for a block without for_each."""
        width = 3 if self.parts[0][1] == "data" else 2
        rest = self.parts[width:]
        return rest[0][1] if rest and rest[0][0] == "index" else None

    @property
    def attribute(self) -> str:
        """The attribute read from the instance (``id``, ``email``, ``uri`` …)."""
        return str(self.parts[-1][1])

    def __str__(self) -> str:
        out = ""
        for kind, value in self.parts:
            out += f".{value}" if kind == "attr" else f"[{json.dumps(value)}]"
        return out.lstrip(".")


class TfSet(list[Any]):
    """A Terraform set: unique, sorted; ``for_each`` over it keys instances by element."""


@dataclass
class Block:
    """One parsed block: its type, labels and body tree."""

    type: str
    labels: list[str]
    body: Tree[Any]
    file: str


@dataclass
class Resource:
    """A resource or data block, expanded: instance key → evaluated body."""

    address: str
    file: str
    instances: dict[Any, dict[str, Any]] = field(default_factory=dict)
    depends_on: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)


def _kids(node: Tree[Any]) -> list[Any]:
    """Children that carry meaning: no punctuation tokens, no newlines or comments."""
    return [c for c in node.children if isinstance(c, Tree) and c.data != "new_line_or_comment"]


def _name(node: Tree[Any] | Token) -> str:
    if isinstance(node, Token):
        return str(node)
    if node.data in ("identifier", "keyword", "literal_value", "int_lit"):
        return str(node.children[0])
    if node.data == "string":
        return "".join(str(p.children[0]) for p in node.children if isinstance(p, Tree))
    if node.data == "expr_term":
        return _name(_kids(node)[0])
    raise Unsupported(f"not a name: {node.data}")


def ref_text(node: Tree[Any]) -> str:
    """Source text of a plain reference expression (for depends_on and ignore_changes)."""
    if node.data == "expr_term":
        return ref_text(_kids(node)[0])
    if node.data == "identifier":
        return str(node.children[0])
    if node.data == "get_attr_expr_term":
        base, attr = _kids(node)
        return f"{ref_text(base)}.{_name(_kids(attr)[0])}"
    if node.data == "index_expr_term":
        base, index = _kids(node)
        token = index.children[-1] if index.data == "short_index" else None
        key = str(token) if token is not None else _name(_kids(index)[0])
        return f"{ref_text(base)}[{key}]"
    raise Unsupported(f"not a reference: {node.data}")


def _unescape(text: str) -> str:
    return json.loads(f'"{text}"') if "\\" in text else text


class Terraform:
    """The evaluated configuration of one Terraform directory.

    Args:
        directory: the folder holding the ``*.tf`` files.
        variables: values for variables (required ones must be given).
    """

    def __init__(self, directory: Path, variables: Mapping[str, Any] | None = None) -> None:
        self.directory = directory
        self.blocks: list[Block] = []
        for path in sorted(directory.glob("*.tf")):
            tree = hcl2.parses_to_tree(path.read_text())
            for node in _kids(_kids(tree)[0]):
                if node.data == "block":
                    self.blocks.append(self._block(node, path.name))
        self._locals_expr: dict[str, Tree[Any]] = {}
        for block in self.of_type("locals"):
            for name, expr in self._attributes(block.body):
                self._locals_expr[name] = expr
        self._locals: dict[str, Any] = {}
        self.variables = self._variables(dict(variables or {}))
        self._resources: dict[str, Resource] = {}

    # --- structure ---------------------------------------------------------------------

    @staticmethod
    def _block(node: Tree[Any], file: str) -> Block:
        kids = _kids(node)
        *head, body = kids
        return Block(_name(head[0]), [_name(h) for h in head[1:]], body, file)

    def of_type(self, block_type: str) -> list[Block]:
        """Every top-level block of a type (``resource``, ``variable``, ``locals`` …)."""
        return [b for b in self.blocks if b.type == block_type]

    @staticmethod
    def _attributes(body: Tree[Any]) -> Iterator[tuple[str, Tree[Any]]]:
        for node in _kids(body):
            if node.data == "attribute":
                name, expr = _kids(node)
                yield _name(name), expr

    @staticmethod
    def _nested(body: Tree[Any]) -> Iterator[Block]:
        for node in _kids(body):
            if node.data == "block":
                yield Terraform._block(node, "")

    def _variables(self, given: dict[str, Any]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for block in self.of_type("variable"):
            (name,) = block.labels
            attrs = dict(self._attributes(block.body))
            if name in given:
                values[name] = given.pop(name)
            elif "default" in attrs:
                values[name] = self.evaluate(attrs["default"], {})
            else:
                raise Unsupported(f"variable {name!r} has no default: give it a value")
        if given:
            raise Unsupported(f"no such variables: {sorted(given)}")
        return values

    # --- locals and resources ------------------------------------------------------------

    def local(self, name: str) -> Any:
        """The value of ``local.<name>``."""
        if name not in self._locals:
            if name not in self._locals_expr:
                raise Unsupported(f"no local {name!r}")
            self._locals[name] = self.evaluate(self._locals_expr[name], {})
        return self._locals[name]

    def addresses(self) -> list[str]:
        """``type.name`` of every managed resource."""
        return [".".join(b.labels) for b in self.of_type("resource")]

    def resource(self, address: str) -> Resource:
        """A managed resource with its instances (``for_each`` expanded)."""
        if address not in self._resources:
            matches = [b for b in self.of_type("resource") if ".".join(b.labels) == address]
            if not matches:
                raise KeyError(f"no resource {address} in {self.directory}")
            self._resources[address] = self._expand(matches[0], address)
        return self._resources[address]

    def instances(self, address: str) -> dict[Any, dict[str, Any]]:
        """Instance key → evaluated body of a managed resource."""
        return self.resource(address).instances

    def target(self, ref: Ref) -> dict[str, Any]:
        """The evaluated body of the instance a reference points at.

        Raises:
            KeyError: the reference names a resource or instance that does not exist.
        """
        instances = self.instances(ref.address)
        if ref.key not in instances:
            raise KeyError(f"{ref} names no instance of {ref.address}: {sorted(instances)}")
        return instances[ref.key]

    def _expand(self, block: Block, address: str) -> Resource:
        attrs = dict(self._attributes(block.body))
        resource = Resource(address, block.file)
        if "depends_on" in attrs:
            tup = _kids(_kids(attrs["depends_on"])[0])
            resource.depends_on = [ref_text(e) for e in tup]
        if "provider" in attrs:
            resource.meta["provider"] = ref_text(attrs["provider"])
        for nested in self._nested(block.body):
            if nested.type == "lifecycle":
                ignore = dict(self._attributes(nested.body)).get("ignore_changes")
                if ignore is not None:
                    items = _kids(_kids(ignore)[0])
                    resource.meta["ignore_changes"] = [ref_text(e) for e in items]
        if "count" in attrs:
            raise Unsupported(f"{address}: count (use for_each)")
        if "for_each" not in attrs:
            resource.instances[None] = self._body(block.body, {})
            return resource
        for key, value in self._each(self.evaluate(attrs["for_each"], {}), address):
            resource.instances[key] = self._body(block.body, {"each": {"key": key, "value": value}})
        return resource

    @staticmethod
    def _each(collection: Any, where: str) -> list[tuple[Any, Any]]:
        if isinstance(collection, TfSet):
            return [(v, v) for v in collection]
        if isinstance(collection, dict):
            return list(collection.items())
        if isinstance(collection, list):
            return list(enumerate(collection))
        raise Unsupported(f"{where}: for_each over {type(collection).__name__}")

    _META = frozenset({"for_each", "count", "provider", "depends_on"})

    def _body(self, body: Tree[Any], scope: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name, expr in self._attributes(body):
            if name not in self._META:
                out[name] = self.evaluate(expr, scope)
        for nested in self._nested(body):
            if nested.type == "lifecycle":
                continue
            if nested.type == "dynamic":
                (label,) = nested.labels
                blocks = self._dynamic(nested, label, scope)
                if blocks:  # a dynamic block over nothing writes no block at all
                    out.setdefault(label, []).extend(blocks)
            else:
                out.setdefault(nested.type, []).append(self._body(nested.body, scope))
        return out

    def _dynamic(self, block: Block, label: str, scope: dict[str, Any]) -> list[dict[str, Any]]:
        attrs = dict(self._attributes(block.body))
        iterator = _name(attrs["iterator"]) if "iterator" in attrs else label
        (content,) = [b for b in self._nested(block.body) if b.type == "content"]
        items = self._each(self.evaluate(attrs["for_each"], scope), f"dynamic {label}")
        return [
            self._body(content.body, {**scope, iterator: {"key": k, "value": v}}) for k, v in items
        ]

    # --- expressions -------------------------------------------------------------------

    def evaluate(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        """Evaluate one expression tree in ``scope`` (each, for-variables, iterators)."""
        handler = getattr(self, f"_ev_{node.data}", None)
        if handler is None:
            raise Unsupported(f"expression {node.data!r}")
        return handler(node, scope)

    def _ev_expr_term(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        return self.evaluate(_kids(node)[0], scope)

    def _ev_int_lit(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        return int(node.children[0])

    def _ev_float_lit(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        return float(node.children[0])

    def _ev_literal_value(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        return {"true": True, "false": False, "null": None}[str(node.children[0])]

    def _ev_string(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        parts = [p.children[0] for p in node.children if isinstance(p, Tree)]
        if len(parts) == 1 and isinstance(parts[0], Tree) and parts[0].data == "interpolation":
            return self.evaluate(_kids(parts[0])[0], scope)  # "${x}" is x itself
        out = ""
        for part in parts:
            if isinstance(part, Token):
                text = str(part)
                out += text[1:] if part.type == "ESCAPED_INTERPOLATION" else _unescape(text)
            elif part.data == "interpolation":
                value = self.evaluate(_kids(part)[0], scope)
                out += f"${{{value}}}" if isinstance(value, Ref) else _text(value)
            else:
                raise Unsupported(f"template directive {part.data}")
        return out

    def _ev_tuple(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        return [self.evaluate(e, scope) for e in _kids(node)]

    def _ev_object(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        out: dict[str, Any] = {}
        for elem in _kids(node):
            key_node, value_node = _kids(elem)
            inner = _kids(key_node)[0]
            term = _kids(inner)[0] if inner.data == "expr_term" else inner
            if term.data in ("identifier", "keyword"):
                key = _name(term)
            else:
                key = self.evaluate(inner, scope)
            out[key] = self.evaluate(value_node, scope)
        return out

    def _ev_identifier(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        name = str(node.children[0])
        if name in scope:
            return scope[name]
        if name == "var":
            return _Namespace("var", self.variables.__getitem__)
        if name == "local":
            return _Namespace("local", self.local)
        if name == "path":
            return {"module": str(self.directory)}
        if name == "data" or any(b.labels[:1] == [name] for b in self.of_type("resource")):
            return Ref((("attr", name),))
        raise Unsupported(f"unknown name {name!r}")

    def _ev_get_attr_expr_term(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        base_node, attr_node = _kids(node)
        base = self.evaluate(base_node, scope)
        name = _name(_kids(attr_node)[0])
        if isinstance(base, Ref):
            return base.extend("attr", name)
        if isinstance(base, _Namespace):
            return base.get(name)
        if isinstance(base, dict):
            if name not in base:
                raise Unsupported(f"{ref_text(node)}: no attribute {name!r} in {sorted(base)}")
            return base[name]
        raise Unsupported(f"{ref_text(node)}: attribute of {type(base).__name__}")

    def _ev_index_expr_term(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        base_node, index_node = _kids(node)
        base = self.evaluate(base_node, scope)
        if index_node.data == "short_index":
            key: Any = int(index_node.children[-1])
        else:
            key = self.evaluate(_kids(index_node)[0], scope)
        if isinstance(base, Ref):
            return base.extend("index", key)
        try:
            return base[key]
        except (KeyError, IndexError, TypeError) as exc:
            raise Unsupported(f"{ref_text(node)}: no element {key!r}") from exc

    def _ev_conditional(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        cond, yes, no = _kids(node)
        return self.evaluate(yes if self._truth(cond, scope) else no, scope)

    def _truth(self, node: Tree[Any], scope: dict[str, Any]) -> bool:
        value = self.evaluate(node, scope)
        if not isinstance(value, bool):
            raise Unsupported(f"condition is {type(value).__name__}, not bool")
        return value

    def _ev_binary_op(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        left_node, term = _kids(node)
        op_node, right_node = _kids(term)
        op = str(op_node.children[0])
        if op in ("&&", "||"):
            left_truth = self._truth(left_node, scope)
            if (op == "&&") != left_truth:
                return left_truth
            return self._truth(right_node, scope)
        left, right = self.evaluate(left_node, scope), self.evaluate(right_node, scope)
        if isinstance(left, Ref) or isinstance(right, Ref):
            raise Unsupported(f"operator {op} on a value known only after apply")
        return _BINARY[op](left, right)

    def _ev_unary_op(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        op = str(node.children[0])
        value = self.evaluate(node.children[1], scope)
        return (not value) if op == "!" else -value

    def _ev_function_call(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        kids = _kids(node)
        name = _name(kids[0])
        if name not in FUNCTIONS:
            raise Unsupported(f"function {name}()")
        args = [self.evaluate(a, scope) for a in (_kids(kids[1]) if len(kids) > 1 else [])]
        return FUNCTIONS[name](*args)

    def _for(
        self, node: Tree[Any], scope: dict[str, Any]
    ) -> Iterator[tuple[dict[str, Any], list[Any]]]:
        intro, *rest = _kids(node)
        cond = rest[-1] if rest and rest[-1].data == "for_cond" else None
        exprs = [r for r in rest if r is not cond]
        *names, coll_node = _kids(intro)
        collection = self.evaluate(coll_node, scope)
        pairs = (
            list(collection.items())
            if isinstance(collection, dict)
            else list(enumerate(collection))
        )
        for key, value in pairs:
            bound = {_name(names[-1]): value}
            if len(names) == 2:
                bound[_name(names[0])] = key
            inner = {**scope, **bound}
            if cond is None or self._truth(_kids(cond)[0], inner):
                yield inner, exprs

    def _ev_for_tuple_expr(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        return [self.evaluate(exprs[0], inner) for inner, exprs in self._for(node, scope)]

    def _ev_for_object_expr(self, node: Tree[Any], scope: dict[str, Any]) -> Any:
        if any(isinstance(c, Token) and c.type == "ELLIPSIS" for c in node.children):
            raise Unsupported("grouping for-expression (...)")
        out: dict[str, Any] = {}
        for inner, (key_node, value_node) in self._for(node, scope):
            key = self.evaluate(key_node, inner)
            if key in out:
                raise Unsupported(f"duplicate key {key!r} in a for-expression")
            out[key] = self.evaluate(value_node, inner)
        return out


@dataclass
class _Namespace:
    name: str
    getter: Callable[[str], Any]

    def get(self, attr: str) -> Any:
        try:
            return self.getter(attr)
        except KeyError as exc:
            raise Unsupported(f"no {self.name}.{attr}") from exc


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        raise Unsupported("null in a string template")
    if isinstance(value, int | float | str):
        return str(value)
    raise Unsupported(f"{type(value).__name__} in a string template")


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
    "+": lambda a, b: a + b,
    "-": lambda a, b: a - b,
    "*": lambda a, b: a * b,
    "/": lambda a, b: a / b,
    "%": lambda a, b: a % b,
}


def _merge(*maps: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for m in maps:
        out.update(m)
    return out


def _flatten(items: list[Any]) -> list[Any]:
    out: list[Any] = []
    for item in items:
        out.extend(_flatten(item) if isinstance(item, list) else [item])
    return out


def _lookup(m: dict[str, Any], key: str, *default: Any) -> Any:
    if key in m:
        return m[key]
    if default:
        return default[0]
    raise Unsupported(f"lookup of missing key {key!r} without a default")


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "jsondecode": json.loads,
    "file": lambda path: Path(path).read_text(),
    "merge": _merge,
    "flatten": _flatten,
    "concat": lambda *lists: [x for lst in lists for x in lst],
    "toset": lambda items: TfSet(sorted(set(items))),
    "tolist": list,
    "lookup": _lookup,
    "keys": lambda m: sorted(m),
    "values": lambda m: [m[k] for k in sorted(m)],
    "length": len,
    "contains": lambda coll, value: value in coll,
    "lower": str.lower,
    "upper": str.upper,
    "replace": lambda s, old, new: s.replace(old, new),
    "join": lambda separator, items: separator.join(str(i) for i in items),
    # A reference inside the document stays symbolic: "${type.name.attr}", as in a template.
    "jsonencode": lambda value: json.dumps(value, default=lambda ref: f"${{{ref}}}"),
}
