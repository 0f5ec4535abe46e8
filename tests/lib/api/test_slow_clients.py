"""The API under the production server survives slow clients.

``functions-framework --target api`` runs the app under gunicorn, as the container does, here
with 8 threads (``THREADS=8``) and a 2 s body read timeout. Twelve clients send their headers
and half a body, then stall (more than there are threads); a normal request sent after them
must still be answered, and each stalled client gets its answer: 401 without a key (the body
is never waited for), 408 with a valid key (the body stopped arriving).
"""

from __future__ import annotations

import json
import os
import socket
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.lib.api import harness
from tests.support.emulators import Process, free_port, spawn, wait_http

pytestmark = pytest.mark.integration
THREADS = 8
STALLED = 12
HANG_GUARD_SECONDS = 60.0  # not a speed target: a request that never returns fails the test


@dataclass(frozen=True)
class Server:
    """A running API server and an active key of tenant acme."""

    url: str
    port: int
    key: str
    process: Process


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("slow")
    config_dir = harness.make_config(root)
    rt = harness.make_runtime(root / "home", config_dir)
    key = harness.onboard(rt).active["acme"]
    rt.close()  # the server process opens the DuckDB file itself
    port = free_port()
    env = {
        **os.environ,
        "PYTHONPATH": str(harness.REPO),
        "CONVERGENCE_MODE": "local",
        "CONVERGENCE_HOME": str(root / "home"),
        "CONVERGENCE_CONFIG_DIR": str(config_dir),
        "CONVERGENCE_API_BODY_TIMEOUT_SECONDS": "2",
        "THREADS": str(THREADS),
        "WORKERS": "1",
    }
    argv = [
        str(Path(sys.executable).with_name("functions-framework")),
        "--target=api", f"--source={harness.REPO / 'handlers/api.py'}",
        "--host=127.0.0.1", f"--port={port}",
    ]  # fmt: skip
    process = spawn("api-gunicorn", argv, env, root)
    try:
        wait_http(process, f"http://127.0.0.1:{port}/healthz")
        yield Server(f"http://127.0.0.1:{port}", port, key, process)
    finally:
        process.stop()


def stall(port: int, key: str | None) -> socket.socket:
    """A client that sends its headers and half its body, then nothing."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=HANG_GUARD_SECONDS)
    auth = f"Authorization: Bearer {key}\r\n" if key else ""
    sock.sendall(
        (
            "POST /pipelines/run/openai_costs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/json\r\nContent-Length: 100\r\n{auth}\r\n"
            '{"start": "2025-'
        ).encode()
    )
    return sock


def status_of(sock: socket.socket) -> int:
    """The status code the server answered on ``sock``."""
    head = b""
    while b"\r\n" not in head:
        chunk = sock.recv(1024)
        if not chunk:
            break
        head += chunk
    sock.close()
    return int(head.split(b" ", 2)[1])


def get(server: Server, path: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        server.url + path, headers={"Authorization": f"Bearer {server.key}"}
    )
    with urllib.request.urlopen(request, timeout=HANG_GUARD_SECONDS) as response:
        return response.status, json.loads(response.read())


@pytest.mark.parametrize(("with_key", "stalled_status"), [(False, 401), (True, 408)])
def test_stalled_bodies_do_not_hang_the_api(server, with_key, stalled_status):
    stalled = [stall(server.port, server.key if with_key else None) for _ in range(STALLED)]
    try:
        status, body = get(server, "/pipelines/runs")
        assert (status, body) == (200, {"runs": []})
        assert [status_of(sock) for sock in stalled] == [stalled_status] * STALLED
    finally:
        for sock in stalled:
            sock.close()
    assert server.process.popen.poll() is None  # the server is still up


def test_health_endpoints_on_the_production_server(server):
    assert get(server, "/healthz") == (200, {"status": "ok"})
    assert get(server, "/readyz") == (
        200,
        {"status": "ready", "checks": {"bus": "ok", "warehouse": "ok"}},
    )
