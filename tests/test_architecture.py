"""The import graph's rules: the acyclic-modules contract finds rings, and the project has none."""

from __future__ import annotations

import sys
import textwrap

import grimp
import pytest

from tests.import_contracts import AcyclicModulesContract, module_cycles


@pytest.fixture
def ringed(tmp_path, monkeypatch):
    """A package whose ``a`` imports ``b`` at the top and ``b`` imports ``a`` inside a function."""
    package = tmp_path / "ringed"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "a.py").write_text("from ringed import b\n")
    (package / "b.py").write_text(
        textwrap.dedent(
            """
            from ringed import c

            def late():
                from ringed import a  # a function-local import still closes the ring
                return a
            """
        )
    )
    (package / "c.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield grimp.build_graph("ringed")
    sys.modules.pop("ringed", None)


def test_a_ring_through_a_function_local_import_is_found(ringed):
    assert module_cycles(ringed, ["ringed"]) == [["ringed.a", "ringed.b"]]


def test_the_contract_breaks_on_a_ring_and_names_its_chain(ringed):
    contract = AcyclicModulesContract(
        name="rings", session_options={}, contract_options={"packages": ["ringed"]}
    )
    check = contract.check(ringed, verbose=False)
    assert not check.kept
    assert check.metadata["chains"] == [["ringed.a", "ringed.b", "ringed.a"]]


def test_the_contract_is_kept_without_a_ring(ringed):
    ringed.remove_import(importer="ringed.b", imported="ringed.a")
    assert module_cycles(ringed, ["ringed"]) == []


def test_the_project_has_no_import_cycle():
    graph = grimp.build_graph("lib", "events", "handlers", exclude_type_checking_imports=False)
    assert module_cycles(graph, ["lib", "events", "handlers"]) == []
