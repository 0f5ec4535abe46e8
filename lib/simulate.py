"""``convergence simulate``: weeks of daily operation in seconds, checked against the truth.

The acceptance test of day-2 truth (DESIGN.md §10). A fixed clock advances day by day; the
provider sandboxes answer as real providers do over time (:mod:`lib.sandbox.world`:
preliminary answers that settle, line items that disappear, sub-cent amounts, documented
nulls) and the Google billing export fills up as Google's does (rows hours to weeks late,
corrections and credits weeks after the usage). Every pipeline with a ``schedule:`` fires at
its cron times through the same trigger message Cloud Scheduler publishes, and the in-process
bus delivers everything to the real handlers, on the embedded warehouse.

After every simulated day the simulator checks, against a truth computed independently of the
pipelines (straight from what the providers served):

* **gold equals the truth**, exactly, for every day and provider (``daily_spend``) and month
  (``monthly_spend``) — exact decimals, stricter than "to the cent";
* **silver equals raw's newest answer** (row count and BilledCost per day and provider);
* **no duplicates** in raw (each destination's keys) or silver (``x_source_row_key``);
* **every run completed**;
* **the bill matches the usage**: the sandbox bills by the price catalog, so cost
  reconciliation flags nothing and its billed totals equal gold's, exactly; each budget
  threshold is announced once (the ledger holds every crossing once).

FOCUS exports (AWS, Azure) are re-delivered before each of their runs, as the providers do:
the current and the previous billing period, whole, with the last days still preliminary
(lib/sandbox/focus_exports.py); their truth is read from the delivered files themselves.

It prints one line per day and stops at the first violation, naming the day, table, key and
both values (:class:`Violation`). The same seed gives the same output, byte for byte.
"""

from __future__ import annotations

import datetime as dt
import decimal
import json
import shutil
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from lib import metadata
from lib.clock import FixedClock
from lib.config.focus_files import FocusFilesSourceConfig
from lib.config.loader import Pipeline, load_pipeline_file, pipeline_files, tenants
from lib.config.pipeline import IngestStep
from lib.config.source import AnySource, BigQueryExportSourceConfig, RestSourceConfig
from lib.ports import TableRef
from lib.sql import table_sql
from lib.states import RunStatus
from lib.wiring import LocalRuntime

__all__ = ["FAULTS", "Simulation", "SimulationSpec", "Violation", "run_simulation"]

REPO_CONFIGS = Path(__file__).resolve().parents[1] / "configs"
DEFAULT_START = dt.date(2026, 9, 1)
FAULTS = ("rate_limit", "server_error", "duplicates", "outage")
"""Fault modes:

* ``rate_limit``, ``server_error`` — every scheduled job's first provider request is refused
  (429 / 500) and retried;
* ``duplicates`` — every event is published twice and delivered on two workers at once;
* ``outage`` — on every :data:`OUTAGE_EVERY`-th day the REST providers answer nothing but 500s:
  the runs exhaust their retries and dead-letter; the next morning, before the scheduled jobs,
  the operator replays the dead letters (``convergence replay``) and they complete.
"""
OUTAGE_EVERY = 9
PROVIDERS = ("openai", "anthropic", "gcp", "aws", "azure")
_ZERO = Decimal(0)
EXACT = decimal.Context(prec=80, traps=[decimal.Inexact, decimal.InvalidOperation])
"""Truth arithmetic: wide enough that no sum is ever rounded (and it would raise if it were)."""


class Violation(AssertionError):
    """An invariant broke: which day, which table, which key, and both values."""

    def __init__(self, day: dt.date, table: str, key: str, expected: object, got: object) -> None:
        self.day, self.table, self.key, self.expected, self.got = day, table, key, expected, got
        super().__init__(f"day {day}: {table} [{key}] expected {expected} but found {got}")


