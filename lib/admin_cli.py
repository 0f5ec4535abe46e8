"""CLI sub-commands for the control plane: ``tenants create|export``, ``keys create|list|revoke``,
``schedules export``. :func:`add_commands` registers them on ``convergence``'s parser.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from lib.settings import Settings

if TYPE_CHECKING:
    from rich.console import Console

    from lib.onboarding import Onboarding
    from lib.wiring import Runtime

DEFAULT_SCHEDULES = Path("terraform/schedules.json")
DEFAULT_TENANTS = Path("terraform/tenants.json")


def _out(*, stderr: bool = False) -> Console:
    """The CLI's console, imported on first print (registering commands loads no rich)."""
    from lib.console import console, err_console

    return err_console if stderr else console


@contextmanager
def admin_runtime(settings: Settings) -> Iterator[Runtime]:
    """A runtime for one admin command (local: the DuckDB file and in-process bus)."""
    from lib.wiring import open_runtime

    with open_runtime(settings) as rt:
        yield rt


def cmd_tenants_create(args: argparse.Namespace) -> int:
    """Onboard a tenant: with --pipelines, write its files from library templates; then
    provision its datasets and print the secrets to create and the next commands."""
    from lib.tenants import provision_tenant

    pipelines = [p.strip() for p in (args.pipelines or "").split(",") if p.strip()]
    with admin_runtime(Settings.from_env()) as rt:
        if pipelines:
            from lib.onboarding import onboard_tenant

            print_onboarding(onboard_tenant(rt, args.tenant, pipelines))
            return 0
        datasets = provision_tenant(rt, args.tenant)
        has_configs = (rt.config_dir / args.tenant).is_dir()
    for dataset in datasets:
        _out().print(f"[green]✓[/green] {dataset}", highlight=False)
    if not has_configs:
        from lib.config.templates import template_names

        names = ",".join(template_names(rt.config_dir / "_library"))
        _out().print(
            f"no configs/{args.tenant}/ yet: onboard it from library templates with "
            f"`convergence tenants create {args.tenant} --pipelines {names}`",
            highlight=False,
            soft_wrap=True,
        )
    return 0


def print_onboarding(done: Onboarding) -> None:
    """What ``tenants create --pipelines`` did, and what to do next."""
    for planned in done.files:
        state = "[green]created[/green]" if planned.created else "[dim]exists[/dim] "
        _out().print(f"{state} configs/{planned.path}", highlight=False)
    for dataset in done.datasets:
        _out().print(f"[green]✓[/green] dataset {dataset}", highlight=False)
    if done.secrets:
        _out().print("secrets its sources read (create each one):")
        for secret in done.secrets:
            _out().print(
                f"  {secret.name}: Secret Manager id {secret.secret_id} "
                f"(local mode: environment variable {secret.variable})",
                highlight=False,
                soft_wrap=True,
            )
    _out().print("next:")
    for step in done.next_steps:
        _out().print(f"  {step}", highlight=False, soft_wrap=True)


def cmd_tenants_export(args: argparse.Namespace) -> int:
    """Write every tenant and its Secret Manager secret ids for Terraform."""
    from lib.tenant_export import write_tenants

    exported = write_tenants(Path(args.config_dir), Path(args.output))
    for tenant in exported:
        for secret in tenant.secrets:
            _out().print(f"{tenant.tenant_id}: {secret.secret_id}", highlight=False)
    _out().print(f"wrote {len(exported)} tenant(s) to {args.output}", highlight=False)
    return 0


def cmd_keys_create(args: argparse.Namespace) -> int:
    """Create an API key for a tenant and show it once."""
    from lib.keys import ADMIN_TENANT, create_key
    from lib.tenants import provision_tenant

    with admin_runtime(Settings.from_env()) as rt:
        if args.tenant == ADMIN_TENANT:
            rt.ensure_tenant(ADMIN_TENANT)  # admin_metadata.api_keys
        else:
            provision_tenant(rt, args.tenant)
        created = create_key(rt.warehouse, rt.clock, args.tenant, args.description)
    _out().print(f"key id: {created.key_id}", highlight=False)
    _out().print(f"key:    {created.key}", highlight=False, soft_wrap=True)
    _out(stderr=True).print("store the key now: it is shown only once and only its hash is kept")
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    """List a tenant's API keys (ids and status, never secrets)."""
    from rich.table import Table

    from lib.keys import list_keys

    with admin_runtime(Settings.from_env()) as rt:
        rt.ensure_tenant(args.tenant)
        keys = list_keys(rt.warehouse, args.tenant)
    table = Table("key id", "status", "description", "created at", "changed at")
    for k in keys:
        table.add_row(k.key_id, k.status, k.description or "", str(k.created_at), str(k.updated_at))
    _out().print(table)
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    """Revoke one of a tenant's API keys; it is refused from then on."""
    from lib.keys import revoke_key

    with admin_runtime(Settings.from_env()) as rt:
        rt.ensure_tenant(args.tenant)
        revoke_key(rt.warehouse, rt.clock, args.tenant, args.key_id)
    _out().print(f"revoked {args.key_id}", highlight=False)
    return 0


def cmd_schedules_export(args: argparse.Namespace) -> int:
    """Write every pipeline schedule as Cloud Scheduler jobs for Terraform."""
    from lib.scheduler import write_schedules

    jobs = write_schedules(Path(args.config_dir), Path(args.output))
    _out().print(f"wrote {len(jobs)} scheduler job(s) to {args.output}", highlight=False)
    return 0


def _tenant(p: argparse.ArgumentParser) -> None:
    from lib.keys import ADMIN_TENANT

    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--tenant")
    who.add_argument(
        "--admin",
        dest="tenant",
        action="store_const",
        const=ADMIN_TENANT,
        help="an admin key (platform operations such as POST /tenants), not a tenant's",
    )


def add_commands(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Register ``tenants``, ``keys`` and ``schedules`` on the CLI's sub-parsers."""
    tenants = sub.add_parser("tenants", help="onboard tenants").add_subparsers(
        dest="action", required=True
    )
    p = tenants.add_parser("create", help=cmd_tenants_create.__doc__)
    p.add_argument("tenant")
    p.add_argument(
        "--pipelines",
        help="comma-separated library templates, e.g. openai_costs,anthropic_costs,gcp_billing",
    )
    p.set_defaults(func=cmd_tenants_create)
    p = tenants.add_parser("export", help=cmd_tenants_export.__doc__)
    p.add_argument("--config-dir", default="configs")
    p.add_argument("--output", default=str(DEFAULT_TENANTS))
    p.set_defaults(func=cmd_tenants_export)

    keys = sub.add_parser("keys", help="manage API keys").add_subparsers(
        dest="action", required=True
    )
    p = keys.add_parser("create", help=cmd_keys_create.__doc__)
    _tenant(p)
    p.add_argument("--description", help="what the key is for")
    p.set_defaults(func=cmd_keys_create)
    p = keys.add_parser("list", help=cmd_keys_list.__doc__)
    _tenant(p)
    p.set_defaults(func=cmd_keys_list)
    p = keys.add_parser("revoke", help=cmd_keys_revoke.__doc__)
    p.add_argument("key_id")
    _tenant(p)
    p.set_defaults(func=cmd_keys_revoke)

    schedules = sub.add_parser("schedules", help="Cloud Scheduler jobs").add_subparsers(
        dest="action", required=True
    )
    p = schedules.add_parser("export", help=cmd_schedules_export.__doc__)
    p.add_argument("--config-dir", default="configs")
    p.add_argument("--output", default=str(DEFAULT_SCHEDULES))
    p.set_defaults(func=cmd_schedules_export)
