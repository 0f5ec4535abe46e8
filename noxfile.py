"""Developer sessions. The README's two commands are ``nox -s demo`` and ``nox -s tests``."""

from __future__ import annotations

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True
nox.options.sessions = ["lint", "typecheck", "tests"]

PYTHON = "3.11"


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
def lint(session: nox.Session) -> None:
    """ruff: format check and lint."""
    session.install("ruff>=0.6")
    session.run("ruff", "format", "--check", ".")
    session.run("ruff", "check", ".")


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


@nox.session(python=PYTHON)
def bench(session: nox.Session) -> None:
    """Benchmarks vs dlt, Great Expectations and the floor; rewrites BENCHMARKS.md.

    ``nox -s bench -- --quick`` is a smoke run. dlt and GX get their own venvs under .nox/.
    Not part of ``tests``: benchmarks assert correctness, never time.
    """
    session.install("-e", ".", "polars")
    session.run("python", "benchmarks/harness.py", *session.posargs)
