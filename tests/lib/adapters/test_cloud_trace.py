"""Cloud mode exports spans to Cloud Trace, in the settings' project."""

from __future__ import annotations

from lib import tracing
from lib.settings import Settings


def test_the_cloud_trace_exporter_is_built_for_the_project():
    from google.auth.credentials import AnonymousCredentials
    from google.cloud.trace_v2 import TraceServiceClient
    from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

    client = TraceServiceClient(credentials=AnonymousCredentials())
    settings = Settings.from_env({"CONVERGENCE_MODE": "cloud", "GOOGLE_CLOUD_PROJECT": "proj"})
    exporter = tracing.build_exporter("gcp_trace", settings, client=client)
    assert isinstance(exporter, CloudTraceSpanExporter) and exporter.project_id == "proj"
