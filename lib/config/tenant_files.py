"""Tenant-level files that are not pipelines: ``configs/<tenant>/<name>`` (e.g. alert channels).

A tenant folder holds its pipeline folders and, at its root, the tenant-level files registered
here. Each registration names the file and the check ``convergence validate`` runs on it (a
function that raises ConfigError naming file, line and field): ``notifications.yml`` (alert
channels) is built in. A file at the tenant root that
is neither registered nor used by a pipeline is reported as unused, so nothing is silently
ignored. Register a new kind where its loader lives::

    from lib.config.tenant_files import register_tenant_file

    register_tenant_file("notifications.yml", load_notifications)
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

TenantFileCheck = Callable[[Path], object]


def _notifications(path: Path) -> object:
    """``notifications.yml``: the tenant's alert channels (lib/notify/config.py)."""
    from lib.config.problems import load_model
    from lib.notify.config import NotificationsConfig

    return load_model(path, NotificationsConfig)


TENANT_FILES: dict[str, TenantFileCheck] = {"notifications.yml": _notifications}
"""File name (at the tenant folder's root) → its check."""


def register_tenant_file(name: str, check: TenantFileCheck) -> None:
    """Declare a tenant-level file ``configs/<tenant>/<name>`` and how to check it."""
    TENANT_FILES[name] = check


def tenant_files(tenant_dir: Path) -> list[tuple[Path, TenantFileCheck]]:
    """The registered tenant-level files present in a tenant folder."""
    return [
        (tenant_dir / name, check)
        for name, check in sorted(TENANT_FILES.items())
        if (tenant_dir / name).is_file()
    ]
