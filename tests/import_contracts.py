"""An import-linter contract the built-in ones lack: no import cycle between modules.

``lint-imports`` (``nox -s lint``) runs it over lib/, events/ and handlers/. Function-local
imports count: they exist to keep cold starts cheap (docs/architecture.md), never to hide a
cycle; so do imports under ``TYPE_CHECKING`` (``exclude_type_checking_imports = false``).

Registered in pyproject.toml::

    [tool.importlinter]
    contract_types = ["acyclic_modules: tests.import_contracts.AcyclicModulesContract"]
"""

from __future__ import annotations

from collections.abc import Iterable

from grimp import ImportGraph
from importlinter.application import output
from importlinter.domain import fields
from importlinter.domain.contract import Contract, ContractCheck


def module_cycles(graph: ImportGraph, packages: Iterable[str]) -> list[list[str]]:
    """Every set of modules under ``packages`` that import each other in a ring, each sorted.

    Tarjan's strongly connected components, iteratively (deep import chains).
    """
    roots = tuple(packages)
    inside = sorted(
        m for m in graph.modules if m in roots or m.startswith(tuple(r + "." for r in roots))
    )
    edges = {
        m: sorted(i for i in graph.find_modules_directly_imported_by(m) if i in inside)
        for m in inside
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for start in inside:
        if start in index:
            continue
        work = [(start, iter(edges[start]))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    ring = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        ring.append(member)
                        if member == node:
                            break
                    if len(ring) > 1:
                        found.append(sorted(ring))
            elif child not in index:
                index[child] = low[child] = len(index)
                stack.append(child)
                on_stack.add(child)
                work.append((child, iter(edges[child])))
            elif child in on_stack:
                low[node] = min(low[node], index[child])
    return sorted(found)


class AcyclicModulesContract(Contract):
    """No module of ``packages`` reaches itself through imports (function-local ones too)."""

    type_name = "acyclic_modules"
    packages = fields.ListField(subfield=fields.StringField())

    def check(self, graph: ImportGraph, verbose: bool) -> ContractCheck:
        """Kept when the modules' import graph has no cycle; the rings found otherwise."""
        rings = module_cycles(graph, self.packages)  # type: ignore[arg-type]
        chains = [_ring_chain(graph, ring) for ring in rings]
        return ContractCheck(kept=not rings, metadata={"chains": chains})

    def render_broken_contract(self, check: ContractCheck) -> None:
        """Each ring as one import chain back to where it started, and what to do."""
        for chain in check.metadata["chains"]:
            output.print_error(" -> ".join(chain), bold=True)
        output.new_line()
        output.print(
            "Break each ring: move what both sides need into a module below them, or pass it "
            "in (docs/architecture.md, 'The arrows that must never exist')."
        )


def _ring_chain(graph: ImportGraph, ring: list[str]) -> list[str]:
    """``a -> ... -> b -> ... -> a`` through the ring's first two members."""
    first, second = ring[0], ring[1]
    there = graph.find_shortest_chain(importer=first, imported=second) or (first, second)
    back = graph.find_shortest_chain(importer=second, imported=first) or (second, first)
    return [*there, *back[1:]]
