"""The ``convergence`` command line: demo, run, validate, runs/status, replay and more."""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from lib.errors import ConfigError, ConvergenceError
from lib.settings import Settings
from lib.states import RunStatus

if TYPE_CHECKING:
    from rich.console import Console


def _out(*, stderr: bool = False) -> Console:
    """The CLI's console (imported on first print: ``--help`` loads no rich, no bus, no SQL)."""
    from lib.console import console, err_console

    return err_console if stderr else console


def _date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date: write YYYY-MM-DD") from exc


def _datetime(value: str) -> dt.datetime:
    try:
        moment = dt.datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"{value!r} is not a time: write YYYY-MM-DD or YYYY-MM-DDTHH:MM"
        ) from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


_DURATION = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def _since(value: str) -> dt.datetime:
    """A moment: a duration back from now (``24h``, ``7d``, ``30m``, ``2w``) or a time."""
    from lib.clock import SystemClock

    match = _DURATION.match(value.strip().lower())
    if match:
        amount = dt.timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
        return SystemClock().now() - amount
    try:
        return _datetime(value)
    except argparse.ArgumentTypeError:
        raise argparse.ArgumentTypeError(
            f"{value!r} is neither a duration nor a time: write e.g. 24h, 7d, 30m or "
            "YYYY-MM-DD[THH:MM]"
        ) from None


def cmd_validate(args: argparse.Namespace) -> int:
    """Check every config, schema and SQL file under PATH."""
    from lib.config.validate import validate_tree

    checked, problems = validate_tree(Path(args.path))
    for problem in problems:
        _out(stderr=True).print(
            f"[red]✗[/red] {problem}", markup=True, highlight=False, soft_wrap=True
        )
    if problems:
        _out(stderr=True).print(f"{len(problems)} problem(s) in {args.path}")
        return 1
    _out().print(f"[green]✓[/green] {checked} config file(s) valid under {args.path}")
    return 0


def cmd_config_show(args: argparse.Namespace) -> int:
    """Print a tenant's resolved pipeline with the origin of each value and its next runs."""
    from lib.clock import SystemClock
    from lib.config.loader import load_pipeline
    from lib.config.show import show_pipeline

    config_dir = Path(args.config_dir or Settings.from_env().config_dir)
    pipeline = load_pipeline(config_dir, args.tenant, args.pipeline)
    print(show_pipeline(pipeline, config_dir, SystemClock().now()), end="")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    """Run one pipeline for a tenant and window."""
    from events.models import Window, window_problem
    from lib.commands import run_pipelines

    window = None
    if args.start or args.end:
        start, end = args.start or args.end, args.end or args.start
        problem = window_problem(start, end)
        if problem:
            _out(stderr=True).print(f"[red]error:[/red] --start/--end: {problem}")
            return 2
        window = Window(start=start, end=end)
    return run_pipelines(
        Settings.from_env(), [(args.tenant, args.pipeline)], window, trigger_by=args.trigger_by
    )


def cmd_demo(args: argparse.Namespace) -> int:
    """Start the sandboxes and run every demo tenant's pipelines for the last days."""
    from lib.demo import run_demo

    home = Path(args.home) if args.home else Settings.from_env().home
    return run_demo(home, days=args.days, faults=args.faults, fresh=args.fresh)


def cmd_runs(args: argparse.Namespace) -> int:
    """List a tenant's runs with their current status."""
    from lib.commands import show_runs

    return show_runs(
        Settings.from_env(), args.tenant, status=args.status, since=args.since, limit=args.limit
    )


def cmd_status(args: argparse.Namespace) -> int:
    """Show one run: status, steps with durations and rows, DQ summary, error."""
    from lib.commands import show_run

    return show_run(Settings.from_env(), args.tenant, args.run_id)


