"""Fault switches of the sandbox servers, settable at construction, at runtime and over HTTP.

| switch            | effect                                                            |
|-------------------|-------------------------------------------------------------------|
| rate_limit: N     | the next N provider requests get 429 with ``Retry-After``          |
| retry_after: s    | seconds sent in ``Retry-After`` (default 1)                       |
| server_error: N   | the next N provider requests get 500                              |
| slow: s           | delay every provider request by s seconds (``slow_count`` limits) |
| slow_count: N     | only the next N requests are slow (null: all while ``slow`` > 0)  |
| truncated_json: N | the next N pages are cut in half                                  |
| malformed_json: N | the next N pages are not valid JSON                               |
| repeat_cursor     | ``next_page`` never changes and ``has_more`` stays true           |
| empty_pages: N    | the next N pages are empty but say ``has_more: true``             |
| trailing_cursor   | the last page still returns a ``next_page`` (``has_more: false``) |
| spike             | ``{day, factor, tenant?}``: multiply one day's usage and costs    |
| overbill          | ``{day, model, factor, tenant?}``: bill one model's line items of |
|                   | one day at ``factor`` x what its usage costs (usage unchanged)     |

Over HTTP: ``POST /_sandbox/faults`` with a JSON object of switches (merged),
``GET`` shows them, ``DELETE`` clears them.
"""

from __future__ import annotations

import datetime as dt
import threading
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from lib.sandbox.data import Spike

COUNTERS = ("rate_limit", "server_error", "truncated_json", "malformed_json", "empty_pages")


class SpikeSettings(BaseModel):
    """One day whose usage is multiplied."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: dt.date
    factor: Decimal = Field(Decimal(10), gt=0)
    tenant: str | None = None


class OverbillSettings(BaseModel):
    """One day on which a model's billed amounts exceed what its usage costs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    day: dt.date
    model: str
    factor: Decimal = Field(Decimal("1.1"), gt=0)
    tenant: str | None = None

    def applies(self, tenant: str, day: dt.date, model: str | None) -> bool:
        """Whether a cost row of ``model`` billed to ``tenant`` on ``day`` is inflated."""
        return self.day == day and self.model == model and self.tenant in (None, tenant)


class FaultSettings(BaseModel):
    """Every switch and its current value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rate_limit: int = Field(0, ge=0)
    retry_after: float = Field(1.0, ge=0)
    server_error: int = Field(0, ge=0)
    slow: float = Field(0.0, ge=0)
    slow_count: int | None = Field(None, ge=0)
    truncated_json: int = Field(0, ge=0)
    malformed_json: int = Field(0, ge=0)
    repeat_cursor: bool = False
    empty_pages: int = Field(0, ge=0)
    trailing_cursor: bool = False
    spike: SpikeSettings | None = None
    overbill: OverbillSettings | None = None


class Faults:
    """Thread-safe holder of the fault switches."""

    def __init__(self, **initial: Any) -> None:
        self._lock = threading.Lock()
        self._state = FaultSettings.model_validate(initial)

    def set(self, **changes: Any) -> None:
        """Change some switches (others keep their value).

        Raises:
            pydantic.ValidationError: an unknown switch or a bad value.
        """
        with self._lock:
            merged = {**self._state.model_dump(), **changes}
            self._state = FaultSettings.model_validate(merged)

    def clear(self) -> None:
        """Turn every switch off."""
        with self._lock:
            self._state = FaultSettings()

    @property
    def state(self) -> FaultSettings:
        """The current switches."""
        return self._state

    def take(self, counter: str) -> bool:
        """Consume one unit of a counter switch; True when it fired."""
        with self._lock:
            remaining = getattr(self._state, counter)
            if remaining <= 0:
                return False
            self._state = self._state.model_copy(update={counter: remaining - 1})
            return True

    def take_slow(self) -> float:
        """Seconds to delay this request (consumes ``slow_count`` when set)."""
        with self._lock:
            state = self._state
            if state.slow <= 0 or state.slow_count == 0:
                return 0.0
            if state.slow_count is not None:
                self._state = state.model_copy(update={"slow_count": state.slow_count - 1})
            return state.slow

    def spike(self) -> Spike | None:
        """The spike switch as a data-generation Spike."""
        spike = self._state.spike
        return Spike(spike.day, spike.factor, spike.tenant) if spike else None