@dataclass(frozen=True)
class SimulationSpec:
    """What to simulate.

    Attributes:
        days: simulated days of operation.
        seed: every random choice of the world derives from it.
        tenants: how many tenants (acme and globex from configs/, then copies of acme).
        faults: fault modes from :data:`FAULTS` switched on every day.
        start: the first simulated day.
        config_dir: the configs whose tenants are copied (default: the repository's).
    """

    days: int = 60
    seed: int = 1
    tenants: int = 2
    faults: tuple[str, ...] = ()
    start: dt.date = DEFAULT_START
    config_dir: Path = REPO_CONFIGS

    def __post_init__(self) -> None:
        unknown = sorted(set(self.faults) - set(FAULTS))
        if unknown:
            raise ValueError(f"unknown fault mode(s) {unknown}: choose from {', '.join(FAULTS)}")
        if not 1 <= self.days <= 730 or not 1 <= self.tenants <= 50:
            raise ValueError("days must be 1..730 and tenants 1..50")


@dataclass
class DayReport:
    """One simulated day, as printed."""

    day: dt.date
    runs: int = 0
    completed: int = 0
    late_rows: int = 0
    gold: dict[str, Decimal] = field(default_factory=dict)

    def line(self) -> str:
        """The day's line of the report."""
        totals = "  ".join(f"{p}={self.gold.get(p, _ZERO):>12.2f}" for p in PROVIDERS)
        return (
            f"{self.day}  runs {self.completed:>2}/{self.runs:<2}  late export rows "
            f"{self.late_rows:>3}  gold month-to-date {totals}  ok"
        )


# --- the world's truth, independent of the pipelines -----------------------------------------


class Truth:
    """What the providers served, summed per (tenant, provider, day) with exact decimals."""

    def __init__(self, world: Any, sources: dict[tuple[str, str], Any], sandbox: Any) -> None:
        self._world = world
        self._sources = sources
        self._sandbox = sandbox
        self._cache: dict[tuple[Any, ...], Decimal] = {}

    def rest(self, tenant: str, provider: str, day: dt.date) -> Decimal | None:
        """The provider's total for ``day`` as it answered the last fetch of that day."""
        as_of = self._world.served.get((provider, tenant, day))
        if as_of is None:
            return None
        key = (provider, tenant, day, as_of)
        if key not in self._cache:
            with decimal.localcontext(EXACT):
                self._cache[key] = self._fetch(tenant, provider, day, as_of)
        return self._cache[key]

    def _fetch(self, tenant: str, provider: str, day: dt.date, as_of: dt.datetime) -> Decimal:
        from lib.providers.rest import first_params
        from lib.sandbox import anthropic, openai
        from lib.sandbox.common import Context
        from lib.sandbox.faults import Faults

        source: RestSourceConfig = self._sources[(tenant, provider)]
        params = first_params(source, day)
        query = {k: params.get_list(k) for k in params}
        ctx = Context(tenant, 10**9, self._sandbox.scale, Faults(), self._world.at(as_of))
        module = openai if provider == "openai" else anthropic
        page = module.ROUTES[source.endpoint](query, ctx)
        body = json.loads(json.dumps(page), parse_float=Decimal)
        results = [r for bucket in body["data"] for r in bucket["results"]]
        if provider == "openai":
            return sum((Decimal(r["amount"]["value"]) for r in results), _ZERO)
        return sum((Decimal(r["amount"]) for r in results), _ZERO) / 100

    def gcp(self, rows: Sequence[dict[str, Any]], cut: dt.datetime) -> Decimal:
        """Net cost (cost + credits) of export rows exported at or before ``cut``."""
        with decimal.localcontext(EXACT):
            return self._net(rows, cut)

    @staticmethod
    def _net(rows: Sequence[dict[str, Any]], cut: dt.datetime) -> Decimal:
        total = _ZERO
        for row in rows:
            if row["export_time"] <= cut:
                total += Decimal(repr(row["cost"]))
                total += sum((Decimal(repr(c["amount"])) for c in row["credits"]), _ZERO)
        return total


# --- the simulation ---------------------------------------------------------------------------


