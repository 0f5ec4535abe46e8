"""Render the harness's results as BENCHMARKS.md (numbers, ratios, targets, versions)."""

from __future__ import annotations

import statistics
from typing import Any

TARGETS = """\
| target (issue 13) | reached |
|---|---|
| REST ingest ≥ 10× dlt rows/s | {rest_vs_dlt} |
| REST ingest ≤ 1.5× the floor | {rest_vs_floor} |
| REST peak RSS flat from 100k to 1M (connector; pipeline in brackets) | {rest_rss} |
| DQ ≤ 1.2× the hand-written query | {dq_vs_hand} |
| DQ ≥ 3× faster than GX | {dq_vs_gx} |
| GCP export → silver ≤ 2× bare CTAS | {gcp_vs_ctas} |
| GCP spill ≤ the data size | {gcp_spill} |
| cold tenant-day ≤ 0.8 s | {cold} |
| `import handlers.ingest` ≤ 0.25 s | {imports} |
| 8-tenant demo ≥ 1.7× faster than before | {demo} |

The pipeline's RSS adds DuckDB's buffer pool, which the engine caps at its `memory_limit`
(half the machine's memory by default in `DuckDBWarehouse`, `CONVERGENCE_DUCKDB_MEMORY_LIMIT`)
and spills beyond; the connector holds one page.
"""


def _median(series: Any) -> float:
    return float(statistics.median(series.seconds()))


def _by_name(series: list[Any]) -> dict[str, Any]:
    return {s.name: s for s in series}


def _table(rows: int | None, series: list[Any], unit_rows: bool) -> list[str]:
    head = "| run | min s | median s | max s | rows/s (median) | peak RSS MiB |"
    lines = [head, "|---|---:|---:|---:|---:|---:|"]
    for s in series:
        low, mid, high = s.stats()
        rate = f"{rows / mid:,.0f}" if unit_rows and rows else "—"
        lines.append(f"| {s.name} | {low:.2f} | {mid:.2f} | {high:.2f} | {rate} | {s.peak():.0f} |")
    return lines


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}×" if b else "—"


def rest_section(results: dict[int, list[Any]]) -> tuple[list[str], dict[str, str]]:
    before = any(s.name == "before" for series in results.values() for s in series)
    lines = [
        "## REST ingest: OpenAI costs, one day, merge into DuckDB",
        "",
        "`benchmarks/page_server.py` precomputes the pages (1,000 results each, OpenAI's cursor",
        "paging) and serves them on 127.0.0.1; every client reads the same bytes.",
        "",
        "- **ours**: `fetch_batches` (httpx, `json.loads(parse_float=Decimal)`, vectorised",
        "  shaping) → `stamp` → `DuckDBWarehouse.write` merge on (bucket start, project, line",
        "  item): one streaming INSERT into staging, then delete + insert in one transaction.",
        "- **connector**: the same without DuckDB (batches consumed and dropped): the Python",
        "  side's time and memory.",
        "- **floor**: httpx GET + `json.loads` of every page, plus ONE insert of the same rows",
        "  (already Arrow) into DuckDB; nothing else — no client can be faster.",
        "- **dlt**: `rest_api` source (cursor paginator, `data` selector) + a yield map for the",
        "  bucket columns + `write_disposition=merge` on the same keys into DuckDB (jsonl",
        "  loader files); it reads amounts as floats.",
        *(["- **before**: the checkout given as `--baseline`, same runner."] if before else []),
        "",
        "Checked on every run: rows loaded = rows served, distinct keys = rows, and the exact",
        "sum of amounts (dlt to 6 places).",
        "",
    ]
    ratios: dict[str, list[str]] = {"dlt": [], "floor": [], "rss": []}
    for rows, series in results.items():
        named = _by_name(series)
        ours = _median(named["ours"])
        lines += [f"### {rows:,} rows", "", *_table(rows, series, True), ""]
        dlt = _ratio(_median(named["dlt"]), ours)
        floor = _ratio(ours, _median(named["floor"]))
        line = f"ours is **{dlt} faster than dlt** and takes **{floor} the floor's time**"
        if "before" in named:
            line += f"; {_ratio(_median(named['before']), ours)} faster than before"
        lines += [line + ".", ""]
        ratios["dlt"].append(f"{dlt} at {rows:,}")
        ratios["floor"].append(f"{floor} at {rows:,}")
        ratios["rss"].append(
            f"{named['connector'].peak():.0f} MiB (pipeline {named['ours'].peak():.0f}) at {rows:,}"
        )
    return lines, {k: ", ".join(v) for k, v in ratios.items()}


