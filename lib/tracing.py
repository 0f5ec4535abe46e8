"""Where spans go: one OpenTelemetry provider per process and the exporters the settings pick.

| exporter (``OTEL_TRACES_EXPORTER`` name) | installed by default when                     |
|------------------------------------------|-----------------------------------------------|
| Cloud Trace (``gcp_trace``)               | cloud mode                                    |
| OTLP over HTTP/protobuf (``otlp``)        | ``OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT`` is set |
| local span file (``file``)                | local mode: ``$CONVERGENCE_HOME/traces/spans.jsonl`` |
| ``console`` (stdout)                      | never (name it to get it)                     |

``OTEL_TRACES_EXPORTER`` (comma-separated; ``none``) replaces the defaults. The standard
variables keep their meaning: ``OTEL_SDK_DISABLED``, ``OTEL_SERVICE_NAME`` (default: the Cloud
Run service ``K_SERVICE``, else ``convergence``), ``OTEL_RESOURCE_ATTRIBUTES``,
``OTEL_TRACES_SAMPLER``/``_ARG`` (default ``parentbased_always_on``), and the OTLP exporter's
``OTEL_EXPORTER_OTLP_*`` headers, timeout and compression.

OTLP is spoken over HTTP/protobuf, the protocol the OpenTelemetry specification makes the
default: it passes HTTP proxies and load balancers in front of a collector, and its exporter
pulls in no second gRPC stack next to the Google clients'. ``OTEL_EXPORTER_OTLP_PROTOCOL=grpc``
is refused with that explanation rather than silently ignored.

Exporter SDKs are imported only when selected, at runtime construction, so importing a handler
stays cheap. An exporter that cannot be built (no credentials) is logged once and skipped:
tracing never stops a run. Provider HTTP calls are traced by the ``httpx`` instrumentation,
whose URLs are reduced to scheme, host and path.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export import SpanExporter

    from lib.settings import Settings
    from lib.span_file import SpanFileExporter

log = logging.getLogger(__name__)

EXPORTERS = ("gcp_trace", "otlp", "file", "console")
OTLP_PROTOCOL = "http/protobuf"
FLUSH_MILLIS = 5000


@dataclass
class _State:
    provider: TracerProvider | None = None
    installed: set[str] = field(default_factory=set)
    span_file: SpanFileExporter | None = None
    httpx_done: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock)


_state = _State()


def provider() -> TracerProvider:
    """The process's SDK tracer provider, installed globally on first use."""
    with _state.lock:
        if _state.provider is None:
            _install(TracerProvider(resource=_resource(dict(os.environ))))
        assert _state.provider is not None
        return _state.provider


def _install(new: TracerProvider) -> None:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):  # somebody installed one first: use it
        new = current
    else:
        trace.set_tracer_provider(new)
    _state.provider = new


def _resource(env: Mapping[str, str], detected: Resource | None = None) -> Resource:
    name = env.get("OTEL_SERVICE_NAME") or env.get("K_SERVICE") or "convergence"
    base = Resource.create({"service.name": name})  # + OTEL_RESOURCE_ATTRIBUTES
    return detected.merge(base) if detected is not None else base


def selected_exporters(settings: Settings) -> list[str]:
    """The exporter names ``settings`` (and their environment) ask for, in order.

    Raises:
        ValueError: ``OTEL_TRACES_EXPORTER`` names an unknown exporter, or OTLP is asked to
            speak another protocol than HTTP/protobuf.
    """
    env = settings.environ
    if env.get("OTEL_SDK_DISABLED", "").lower() == "true":
        return []
    otlp_endpoint = _otlp_endpoint(env)
    raw = env.get("OTEL_TRACES_EXPORTER", "").strip()
    if raw:
        names = [n.strip() for n in raw.split(",") if n.strip()]
        unknown = [n for n in names if n not in (*EXPORTERS, "none")]
        if unknown:
            raise ValueError(
                f"OTEL_TRACES_EXPORTER names {unknown}; write a comma-separated list of "
                f"{', '.join(EXPORTERS)} (or none)"
            )
        chosen = [n for n in dict.fromkeys(names) if n != "none"]
    else:
        chosen = ["gcp_trace" if settings.mode == "cloud" else "file"]
        if otlp_endpoint:
            chosen.append("otlp")
    if "otlp" in chosen:
        _check_otlp(env, otlp_endpoint)
    return chosen


def _otlp_endpoint(env: Mapping[str, str]) -> str | None:
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
    if traces:
        return traces
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    return f"{base.rstrip('/')}/v1/traces" if base else None


def _check_otlp(env: Mapping[str, str], endpoint: str | None) -> None:
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        protocol = env.get(name)
        if protocol and protocol != OTLP_PROTOCOL:
            raise ValueError(
                f"{name}={protocol!r}: Convergence exports OTLP over {OTLP_PROTOCOL} only "
                f"(point the endpoint at the collector's HTTP port, usually 4318, and unset "
                f"{name} or set it to {OTLP_PROTOCOL})"
            )
        if protocol:
            break
    if not endpoint:
        raise ValueError(
            "OTEL_TRACES_EXPORTER names otlp but no endpoint is set: set "
            "OTEL_EXPORTER_OTLP_ENDPOINT (e.g. http://127.0.0.1:4318)"
        )