@dataclass
class Simulation:
    """A running simulation: runtime, sandbox, world and what has been served so far."""

    spec: SimulationSpec
    rt: LocalRuntime
    clock: FixedClock
    sandbox: Any
    world: Any
    pipelines: list[Pipeline]
    truth: Truth
    exports: dict[str, tuple[BigQueryExportSourceConfig, dict[dt.date, list[dict[str, Any]]]]]
    synced_to: dt.datetime
    gcp_cut: dict[str, dt.datetime] = field(default_factory=dict)

    @property
    def tenant_ids(self) -> list[str]:
        """The simulated tenants, sorted."""
        return sorted({p.tenant_id for p in self.pipelines})

    # --- one day -------------------------------------------------------------------------

    def outage(self, day: dt.date) -> bool:
        """Whether the REST providers are down all of ``day``."""
        offset = (day - self.spec.start).days
        return "outage" in self.spec.faults and offset % OUTAGE_EVERY == OUTAGE_EVERY // 2

    def run_day(self, day: dt.date) -> DayReport:
        """Fire every scheduled job of ``day`` in time order, then check every invariant."""
        report = DayReport(day)
        self.replay_dead_letters(day)
        for moment, pipelines in self.job_groups(day):
            self.clock.at = moment
            report.late_rows += self.sync_export(moment)
            for pipeline in pipelines:
                self.deliver_focus_exports(pipeline, moment)
            self.apply_faults()
            self.fire(pipelines)
            for pipeline in pipelines:
                if pipeline.tenant_id in self.exports and self.reads_export(pipeline):
                    self.gcp_cut[pipeline.tenant_id] = moment
            report.runs += len(pipelines)
        self.sandbox.faults.clear()
        report.completed = self.check_runs(day, report.runs)
        self.check(day, report)
        return report

    def jobs(self, day: dt.date) -> list[tuple[dt.datetime, Pipeline]]:
        """(fire time, pipeline) of every scheduled job on ``day``, in order."""
        from zoneinfo import ZoneInfo

        from cronsim import CronSim

        out = []
        for pipeline in self.pipelines:
            schedule = pipeline.config.schedule
            if schedule is None or not pipeline.config.enabled:
                continue
            zone = ZoneInfo(schedule.time_zone)
            start = dt.datetime.combine(day, dt.time(), dt.UTC) - dt.timedelta(seconds=1)
            for local in CronSim(schedule.cron, start.astimezone(zone)):
                moment = local.astimezone(dt.UTC)
                if moment.date() != day:
                    break
                out.append((moment, pipeline))
        return sorted(out, key=lambda job: (job[0], job[1].tenant_id, job[1].config.pipeline_id))

    def job_groups(self, day: dt.date) -> list[tuple[dt.datetime, list[Pipeline]]]:
        """The day's jobs grouped by fire time: jobs due at the same moment (every tenant's
        copy of a schedule) fire together, as Cloud Scheduler would start them.

        Fault modes that refuse "each job's first request" keep one job at a time, so every
        job meets its fault (concurrent jobs would share one refusal).
        """
        groups: list[tuple[dt.datetime, list[Pipeline]]] = []
        together = not {"rate_limit", "server_error"} & set(self.spec.faults)
        for moment, pipeline in self.jobs(day):
            if together and groups and groups[-1][0] == moment:
                groups[-1][1].append(pipeline)
            else:
                groups.append((moment, [pipeline]))
        return groups

    def reads_export(self, pipeline: Pipeline) -> bool:
        """Whether the pipeline ingests the tenant's billing export."""
        return any(isinstance(s, BigQueryExportSourceConfig) for s in _sources(pipeline))

    def focus_sources(self, pipeline: Pipeline) -> list[FocusFilesSourceConfig]:
        """The FOCUS file sources a pipeline ingests."""
        return [s for s in _sources(pipeline) if isinstance(s, FocusFilesSourceConfig)]

    def deliver_focus_exports(self, pipeline: Pipeline, now: dt.datetime) -> None:
        """Re-deliver the current and previous billing period of each FOCUS export, as of
        ``now`` (the provider overwrites a period's files whenever it restates it)."""
        from lib.sandbox.focus_exports import write_source

        for source in self.focus_sources(pipeline):
            last = now.date() - dt.timedelta(days=1)
            write_source(self.rt.settings, pipeline.tenant_id, source, last, as_of=now)

    def fire(self, pipelines: Sequence[Pipeline]) -> None:
        """Publish the pipelines' Cloud Scheduler triggers and deliver until idle (on two
        workers when several jobs or duplicate deliveries run at once)."""
        from lib.scheduler import trigger_event

        for pipeline in pipelines:
            self.rt.bus.publish(trigger_event(pipeline))
        workers = 2 if len(pipelines) > 1 or "duplicates" in self.spec.faults else 1
        self.rt.bus.run_until_idle(workers=workers)

    def apply_faults(self) -> None:
        """Switch the day's fault modes on for the next job's fetches."""
        if "rate_limit" in self.spec.faults:
            self.sandbox.faults.set(rate_limit=1, retry_after=0)
        if "server_error" in self.spec.faults:
            self.sandbox.faults.set(server_error=1)
        if self.outage(self.clock.at.date()):
            self.sandbox.faults.set(server_error=10**6)

    def replay_dead_letters(self, day: dt.date) -> None:
        """The operator's morning: replay yesterday's dead letters once the outage is over."""
        from lib.ports import DeadLetterFilter

        self.clock.at = dt.datetime.combine(day, dt.time(5), dt.UTC)
        if self.rt.bus.replay(DeadLetterFilter()):
            self.rt.bus.run_until_idle()

    def sync_export(self, now: dt.datetime) -> int:
        """Append every export row exported in ``(synced_to, now]``; return how many were late.

        Late: exported more than a day after its usage ended.
        """
        from lib.sandbox.gcp_export import append_rows, export_table

        late = 0
        for tenant, (source, by_day) in self.exports.items():
            table = export_table(tenant, source, _account(tenant))
            fresh = [
                row
                for rows in by_day.values()
                for row in rows
                if self.synced_to < row["export_time"] <= now
            ]
            late += sum(
                1 for r in fresh if r["export_time"] - r["usage_end_time"] > dt.timedelta(days=1)
            )
            append_rows(self.rt.warehouse, table, fresh)
        self.synced_to = now
        return late

    # --- checks --------------------------------------------------------------------------

    def check_runs(self, day: dt.date, expected: int) -> int:
        """Every run reached COMPLETE — on an outage day, except those whose events wait in
        the dead letters for tomorrow's replay; and today's jobs each requested one run."""
        from lib.ports import DeadLetterFilter

        waiting = set()
        if self.outage(day):
            letters = self.rt.bus.dead_letters(DeadLetterFilter())
            waiting = {letter.attributes.get("run_id") for letter in letters}
        completed = today = 0
        since = dt.datetime.combine(day, dt.time(), dt.UTC)
        for tenant in self.tenant_ids:
            for run in metadata.list_runs(self.rt.warehouse, tenant, limit=100_000):
                run_id = run["pipeline_logging_id"]
                today += run["requested_at"] >= since
                if run["status"] == RunStatus.COMPLETE:
                    completed += run["requested_at"] >= since
                elif run_id not in waiting:
                    raise Violation(
                        day, f"{tenant}_metadata.pipeline_runs", run_id,
                        RunStatus.COMPLETE.value, f"{run['status']} ({(run['error'] or '')[:200]})",
                    )  # fmt: skip
        if today != expected:
            raise Violation(day, "pipeline_runs", "runs requested today", expected, today)
        return completed

    def check(self, day: dt.date, report: DayReport) -> None:
        """Every invariant of the module docstring, for every tenant."""
        for tenant in self.tenant_ids:
            truth = self.truth_by_day(tenant, day)
            self.check_gold(day, tenant, truth)
            self.check_silver(day, tenant)
            self.check_duplicates(day, tenant)
            self.check_reconciliation(day, tenant)
            for (d, provider), value in truth.items():
                if (d.year, d.month) == (day.year, day.month):
                    report.gold[provider] = report.gold.get(provider, _ZERO) + value

    def truth_by_day(self, tenant: str, today: dt.date) -> dict[tuple[dt.date, str], Decimal]:
        """(usage day, provider) → the truth, for every day any provider has served."""
        out: dict[tuple[dt.date, str], Decimal] = {}
        first = self.spec.start - dt.timedelta(days=31)
        day = first
        while day <= today:
            for provider in ("openai", "anthropic"):
                value = self.truth.rest(tenant, provider, day)
                if value is not None:
                    out[(day, provider)] = value
            cut = self.gcp_cut.get(tenant)
            rows = self.exports[tenant][1].get(day) if tenant in self.exports else None
            if cut is not None and rows:
                value = self.truth.gcp(rows, cut)
                if any(r["export_time"] <= cut for r in rows):
                    out[(day, "gcp")] = value
            day += dt.timedelta(days=1)
        out.update(self.focus_truth(tenant))
        return out

    def focus_truth(self, tenant: str) -> dict[tuple[dt.date, str], Decimal]:
        """(charge day, provider) → BilledCost summed from the FOCUS files delivered so far."""
        from lib.sandbox.focus_exports import read_rows

        out: dict[tuple[dt.date, str], Decimal] = {}
        with decimal.localcontext(EXACT):
            for pipeline in self.pipelines:
                if pipeline.tenant_id != tenant:
                    continue
                for source in self.focus_sources(pipeline):
                    folder = Path(self.rt.settings.bucket_folder(source.bucket, source.prefix))
                    for row in read_rows(folder, source.format):
                        key = (dt.date.fromisoformat(str(row["ChargePeriodStart"])[:10]),
                               source.provider)  # fmt: skip
                        out[key] = out.get(key, _ZERO) + row["BilledCost"]
        return out

    def check_gold(
        self, day: dt.date, tenant: str, truth: dict[tuple[dt.date, str], Decimal]
    ) -> None:
        daily = _table(tenant, "gold_reporting", "daily_spend")
        got = {
            (r["d"], r["p"]): r["t"]
            for r in self.rt.warehouse.query(
                f"SELECT charge_date AS d, provider AS p, SUM(billed_cost) AS t FROM {daily} "
                "GROUP BY d, p"
            )
        }
        for key in sorted(set(truth) | set(got)):
            expected, found = truth.get(key, _ZERO), got.get(key, _ZERO)
            if expected != found:
                raise Violation(day, daily, f"{key[0]} {key[1]}", expected, found)
        monthly = _table(tenant, "gold_reporting", "monthly_spend")
        months: dict[tuple[dt.date, str], Decimal] = {}
        for (d, provider), value in truth.items():
            months[(d.replace(day=1), provider)] = (
                months.get((d.replace(day=1), provider), _ZERO) + value
            )
        got_months = {
            (r["m"], r["p"]): r["t"]
            for r in self.rt.warehouse.query(
                f"SELECT month AS m, provider AS p, SUM(billed_cost) AS t FROM {monthly} "
                "GROUP BY m, p"
            )
        }
        for key in sorted(set(months) | set(got_months)):
            expected, found = months.get(key, _ZERO), got_months.get(key, _ZERO)
            if expected != found:
                raise Violation(day, monthly, f"{key[0]:%Y-%m} {key[1]}", expected, found)

    def check_silver(self, day: dt.date, tenant: str) -> None:
        silver = _table(tenant, "silver_cost", "focus_daily")
        got = {
            (r["d"], r["p"]): (r["n"], r["t"])
            for r in self.rt.warehouse.query(
                f"SELECT x_charge_date AS d, x_provider AS p, COUNT(*) AS n, "
                f"SUM(BilledCost) AS t FROM {silver} GROUP BY d, p"
            )
        }
        raw = self.raw_sums(tenant)
        for key in sorted(set(raw) | set(got)):
            expected, found = raw.get(key, (0, _ZERO)), got.get(key, (0, _ZERO))
            if expected != found:
                raise Violation(
                    day, silver, f"{key[0]} {key[1]} (rows, BilledCost)", expected, found
                )

    def raw_sums(self, tenant: str) -> dict[tuple[dt.date, str], tuple[int, Decimal]]:
        """(day, provider) → (rows, net cost) of the raw cost tables: raw's newest answer."""
        queries = {
            "openai": (
                "SELECT DATE(bucket_start_time) AS d, COUNT(*) AS n, SUM(amount_value) AS t "
                f"FROM {_table(tenant, 'raw_openai', 'costs')} GROUP BY d"
            ),
            "anthropic": (
                "SELECT DATE(bucket_starting_at) AS d, COUNT(*) AS n, "
                "SUM(amount_cents * NUMERIC '0.01') AS t "
                f"FROM {_table(tenant, 'raw_anthropic', 'cost_report')} GROUP BY d"
            ),
            "gcp": (
                "SELECT DATE(usage_start_time) AS d, COUNT(*) AS n, SUM(cost + IFNULL("
                "(SELECT SUM(c.amount) FROM UNNEST(credits) AS c), 0)) AS t "
                f"FROM {_table(tenant, 'raw_gcp', 'billing_export')} GROUP BY d"
            ),
        }
        out: dict[tuple[dt.date, str], tuple[int, Decimal]] = {}
        for provider, sql in queries.items():
            for r in self.rt.warehouse.query(sql):
                out[(r["d"], provider)] = (int(r["n"]), Decimal(r["t"]))
        focus = TableRef(f"{tenant}_raw_focus", "charges")
        if self.rt.warehouse.table_exists(focus):
            for r in self.rt.warehouse.query(
                "SELECT DATE(ChargePeriodStart) AS d, provider AS p, COUNT(*) AS n, "
                f"SUM(BilledCost) AS t FROM {table_sql(focus)} GROUP BY d, p"
            ):
                out[(r["d"], r["p"])] = (int(r["n"]), Decimal(r["t"]))
        return out

    def check_reconciliation(self, day: dt.date, tenant: str) -> None:
        """The sandbox bills by the catalog: nothing is flagged, and billed totals are gold's."""
        table = _table(tenant, "gold_reporting", "cost_reconciliation")
        flagged = self.rt.warehouse.query(
            f"SELECT charge_date, provider, line_item, billed_cost, expected_cost FROM {table} "
            "WHERE flagged ORDER BY charge_date, line_item LIMIT 1"
        )
        if flagged:
            r = flagged[0]
            key = f"{r['charge_date']} {r['provider']} {r['line_item']} (billed vs usage x price)"
            raise Violation(day, table, key, r["expected_cost"], r["billed_cost"])
        daily = _table(tenant, "gold_reporting", "daily_spend")
        sql = (
            "SELECT r.d, r.p, r.t AS reconciled, IFNULL(g.t, 0) AS gold FROM (SELECT charge_date "
            f"AS d, provider AS p, SUM(billed_cost) AS t FROM {table} GROUP BY d, p) AS r "
            "LEFT JOIN (SELECT charge_date AS d, provider AS p, SUM(billed_cost) AS t "
            f"FROM {daily} GROUP BY d, p) AS g ON g.d = r.d AND g.p = r.p "
            "WHERE r.t != IFNULL(g.t, 0) ORDER BY r.d LIMIT 1"
        )
        for r in self.rt.warehouse.query(sql):
            raise Violation(day, table, f"{r['d']} {r['p']} billed", r["gold"], r["reconciled"])

    def check_duplicates(self, day: dt.date, tenant: str) -> None:
        tables: list[tuple[str, tuple[str, ...]]] = [
            (_table(tenant, "silver_cost", "focus_daily"), ("x_provider", "x_source_row_key")),
            (
                _table(tenant, "metadata", "budget_alerts"),
                ("budget_name", "month", "basis", "threshold_percent"),
            ),
        ]
        for pipeline in self.pipelines:
            if pipeline.tenant_id != tenant:
                continue
            for step in pipeline.config.steps:
                if isinstance(step, IngestStep) and step.destination.merge_keys:
                    ref = pipeline.table_ref(step.destination.dataset, step.destination.table)
                    tables.append((table_sql(ref), tuple(step.destination.merge_keys)))
        for table, keys in tables:
            cols = ", ".join(f"`{k}`" for k in keys)
            rows = self.rt.warehouse.query(
                f"SELECT {cols}, COUNT(*) AS n FROM {table} GROUP BY {cols} "
                "HAVING COUNT(*) > 1 LIMIT 1"
            )
            if rows:
                key = ", ".join(str(rows[0][k]) for k in keys)
                raise Violation(day, table, key, "1 row", f"{rows[0]['n']} rows")