def shaping_section(result: dict[str, Any]) -> list[str]:
    lines = [
        "## Page shaping alone: pyarrow vs polars",
        "",
        f"{result['rows']:,} OpenAI cost rows, pages already parsed (`parse_float=Decimal`).",
        "",
        f"- pyarrow (`lib.providers.pages.shape_page`): {result['pyarrow_seconds']:.3f} s",
    ]
    if "parse_text_seconds" in result:
        decimal, text = result["parse_decimal_seconds"], result["parse_text_seconds"]
        verdict = (
            "no slower than text"
            if decimal <= text * 1.05
            else f"{decimal / text:.2f}× the text parse, kept because an Arrow cast of text"
            " would add its own pass and lose the number/string distinction of STRING columns"
        )
        lines += [
            f"- parsing the same pages: `json.loads(parse_float=Decimal)` {decimal:.3f} s,",
            f"  `parse_float=str` (text for an Arrow cast) {text:.3f} s: Decimal is {verdict}.",
            "  Arrow converts the Decimals to decimal128 exactly or raises; a decimal *string*",
            "  (Anthropic's amounts) is cast from text by Arrow, also exact-or-raise.",
        ]
    if "polars_seconds" not in result:
        return [*lines, "- polars: not installed in this run", ""]
    ratio = result["polars_seconds"] / result["pyarrow_seconds"]
    exact = result["polars_refuses_loss"]
    lines += [
        f"- polars {result['polars_version']} (`pl.DataFrame` of the same columns, amounts as",
        f"  `pl.Decimal(38, 30)`): {result['polars_seconds']:.3f} s — {ratio:.2f}× pyarrow's time",
        "- casting `0.30000000000000004` into `pl.Decimal(38, 9)`: polars "
        + ("raises, as pyarrow does" if exact else "rounds it **silently**; pyarrow raises"),
        "",
    ]
    reasons = []
    if ratio > 1:
        reasons.append("polars is slower")
    if not exact:
        reasons.append("its decimal cast loses digits without an error (money must be exact)")
    verdict = "pyarrow stays" if reasons else "polars qualifies"
    because = f" because {' and '.join(reasons)}" if reasons else ""
    lines += [
        f"Decision: **{verdict}**{because}. DESIGN.md names polars for shaping only if it is",
        "at least as fast with exact decimals; this project does not depend on polars.",
        "",
    ]
    return lines


def dq_section(results: dict[int, list[Any]]) -> tuple[list[str], dict[str, str]]:
    lines = [
        "## DQ: ten expectations on one table",
        "",
        "`benchmarks/dq_runs.py` builds `main.costs` with violations planted at known rows;",
        "every checker must count exactly those (GX: nine — it has no regex on DuckDB).",
        "",
        "- **ours**: `plan_dq` → `DuckDBWarehouse.query` (BigQuery SQL transpiled) → `evaluate`,",
        "  planning and transpiling included, in a fresh process.",
        "- **hand**: one hand-written DuckDB query: an aggregate with FILTERs plus a",
        "  `GROUP BY key HAVING COUNT(*) > 1` per uniqueness check.",
        "- **gx**: Great Expectations SQL datasource on the same file (SQLAlchemy and",
        "  duckdb-engine).",
        "",
    ]
    ratios: dict[str, list[str]] = {"hand": [], "gx": []}
    for rows, series in results.items():
        named = _by_name(series)
        ours = _median(named["ours"])
        lines += [f"### {rows:,} rows", "", *_table(rows, series, True), ""]
        hand = _ratio(ours, _median(named["hand"]))
        gx = _ratio(_median(named["gx"]), ours)
        plan = statistics.median(float(r.get("plan_seconds", 0)) for r in named["ours"].runs)
        line = (
            f"ours takes **{hand} the hand-written query's time** (of its {ours:.2f} s, "
            f"{plan:.2f} s plan and transpile the SQL in a fresh process) and is "
            f"**{gx} faster than GX**"
        )
        if "before" in named:
            line += f"; {_ratio(_median(named['before']), ours)} faster than before"
        lines += [line + ".", ""]
        ratios["hand"].append(f"{hand} at {rows:,}")
        ratios["gx"].append(f"{gx} at {rows:,}")
    return lines, {k: ", ".join(v) for k, v in ratios.items()}


