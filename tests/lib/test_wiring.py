import pytest

from lib.adapters.duckdb_warehouse import DuckDBWarehouse
from lib.adapters.env_secrets import EnvSecrets
from lib.adapters.local_bus import LocalBus
from lib.settings import Settings
from lib.traced_warehouse import TracedWarehouse
from lib.wiring import build_runtime


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
            assert _duckdb_setting(rt, "threads") == fresh._con.execute(
                "SELECT current_setting('threads')"
            ).fetchone()[0]
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
