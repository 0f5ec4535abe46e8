"""A run is one trace: handler, step, warehouse and provider HTTP spans, exported in memory,
to the local span file, and (OTLP over HTTP) to a loopback collector."""

from __future__ import annotations

import datetime as dt
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from events.models import Window
from lib import metadata, tracing
from lib.runs import request_run
from lib.settings import Settings
from lib.span_file import read_spans, span_file
from lib.step_telemetry import trace_id_of

WINDOW = Window(start=dt.date(2026, 11, 18), end=dt.date(2026, 11, 19))


def run_openai(platform, tenant="acme"):
    event = request_run(platform.rt, tenant, "openai_costs", WINDOW)
    platform.drain()
    return event


def test_a_runs_spans_share_one_trace_in_memory_and_in_the_span_file(make_platform, spans):
    platform = make_platform()
    event = run_openai(platform)
    trace_id = trace_id_of(event.traceparent)
    finished = [s for s in spans.get_finished_spans() if f"{s.context.trace_id:032x}" == trace_id]
    names = [s.name for s in finished]

    assert "run.request" in names
    assert {"ingest.handle", "dq.handle", "transform.handle"} <= set(names)
    assert {"step ingest_costs", "step check_costs"} <= set(names)
    warehouse = [s for s in finished if s.name.startswith("warehouse.")]
    assert warehouse and all(s.attributes["db.system"] == "duckdb" for s in warehouse)
    writes = [s for s in warehouse if s.name == "warehouse.write"]
    assert any(s.attributes["db.rows"] > 0 for s in writes)
    http = [s for s in finished if s.kind.name == "CLIENT"]
    assert http, names
    for span in http:
        url = span.attributes.get("url.full") or span.attributes.get("http.url")
        assert url.startswith(platform.sandbox.base_url) and "?" not in url
    roots = [s for s in finished if s.parent is None]
    assert [s.name for s in roots] == ["run.request"]  # every other span descends from it

    # the step span carries the step's meter; the step record carries the same numbers
    by_id = {s.context.span_id: s for s in finished}

    def step_of(span):
        while span.parent is not None and not span.name.startswith("step "):
            span = by_id[span.parent.span_id]
        return span.name

    http_costs = [s for s in http if step_of(s) == "step ingest_costs"]
    assert {step_of(s) for s in http} == {"step ingest_costs", "step ingest_usage"}
    ingest = next(s for s in finished if s.name == "step ingest_costs")
    assert ingest.attributes["convergence.api_calls"] == len(http_costs)
    assert ingest.attributes["convergence.pages"] >= len(WINDOW.days())
    record = next(
        r
        for r in metadata.step_history(platform.rt.warehouse, "acme", event.pipeline_logging_id)
        if r["step_name"] == "ingest_costs" and r["status"] == "COMPLETE"
    )
    meta = record["metadata"]
    assert meta["api_calls"] == len(http_costs) and meta["pages"] >= 2
    assert meta["bytes_received"] > 0 and meta["warehouse_statements"] > 0
    assert meta["trace_id"] == trace_id

    on_file = list(read_spans(span_file(platform.rt.settings.home), trace_id))
    assert {r["span_id"] for r in on_file} == {f"{s.context.span_id:016x}" for s in finished}
    assert {r["name"] for r in on_file} == set(names)


def test_exporters_follow_the_mode_and_the_standard_variables(tmp_path):
    local = Settings.from_env({"CONVERGENCE_HOME": str(tmp_path)})
    assert tracing.selected_exporters(local) == ["file"]
    cloud = Settings.from_env({"CONVERGENCE_MODE": "cloud", "GOOGLE_CLOUD_PROJECT": "p"})
    assert tracing.selected_exporters(cloud) == ["gcp_trace"]
    otlp = {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"}
    assert tracing.selected_exporters(Settings.from_env(otlp)) == ["file", "otlp"]
    chosen = {"OTEL_TRACES_EXPORTER": "console,otlp", **otlp}
    assert tracing.selected_exporters(Settings.from_env(chosen)) == ["console", "otlp"]
    assert tracing.selected_exporters(Settings.from_env({"OTEL_TRACES_EXPORTER": "none"})) == []
    assert tracing.selected_exporters(Settings.from_env({"OTEL_SDK_DISABLED": "true"})) == []


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OTEL_TRACES_EXPORTER": "zipkin"}, "OTEL_TRACES_EXPORTER names ['zipkin']"),
        ({"OTEL_TRACES_EXPORTER": "otlp"}, "set OTEL_EXPORTER_OTLP_ENDPOINT"),
        (
            {"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"},
            "OTLP over http/protobuf only",
        ),
    ],
)
def test_impossible_otel_settings_are_refused_with_what_to_do(env, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        tracing.selected_exporters(Settings.from_env(env))


class _Collector(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Collector.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_otlp_spans_reach_a_collector_over_http_protobuf(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        endpoint = f"http://127.0.0.1:{server.server_port}"
        settings = Settings.from_env({"OTEL_EXPORTER_OTLP_ENDPOINT": endpoint})
        exporter = tracing.build_exporter("otlp", settings)
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import SimpleSpanProcessor

        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        with provider.get_tracer("t").start_as_current_span("run.request") as span:
            trace_id = span.get_span_context().trace_id
        provider.shutdown()
    finally:
        server.shutdown()
        server.server_close()
    path, content_type, body = _Collector.received[-1]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    request = ExportTraceServiceRequest.FromString(body)
    exported = [s for r in request.resource_spans for ss in r.scope_spans for s in ss.spans]
    assert [s.name for s in exported] == ["run.request"]
    assert exported[0].trace_id == trace_id.to_bytes(16, "big")


def test_the_span_file_rotates_instead_of_growing_forever(tmp_path):
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor

    from lib.span_file import SpanFileExporter

    path = tmp_path / "traces" / "spans.jsonl"
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(SpanFileExporter(path, max_bytes=600)))
    for i in range(10):
        with provider.get_tracer("t").start_as_current_span(f"s{i}"):
            pass
    assert (tmp_path / "traces" / "spans.1.jsonl").is_file()
    assert path.stat().st_size < 1200
    names = [r["name"] for r in read_spans(path)]
    assert names[-1] == "s9" and len(names) == len(set(names))
    assert all(json.loads(line) for line in path.read_text().splitlines())