def control_section(control: dict[str, Any], cold: list[Any]) -> tuple[list[str], dict[str, str]]:
    lines = [
        "## Control plane and a cold tenant-day",
        "",
        "- bus hop: `to_message` + Eventarc wrapping + two `from_cloudevent` (progress display",
        "  and handler), distinct events; µs per hop: median over the runs of each run's",
        "  median batch of 200 (min: the fastest batch).",
        "- imports: cumulative `python -X importtime` of the statement, median of 5.",
        "",
        "| measure | " + " | ".join(control) + " |",
        "|---|" + "---:|" * len(control),
    ]
    hops = [
        f"{c['hop']['us_per_hop']:.0f} µs (min {c['hop']['min']:.0f})" for c in control.values()
    ]
    lines.append("| bus hop | " + " | ".join(hops) + " |")
    names = {
        "handler_module": "`import handlers.ingest`",
        "handler_first_event": "+ what its first event imports",
        "cli_help": "`convergence --help` imports",
    }
    for key, label in names.items():
        cells = [f"{c['imports'][key] / 1000:.0f} ms" for c in control.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Cold tenant-day: `convergence run openai_costs --tenant acme` for one day against the",
        "sandbox, a fresh process and home each time (provisioning, ingest, DQ, silver).",
        "",
        *_table(None, cold, False),
        "",
    ]
    ours = _by_name(cold)["ours"]
    handler = control["ours"]["imports"]["handler_module"] / 1e6
    return lines, {"cold": f"{_median(ours):.2f} s median", "imports": f"{handler:.3f} s"}


def gcp_section(results: dict[int, list[Any]]) -> tuple[list[str], dict[str, str]]:
    lines = [
        "## Google Cloud billing export → raw → FOCUS silver",
        "",
        "`benchmarks/gcp_runs.py` builds one standard-export table from the sandbox's export",
        "generator (labelled projects, credits, corrections, tax and late rows), shifted copies",
        "up to the size; every run works on its own copy of the file with the warehouse's",
        "default memory limit and threads.",
        "",
        "- **ours**: the `gcp_billing` steps without the bus: the ingest query merged into",
        "  `raw_gcp.billing_export` on `row_key`, then `focus_gcp.sql` for every usage day into",
        "  `silver_cost.focus_daily` (replace the days), both through `DuckDBWarehouse.write`.",
        "- **ctas**: `CREATE TABLE … AS SELECT *` of the export: moving the rows once.",
        "- spill: peak size of DuckDB's temp directory during each write (polled every 20 ms).",
        "",
        "Checked on every run: rows in raw and silver = export rows; silver's exact",
        "`SUM(BilledCost)` = the export's exact `cost + credits`.",
        "",
    ]
    ratios: dict[str, list[str]] = {"ctas": [], "spill": []}
    for rows, series in results.items():
        named = _by_name(series)
        ours = named["ours"]
        mid = _median(ours)
        ingest = statistics.median(float(r["ingest_seconds"]) for r in ours.runs)
        silver = statistics.median(float(r["silver_seconds"]) for r in ours.runs)
        spill_in = max(float(r["ingest_spill_mib"]) for r in ours.runs)
        spill_out = max(float(r["silver_spill_mib"]) for r in ours.runs)
        data = float(ours.runs[0]["export_mib"])
        ratio = _ratio(mid, _median(named["ctas"]))
        lines += [
            f"### {rows:,} rows",
            "",
            *_table(rows, series, True),
            "",
            f"ours takes **{ratio} a bare CTAS** (median ingest {ingest:.2f} s + silver "
            f"{silver:.2f} s); peak spill {spill_in:.0f} MiB in ingest, {spill_out:.0f} MiB in "
            f"silver, for an export file of {data:.0f} MiB.",
            "",
        ]
        ratios["ctas"].append(f"{ratio} at {rows:,}")
        ratios["spill"].append(f"{max(spill_in, spill_out):.0f} MiB of {data:.0f} MiB at {rows:,}")
    return lines, {k: ", ".join(v) for k, v in ratios.items()}


