"""One process of the fault suite: run a pipeline (maybe killed at a crash point), or recover.

``python -m tests.reliability.worker MODE HOME CONFIGS BASE_URL TENANT PIPELINE START END``

* ``run``: request the pipeline's run for ``[START, END]`` and deliver until idle. With
  ``CONVERGENCE_CRASH_AT`` set, the process SIGKILLs itself at that boundary
  (``lib/faultpoints.py``).
* ``recover``: what an operator does after a crash — resume the bus journal, then
  ``convergence recover --run`` the run, then deliver until idle.

Every event published is appended to ``HOME/published.jsonl`` (type, event id, run) through an
``O_APPEND`` descriptor, before it is published, so the file survives the kill. The run id is
written to ``HOME/run_id`` as soon as the run is requested.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any


def _published_log(home: Path) -> Any:
    fd = os.open(home / "published.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def record(event: Any) -> None:
        line = {"type": event.TYPE, "event_id": event.event_id, "run": event.pipeline_logging_id}
        os.write(fd, (json.dumps(line) + "\n").encode())

    return record


def main(argv: list[str]) -> int:
    from events.models import Window
    from events.topology import load_topology
    from lib.demo import demo_environment
    from lib.recovery import recover
    from lib.runs import request_run
    from lib.settings import Settings
    from lib.wiring import build_runtime, handler_functions, install

    mode, home, configs, base_url, tenant, pipeline, start, end = argv
    home_path = Path(home)
    env = demo_environment(home_path / "state", base_url, [tenant])
    env["CONVERGENCE_CONFIG_DIR"] = configs
    env["CONVERGENCE_BUS_BACKOFF_SCALE"] = "0.001"
    settings = Settings.from_env(env)
    settings.home.mkdir(parents=True, exist_ok=True)
    rt = build_runtime(settings, handlers=handler_functions(load_topology()))
    install(rt)
    record = _published_log(home_path)
    publish = rt.bus.publish

    def logged(event: Any) -> str:
        record(event)
        return publish(event)

    rt.bus.publish = logged  # type: ignore[method-assign]
    bus: Any = rt.bus
    if mode == "run":
        window = Window(start=dt.date.fromisoformat(start), end=dt.date.fromisoformat(end))
        event = request_run(rt, tenant, pipeline, window, trigger_by="fault-suite")
        (home_path / "run_id").write_text(event.pipeline_logging_id)
        bus.run_until_idle()
    else:
        bus.run_until_idle()  # resumes what the killed process left in flight
        run_id = (home_path / "run_id").read_text().strip()
        plans = recover(rt, tenant, run_id=run_id, force=True)
        (home_path / "recovered.json").write_text(json.dumps([p.describe() for p in plans]))
        bus.run_until_idle()
    install(None)
    rt.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