def _sources(pipeline: Pipeline) -> list[AnySource]:
    """The sources of a pipeline's ingest steps (the pipeline caches them)."""
    return [
        pipeline.source(index)
        for index, step in enumerate(pipeline.config.steps)
        if isinstance(step, IngestStep)
    ]


def _own_export_folder(tenant: str) -> Callable[[AnySource], dict[str, Any] | None]:
    def prefix(source: AnySource) -> dict[str, Any] | None:
        if isinstance(source, FocusFilesSourceConfig):
            return {"prefix": f"{tenant}/{source.prefix}"}
        return None

    return prefix


def _table(tenant: str, dataset: str, table: str) -> str:
    return table_sql(TableRef(f"{tenant}_{dataset}", table))


def _account(tenant: str) -> str:
    from lib.sandbox.gcp_export import billing_account_id

    return billing_account_id(tenant)


# --- setup ----------------------------------------------------------------------------------


def simulation_configs(spec: SimulationSpec, target: Path) -> list[str]:
    """Copy the shared configs and ``spec.tenants`` tenants under ``target``; their ids.

    The first tenants are the repository's own (acme, globex); more are copies of the first,
    renamed. REST retry backoffs are shortened by a ``source_overrides`` in each tenant's
    pipeline files (time is simulated; the retries still happen).
    """
    from lib.config.overrides import write_rest_overrides, write_source_overrides

    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for shared in ("_library", "metadata"):
        shutil.copytree(spec.config_dir / shared, target / shared)
    existing = tenants(spec.config_dir)
    ids = [*existing[: spec.tenants]]
    ids += [f"tenant{n:02d}" for n in range(len(ids) + 1, spec.tenants + 1)]
    fast = {"retry": {"initial_backoff_seconds": 0.001, "max_backoff_seconds": 0.01}}
    for tenant in ids:
        origin = tenant if tenant in existing else existing[0]
        shutil.copytree(spec.config_dir / origin, target / tenant)
        for path in pipeline_files(target / tenant):
            write_rest_overrides(path, tenant, fast)
            if tenant != origin:  # a copy reads its own FOCUS export folder
                write_source_overrides(path, tenant, _own_export_folder(tenant))
    return ids


