"""The Cloud Trace exporter: where spans go in cloud mode (``lib/tracing.py`` picks it).

``opentelemetry-exporter-gcp-trace`` writes spans with the Cloud Trace v2 API under the
service's identity (``roles/cloudtrace.agent``, terraform/iam.tf); on Cloud Run the GCP
resource detector adds the service, revision, region and instance to every span. Both SDKs
are imported only when cloud mode builds its runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.export import SpanExporter


def cloud_trace_exporter(project: str | None, client: Any = None) -> SpanExporter:
    """A Cloud Trace span exporter for ``project``.

    Args:
        project: the project the spans are written to (None: the credentials' project).
        client: a ``TraceServiceClient`` (default: one from the ambient credentials).
    """
    from opentelemetry.exporter.cloud_trace import CloudTraceSpanExporter

    exporter: SpanExporter = CloudTraceSpanExporter(  # type: ignore[no-untyped-call]
        project_id=project or None, client=client
    )
    return exporter


def cloud_run_resource() -> Resource:
    """The Cloud Run resource of this instance, from the metadata server (empty elsewhere)."""
    from opentelemetry.resourcedetector.gcp_resource_detector import (
        GoogleCloudResourceDetector,
    )

    return GoogleCloudResourceDetector(raise_on_error=False).detect()
