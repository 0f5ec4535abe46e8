"""Start and stop the local Google API emulators the cloud tests run against.

* BigQuery: PyPI ``bqemulator`` 1.4.0 in its own venv at ``.emulators/bqemulator-venv``
  (it pins an older sqlglot than ours). It starts offline once DuckDB's ``spatial`` and
  ``avro`` extensions are installed from their PyPI wheels into a DuckDB home directory
  that becomes the server's ``HOME``.
* Pub/Sub: Google's emulator shipped with the Google Cloud CLI (needs Java).

Both bind to 127.0.0.1 on free ports, wait for readiness with a timeout and raise
``EmulatorError`` (never skip) naming what is missing. Callers stop them with ``stop()``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EMULATORS_DIR = Path(os.environ.get("CONVERGENCE_EMULATORS_DIR", REPO / ".emulators"))
BQ_VENV = EMULATORS_DIR / "bqemulator-venv"
DUCKDB_HOME = EMULATORS_DIR / "duckdb-home"
DUCKDB_VERSION = "1.5.5"
BQ_REQUIREMENTS = (
    "bqemulator==1.4.0",
    f"duckdb=={DUCKDB_VERSION}",
    f"duckdb-extension-spatial=={DUCKDB_VERSION}",
    f"duckdb-extension-avro=={DUCKDB_VERSION}",
    "numpy",
)
READY_MARKER = BQ_VENV / ".convergence-ready"
START_TIMEOUT = 90.0

_INSTALL_EXTENSIONS = """
import glob, os, sys, duckdb
con = duckdb.connect()
pattern = os.path.join(sys.prefix, "lib", "python*", "site-packages",
                       "duckdb_extension_*", "extensions", "*", "*.duckdb_extension")
found = sorted(glob.glob(pattern))
if len(found) < 2:
    sys.exit(f"duckdb extension wheels not found under {pattern}")
for path in found:
    con.execute("INSTALL '" + path.replace("'", "''") + "'")
con.execute("LOAD spatial")
con.execute("LOAD avro")
"""


class EmulatorError(RuntimeError):
    """An emulator is missing or failed to start; the message says what to install or check."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Process:
    """A started server process with its log file; ``stop()`` ends its process group."""

    name: str
    popen: subprocess.Popen[bytes]
    log: Path
    info: dict[str, str] = field(default_factory=dict)

    def log_tail(self, lines: int = 30) -> str:
        """The last lines the process wrote."""
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate the process group, then kill it if it does not exit in time."""
        if self.popen.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait(timeout)


def spawn(
    name: str, argv: list[str], env: Mapping[str, str], log_dir: Path, cwd: Path = REPO
) -> Process:
    """Start ``argv`` in its own process group with output going to ``log_dir/name.log``."""
    log = log_dir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv, cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    return Process(name, popen, log)


def wait_http(process: Process, url: str, timeout: float = START_TIMEOUT) -> None:
    """Wait until ``url`` answers 2xx; raise ``EmulatorError`` with the log if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            process_error(process, f"exited with code {process.popen.returncode}")
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url, timeout=2) as response:
                if 200 <= response.status < 300:
                    return
        time.sleep(0.2)
    process.stop()
    process_error(process, f"did not answer {url} within {timeout:.0f}s")


def process_error(process: Process, what: str) -> None:
    """Raise ``EmulatorError`` for ``process`` with the tail of its log."""
    raise EmulatorError(f"{process.name} {what}. Log {process.log}:\n{process.log_tail()}")


# --- BigQuery (bqemulator) ------------------------------------------------------------


