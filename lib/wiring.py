"""The one place that picks adapters: ``mode: local | cloud`` → a Runtime of four ports.

Handlers call :func:`runtime` (built once per process from the environment). Everything else
opens one with :func:`open_runtime` (closed on exit), or, for what only the embedded default
can do (deliver the in-process bus until idle, inspect its journal), :func:`open_local_runtime`,
whose :class:`LocalRuntime` types its bus as the :class:`~lib.adapters.local_bus.LocalBus`.
The CLI and tests :func:`install` a local runtime so the bus delivers to handlers sharing the
caller's warehouse.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from events.topology import Topology, load_topology
from lib.clock import FixedClock, SystemClock
from lib.ports import Clock, EventBus, Secrets, Warehouse
from lib.settings import Settings

if TYPE_CHECKING:
    from lib.adapters.local_bus import LocalBus


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
        from lib.step_telemetry import instrument_http
        from lib.traced_warehouse import traced

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
        self.bus.close()


@dataclass
class LocalRuntime(Runtime):
    """The embedded default: the bus is the in-process one, whose deliveries the caller drives."""

    bus: LocalBus


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

    clock = clock or (FixedClock(settings.fixed_now) if settings.fixed_now else SystemClock())
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
    return LocalRuntime(
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
    from google.cloud import secretmanager  # noqa: TID251
    from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient  # noqa: TID251

    from lib.adapters.bigquery_warehouse import BigQueryWarehouse, bigquery_client
    from lib.adapters.env_secrets import EnvSecrets
    from lib.adapters.pubsub_bus import PubSubBus
    from lib.adapters.secret_manager import SecretManagerSecrets

    if warehouse is None:
        warehouse = BigQueryWarehouse(
            bigquery_client(settings.project, settings.bq_location, settings.bigquery_endpoint),
            project=settings.project,
            location=settings.bq_location,
            kms_key_name=settings.bq_kms_key_name,
            clock=clock,
            retry_deadline=settings.bq_retry_deadline_seconds,
        )
    secrets: Secrets
    if settings.secrets_source == "env":
        secrets = EnvSecrets(settings.environ)
    else:
        secrets = SecretManagerSecrets(secretmanager.SecretManagerServiceClient(), settings.project)
    return Runtime(
        settings=settings,
        warehouse=warehouse,
        bus=PubSubBus(PublisherClient(), SubscriberClient(), settings.project, topology, clock),
        secrets=secrets,
        clock=clock,
        topology=topology,
    )


@contextmanager
def open_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    handlers: Mapping[str, Callable[[Any], object]] | None = None,
    warehouse: Warehouse | None = None,
) -> Iterator[Runtime]:
    """The runtime ``settings`` describe, closed when the block ends.

    Raises:
        ValueError: as :func:`build_runtime`.
    """
    rt = build_runtime(settings, clock=clock, handlers=handlers, warehouse=warehouse)
    try:
        yield rt
    finally:
        rt.close()


@contextmanager
def open_local_runtime(
    settings: Settings,
    *,
    clock: Clock | None = None,
    handlers: Mapping[str, Callable[[Any], object]] | None = None,
    warehouse: Warehouse | None = None,
    backoff_scale: float | None = None,
) -> Iterator[LocalRuntime]:
    """The embedded runtime, installed for the handlers it delivers to, closed on exit.

    Raises:
        ValueError: ``settings`` are for cloud mode (the operation needs the local bus).
    """
    if settings.mode != "local":
        raise ValueError(
            "this operation drives the embedded bus; it needs CONVERGENCE_MODE=local "
            f"(the settings say {settings.mode!r})"
        )
    rt = build_runtime(
        settings, clock=clock, handlers=handlers, warehouse=warehouse, backoff_scale=backoff_scale
    )
    assert isinstance(rt, LocalRuntime)
    install(rt)
    try:
        yield rt
    finally:
        install(None)
        rt.close()


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
        if isinstance(_installed, LocalRuntime):  # a local server: deliver as published
            _installed.bus.deliver_in_background()
    return _installed
