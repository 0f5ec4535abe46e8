"""Fixtures: a local platform (sandbox + DuckDB + in-process bus) with a fixed clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lib.clock import FixedClock
from lib.wiring import Runtime

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


@dataclass
class Platform:
    """A running local platform for tests."""

    rt: Runtime
    sandbox: object
    clock: FixedClock
    statements: list[str] = field(default_factory=list)

    def drain(self) -> None:
        self.rt.bus.run_until_idle()  # type: ignore[attr-defined]


@pytest.fixture
def make_platform(tmp_path):
    """Factory: ``make_platform(config_dir=..., faults=..., home=..., canned=...)`` → Platform."""
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.demo import demo_environment
    from lib.sandbox.server import SandboxServer
    from lib.settings import Settings
    from lib.wiring import build_runtime, install

    opened = []

    def make(
        config_dir: Path = CONFIGS, faults=None, tenants=("acme", "globex"), home=None, canned=None
    ):
        sandbox = SandboxServer(faults=faults, canned=canned)
        home = home or tmp_path / "home"
        env = demo_environment(home, sandbox.base_url, tenants)
        env["CONVERGENCE_CONFIG_DIR"] = str(config_dir)
        settings = Settings.from_env(env)
        clock = FixedClock(NOW)
        statements: list[str] = []
        home.mkdir(parents=True, exist_ok=True)
        warehouse = DuckDBWarehouse(settings.duckdb_path, on_statement=statements.append)
        rt = build_runtime(settings, clock=clock, warehouse=warehouse)
        install(rt)
        platform = Platform(rt, sandbox, clock, statements)
        opened.append(platform)
        return platform

    yield make
    install(None)
    for platform in opened:
        platform.rt.close()
        platform.sandbox.stop()  # type: ignore[attr-defined]


def copy_configs(tmp_path: Path, *parts: str) -> Path:
    """A config tree of the shared folders plus ``parts`` (e.g. ``"acme/openai"``) to edit."""
    import shutil

    configs = tmp_path / "configs"
    for shared in ("metadata", "_library", *parts):
        shutil.copytree(CONFIGS / shared, configs / shared)
    return configs


def fast_retry_configs(tmp_path: Path) -> Path:
    """A copy of acme's OpenAI pipeline whose sources retry quickly (outage tests)."""
    import yaml

    configs = copy_configs(tmp_path, "acme/openai")
    for source in (configs / "acme/openai/cost/openai_costs").glob("*_source.yml"):
        data = yaml.safe_load(source.read_text())
        if data.get("kind") != "rest":
            continue  # the price source reads config, not an API
        data["retry"] = {
            "max_attempts": 2,
            "initial_backoff_seconds": 0.01,
            "max_backoff_seconds": 0.02,
            "budget_seconds": 1,
            "timeout_seconds": 5,
        }
        source.write_text(yaml.safe_dump(data))
    return configs
