"""Test harness for the control plane: a tenant config tree, a local runtime, the real app.

The app is functions-framework's own Flask app for ``handlers/api.py`` (``create_app``), driven
by werkzeug's test client, with a local runtime installed (DuckDB file + in-process bus).
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import functions_framework
from werkzeug.test import Client, TestResponse

from lib.clock import FixedClock
from lib.keys import ADMIN_TENANT, create_key, revoke_key
from lib.settings import Settings
from lib.tenants import provision_tenant
from lib.wiring import Runtime, build_runtime, handler_functions, install

REPO = Path(__file__).resolve().parents[3]
NOW = dt.datetime(2025, 3, 10, 12, 0, tzinfo=dt.UTC)
TENANTS = ("acme", "globex")


def _clone_pipeline(config_dir: Path, tenant: str, new_id: str, extra: str = "") -> None:
    """A pipeline ``new_id`` of ``tenant`` from the OpenAI template, ``extra`` YAML appended."""
    folder = config_dir / tenant / "openai" / "cost" / new_id
    folder.mkdir(parents=True)
    text = f'extends: "@library/pipelines/openai_costs"\n{extra}'
    (folder / f"{new_id}.yml").write_text(text)


def make_config(root: Path) -> Path:
    """The demo configs plus ``globex_only`` (globex), a disabled ``acme_paused`` and
    ``acme_only`` (acme) whose source needs a secret nobody set, so its runs fail in ingest."""
    config_dir = root / "configs"
    shutil.copytree(REPO / "configs", config_dir)
    _clone_pipeline(config_dir, "globex", "globex_only")
    _clone_pipeline(config_dir, "acme", "acme_paused", "enabled: false\n")
    _clone_pipeline(config_dir, "acme", "acme_only", "secrets: {openai_admin_key: absent_key}\n")
    return config_dir


def noop_handlers() -> dict[str, Any]:
    """Handlers that accept every event and do nothing (runs stay REQUESTED)."""
    return {name: (lambda _event: None) for name in ("ingest", "dq", "transform", "notify")}


@dataclass
class Keys:
    """Keys per tenant: an active one, a revoked one."""

    active: dict[str, str] = field(default_factory=dict)
    revoked: dict[str, str] = field(default_factory=dict)
    admin: str = ""


def make_runtime(
    home: Path, config_dir: Path, env: Mapping[str, str] | None = None, *, real: bool = False
) -> Runtime:
    """A local runtime on a fixed clock; ``real`` wires the real step handlers."""
    environ = {"CONVERGENCE_HOME": str(home), "CONVERGENCE_CONFIG_DIR": str(config_dir)}
    settings = Settings.from_env({**environ, **(env or {})})
    handlers = handler_functions(_topology()) if real else noop_handlers()
    return build_runtime(settings, clock=FixedClock(NOW), handlers=handlers)


def _topology() -> Any:
    from events.topology import load_topology

    return load_topology()


def onboard(rt: Runtime) -> Keys:
    """Provision both tenants and give each an active and a revoked key; one admin key."""
    keys = Keys()
    for tenant in TENANTS:
        provision_tenant(rt, tenant)
        keys.active[tenant] = create_key(rt.warehouse, rt.clock, tenant, "test").key
        revoked = create_key(rt.warehouse, rt.clock, tenant, "old")
        revoke_key(rt.warehouse, rt.clock, tenant, revoked.key_id)
        keys.revoked[tenant] = revoked.key
    rt.ensure_tenant(ADMIN_TENANT)
    keys.admin = create_key(rt.warehouse, rt.clock, ADMIN_TENANT, "platform admin").key
    return keys


@contextmanager
def installed(rt: Runtime) -> Iterator[Runtime]:
    """Make ``rt`` the runtime the API function uses, for the block."""
    install(rt)
    try:
        yield rt
    finally:
        install(None)


_APP: Any = None


def app() -> Any:
    """functions-framework's Flask app for the ``api`` target (built once)."""
    global _APP
    if _APP is None:
        _APP = functions_framework.create_app(target="api", source=str(REPO / "handlers/api.py"))
    return _APP


def client() -> Client:
    """A werkzeug test client of the app."""
    return Client(app())


def auth(key: str | None) -> dict[str, str]:
    """The Authorization header for ``key`` (none for None)."""
    return {} if key is None else {"Authorization": f"Bearer {key}"}


def call(c: Client, method: str, path: str, key: str | None = None, **kw: Any) -> TestResponse:
    """One request with a bearer key."""
    headers = {**auth(key), **kw.pop("headers", {})}
    return c.open(path, method=method, headers=headers, **kw)