def configure_tracing(settings: Settings) -> list[str]:
    """Install the exporters ``settings`` select (once each) and trace provider HTTP calls.

    In local mode the span file follows ``settings.home``. Idempotent; safe from any thread.

    Returns:
        The names of the exporters now installed.

    Raises:
        ValueError: the OTEL_* variables ask for something impossible (see
            :func:`selected_exporters`).
    """
    wanted = selected_exporters(settings)
    with _state.lock:
        if _state.provider is None:
            _install(TracerProvider(resource=_resource(settings.environ, _detected(settings))))
        for name in wanted:
            if name not in _state.installed:
                _add(name, settings)
        if _state.span_file is not None and settings.mode == "local":
            from lib.span_file import span_file

            _state.span_file.use(span_file(settings.home))
        return sorted(_state.installed)


def _detected(settings: Settings) -> Resource | None:
    """Cloud Run's resource (region, instance…), asked of the metadata server only there."""
    if settings.mode != "cloud" or not settings.environ.get("K_SERVICE"):
        return None
    try:
        from lib.adapters.cloud_trace import cloud_run_resource

        return cloud_run_resource()
    except Exception as exc:  # never let resource detection stop a handler
        log.warning("GCP resource detection failed (%s); spans carry no cloud resource", exc)
        return None


def _add(name: str, settings: Settings) -> None:
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    try:
        exporter = build_exporter(name, settings)
    except Exception as exc:  # no credentials, no package: say so once, keep running
        log.warning("traces are not exported to %s: %s: %s", name, type(exc).__name__, exc)
        _state.installed.add(name)
        return
    # The span file is written as spans end (a CLI exits right after its run); remote
    # exporters batch in the background and are flushed after each handler invocation.
    simple = name in ("file", "console")
    processor = SimpleSpanProcessor(exporter) if simple else BatchSpanProcessor(exporter)
    assert _state.provider is not None
    _state.provider.add_span_processor(processor)
    _state.installed.add(name)


def build_exporter(name: str, settings: Settings, client: Any = None) -> SpanExporter:
    """Build the exporter called ``name`` (its SDK imported now).

    Args:
        name: one of :data:`EXPORTERS`.
        settings: the project (Cloud Trace), the environment (OTLP endpoint).
        client: a ``TraceServiceClient`` for Cloud Trace (default: one from the ambient
            credentials).
    """
    if name == "gcp_trace":
        from lib.adapters.cloud_trace import cloud_trace_exporter

        return cloud_trace_exporter(settings.project, client)
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter(endpoint=_otlp_endpoint(settings.environ))
    if name == "console":
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        return ConsoleSpanExporter()
    from lib.span_file import SpanFileExporter, span_file

    if _state.span_file is None:
        _state.span_file = SpanFileExporter(span_file(settings.home))
    return _state.span_file


class _QuietTracer(trace.Tracer):
    """A tracer whose spans record an exception's type only: an HTTP transport error may quote
    the request header it refused (a secret), so no message or stack reaches a span."""

    def __init__(self, inner: trace.Tracer) -> None:
        self._inner = inner

    def start_span(self, *args: Any, **kwargs: Any) -> trace.Span:
        kwargs.update(record_exception=False, set_status_on_exception=False)
        return self._inner.start_span(*args, **kwargs)

    @contextlib.contextmanager
    def start_as_current_span(  # type: ignore[override]
        self, *args: Any, **kwargs: Any
    ) -> Iterator[trace.Span]:
        kwargs.update(record_exception=False, set_status_on_exception=False)
        with self._inner.start_as_current_span(*args, **kwargs) as span:
            try:
                yield span
            except Exception as exc:
                span.set_status(trace.Status(trace.StatusCode.ERROR, type(exc).__name__))
                raise


class _QuietTracerProvider(trace.TracerProvider):
    """Hands out :class:`_QuietTracer` s over the SDK provider (for the HTTP client spans)."""

    def __init__(self, inner: TracerProvider) -> None:
        self._inner = inner

    def get_tracer(self, *args: Any, **kwargs: Any) -> trace.Tracer:
        return _QuietTracer(self._inner.get_tracer(*args, **kwargs))


def instrument_httpx(request_hook: Callable[..., None], response_hook: Callable[..., None]) -> None:
    """Trace every ``httpx`` request from now on, calling the hooks on each span; once.

    The step meter's hooks are passed in by ``lib/step_telemetry.instrument_http``.
    """
    with _state.lock:
        if _state.httpx_done:
            return
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        try:
            HTTPXClientInstrumentor().instrument(
                tracer_provider=_QuietTracerProvider(provider()),
                request_hook=request_hook,
                response_hook=response_hook,
                skip_dep_check=True,
            )
        except Exception as exc:  # an instrumentation bug must not stop a run
            log.warning("provider HTTP calls are not traced: %s", exc)
        _state.httpx_done = True


def tracer() -> trace.Tracer:
    """The platform's tracer (the SDK provider is installed once)."""
    return provider().get_tracer("convergence")


def flush(timeout_millis: int = FLUSH_MILLIS) -> None:
    """Export buffered spans now (end of a handler invocation: Cloud Run may idle the CPU)."""
    if _state.provider is not None and _state.installed - {"file", "console"}:
        _state.provider.force_flush(timeout_millis)