def ensure_bqemulator() -> Path:
    """Create the pinned bqemulator venv and DuckDB home once; fast when already present.

    Returns:
        The ``bqemulator`` executable.

    Raises:
        EmulatorError: the venv could not be built (pip output included).
    """
    executable = BQ_VENV / "bin" / "bqemulator"
    wanted = "\n".join(BQ_REQUIREMENTS)
    if executable.exists() and READY_MARKER.is_file() and READY_MARKER.read_text() == wanted:
        return executable
    EMULATORS_DIR.mkdir(parents=True, exist_ok=True)
    python = BQ_VENV / "bin" / "python"
    if not python.exists():
        _check([sys.executable, "-m", "venv", "--clear", str(BQ_VENV)], "create the venv")
    _check([str(python), "-m", "pip", "install", "-q", *BQ_REQUIREMENTS], "pip install")
    DUCKDB_HOME.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "HOME": str(DUCKDB_HOME)}
    _check([str(python), "-c", _INSTALL_EXTENSIONS], "install DuckDB extensions", env)
    READY_MARKER.write_text(wanted)
    return executable


def _check(argv: list[str], what: str, env: Mapping[str, str] | None = None) -> None:
    result = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise EmulatorError(
            f"bqemulator setup failed to {what} ({' '.join(argv[:4])} ...): "
            f"{(result.stderr or result.stdout)[-2000:]}\n"
            f"Delete {BQ_VENV} and retry; PyPI must be reachable the first time."
        )


def start_bqemulator(project: str, log_dir: Path) -> Process:
    """Start bqemulator (REST + gRPC) on free loopback ports; ``info['endpoint']`` is the URL.

    Raises:
        EmulatorError: it could not be installed or did not become healthy.
    """
    executable = ensure_bqemulator()
    rest, grpc = free_port(), free_port()
    argv = [
        str(executable), "start", "--rest-host", "127.0.0.1", "--rest-port", str(rest),
        "--grpc-host", "127.0.0.1", "--grpc-port", str(grpc), "--project", project,
        "--ephemeral", "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "HOME": str(DUCKDB_HOME)}
    process = spawn("bqemulator", argv, env, log_dir)
    endpoint = f"http://127.0.0.1:{rest}"
    wait_http(process, f"{endpoint}/healthz")
    process.info.update(endpoint=endpoint, project=project)
    return process


# --- Pub/Sub (Google Cloud CLI emulator) ------------------------------------------------


def find_pubsub_emulator() -> Path:
    """The Cloud CLI's ``cloud-pubsub-emulator`` launcher.

    Raises:
        EmulatorError: the CLI, its Pub/Sub emulator component or Java is missing.
    """
    gcloud = shutil.which("gcloud")
    if gcloud is None:
        raise EmulatorError(
            "the Google Cloud CLI (gcloud) is not on PATH; install google-cloud-cli and "
            "google-cloud-cli-pubsub-emulator to run the Pub/Sub tests"
        )
    sdk_root = Path(os.path.realpath(gcloud)).parent.parent
    launcher = sdk_root / "platform" / "pubsub-emulator" / "bin" / "cloud-pubsub-emulator"
    if not launcher.exists():
        raise EmulatorError(
            f"the Pub/Sub emulator is not installed in the Cloud CLI at {sdk_root} (looked "
            f"for {launcher}); install google-cloud-cli-pubsub-emulator or run "
            "`gcloud components install pubsub-emulator`"
        )
    if shutil.which("java") is None:
        raise EmulatorError("the Pub/Sub emulator needs Java on PATH (e.g. openjdk-17-jre)")
    return launcher


def start_pubsub_emulator(log_dir: Path) -> Process:
    """Start Google's Pub/Sub emulator on a free loopback port; ``info['host']`` is host:port.

    Raises:
        EmulatorError: it is missing or did not start.
    """
    launcher = find_pubsub_emulator()
    port = free_port()
    config_dir = tempfile.mkdtemp(prefix="cloudsdk-", dir=log_dir)
    env = {**os.environ, "CLOUDSDK_CONFIG": config_dir}
    argv = [str(launcher), "--host=127.0.0.1", f"--port={port}"]
    process = spawn("pubsub-emulator", argv, env, log_dir)
    wait_http(process, f"http://127.0.0.1:{port}/")
    process.info["host"] = f"127.0.0.1:{port}"
    return process
