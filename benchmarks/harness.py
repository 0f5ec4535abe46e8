"""``nox -s bench``: this project side by side with dlt, Great Expectations and the floor.

Everything runs in one process tree on this machine, each measured run in its own process,
repetitions alternating between the competitors (ours, reference, ours, reference …) so load
drifts hit them alike. Benchmarks assert correctness — same rows, keys and sums, the same
planted DQ violations — never time; they print min/median/max, ratios and peak RSS and rewrite
``BENCHMARKS.md``.

    python benchmarks/harness.py                  # full sizes (REST 100k, 1M; DQ 1M, 10M; GCP 1M)
    python benchmarks/harness.py --quick          # a smoke run: small sizes, one repetition
    python benchmarks/harness.py --baseline DIR   # also measure another checkout ("before")

dlt and Great Expectations get their own venvs under ``.nox/`` (created on first use, pinned
below), so neither shares a package with this project.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import pickle
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
NOX = REPO / ".nox"
DLT = ("dlt[duckdb]==1.31.0", "pyarrow")
GX = ("great_expectations==1.24.1", "duckdb-engine", "duckdb", "sqlalchemy<2.1")
# GX 1.24 closes its connection before reading results; see gx_dq._buffer_results. SQLAlchemy
# 2.1 changed result handling further, so the reference runs on the 2.0 line GX is tested with.
sys.path.insert(0, str(HERE))

from page_server import expected_sum  # noqa: E402


@dataclass
class Series:
    """Repeated runs of one competitor at one size."""

    name: str
    runs: list[dict[str, Any]] = field(default_factory=list)

    def seconds(self) -> list[float]:
        return [float(r["seconds"]) for r in self.runs]

    def stats(self) -> tuple[float, float, float]:
        values = self.seconds()
        return min(values), statistics.median(values), max(values)

    def peak(self) -> float:
        return max(float(r.get("peak_rss_mib", 0)) for r in self.runs)


def venv(name: str, packages: Sequence[str]) -> Path:
    """``.nox/bench-<name>``'s python, created and filled on first use."""
    home = NOX / f"bench-{name}"
    python = home / "bin" / "python"
    marker = home / "bench-packages.txt"
    if not marker.exists() or marker.read_text().split("\n") != list(packages):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(home)], check=True)
        pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
        subprocess.run([*pip, *packages], check=True)
        marker.write_text("\n".join(packages))
    return python


