"""What a step executor receives and returns."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from events.models import Event, StepRef
from lib.config.loader import Pipeline
from lib.config.pipeline import DqStep, IngestStep, TransformStep
from lib.wiring import Runtime


@dataclass(frozen=True)
class StepContext:
    """Everything one step invocation needs."""

    runtime: Runtime
    pipeline: Pipeline
    event: Event
    ref: StepRef
    step: IngestStep | DqStep | TransformStep

    @property
    def run_id(self) -> str:
        """The run's pipeline_logging_id."""
        return self.event.pipeline_logging_id

    @property
    def field(self) -> str:
        """The config path of this step, for error messages."""
        return f"steps[{self.ref.index}]"


@dataclass(frozen=True)
class StepOutcome:
    """What a step did; stored in its COMPLETE record so a redelivery can re-publish."""

    rows: int
    tables: list[str] = field(default_factory=list)
    expectations: int = 0
    warnings: int = 0
    failed: list[str] = field(default_factory=list)
    details: dict[str, Any] = field(default_factory=dict)
    changes: dict[str, list[dt.date]] = field(default_factory=dict)
    """Table (``dataset.table``) → the usage days the step's write touched (lib/changes.py)."""

    @property
    def changed_days(self) -> list[dt.date]:
        """Every usage day any table of the step changed on, in order."""
        return sorted({day for days in self.changes.values() for day in days})

    def to_metadata(self) -> dict[str, Any]:
        """Serialisable form for the step record."""
        return {
            "rows": self.rows,
            "tables": self.tables,
            "expectations": self.expectations,
            "warnings": self.warnings,
            "failed": self.failed,
            "details": self.details,
            "changes": {t: [d.isoformat() for d in sorted(ds)] for t, ds in self.changes.items()},
        }

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> StepOutcome:
        """Rebuild an outcome from a COMPLETE record's metadata."""
        return cls(
            rows=int(data.get("rows", 0)),
            tables=list(data.get("tables", [])),
            expectations=int(data.get("expectations", 0)),
            warnings=int(data.get("warnings", 0)),
            failed=list(data.get("failed", [])),
            details=dict(data.get("details", {})),
            changes={
                table: [dt.date.fromisoformat(d) for d in days]
                for table, days in dict(data.get("changes", {})).items()
            },
        )
