"""The demo with eight tenants: ``convergence demo --days 1`` on a widened copy of the configs.

    python benchmarks/demo_runs.py [--tenants 8] [--days 1]   # one timed run, one JSON line

The checkout measured (this one, or ``CONVERGENCE_BENCH_SOURCE`` for ``--baseline``) supplies
the configs: its tenant folders are copied, then cloned under new names (``acme`` → ``acme2``
…, every mention of the tenant id in its files renamed) until there are ``--tenants`` tenants.
The demo runs in a fresh process and home with the sandboxes, as a user runs it; the clock
covers the whole command. Afterwards every tenant's FOCUS silver and gold daily spend are
summarised (rows and the exact sum of BilledCost per tenant and provider) so the harness can
check that every run — and the checkout measured as *before* — wrote the same rows.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = Path(os.environ.get("CONVERGENCE_BENCH_SOURCE", HERE.parent))


def widened_configs(source: Path, target: Path, tenants: int) -> list[str]:
    """Copy ``source``'s configs into ``target`` with ``tenants`` tenants; their ids."""
    shutil.copytree(source, target)
    originals = sorted(
        p.name for p in target.iterdir() if p.is_dir() and not p.name.startswith(("_", "."))
    )
    originals = [name for name in originals if name != "metadata"]
    ids = list(originals)
    copy = 2
    while len(ids) < tenants:
        for name in originals:
            if len(ids) == tenants:
                break
            clone = f"{name}{copy}"
            _clone(target / name, target / clone, name, clone)
            ids.append(clone)
        copy += 1
    return ids


def _clone(folder: Path, to: Path, old: str, new: str) -> None:
    shutil.copytree(folder, to)
    word = re.compile(rf"\b{re.escape(old)}\b")
    for path in to.rglob("*"):
        if path.is_file():
            path.write_text(word.sub(new, path.read_text()))


def summary(database: Path, tenants: list[str]) -> dict[str, Any]:
    """Rows and exact BilledCost per tenant and provider in silver, and gold's totals."""
    import duckdb

    out: dict[str, Any] = {}
    with duckdb.connect(str(database), read_only=True) as con:
        for tenant in tenants:
            silver = con.execute(
                f'SELECT x_provider, COUNT(*), SUM(BilledCost) FROM "{tenant}_silver_cost"'
                ".focus_daily GROUP BY 1 ORDER BY 1"
            ).fetchall()
            out[tenant] = {p: [n, str(total)] for p, n, total in silver}
    return out


def run(tenants: int, days: int) -> dict[str, Any]:
    """One timed demo in a fresh home; its seconds, peak RSS and the silver summary."""
    with tempfile.TemporaryDirectory() as scratch:
        configs = Path(scratch) / "configs"
        ids = widened_configs(SOURCE / "configs", configs, tenants)
        home = Path(scratch) / "home"
        env = {
            **os.environ,
            "CONVERGENCE_HOME": str(home),
            "CONVERGENCE_CONFIG_DIR": str(configs),
            "CONVERGENCE_BENCH_SOURCE": str(SOURCE),
        }
        bootstrap = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); __import__('use_source').apply(); "
        )
        command = [
            sys.executable,
            "-c",
            bootstrap + "from lib.cli import main; sys.exit(main())",
            "demo",
            "--days",
            str(days),
            "--home",
            str(home),
        ]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=SOURCE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        output, _ = process.communicate()
        seconds = time.perf_counter() - started
        if process.returncode != 0:
            text = output.decode(errors="replace")
            raise SystemExit(f"demo failed ({process.returncode}): {text[-3000:]}")
        rss = resource_peak_children()
        return {
            "seconds": seconds,
            "peak_rss_mib": rss,
            "tenants": ids,
            "silver": summary(home / "convergence.duckdb", ids),
        }


def resource_peak_children() -> float:
    """Peak RSS of the largest child process waited for, in MiB."""
    import resource

    return round(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024, 1)


def main() -> None:
    """Run once; print the JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=8)
    parser.add_argument("--days", type=int, default=1)
    args = parser.parse_args()
    print(json.dumps(run(args.tenants, args.days)))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    main()
