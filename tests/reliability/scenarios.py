"""In-process scenarios of the fault suite (the kill -9 ones run processes: harness.py)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from events.models import Window
from lib.errors import WarehouseUnavailable
from lib.ports import DeadLetterFilter
from lib.runs import request_run
from tests.reliability.harness import DAY, PIPELINE, TENANT, Figures, measure

WINDOW = Window(start=DAY, end=DAY)


def _published(rt: Any) -> list[dict[str, Any]]:
    return [
        {"type": e.TYPE, "event_id": e.event_id, "run": e.pipeline_logging_id}
        for e in rt.bus.published_events()
    ]


def duplicates(make_platform: Any, clean: dict[str, Counter], copies: int) -> Figures:
    """The run's ``run.requested`` delivered ``copies`` times at once on two workers."""
    platform = make_platform(tenants=(TENANT,))
    rt = platform.rt
    event = request_run(rt, TENANT, PIPELINE, WINDOW)
    for _ in range(copies - 1):
        rt.bus.publish(event)
    rt.bus.run_until_idle(workers=2)
    figures = Figures(f"run.requested delivered {copies}x, 2 workers")
    return measure(figures, rt.warehouse, clean, [event.pipeline_logging_id], _published(rt))


def outage_then_replay(make_platform: Any, clean: dict[str, Counter], tmp_path: Path) -> Figures:
    """The provider fails beyond the retry budget: dead letter; fixed; replayed."""
    from tests.platform import fast_retry_configs

    platform = make_platform(
        config_dir=fast_retry_configs(tmp_path),
        tenants=(TENANT,),
        faults={"server_error": 10_000},
    )
    rt = platform.rt
    event = request_run(rt, TENANT, PIPELINE, WINDOW)
    rt.bus.run_until_idle()
    figures = Figures("provider outage → dead letter → replay")
    letters = rt.bus.dead_letters(DeadLetterFilter(tenant_id=TENANT))
    figures.notes.append(f"{len(letters)} dead letter(s) before the replay")
    platform.sandbox.faults.clear()
    rt.bus.replay(DeadLetterFilter(tenant_id=TENANT))
    rt.bus.run_until_idle()
    figures.recovered_by = "replay"
    return measure(figures, rt.warehouse, clean, [event.pipeline_logging_id], _published(rt))


class FlakyWarehouse:
    """The Warehouse port whose writes fail transiently every ``every``-th call."""

    def __init__(self, inner: Any, every: int) -> None:
        self._inner, self._every, self.calls, self.failed = inner, every, 0, 0
        self.name = inner.name

    def write(self, *args: Any, **kwargs: Any) -> Any:
        self.calls += 1
        if self.calls % self._every == 0:
            self.failed += 1
            raise WarehouseUnavailable("injected: the warehouse is briefly unavailable")
        return self._inner.write(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def flaky_warehouse(make_platform: Any, clean: dict[str, Counter]) -> Figures:
    """Every third warehouse write fails transiently; the bus redelivers until it lands."""
    platform = make_platform(tenants=(TENANT,))
    rt = platform.rt
    flaky = FlakyWarehouse(rt.warehouse, every=3)
    rt.warehouse = flaky  # type: ignore[assignment]
    event = request_run(rt, TENANT, PIPELINE, WINDOW)
    rt.bus.run_until_idle()
    figures = Figures("transient warehouse errors (every 3rd write)")
    figures.notes.append(f"{flaky.failed} write(s) failed and were retried")
    rt.warehouse = flaky._inner
    return measure(figures, rt.warehouse, clean, [event.pipeline_logging_id], _published(rt))


def concurrent_runs(make_platform: Any, clean: dict[str, Counter]) -> Figures:
    """Two runs of the same pipeline and window at once, on two workers."""
    platform = make_platform(tenants=(TENANT,))
    rt = platform.rt
    runs = [request_run(rt, TENANT, PIPELINE, WINDOW) for _ in range(2)]
    rt.bus.run_until_idle(workers=2)
    figures = Figures("two concurrent runs of one window, 2 workers", runs=2)
    ids = [r.pipeline_logging_id for r in runs]
    return measure(figures, rt.warehouse, clean, ids, _published(rt))
