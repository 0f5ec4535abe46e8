"""Control-plane measures, each printed as one JSON line.

    python benchmarks/control_runs.py hop [--events N]   # events/codec encode + decode per hop
    python benchmarks/control_runs.py imports             # -X importtime of the entry points

* ``hop``: one bus hop as the embedded bus and handlers do it — ``to_message`` (JSON
  CloudEvent + attributes), Eventarc wrapping, then decoding: ``from_cloudevent`` twice per
  hop (the CLI's progress display, then the handler), every event distinct. Microseconds per
  hop, median of batches.
* ``imports``: cumulative ``-X importtime`` microseconds of ``handlers.ingest``, of what its
  first event loads (``lib.steps.runner`` and the ingest step), and of ``lib.cli`` with its
  parser built (what ``convergence --help`` imports), each in a fresh interpreter.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SOURCE = Path(os.environ.get("CONVERGENCE_BENCH_SOURCE", HERE.parent))
IMPORTS = {
    "handler_module": "import handlers.ingest",
    "handler_first_event": "import handlers.ingest, lib.steps.runner, lib.steps.ingest",
    "cli_help": "import lib.cli; lib.cli.build_parser()",
}


def hop(events: int) -> dict[str, Any]:
    """Encode and decode ``events`` distinct events; microseconds per hop."""
    from events import codec
    from events.models import IngestCompleted, StepRef, Window

    def event(i: int) -> IngestCompleted:
        return IngestCompleted(
            event_id=f"evt-{i:012d}",
            occurred_at=dt.datetime(2026, 11, 1, tzinfo=dt.UTC),
            tenant_id="acme",
            pipeline_id="openai_costs",
            pipeline_logging_id=f"run-{i:016x}",
            window=Window(start=dt.date(2026, 11, 1), end=dt.date(2026, 11, 1)),
            step_done=StepRef(name="ingest_costs", index=0, type="ingest"),
            next_step=StepRef(name="check_costs", index=1, type="dq"),
            rows_loaded=i,
            tables=["acme_raw_openai.costs"],
        )

    batch = 200
    samples = []
    built = [event(i) for i in range(events)]
    for start in range(0, events, batch):
        began = time.perf_counter()
        for item in built[start : start + batch]:
            message = codec.to_message(item)
            wrapped = codec.to_eventarc(
                message,
                topic="projects/p/topics/ingest-completed",
                subscription="projects/p/subscriptions/dq",
                message_id=item.event_id,
                publish_time=item.occurred_at,
            )
            seen = codec.from_cloudevent(wrapped)  # the progress display
            assert codec.from_cloudevent(wrapped) == seen == item  # the handler
        samples.append((time.perf_counter() - began) / batch * 1e6)
    return {"events": events, "us_per_hop": statistics.median(samples), "min": min(samples)}


def importtime(statement: str) -> int:
    """Cumulative microseconds of the imports ``statement`` makes, in a fresh interpreter."""
    bootstrap = f"import sys; sys.path.insert(0, {str(HERE)!r}); __import__('use_source').apply(); "
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", bootstrap + statement],
        cwd=SOURCE,
        env={**os.environ, "CONVERGENCE_BENCH_SOURCE": str(SOURCE)},
        capture_output=True,
        text=True,
        check=True,
    )
    total = 0
    for line in out.stderr.splitlines():
        parts = line.split("|")
        top_level = len(parts) == 3 and not parts[2].startswith("  ")
        if top_level and parts[1].strip().isdigit():
            total += int(parts[1])
    return total


def imports(repeats: int) -> dict[str, Any]:
    """Median cumulative import microseconds per entry point."""
    return {
        name: statistics.median(importtime(statement) for _ in range(repeats))
        for name, statement in IMPORTS.items()
    }


def main() -> None:
    """Run one mode and print its JSON line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["hop", "imports"])
    parser.add_argument("--events", type=int, default=2_000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    result = hop(args.events) if args.mode == "hop" else imports(args.repeats)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.path.insert(0, str(HERE))
    __import__("use_source").apply()
    main()
