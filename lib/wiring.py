"""The one place that picks adapters: ``mode: local | cloud`` → a Runtime of four ports.

Handlers call :func:`runtime` (built once per process from the environment); the CLI and tests
build a Runtime explicitly and :func:`install` it, so the in-process bus delivers to handlers
that share the caller's warehouse.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from events.topology import Topology, load_topology
from lib.clock import SystemClock
from lib.ports import Clock, EventBus, Secrets, Warehouse
from lib.settings import Settings


@dataclass
class Runtime:
    """The adapters a handler works with, plus settings."""

    settings: Settings
    warehouse: Warehouse
    bus: EventBus
    secrets: Secrets
    clock: Clock
    topology: Topology
    tenants_ready: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        from lib.traced_warehouse import traced
        from lib.tracing import instrument_http

        self.warehouse = traced(self.warehouse)  # one span per warehouse statement
        instrument_http()  # one span per provider call, counted on the step's meter

    @property
    def config_dir(self) -> Path:
        """The config-as-code root."""
        return self.settings.config_dir

    def ensure_tenant(self, tenant_id: str) -> None:
        """Create the tenant's metadata dataset on its first run (once per process)."""
        if tenant_id not in self.tenants_ready:
            from lib.metadata import ensure_metadata

            ensure_metadata(self.warehouse, tenant_id, self.config_dir / "metadata" / "schemas")
            self.tenants_ready.add(tenant_id)

    def close(self) -> None:
        """Release the warehouse connection and the bus's resources."""
        self.warehouse.close()
        close_bus = getattr(self.bus, "close", None)
        if close_bus is not None:
            close_bus()


def handler_functions(topology: Topology) -> dict[str, Callable[[Any], object]]:
    """The functions-framework entry points named by the topology (imported lazily)."""
    out = {}
    for handler in topology.handlers:
        module = importlib.import_module(f"handlers.{handler.name}")
        out[handler.name] = getattr(module, handler.entry_point)
    return out


def build_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    handlers: Mapping[str, Callable[[Any], object]] | None = None,
    warehouse: Warehouse | None = None,
    backoff_scale: float | None = None,
) -> Runtime:
    """Build the adapters for ``settings.mode``.

    ``backoff_scale`` (local bus) overrides ``settings.bus_backoff_scale``.

    Installs the trace exporters the settings select (``lib/tracing.py``).

    Raises:
        ValueError: cloud mode without a project, DISABLE_AUTH in cloud mode, or OTEL_*
            variables asking for an unknown exporter.
    """
    from lib.tracing import configure_tracing

    clock = clock or SystemClock()
    topology = load_topology()
    if settings.mode == "cloud":
        rt = _cloud(settings, clock, topology, warehouse)
        configure_tracing(settings)
        return rt
    configure_tracing(settings)
    from lib.adapters.duckdb_warehouse import DuckDBWarehouse
    from lib.adapters.env_secrets import EnvSecrets
    from lib.adapters.local_bus import LocalBus

    settings.home.mkdir(parents=True, exist_ok=True)
    bus = LocalBus(
        topology,
        handlers if handlers is not None else handler_functions(topology),
        settings.bus_dir,
        clock,
        backoff_scale=settings.bus_backoff_scale if backoff_scale is None else backoff_scale,
    )
    return Runtime(
        settings=settings,
        warehouse=warehouse or DuckDBWarehouse(settings.duckdb_path),
        bus=bus,
        secrets=EnvSecrets(settings.environ),
        clock=clock,
        topology=topology,
    )


def _cloud(
    settings: Settings, clock: Clock, topology: Topology, warehouse: Warehouse | None
) -> Runtime:
    if not settings.project:
        raise ValueError("cloud mode needs GOOGLE_CLOUD_PROJECT set to the GCP project id")
    if settings.disable_auth:
        raise ValueError("DISABLE_AUTH=true is refused in cloud mode; it is for local mode only")
    from google.cloud import bigquery, secretmanager  # noqa: TID251
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient  # noqa: TID251

    from lib.adapters.bigquery_warehouse import BigQueryWarehouse
    from lib.adapters.pubsub_bus import PubSubBus
    from lib.adapters.secret_manager import SecretManagerSecrets

    if warehouse is None:
        client = bigquery.Client(project=settings.project, location=settings.bq_location)
        warehouse = BigQueryWarehouse(
            client,
            project=settings.project,
            location=settings.bq_location,
            kms_key_name=settings.bq_kms_key_name,
            clock=clock,
        )
    return Runtime(
        settings=settings,
        warehouse=warehouse,
        bus=PubSubBus(PublisherClient(), SubscriberClient(), settings.project, topology, clock),
        secrets=SecretManagerSecrets(secretmanager.SecretManagerServiceClient(), settings.project),
        clock=clock,
        topology=topology,
    )


_installed: Runtime | None = None


def setup_logging(settings: Settings, default_level: str = "INFO") -> None:
    """The one logging setup: ``CONVERGENCE_LOG_FORMAT`` (json in cloud, text locally) at
    ``CONVERGENCE_LOG_LEVEL`` (else ``default_level``).

    Raises:
        ValueError: an unknown log format.
    """
    from lib.observability import configure_logging, log_format

    fmt = log_format(settings.environ, settings.mode)
    level = settings.environ.get("CONVERGENCE_LOG_LEVEL") or default_level
    configure_logging(settings.project, level.upper(), fmt)


def install(rt: Runtime | None) -> None:
    """Make ``rt`` the runtime handlers in this process use (None to forget it)."""
    global _installed
    _installed = rt


def runtime() -> Runtime:
    """The installed runtime, or one built once from the environment."""
    global _installed
    if _installed is None:
        settings = Settings.from_env()
        setup_logging(settings)
        _installed = build_runtime(settings)
        if settings.mode == "local":  # a local functions-framework server: deliver as published
            _installed.bus.deliver_in_background()  # type: ignore[attr-defined]
    return _installed