def _pipelines(config_dir: Path) -> list[Pipeline]:
    out = []
    for tenant in tenants(config_dir):
        tenant_dir = config_dir / tenant
        out += [load_pipeline_file(p, tenant, tenant_dir) for p in pipeline_files(tenant_dir)]
    return [p for p in out if p.config.enabled]


@contextmanager
def open_simulation(spec: SimulationSpec, home: Path) -> Iterator[Simulation]:
    """Set up configs, sandbox, world, warehouse and bus under ``home`` (wiped first)."""
    from lib.demo import demo_environment
    from lib.sandbox.server import SandboxServer
    from lib.sandbox.world import World
    from lib.settings import Settings
    from lib.wiring import local_warehouse, open_local_runtime

    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    config_dir = home / "configs"
    ids = simulation_configs(spec, config_dir)
    start = dt.datetime.combine(spec.start, dt.time(), dt.UTC)
    clock = FixedClock(start)
    world = World(spec.seed, clock.now)
    sandbox = SandboxServer(tenants=ids, world=world, page_size=50)
    env = demo_environment(home / "state", sandbox.base_url, ids)
    env["CONVERGENCE_CONFIG_DIR"] = str(config_dir)
    settings = Settings.from_env(env)
    settings.home.mkdir(parents=True, exist_ok=True)
    try:
        with open_local_runtime(settings, clock=clock, warehouse=local_warehouse(settings)) as rt:
            if "duplicates" in spec.faults:  # at-least-once at its worst: every event twice
                publish = rt.bus.publish

                def twice(event: Any) -> str:
                    publish(event)
                    return publish(event)

                rt.bus.publish = twice  # type: ignore[method-assign]
            pipelines = _pipelines(config_dir)
            yield Simulation(
                spec=spec,
                rt=rt,
                clock=clock,
                sandbox=sandbox,
                world=world,
                pipelines=pipelines,
                truth=Truth(world, _rest_sources(pipelines), sandbox),
                exports=_exports(pipelines, world, spec),
                synced_to=start - dt.timedelta(days=400),
            )
    finally:
        sandbox.stop()


