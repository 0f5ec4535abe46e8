import datetime as dt
import subprocess
import sys

import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.adapters.env_secrets import EnvSecrets
from lib.adapters.local_bus import LocalBus
from lib.adapters.pubsub_bus import PubSubBus
from lib.settings import Settings
from lib.traced_warehouse import TracedWarehouse
from lib.wiring import LocalRuntime, build_runtime, open_local_runtime, open_runtime


def test_local_mode_wires_the_embedded_adapters(tmp_path):
    settings = Settings.from_env({"CONVERGENCE_HOME": str(tmp_path)})
    rt = build_runtime(settings)
    try:
        assert isinstance(rt.warehouse, TracedWarehouse)  # one span per statement
        assert isinstance(rt.warehouse.inner, DuckDBWarehouse)
        assert isinstance(rt.bus, LocalBus)
        assert isinstance(rt.secrets, EnvSecrets)
        assert (tmp_path / "convergence.duckdb").exists()
    finally:
        rt.close()


def test_cloud_mode_needs_a_project():
    with pytest.raises(ValueError, match="GOOGLE_CLOUD_PROJECT"):
        build_runtime(Settings.from_env({"CONVERGENCE_MODE": "cloud"}))


def test_disable_auth_is_refused_in_cloud_mode():
    env = {"CONVERGENCE_MODE": "cloud", "GOOGLE_CLOUD_PROJECT": "p", "DISABLE_AUTH": "true"}
    with pytest.raises(ValueError, match="DISABLE_AUTH=true is refused in cloud mode"):
        build_runtime(Settings.from_env(env))


def test_unknown_mode_is_named():
    with pytest.raises(ValueError, match="CONVERGENCE_MODE must be 'local' or 'cloud', not 'prod'"):
        Settings.from_env({"CONVERGENCE_MODE": "prod"})


def test_open_runtime_closes_what_it_opened(tmp_path):
    settings = Settings.from_env({"CONVERGENCE_HOME": str(tmp_path)})
    with open_runtime(settings) as rt:
        rt.warehouse.query("SELECT 1 AS one")
    with pytest.raises(Exception, match="closed"):
        rt.warehouse.query("SELECT 1 AS one")


def test_local_operations_ask_for_the_local_runtime(tmp_path):
    with open_local_runtime(Settings.from_env({"CONVERGENCE_HOME": str(tmp_path)})) as rt:
        assert isinstance(rt, LocalRuntime)
        assert rt.bus.run_until_idle().delivered == 0
    cloud = Settings.from_env({"CONVERGENCE_MODE": "cloud", "GOOGLE_CLOUD_PROJECT": "p"})
    with (
        pytest.raises(ValueError, match="needs CONVERGENCE_MODE=local"),
        open_local_runtime(cloud),
    ):
        pass


def test_cloud_runtime_on_emulators_is_built_from_settings(monkeypatch):
    """The settings the cloud end-to-end test uses: emulator endpoint, env secrets, fixed clock."""
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", "127.0.0.1:9")  # clients connect lazily
    env = {
        "CONVERGENCE_MODE": "cloud",
        "GOOGLE_CLOUD_PROJECT": "p",
        "CONVERGENCE_BIGQUERY_ENDPOINT": "http://127.0.0.1:9",
        "CONVERGENCE_SECRETS": "env",
        "CONVERGENCE_FIXED_NOW": "2026-01-31T12:00:00+00:00",
        "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-test",
    }
    with open_runtime(Settings.from_env(env)) as rt:
        assert isinstance(rt.bus, PubSubBus)
        assert isinstance(rt.secrets, EnvSecrets)
        assert rt.clock.now() == dt.datetime(2026, 1, 31, 12, tzinfo=dt.UTC)
        client = rt.warehouse.inner._client  # type: ignore[attr-defined]
        assert client._connection.API_BASE_URL == "http://127.0.0.1:9"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"CONVERGENCE_SECRETS": "vault"}, "CONVERGENCE_SECRETS must be 'secret-manager' or 'env'"),
        (
            {"CONVERGENCE_SECRETS": "secret-manager"},
            "'env' \\(or unset\\) in local mode, not 'secret-manager'",
        ),
        ({"CONVERGENCE_FIXED_NOW": "yesterday"}, "CONVERGENCE_FIXED_NOW must be an ISO time"),
        ({"CONVERGENCE_FIXED_NOW": "2026-01-31T12:00:00"}, "with a UTC offset"),
        (
            {
                "CONVERGENCE_MODE": "cloud",
                "GOOGLE_CLOUD_PROJECT": "p",
                "CONVERGENCE_FIXED_NOW": "2026-01-31T12:00:00+00:00",
            },
            "refused in cloud mode unless CONVERGENCE_BIGQUERY_ENDPOINT",
        ),
        ({"CONVERGENCE_BQ_RETRY_DEADLINE_SECONDS": "0"}, "CONVERGENCE_BQ_RETRY_DEADLINE_SECONDS"),
    ],
)
def test_bad_runtime_settings_are_named(env, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)


