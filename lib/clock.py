"""Clock adapters: the system UTC clock and a fixed clock for tests."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


class SystemClock:
    """The real UTC clock."""

    def now(self) -> dt.datetime:
        """Current UTC time."""
        return dt.datetime.now(dt.UTC)


@dataclass
class FixedClock:
    """A clock that returns ``at`` and moves only when told to."""

    at: dt.datetime

    def now(self) -> dt.datetime:
        """The fixed time."""
        return self.at

    def advance(self, **delta: float) -> None:
        """Move the clock forward by a ``timedelta(**delta)``."""
        self.at += dt.timedelta(**delta)