def _rest_sources(pipelines: list[Pipeline]) -> dict[tuple[str, str], Any]:
    """(tenant, provider) → the REST source of its cost endpoint."""
    out: dict[tuple[str, str], Any] = {}
    for pipeline in pipelines:
        for index, step in enumerate(pipeline.config.steps):
            if not isinstance(step, IngestStep):
                continue
            source = pipeline.source(index)
            if isinstance(source, RestSourceConfig) and "cost" in source.endpoint:
                out[(pipeline.tenant_id, source.provider)] = source
    return out


def _exports(
    pipelines: list[Pipeline], world: Any, spec: SimulationSpec
) -> dict[str, tuple[BigQueryExportSourceConfig, dict[dt.date, list[dict[str, Any]]]]]:
    """Per tenant: its export source and the world's rows per usage day of the simulation."""
    first = spec.start - dt.timedelta(days=1)
    days = [first + dt.timedelta(days=i) for i in range(spec.days + 1)]
    out = {}
    for pipeline in pipelines:
        for index, step in enumerate(pipeline.config.steps):
            if not isinstance(step, IngestStep):
                continue
            source = pipeline.source(index)
            if isinstance(source, BigQueryExportSourceConfig):
                rows = {day: world.gcp_rows(pipeline.tenant_id, day) for day in days}
                out[pipeline.tenant_id] = (source, rows)
    return out