def demo_section(series: list[Any]) -> tuple[list[str], str]:
    named = _by_name(series)
    tenants = len(named["ours"].runs[0]["tenants"])
    lines = [
        f"## `convergence demo --days 1`, {tenants} tenants",
        "",
        "`benchmarks/demo_runs.py` copies the checkout's configs and clones its tenant folders",
        f"(`acme` → `acme2` …) up to {tenants} tenants, then runs the whole demo command in a",
        "fresh home (sandboxes, every provider pipeline, gold). Checked: every run writes the",
        "same FOCUS silver rows and exact BilledCost per tenant and provider as the other runs",
        "of its checkout; ours and *before* write as many OpenAI and Anthropic silver rows per",
        "tenant. Not compared: sums across checkouts (the sandbox's generators changed since),",
        "GCP (the newer demo writes the export as of now, late rows missing; the baseline every",
        "row), AWS and Azure (newer than the baseline). The newer demo also does more per",
        "tenant (FOCUS file sources, pricing, cost intelligence): *before* runs less work.",
        "",
        *_table(None, series, False),
        "",
    ]
    if "before" not in named:
        return lines, f"{_median(named['ours']):.1f} s median (no baseline measured)"
    speedup = _ratio(_median(named["before"]), _median(named["ours"]))
    if _median(named["ours"]) <= _median(named["before"]):
        lines += [f"ours is **{speedup} faster than before**.", ""]
    else:
        slower = _ratio(_median(named["ours"]), _median(named["before"]))
        lines += [f"ours takes **{slower} before's time** (it does more; see above).", ""]
    return lines, f"{speedup} ({_median(named['ours']):.1f} s vs {_median(named['before']):.1f} s)"


def render(facts: dict[str, Any], results: dict[str, Any], versions: dict[str, list[str]]) -> str:
    """The whole BENCHMARKS.md."""
    rest, rest_ratios = rest_section(results["rest"])
    dq, dq_ratios = dq_section(results["dq"])
    control, control_ratios = control_section(results["control"], results["cold"])
    gcp, gcp_ratios = gcp_section(results["gcp"])
    demo, demo_ratio = demo_section(results["demo"])
    targets = TARGETS.format(
        rest_vs_dlt=rest_ratios["dlt"],
        rest_vs_floor=rest_ratios["floor"],
        rest_rss=rest_ratios["rss"],
        dq_vs_hand=dq_ratios["hand"],
        dq_vs_gx=dq_ratios["gx"],
        cold=control_ratios["cold"],
        imports=control_ratios["imports"],
        gcp_vs_ctas=gcp_ratios["ctas"],
        gcp_spill=gcp_ratios["spill"],
        demo=demo_ratio,
    )
    quick = " (quick mode)" if facts["quick"] else ""
    load = ", ".join(f"{x:.1f}" for x in facts["load_before"])
    load_after = ", ".join(f"{x:.1f}" for x in facts["load_after"])
    lines = [
        "# Benchmarks",
        "",
        "Rerun with `nox -s bench` (`nox -s bench -- --quick` for a smoke run; `-- --help` for",
        "sizes, repetitions and `--baseline DIR` to measure another checkout as *before*).",
        "Generated by `benchmarks/harness.py`; every number below comes from the run it",
        "describes. Runs alternate between competitors, each in its own process; correctness",
        "is asserted (rows, keys, sums, planted violations), time never is.",
        "",
        "## Machine and run",
        "",
        f"- {facts['date']}; {facts['cpu']}, {facts['cores']} cores, "
        f"{facts['memory_gib']} GiB; {facts['os']}; Python {facts['python']}",
        f"- {facts['reps']} repetition(s) per competitor{quick}",
        f"- load average before {load}, after {load_after} (the machine is shared: medians"
        " and ratios of alternating runs are the figures to read)",
        "",
        "## Targets",
        "",
        targets,
        *rest,
        *shaping_section(results["shaping"]),
        *dq,
        *control,
        *gcp,
        *demo,
        *facts.get("notes", []),
        "## Package versions",
        "",
    ]
    for name, packages in versions.items():
        lines += [f"<details><summary>{name} venv</summary>", "", *packages, "", "</details>", ""]
    return "\n".join(lines)
