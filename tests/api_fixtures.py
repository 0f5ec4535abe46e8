"""Fixtures: a runtime with two onboarded tenants and keys, installed for the API function."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.test import Client

from lib.wiring import Runtime
from tests.lib.api import harness


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    return harness.make_config(tmp_path)


@pytest.fixture
def rt(tmp_path: Path, config_dir: Path) -> Iterator[Runtime]:
    runtime = harness.make_runtime(tmp_path / "home", config_dir)
    with harness.installed(runtime):
        yield runtime
    runtime.close()


@pytest.fixture
def keys(rt: Runtime) -> harness.Keys:
    return harness.onboard(rt)


@pytest.fixture
def client() -> Client:
    return harness.client()