@contextmanager
def _logs_to(path: Path) -> Iterator[None]:
    """Send the platform's log records to ``path`` while simulating (the report is stdout)."""
    import logging

    root = logging.getLogger()
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    saved = root.handlers[:], root.level
    root.handlers = [handler]
    root.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.handlers, level = saved
        root.setLevel(level)
        handler.close()


def run_simulation(
    spec: SimulationSpec,
    home: Path,
    out: TextIO,
    *,
    on_day: Callable[[DayReport], None] | None = None,
) -> list[DayReport]:
    """Simulate ``spec.days`` days; print one line per day to ``out`` (logs: home/simulate.log).

    Raises:
        Violation: the first broken invariant (after printing the days before it).
    """
    reports = []
    with open_simulation(spec, home) as sim, _logs_to(home / "simulate.log"):
        print(
            f"simulating {spec.days} days from {spec.start} for {len(sim.tenant_ids)} tenant(s) "
            f"({', '.join(sim.tenant_ids)}), seed {spec.seed}, faults "
            f"{', '.join(spec.faults) or 'none'}",
            file=out,
        )
        for offset in range(spec.days):
            day = spec.start + dt.timedelta(days=offset)
            report = sim.run_day(day)
            reports.append(report)
            print(report.line(), file=out, flush=True)
            if on_day:
                on_day(report)
    return reports