def cmd_trace(args: argparse.Namespace) -> int:
    """Show a run's trace: its spans as a tree (local span file) or where Cloud Trace has it."""
    from lib.trace_view import show_trace

    return show_trace(Settings.from_env(), args.tenant, args.run_id)


def cmd_recover(args: argparse.Namespace) -> int:
    """Re-drive stalled runs from their metadata (re-publishing the event they wait for)."""
    from lib.commands import recover_runs

    return recover_runs(
        Settings.from_env(),
        args.tenant,
        run_id=args.run,
        force=args.force,
        dry_run=args.dry_run,
    )


def cmd_replay(args: argparse.Namespace) -> int:
    """Move dead-lettered events back to their topics."""
    from lib.commands import replay

    return replay(
        Settings.from_env(),
        tenant=args.tenant,
        pipeline=args.pipeline,
        since=args.since,
        until=args.until,
        dry_run=args.dry_run,
    )


def cmd_simulate(args: argparse.Namespace) -> int:
    """Simulate weeks of scheduled runs with late and restated data; check gold every day."""
    from lib.simulate import SimulationSpec, Violation, run_simulation

    try:
        spec = SimulationSpec(
            days=args.days,
            seed=args.seed,
            tenants=args.tenants,
            faults=tuple(f for f in (args.faults or "").split(",") if f),
            start=args.start,
        )
    except ValueError as exc:
        _out(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    try:
        run_simulation(spec, Path(args.home), sys.stdout)
    except Violation as exc:
        print(f"VIOLATION {exc}", flush=True)
        return 1
    print(f"{spec.days} day(s) simulated: 0 violations")
    return 0


def _month(value: str) -> dt.date:
    from lib.report.model import parse_month

    try:
        return parse_month(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def cmd_report(args: argparse.Namespace) -> int:
    """Print a tenant's spend tables and write the self-contained HTML report."""
    from lib.commands import run_report

    out = Path(args.out) if args.out else None
    return run_report(Settings.from_env(), args.tenant, args.month, out)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = argparse.ArgumentParser(prog="convergence", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help=cmd_demo.__doc__)
    p.add_argument(
        "--home", help="where the demo keeps its state (default: CONVERGENCE_HOME or .convergence)"
    )
    p.add_argument(
        "--fresh", action="store_true", help="replace state in the home the demo did not create"
    )
    p.add_argument("--days", type=int, default=7, help="how many past days to ingest")
    p.add_argument("--faults", action="store_true", help="turn on the sandboxes' fault switches")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser("simulate", help=cmd_simulate.__doc__)
    p.add_argument("--days", type=int, default=60, help="simulated days (default 60)")
    p.add_argument("--seed", type=int, default=1, help="the world's seed (same seed, same run)")
    p.add_argument("--tenants", type=int, default=2, help="how many tenants (default 2)")
    p.add_argument(
        "--faults",
        help="comma-separated fault modes: rate_limit, server_error, duplicates (every event "
        "delivered twice), outage (providers down for a day, then dead letters replayed)",
    )
    p.add_argument("--start", type=_date, default=dt.date(2026, 9, 1), help="first day")
    p.add_argument("--home", default=".convergence/simulate", help="where the simulation runs")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("run", help=cmd_run.__doc__)
    p.add_argument("pipeline")
    p.add_argument("--tenant", required=True)
    p.add_argument("--start", type=_date, help="first day (YYYY-MM-DD), inclusive")
    p.add_argument("--end", type=_date, help="last day (YYYY-MM-DD), inclusive")
    p.add_argument("--trigger-by", default="cli")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help=cmd_validate.__doc__)
    p.add_argument("path", nargs="?", default="configs")
    p.set_defaults(func=cmd_validate)

    config = sub.add_parser("config", help="inspect configs").add_subparsers(
        dest="config_command", required=True
    )
    p = config.add_parser("show", help=cmd_config_show.__doc__)
    p.add_argument("pipeline")
    p.add_argument("--tenant", required=True)
    p.add_argument("--config-dir", help="config root (default: CONVERGENCE_CONFIG_DIR or configs)")
    p.set_defaults(func=cmd_config_show)

    p = sub.add_parser("runs", help=cmd_runs.__doc__)
    p.add_argument("--tenant", required=True)
    p.add_argument("--status", type=RunStatus, choices=list(RunStatus))
    p.add_argument(
        "--since", type=_since, help="requested since: a duration (24h, 7d) or a time (UTC)"
    )
    p.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    p.set_defaults(func=cmd_runs)

    p = sub.add_parser("status", help=cmd_status.__doc__)
    p.add_argument("run_id")
    p.add_argument("--tenant", required=True)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("trace", help=cmd_trace.__doc__)
    p.add_argument("run_id")
    p.add_argument("--tenant", required=True)
    p.set_defaults(func=cmd_trace)

    p = sub.add_parser("recover", help=cmd_recover.__doc__)
    p.add_argument("--tenant", required=True)
    p.add_argument("--run", help="only this run (recovered even if not stalled yet)")
    p.add_argument(
        "--force", action="store_true", help="release the claim of the step it waits on now"
    )
    p.add_argument("--dry-run", action="store_true", help="show what would be published")
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser("replay", help=cmd_replay.__doc__)
    p.add_argument("--tenant")
    p.add_argument("--pipeline")
    p.add_argument("--since", type=_datetime)
    p.add_argument("--until", type=_datetime)
    p.add_argument("--dry-run", action="store_true", help="show what would move, move nothing")
    p.set_defaults(func=cmd_replay)

    p = sub.add_parser("report", help=cmd_report.__doc__)
    p.add_argument("--tenant", required=True)
    p.add_argument("--month", type=_month, help="YYYY-MM (default: newest month with spend)")
    p.add_argument("--out", help="HTML file (default: {home}/reports/{tenant}-{month}.html)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("bus", help="Pub/Sub topology management")
    bus = p.add_subparsers(dest="bus_command", required=True)
    p = bus.add_parser("create-topology", help=cmd_create_topology.__doc__)
    p.add_argument("--project", required=True, help="GCP project (any id on the emulator)")
    p.add_argument(
        "--push-endpoint",
        action="append",
        default=[],
        metavar="HANDLER=URL",
        help="push subscriptions of HANDLER go to URL (repeat; omitted handlers get pull)",
    )
    p.add_argument("--oidc-service-account", help="service account push requests authenticate as")
    p.set_defaults(func=cmd_create_topology)

    from lib.admin_cli import add_commands

    add_commands(sub)  # tenants create, keys create|list|revoke, schedules export
    return parser


def cmd_create_topology(args: argparse.Namespace) -> int:
    """Create topics, dead-letter topics and subscriptions from events/topology.json."""
    from lib.adapters.pubsub_topology import create_topology, parse_push_endpoints

    endpoints = parse_push_endpoints(args.push_endpoint)
    report = create_topology(args.project, endpoints, args.oidc_service_account)
    for name in report.created:
        _out().print(f"[green]created[/green] {name}", highlight=False)
    for name in report.existing:
        _out().print(f"[dim]exists[/dim]  {name}", highlight=False)
    _out().print(f"{len(report.created)} created, {len(report.existing)} already present")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``convergence`` script."""
    args = build_parser().parse_args(argv)
    try:
        from lib.wiring import setup_logging

        setup_logging(Settings.from_env(), default_level="WARNING")
    except ValueError as exc:
        _out(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    try:
        code: int = args.func(args)
    except ConfigError as exc:
        for problem in exc.problems:
            _out(stderr=True).print(f"[red]✗[/red] {problem}", highlight=False)
        return 2
    except ConvergenceError as exc:
        _out(stderr=True).print(f"[red]error:[/red] {exc}", highlight=False)
        return 2
    except KeyboardInterrupt:
        _out(stderr=True).print("interrupted")
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
