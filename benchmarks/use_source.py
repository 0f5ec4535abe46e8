"""Make ``import lib`` load the checkout in ``CONVERGENCE_BENCH_SOURCE`` (``--baseline``).

The benchmark venv has this project installed in editable mode, and the editable finder
answers before ``sys.path``; a run measuring another checkout removes that finder first.
"""

from __future__ import annotations

import os
import sys


def apply() -> None:
    """Import the project from ``CONVERGENCE_BENCH_SOURCE`` if it is set."""
    source = os.environ.get("CONVERGENCE_BENCH_SOURCE")
    if not source:
        return
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in str(f.__module__)]
    sys.path.insert(0, source)
