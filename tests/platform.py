"""Fixtures: a local platform (sandbox + DuckDB + in-process bus) with a fixed clock."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from lib.clock import FixedClock
from lib.sandbox.server import SandboxServer
from lib.wiring import LocalRuntime

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"
NOW = dt.datetime(2026, 11, 20, 6, 0, tzinfo=dt.UTC)


@dataclass
class Platform:
    """A running local platform for tests."""

    rt: LocalRuntime
    sandbox: SandboxServer
    clock: FixedClock
    statements: list[str] = field(default_factory=list)

    def drain(self) -> None:
        self.rt.bus.run_until_idle()


@pytest.fixture
def make_platform(tmp_path):
    """Factory: ``make_platform(config_dir=..., faults=..., home=..., canned=..., env=...)`` →
    Platform; ``env`` adds environment variables (or is a function of the sandbox URL)."""
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.demo import demo_environment
    from lib.settings import Settings
    from lib.wiring import build_runtime, install

    opened = []

    def make(
        config_dir: Path = CONFIGS,
        faults=None,
        tenants=("acme", "globex"),
        home=None,
        canned=None,
        env=None,
    ):
        sandbox = SandboxServer(faults=faults, canned=canned)
        home = home or tmp_path / "home"
        extra = env(sandbox.base_url) if callable(env) else dict(env or {})
        env = {**demo_environment(home, sandbox.base_url, tenants), **extra}
        env["CONVERGENCE_CONFIG_DIR"] = str(config_dir)
        settings = Settings.from_env(env)
        clock = FixedClock(NOW)
        statements: list[str] = []
        home.mkdir(parents=True, exist_ok=True)
        warehouse = DuckDBWarehouse(settings.duckdb_path, on_statement=statements.append)
        rt = build_runtime(settings, clock=clock, warehouse=warehouse)
        assert isinstance(rt, LocalRuntime)
        install(rt)
        platform = Platform(rt, sandbox, clock, statements)
        opened.append(platform)
        return platform

    yield make
    install(None)
    for platform in opened:
        platform.rt.close()
        platform.sandbox.stop()


def copy_configs(tmp_path: Path, *parts: str) -> Path:
    """A config tree of the shared folders plus ``parts`` (e.g. ``"acme/openai"``) to edit."""
    import shutil

    configs = tmp_path / "configs"
    for shared in ("metadata", "_library", *parts):
        shutil.copytree(CONFIGS / shared, configs / shared)
    return configs


def append_override(path: Path, text: str) -> None:
    """Append YAML to a tenant's pipeline file; step overrides join the file's own ``steps:``
    when it has one (acme's OpenAI file overrides ``load_prices``), other keys go before it."""
    current = path.read_text()
    head, marker, steps = text.partition("steps:\n")
    if marker and "\nsteps:\n" in current:
        before, _, existing = current.partition("\nsteps:\n")
        path.write_text(f"{before}\n{head}steps:\n{existing}{steps}")
    else:
        path.write_text(current + text)


def fast_retry_configs(tmp_path: Path) -> Path:
    """A copy of acme's OpenAI pipeline whose sources retry quickly (outage tests): a
    ``source_overrides`` in acme's pipeline file, the library untouched."""
    from lib.config.overrides import write_rest_overrides

    configs = copy_configs(tmp_path, "acme/openai")
    retry = {
        "max_attempts": 2,
        "initial_backoff_seconds": 0.01,
        "max_backoff_seconds": 0.02,
        "budget_seconds": 1,
        "timeout_seconds": 5,
    }
    write_rest_overrides(
        configs / "acme/openai/cost/openai_costs/openai_costs.yml", "acme", {"retry": retry}
    )
    return configs
