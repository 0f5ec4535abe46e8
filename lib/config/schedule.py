"""Cron schedules of pipelines: parsed by ``cronsim``, limited to what Cloud Scheduler runs.

Rules (docs/configuration.md#schedule):

* five fields, Cloud Scheduler's unix-cron: ``minute hour day-of-month month day-of-week``
  with numbers, ``*``, ranges ``a-b``, lists ``a,b``, steps ``*/n`` and the names JAN-DEC,
  SUN-SAT; Quartz extensions (``L``, ``W``, ``#``, ``?``) and a seconds field are refused;
* every field in range and the expression able to fire (``0 0 30 2 *`` never does);
* at most one run per hour: consecutive runs at least :data:`MIN_INTERVAL` apart. Pipelines
  pull daily cost buckets; a run every few minutes only spends provider quota and warehouse
  money, and overlapping runs of one pipeline contend for the same window.
"""

from __future__ import annotations

import datetime as dt
import re
from itertools import islice, pairwise
from zoneinfo import ZoneInfo

from cronsim import CronSim, CronSimError

MIN_INTERVAL = dt.timedelta(hours=1)
FIELDS = ("minute", "hour", "day-of-month", "month", "day-of-week")
_EXTENSION = re.compile(r"[#?]|\bL\b|\d+L|\d+W|\bLW\b", re.IGNORECASE)
_EXAMPLE = "e.g. '15 6 * * *' (06:15 every day) or '0 */6 * * *' (every 6 hours)"
_PROBE_START = dt.datetime(2025, 1, 1)  # any fixed instant: the gaps, not the dates, matter


def cron_problem(expr: str) -> str | None:
    """Why ``expr`` is not an acceptable schedule, or None when it is."""
    fields = expr.split()
    if len(fields) != 5:
        return (
            f"cron {expr!r} must have 5 fields (minute hour day-of-month month day-of-week), "
            f"not {len(fields)}; {_EXAMPLE}"
        )
    for name, value in zip(FIELDS, fields, strict=True):
        if _EXTENSION.search(value):
            return (
                f"cron {expr!r}: {name} field {value!r} uses an extension (L, W, #, ?) that "
                f"Cloud Scheduler's unix-cron does not support; {_EXAMPLE}"
            )
    try:
        runs = list(islice(CronSim(expr, _PROBE_START), 10))
    except CronSimError as exc:
        return _syntax_problem(expr, fields, str(exc))
    gap = min(b - a for a, b in pairwise(runs))
    if gap < MIN_INTERVAL:
        return (
            f"cron {expr!r} ({describe(expr)}) runs every {_minutes(gap)}: a pipeline may run "
            f"at most once an hour; {_EXAMPLE}"
        )
    return None


def _syntax_problem(expr: str, fields: list[str], reason: str) -> str:
    for name, value in zip(FIELDS, fields, strict=True):
        if name in reason.lower():
            return (
                f"cron {expr!r}: bad {name} field {value!r} (out of range, misspelt, or a date "
                "that never occurs); ranges: minute 0-59, hour 0-23, day-of-month 1-31, "
                f"month 1-12 or JAN-DEC, day-of-week 0-7 or SUN-SAT; {_EXAMPLE}"
            )
    return f"cron {expr!r} is not a valid cron expression ({reason}); {_EXAMPLE}"


def _minutes(gap: dt.timedelta) -> str:
    minutes = int(gap.total_seconds() // 60)
    return "minute" if minutes == 1 else f"{minutes} minutes"


def describe(expr: str) -> str:
    """A human reading of a valid expression, e.g. ``At 06:15 every day``."""
    text = CronSim(expr, _PROBE_START).explain()
    return text[:1].lower() + text[1:]


def next_runs(expr: str, time_zone: str, after: dt.datetime, count: int = 3) -> list[dt.datetime]:
    """The next ``count`` run times after ``after``, in the schedule's time zone.

    Args:
        expr: a valid cron expression (see :func:`cron_problem`).
        time_zone: IANA time zone the expression is read in, e.g. ``Europe/Berlin``.
        after: an aware datetime.
        count: how many run times.
    """
    start = after.astimezone(ZoneInfo(time_zone))
    return list(islice(CronSim(expr, start), count))
