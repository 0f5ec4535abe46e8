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