def run_json(command: Sequence[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run one measured process; its last stdout line is its JSON result."""
    out = subprocess.run(
        list(command),
        capture_output=True,
        text=True,
        cwd=REPO,
        env={**os.environ, **(env or {})},
    )
    if out.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def alternate(reps: int, competitors: dict[str, Callable[[], dict[str, Any]]]) -> list[Series]:
    """``reps`` rounds; each round runs every competitor once, the order rotating."""
    series = {name: Series(name) for name in competitors}
    names = list(competitors)
    for rep in range(reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            series[name].runs.append(competitors[name]())
            print(f"  {name:<12} {series[name].runs[-1]['seconds']:.2f}s", flush=True)
    return list(series.values())


# --- REST ingest ---------------------------------------------------------------------------


def start_page_server(rows: int) -> tuple[subprocess.Popen[str], str]:
    """The precomputed-page server for ``rows`` rows, started; returns it and its URL."""
    server = subprocess.Popen(
        [sys.executable, str(HERE / "page_server.py"), "--rows", str(rows)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    line = server.stdout.readline().split()
    if line[:1] != ["port"]:
        server.kill()
        raise RuntimeError("page server did not start")
    return server, f"http://127.0.0.1:{line[1]}"


def check_ingest(name: str, rows: int, run: dict[str, Any]) -> None:
    """Every client loads every row once with the exact total (dlt: floats, 6 places)."""
    want = expected_sum(rows)
    got = Decimal(run["sum"])
    exact = got == want if name != "dlt" else round(got, 6) == round(want, 6)
    keys = rows if name == "connector" else run["keys"]  # the connector keeps no rows
    if not (run["loaded"] == keys == rows and exact):
        raise AssertionError(f"{name} loaded {run} but the server sent {rows} rows, sum {want}")


REST_BEFORE: dict[str, Any] = {}
"""Whether the baseline could run the REST runner (``ok``) and, if not, ``why``."""


def rest(sizes: Sequence[int], reps: int, baseline: Path | None) -> dict[int, list[Series]]:
    """Ours vs dlt vs the floor (and ``before``), same server, per size."""
    dlt = venv("dlt", DLT)
    results = {}
    for rows in sizes:
        print(f"REST ingest, {rows:,} rows", flush=True)
        server, url = start_page_server(rows)
        try:
            runner = [sys.executable, str(HERE / "ingest_runs.py")]
            competitors = {
                "ours": partial(run_json, [*runner, "ours", "--url", url]),
                "connector": partial(run_json, [*runner, "connector", "--url", url]),
                "floor": partial(run_json, [*runner, "floor", "--url", url]),
                "dlt": partial(run_json, [str(dlt), str(HERE / "dlt_ingest.py"), "--url", url]),
            }
            if baseline and REST_BEFORE.get("ok", True):
                env = {"CONVERGENCE_BENCH_SOURCE": str(baseline)}
                before = partial(run_json, [*runner, "ours", "--url", url], env)
                try:  # the runner drives this checkout's API; an older one may lack it
                    before()
                    REST_BEFORE["ok"] = True
                    competitors["before"] = before
                except RuntimeError as exc:
                    REST_BEFORE["ok"] = False
                    REST_BEFORE["why"] = str(exc).strip().splitlines()[-1]
                    print(f"  before: not measured ({REST_BEFORE['why']})", flush=True)
            series = alternate(reps, competitors)
        finally:
            server.terminate()
            server.wait()
        for s in series:
            for run in s.runs:
                check_ingest(s.name, rows, run)
        results[rows] = series
    return results


# --- DQ ------------------------------------------------------------------------------------


def dq_table(rows: int) -> tuple[Path, dict[str, Any]]:
    """The DQ table of ``rows`` rows (built once, kept under .nox/bench-data) and its plants."""
    path = NOX / "bench-data" / f"dq-{rows}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    command = [sys.executable, str(HERE / "dq_runs.py"), "build", "--rows", str(rows)]
    if path.exists():
        command.append("--plan-only")
    planted = run_json([*command, "--path", str(path)])
    return path, planted


DQ_MEASURES = ("row_count", "not_null", "between", "unique", "in_set", "regex", "compound_unique")


def check_dq(name: str, planted: dict[str, Any], run: dict[str, Any]) -> None:
    """Every checker finds exactly the planted violations (GX: no regex on DuckDB)."""
    for measure in DQ_MEASURES:
        if name == "gx" and measure == "regex" and run[measure] is None:
            continue
        if run[measure] != planted[measure]:
            raise AssertionError(f"{name}: {measure} = {run[measure]}, planted {planted[measure]}")
    if name != "gx" and Decimal(run["min"]) != -1:
        raise AssertionError(f"{name}: min {run['min']}, planted -1")


def dq(sizes: Sequence[int], reps: int, baseline: Path | None) -> dict[int, list[Series]]:
    """Ours vs one hand-written query vs GX (and ``before``), same file, per size."""
    gx = venv("gx", GX)
    results = {}
    for rows in sizes:
        print(f"DQ, {rows:,} rows, 10 expectations", flush=True)
        path, planted = dq_table(rows)
        runner = [sys.executable, str(HERE / "dq_runs.py")]
        competitors = {
            "ours": partial(run_json, [*runner, "ours", "--path", str(path)]),
            "hand": partial(run_json, [*runner, "hand", "--path", str(path)]),
            "gx": partial(run_json, [str(gx), str(HERE / "gx_dq.py"), "--path", str(path)]),
        }
        if baseline:
            env = {"CONVERGENCE_BENCH_SOURCE": str(baseline)}
            competitors["before"] = partial(run_json, [*runner, "ours", "--path", str(path)], env)
        series = alternate(reps, competitors)
        for s in series:
            for run in s.runs:
                check_dq(s.name, planted, run)
        sums = {Decimal(r["sum"]) for s in series if s.name != "gx" for r in s.runs}
        gx_sums = {round(Decimal(r["sum"]), 2) for s in series if s.name == "gx" for r in s.runs}
        if len(sums) != 1 or gx_sums != {round(next(iter(sums)), 2)}:
            raise AssertionError(f"sums differ: {sums} vs GX {gx_sums}")
        results[rows] = series
    return results


# --- GCP billing export → raw → silver ----------------------------------------------------


def gcp_export(rows: int) -> tuple[Path, dict[str, Any]]:
    """The export of ``rows`` rows (built once, kept under .nox/bench-data) and its facts."""
    path = NOX / "bench-data" / f"gcp-{rows}.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    runner = [sys.executable, str(HERE / "gcp_runs.py")]
    if path.exists():
        return path, run_json([*runner, "facts", "--path", str(path)])
    return path, run_json([*runner, "build", "--rows", str(rows), "--path", str(path)])


def check_gcp(name: str, export: dict[str, Any], run: dict[str, Any]) -> None:
    """Every export row lands in raw (and, for ours, in silver with the exact net total)."""
    rows = export["rows"]
    ok = run["raw_rows"] == rows
    if name == "ours":
        ok = ok and run["silver_rows"] == rows and Decimal(run["net"]) == Decimal(export["net"])
    if not ok:
        raise AssertionError(f"gcp {name}: {run} but the export holds {export}")


def gcp(sizes: Sequence[int], reps: int) -> dict[int, list[Series]]:
    """Export → raw → silver (ours) vs a bare CTAS of the export, per size."""
    results = {}
    for rows in sizes:
        print(f"GCP export, {rows:,} rows", flush=True)
        path, export = gcp_export(rows)
        runner = [sys.executable, str(HERE / "gcp_runs.py")]
        competitors = {
            "ours": partial(run_json, [*runner, "ours", "--path", str(path)]),
            "ctas": partial(run_json, [*runner, "ctas", "--path", str(path)]),
        }
        series = alternate(reps, competitors)
        for s in series:
            for run in s.runs:
                check_gcp(s.name, export, run)
        results[rows] = series
    return results


# --- 8-tenant demo -------------------------------------------------------------------------


def demo(reps: int, tenants: int, baseline: Path | None) -> list[Series]:
    """``convergence demo --days 1`` with ``tenants`` tenants, ours (and ``before``)."""
    print(f"demo, {tenants} tenants, 1 day", flush=True)
    runner = [sys.executable, str(HERE / "demo_runs.py"), "--tenants", str(tenants)]
    competitors = {"ours": partial(run_json, runner)}
    if baseline:
        env = {"CONVERGENCE_BENCH_SOURCE": str(baseline)}
        competitors["before"] = partial(run_json, runner, env)
    series = alternate(reps, competitors)
    check_demo(series)
    return series


COMPARED = ("openai", "anthropic")
"""Providers whose silver row counts ours and before must agree on. Not ``gcp``: the newer
demo writes the export as of its clock's now (late rows still missing), the baseline every
row; AWS and Azure are newer than the baseline. Sums are not compared across checkouts: the
sandbox's generators changed since the baseline (lib/sandbox/data.py, world.py)."""


def check_demo(series: list[Series]) -> None:
    """Every run of a checkout writes the same silver rows and exact sums per tenant and
    provider; ours and before write the same number of :data:`COMPARED` rows per tenant."""
    named = _named(series)
    for s in series:
        first = s.runs[0]["silver"]
        if any(run["silver"] != first for run in s.runs):
            raise AssertionError(f"demo {s.name}: runs wrote different silver rows")
        if not all(first.get(t) for t in s.runs[0]["tenants"]):
            raise AssertionError(f"demo {s.name}: a tenant has no silver rows: {first}")
    if "before" not in named:
        return
    ours, before = named["ours"].runs[0]["silver"], named["before"].runs[0]["silver"]
    for tenant in named["before"].runs[0]["tenants"]:
        for provider in COMPARED:
            got = ours.get(tenant, {}).get(provider)
            if got is None or got[0] != before[tenant][provider][0]:
                raise AssertionError(
                    f"demo: {tenant}/{provider} ours {got}, before {before[tenant][provider]}"
                )


def _named(series: list[Series]) -> dict[str, Series]:
    return {s.name: s for s in series}


# --- control plane and cold run ------------------------------------------------------------


def control(baseline: Path | None, reps: int) -> dict[str, dict[str, Any]]:
    """Bus hop (``reps`` alternating runs) and import times, ours (and ``before``)."""
    runner = [sys.executable, str(HERE / "control_runs.py")]
    sources = {"ours": REPO, **({"before": baseline} if baseline else {})}
    hops: dict[str, list[dict[str, Any]]] = {name: [] for name in sources}
    for _ in range(reps):
        for name, source in sources.items():
            env = {"CONVERGENCE_BENCH_SOURCE": str(source)}
            hops[name].append(run_json([*runner, "hop"], env))
    out = {}
    for name, source in sources.items():
        env = {"CONVERGENCE_BENCH_SOURCE": str(source)}
        hop = {
            "us_per_hop": statistics.median(h["us_per_hop"] for h in hops[name]),
            "min": min(h["min"] for h in hops[name]),
        }
        out[name] = {"hop": hop, "imports": run_json([*runner, "imports"], env)}
        print(f"  control {name}: {out[name]}", flush=True)
    return out


def cold_run(source: Path, url: str) -> dict[str, Any]:
    """One ``convergence run openai_costs`` for one day, in a fresh process and home."""
    with tempfile.TemporaryDirectory() as home:
        env = {
            **os.environ,
            "CONVERGENCE_HOME": home,
            "CONVERGENCE_CONFIG_DIR": str(source / "configs"),
            "CONVERGENCE_OPENAI_BASE_URL": url,
            "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": "sk-sandbox-acme",
            "CONVERGENCE_BENCH_SOURCE": str(source),
        }
        bootstrap = (
            f"import sys; sys.path.insert(0, {str(HERE)!r}); __import__('use_source').apply(); "
        )
        command = [
            sys.executable,
            "-c",
            bootstrap + "from lib.cli import main; sys.exit(main())",
            "run",
            "openai_costs",
            "--tenant",
            "acme",
            "--start",
            "2026-11-01",
            "--end",
            "2026-11-01",
        ]
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=source, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        _, status, usage = os.wait4(process.pid, 0)
        seconds = time.perf_counter() - started
        output = (process.stdout.read() if process.stdout else b"").decode()
        # the run's last status: "COMPLETE window …" in older checkouts, the timeline's
        # "│ run │ COMPLETE │" row since
        complete = "COMPLETE window" in output or re.search(r"│ run\s+│ COMPLETE\s+│", output)
        if status != 0 or not complete:
            raise AssertionError(f"cold run failed ({status}): {output[-2000:]}")
    return {"seconds": seconds, "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def cold(reps: int, baseline: Path | None) -> list[Series]:
    """Cold tenant-days against the sandbox, ours (and ``before``) alternating."""
    print("cold tenant-day", flush=True)
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "lib.sandbox.server", "--port", "0", "--page-size", "1000"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sandbox.stdout is not None
        url = sandbox.stdout.readline().split()[3]
        competitors = {"ours": partial(cold_run, REPO, url)}
        if baseline:
            competitors["before"] = partial(cold_run, baseline, url)
        return alternate(reps, competitors)
    finally:
        sandbox.terminate()
        sandbox.wait()


def shaping(rows: int) -> dict[str, Any]:
    """Page shaping alone, pyarrow vs polars (exact decimals)."""
    result = run_json([sys.executable, str(HERE / "ingest_runs.py"), "shape", "--rows", str(rows)])
    print(f"  shaping: {result}", flush=True)
    return result


# --- report --------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Run the benchmarks and rewrite BENCHMARKS.md."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, one repetition")
    parser.add_argument("--reps", type=int, help="repetitions per competitor (default 3)")
    parser.add_argument("--rest-rows", help="comma-separated REST sizes")
    parser.add_argument("--dq-rows", help="comma-separated DQ sizes")
    parser.add_argument("--gcp-rows", help="comma-separated GCP export sizes")
    parser.add_argument("--demo-tenants", type=int, default=8, help="tenants of the demo run")
    parser.add_argument("--baseline", type=Path, help="another checkout to measure as 'before'")
    parser.add_argument("--out", type=Path, default=REPO / "BENCHMARKS.md")
    parser.add_argument(
        "--resume", action="store_true", help="keep the sections a failed run finished"
    )
    args = parser.parse_args(argv)
    reps = args.reps or (1 if args.quick else 3)
    rest_rows = _sizes(args.rest_rows, (10_000,) if args.quick else (100_000, 1_000_000))
    dq_rows = _sizes(args.dq_rows, (100_000,) if args.quick else (1_000_000, 10_000_000))
    gcp_rows = _sizes(args.gcp_rows, (100_000,) if args.quick else (1_000_000,))
    facts = machine(reps, args.quick)
    baseline = args.baseline.resolve() if args.baseline else None
    sections: dict[str, Callable[[], Any]] = {
        "rest": lambda: rest(rest_rows, reps, baseline),
        "shaping": lambda: shaping(rest_rows[-1]),
        "dq": lambda: dq(dq_rows, reps, baseline),
        "control": lambda: control(baseline, reps),
        "cold": lambda: cold(max(reps, 3), baseline),
        "gcp": lambda: gcp(gcp_rows, reps),
        "demo": lambda: demo(reps, args.demo_tenants, baseline),
    }
    partial_file = NOX / "bench-partial.pkl"
    results: dict[str, Any] = {}
    if args.resume and partial_file.exists():
        facts, results = pickle.loads(partial_file.read_bytes())  # noqa: S301 (ours)
        print(f"resuming after: {', '.join(results)}", flush=True)
    for name, section in sections.items():
        if name not in results:
            results[name] = section()
            facts["rest_before"] = dict(REST_BEFORE) if name == "rest" else facts.get("rest_before")
            partial_file.write_bytes(pickle.dumps((facts, results)))
    facts["load_after"] = os.getloadavg()
    rest_before = facts.pop("rest_before", None) or {}
    if rest_before.get("ok") is False:
        facts["notes"] = [
            "## Not measured",
            "",
            f"- REST ingest *before*: the baseline cannot run `benchmarks/ingest_runs.py`,"
            f" which drives this checkout's API: `{rest_before['why']}`.",
            "",
        ]
    # Kept so the report can be rendered again without rerunning (report.render(*load)).
    (NOX / "bench-results.pkl").write_bytes(pickle.dumps((facts, results, versions())))
    from report import render

    text = render(facts, results, versions())
    args.out.write_text(text)
    print(text)


def _sizes(text: str | None, default: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(x) for x in text.split(",")) if text else default


def machine(reps: int, quick: bool) -> dict[str, Any]:
    """Facts about this machine and run."""
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = next(
        line.split()[1]
        for line in Path("/proc/meminfo").read_text().splitlines()
        if line.startswith("MemTotal")
    )
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(int(memory) / 1024 / 1024, 1),
        "os": platform.platform(),
        "python": platform.python_version(),
        "reps": reps,
        "quick": quick,
        "load_before": os.getloadavg(),
    }


def versions() -> dict[str, list[str]]:
    """Every package of every venv the benchmark used."""
    out = {}
    pythons = {"project": Path(sys.executable)}
    pythons.update({name: NOX / f"bench-{name}" / "bin" / "python" for name in ("dlt", "gx")})
    for name, python in pythons.items():
        listed = subprocess.run(
            [str(python), "-m", "pip", "list", "--format=freeze", "--disable-pip-version-check"],
            capture_output=True,
            text=True,
        )
        out[name] = sorted(listed.stdout.split())
    return out


if __name__ == "__main__":
    main()