def test_dotenv_is_read_and_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text(
        "# local settings\n"
        "export CONVERGENCE_HOME='state dir'\n"
        'CONVERGENCE_BQ_LOCATION="US" # inline comment\n'
        "CONVERGENCE_CONFIG_DIR=from-dotenv\n"
        "EMPTY_KEY\n"
    )
    monkeypatch.setenv("CONVERGENCE_CONFIG_DIR", "from-environment")
    monkeypatch.delenv("CONVERGENCE_HOME", raising=False)
    monkeypatch.delenv("CONVERGENCE_BQ_LOCATION", raising=False)
    settings = Settings.from_env()
    assert settings.home == tmp_path.joinpath("state dir").relative_to(tmp_path)
    assert settings.bq_location == "US"
    assert settings.config_dir.name == "from-environment"
    assert "EMPTY_KEY" not in settings.environ


def test_every_setting_is_documented():
    """docs/operations.md lists every variable Settings.from_env reads."""
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    read = set(re.findall(r'env\.get\(\s*"([A-Z_]+)"', (root / "lib/settings.py").read_text()))
    docs = (root / "docs/operations.md").read_text()
    table = docs[docs.index("## Settings") :]
    assert read, "no variable found: the pattern no longer matches lib/settings.py"
    assert sorted(v for v in read if f"`{v}`" not in table and f"{v}`" not in table) == []


def _duckdb_setting(rt, name):
    [(value,)] = rt.warehouse.inner._con.execute(f"SELECT current_setting('{name}')").fetchall()
    return value


def test_the_local_warehouse_takes_half_the_machines_memory_and_every_core_by_default(tmp_path):
    from lib.adapters.duckdb_warehouse import machine_memory

    rt = build_runtime(Settings.from_env({"CONVERGENCE_HOME": str(tmp_path)}))
    try:
        limit = rt.warehouse.inner._con.execute(
            "SELECT value FROM duckdb_settings() WHERE name = 'memory_limit'"
        ).fetchone()[0]
        gib = float(limit.split()[0]) * (1024 if limit.endswith("TiB") else 1)
        assert abs(gib * 2**30 - machine_memory() / 2) < 0.02 * machine_memory()
        fresh = DuckDBWarehouse(tmp_path / "other.duckdb")  # DuckDB's own default: the cores
        try:
            assert (
                _duckdb_setting(rt, "threads")
                == fresh._con.execute("SELECT current_setting('threads')").fetchone()[0]
            )
        finally:
            fresh.close()
    finally:
        rt.close()


def test_the_local_warehouse_memory_and_threads_are_settings(tmp_path):
    env = {
        "CONVERGENCE_HOME": str(tmp_path),
        "CONVERGENCE_DUCKDB_MEMORY_LIMIT": "300MB",
        "CONVERGENCE_DUCKDB_THREADS": "1",
    }
    rt = build_runtime(Settings.from_env(env))
    try:
        assert _duckdb_setting(rt, "threads") == 1
        assert _duckdb_setting(rt, "memory_limit") in ("286.1 MiB", "300.0 MB")
    finally:
        rt.close()


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("CONVERGENCE_DUCKDB_MEMORY_LIMIT", "lots", "a size such as 4GB"),
        ("CONVERGENCE_DUCKDB_MEMORY_LIMIT", "120%", "such as 40%"),
        ("CONVERGENCE_DUCKDB_THREADS", "0", "whole number of threads from 1"),
    ],
)
def test_bad_local_warehouse_settings_are_named(name, value, message):
    with pytest.raises(ValueError, match=f"{name} must be .*{message}.*{value!r}"):
        Settings.from_env({name: value})


def test_loading_the_event_handlers_imports_neither_flask_nor_their_machinery():
    # Every embedded run loads every handler the topology names (handler_functions); what
    # each one runs is imported on its first event, so a cold run pays only for its steps.
    code = (
        "import sys; from events.topology import load_topology; "
        "from lib.wiring import handler_functions; handler_functions(load_topology()); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('flask', 'functions_framework') or m.startswith(('lib.notify', 'lib.steps'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
