"""Tenant-level files: registered ones are checked, unregistered ones are reported."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from lib.config import tenant_files
from lib.config.validate import validate_tree
from lib.errors import ConfigError, ConfigProblem
from tests.platform import CONFIGS


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    for part in ("metadata", "_library", "acme"):
        shutil.copytree(CONFIGS / part, root / part)
    (root / "acme" / "channels.yml").write_text("email: finops@acme.test\n")
    return root


def test_an_unregistered_file_at_the_tenant_root_is_reported(tree):
    [problem] = validate_tree(tree)[1]
    assert problem.file.endswith("acme/channels.yml") and "no pipeline of tenant" in problem.message


def test_a_registered_file_is_checked_by_its_own_check(tree, monkeypatch):
    def check(path: Path) -> None:
        if "@" in path.read_text():
            raise ConfigError([ConfigProblem(str(path), "email", "addresses are not allowed")])

    monkeypatch.setitem(tenant_files.TENANT_FILES, "channels.yml", check)
    [problem] = validate_tree(tree)[1]
    assert problem.field == "email" and problem.message == "addresses are not allowed"
    (tree / "acme" / "channels.yml").write_text("slack: finops\n")
    assert validate_tree(tree)[1] == []
