"""Where a run came from: trigger, config version, code version, worker, trace — and per step.

``pipeline_runs.run_metadata`` of a run's REQUESTED record holds::

    {"trigger": {"type": "api", "by": "api-key:cvg_acme_1a2b3c4d5e6f"},
     "config_version": {"sha256": "…", "files": {"acme/openai/…/openai_costs.yml": "…"},
                        "git_commit": "…" | null, "git_dirty": false | null},
     "code_version": "0.1.0+3f9a1c2b4d5e",
     "worker": {"service": "convergence-api", "revision": "convergence-api-00012-xyz",
                "host": "…", "pid": 7},
     "trace_id": "…32 hex…", "traceparent": "00-…-…-01"}

``config_version.sha256`` hashes every config file the run uses (pipeline, sources, rules,
schemas, SQL, and the library template the tenant's file extends — each by its path under the
config root and its content), so two runs with the
same hash ran the same configuration whatever git says. ``git_commit`` is the commit of the
config folder's repository when it is one (``git`` on PATH), else ``CONVERGENCE_BUILD_COMMIT``
(the image's commit, set at build time); ``code_version`` is the package version plus that
commit. Later transitions (recover, replay) carry their own ``trigger``.

Each step record's metadata adds :func:`step_metadata`: the step's config files, its meter
(API calls, pages, bytes, statements), the worker and the delivering message.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import socket
import subprocess
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lib.config.loader import Pipeline

PACKAGE = "convergence"
GIT_TIMEOUT_SECONDS = 2.0


@dataclass(frozen=True)
class Trigger:
    """What asked for a run (``api``, ``cli``, ``cloud-scheduler``, ``demo``, ``recover``,
    ``replay`` …) and on whose behalf (an API key id, an OS user, a scheduler job)."""

    type: str
    by: str


def local_user() -> str:
    """The OS user running this process (``unknown`` when it has none)."""
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry (containers running as a bare uid)
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def default_trigger(trigger_by: str) -> Trigger:
    """The trigger of a run asked for from this process (a CLI user, a local tool)."""
    return Trigger(type=trigger_by, by=f"user:{local_user()}@{socket.gethostname()}")


@cache
def _git(folder: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", "-C", folder, *args],
            capture_output=True,
            text=True,
            timeout=GIT_TIMEOUT_SECONDS,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def git_commit(folder: Path) -> str | None:
    """The commit ``folder``'s repository is at, or ``CONVERGENCE_BUILD_COMMIT``, or None."""
    commit = _git(str(folder.resolve()), "rev-parse", "HEAD")
    return commit or os.environ.get("CONVERGENCE_BUILD_COMMIT") or None


def _git_dirty(folder: Path) -> bool | None:
    status = _git(str(folder.resolve()), "status", "--porcelain", "--", ".")
    return None if status is None else bool(status)


@cache
def code_version() -> str:
    """The package version plus the commit the code was built or checked out from."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        base = version(PACKAGE)
    except PackageNotFoundError:
        base = "0+unknown"
    commit = git_commit(Path(__file__).parent)
    return f"{base}+{commit[:12]}" if commit else base


def worker() -> dict[str, Any]:
    """The process doing the work: Cloud Run service and revision, host, pid."""
    out: dict[str, Any] = {"host": socket.gethostname(), "pid": os.getpid()}
    for key, name in (("service", "K_SERVICE"), ("revision", "K_REVISION")):
        if os.environ.get(name):
            out[key] = os.environ[name]
    return out


def step_files(pipeline: Pipeline, index: int) -> list[Path]:
    """The config files step ``index`` of ``pipeline`` reads (missing ones are skipped)."""
    from lib.config.pipeline import DqStep, IngestStep

    step = pipeline.config.steps[index]
    field = f"steps[{index}]"
    if isinstance(step, IngestStep):
        wanted = [(step.source, "source"), (step.destination.schema_file, "destination.schema")]
    elif isinstance(step, DqStep):
        wanted = [(step.rules, "rules")]
    else:
        wanted = [(step.sql, "sql"), (step.destination.schema_file, "destination.schema")]
    from lib.errors import ConfigError

    out = []
    for relative, name in wanted:
        if relative is None:  # no rules file / a schema derived or inferred
            continue
        with contextlib.suppress(ConfigError):  # validation reports it; we record what exists
            out.append(pipeline.path(relative, f"{field}.{name}"))
    return out


def run_files(pipeline: Pipeline) -> list[Path]:
    """Every config file a run of ``pipeline`` uses: the pipeline file, the template it
    extends, and its steps' files."""
    files = [pipeline.file.resolve()]
    if pipeline.template is not None:
        files.append(pipeline.template.resolve())
    for index in range(len(pipeline.config.steps)):
        files += step_files(pipeline, index)
    return sorted(set(files))


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root.resolve()))
    except ValueError:
        return str(path)


def config_version(pipeline: Pipeline, config_dir: Path) -> dict[str, Any]:
    """The hash of every config file the run uses (and the config repository's commit)."""
    digest = hashlib.sha256()
    files: dict[str, str] = {}
    for path in run_files(pipeline):
        name = _relative(path, config_dir)
        content = hashlib.sha256(path.read_bytes()).hexdigest()
        files[name] = content[:16]
        digest.update(f"{name}\0{content}\n".encode())
    return {
        "sha256": digest.hexdigest(),
        "files": files,
        "git_commit": git_commit(config_dir),
        "git_dirty": _git_dirty(config_dir),
    }


def run_metadata(
    pipeline: Pipeline,
    config_dir: Path,
    trigger: Trigger,
    *,
    trace_id: str | None,
    traceparent: str | None,
) -> dict[str, Any]:
    """The provenance a run's REQUESTED record carries (module docstring)."""
    return {
        "trigger": asdict(trigger),
        "config_version": config_version(pipeline, config_dir),
        "code_version": code_version(),
        "worker": worker(),
        "trace_id": trace_id,
        "traceparent": traceparent,
    }


def step_metadata(
    pipeline: Pipeline,
    config_dir: Path,
    index: int,
    meter: dict[str, int] | None,
    *,
    delivery: str | None,
    trace_id: str | None,
) -> dict[str, Any]:
    """What a step record adds to the step's outcome: files, meter, worker, delivery, trace."""
    out: dict[str, Any] = {
        "config_files": [_relative(p, config_dir) for p in step_files(pipeline, index)],
        "worker": worker(),
        "delivery": delivery,
        "trace_id": trace_id,
    }
    if meter is not None:
        out.update(meter)
    return out
