import json
import logging

from lib.observability import CloudLoggingFormatter, current_traceparent, handler_span

PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def test_log_lines_have_cloud_loggings_shape_with_trace_and_labels():
    formatter = CloudLoggingFormatter(project="demo")
    record = logging.LogRecord("x", logging.WARNING, __file__, 1, "hello %s", ("world",), None)
    with handler_span("ingest.handle", PARENT, {"tenant_id": "acme", "run_id": "run-1"}):
        entry = json.loads(formatter.format(record))
        child = current_traceparent()
    assert entry["severity"] == "WARNING" and entry["message"] == "hello world"
    assert (
        entry["logging.googleapis.com/trace"]
        == "projects/demo/traces/0af7651916cd43dd8448eb211c80319c"
    )
    assert entry["logging.googleapis.com/labels"] == {"tenant_id": "acme", "run_id": "run-1"}
    assert len(entry["logging.googleapis.com/spanId"]) == 16
    assert child.split("-")[1] == "0af7651916cd43dd8448eb211c80319c"
    assert child.split("-")[2] != "b7ad6b7169203331"


def test_labels_do_not_leak_after_the_span():
    formatter = CloudLoggingFormatter()
    with handler_span("dq.handle", None, {"tenant_id": "acme"}):
        pass
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", (), None)
    assert json.loads(formatter.format(record))["logging.googleapis.com/labels"] == {}
