"""Cloud mode end to end: the real handlers under functions-framework on both emulators.

The session starts bqemulator and the Pub/Sub emulator; this test serves the ingest, dq
and transform handlers as three ``functions-framework`` processes on loopback, creates
the topology with push subscriptions to them, publishes ``run.requested`` and waits for
``run.completed`` on its topic. It then compares every row the run wrote (raw, silver and
the metadata step records) with an embedded run (DuckDB + in-process bus) of the same
pipeline, window, run id and clock against the same provider sandbox.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from events.codec import from_message
from events.models import Window
from lib import metadata
from lib.adapters.pubsub_topology import create_topology
from lib.demo import demo_environment
from lib.ports import TableRef, Warehouse
from lib.runs import request_run
from lib.settings import Settings
from lib.sql import table_sql
from lib.wiring import Runtime, open_runtime
from tests.platform import CONFIGS, NOW
from tests.support.bigquery import RETRY_DEADLINE, accept_emulator_uploads
from tests.support.cloud_session import bigquery_emulator, log_dir, pubsub_emulator
from tests.support.emulators import REPO, Process, free_port, process_error, spawn
from tests.support.pubsub import new_project, pubsub_clients

pytestmark = pytest.mark.integration

# Anthropic: ingest → dq → ingest → dq → ingest (prices) → transform → transform → dq, so every
# handler runs more than once.
# (The OpenAI raw table uses BIGNUMERIC, which bqemulator cannot create: docs/cloud.md.)
TENANT, PIPELINE = "acme", "anthropic_costs"
WINDOW = Window(start=dt.date(2026, 11, 17), end=dt.date(2026, 11, 19))
RUN_ID = "run-cloud-e2e-0001"
RESULT_TOPICS = ("run-completed", "run-failed")
TABLES = {
    ("raw_anthropic", "cost_report"): Decimal(0),
    ("raw_anthropic", "usage_messages"): Decimal(0),
    # bqemulator turns CAST(x AS NUMERIC) into DuckDB's DECIMAL(18,3), so the silver money
    # columns come back rounded to 3 places there (BigQuery keeps 9): allow that rounding.
    ("silver_cost", "focus_daily"): Decimal("0.0005"),
}
RUN_TIMEOUT = 120.0
# bqemulator rewrites ARRAY_AGG(... ORDER BY ... LIMIT n) (the DQ failure samples) into SQL
# it cannot parse, so the e2e copy of the configs keeps the expectations without samples.
# Real BigQuery runs them all; the DQ planner's SQL is tested against DuckDB and golden files.
UNSAMPLED = {"expect_column_values_to_not_be_null", "expect_table_row_count_to_be_between"}


def emulator_configs(tmp_path: Path) -> Path:
    """A copy of ``configs/`` within bqemulator's reach.

    DQ rule files keep only expectations without samples (see UNSAMPLED; the uniqueness the
    merge keys imply is turned off: check_merge_keys: false), and BIGNUMERIC becomes NUMERIC
    in table schemas, source columns and SQL: bqemulator cannot create BIGNUMERIC columns
    (docs/cloud.md). Real BigQuery runs the shipped configs; exact BIGNUMERIC money is covered
    by the DuckDB runs and the adapter's unit tests.
    """
    import json
    import re
    import shutil

    import yaml

    target = tmp_path / "configs"
    shutil.copytree(CONFIGS, target)
    for rules_file in target.rglob("*_dq.yml"):
        rules = yaml.safe_load(rules_file.read_text())
        kept = [e for e in rules["expectations"] if e["expectation_type"] in UNSAMPLED]
        rules_file.write_text(yaml.safe_dump({**rules, "expectations": kept}))
    for template in (target / "_library/pipelines").glob("*/*.yml"):  # implied uniqueness too
        pipeline = yaml.safe_load(template.read_text())
        if "steps" in pipeline:
            for step in pipeline["steps"]:
                if step["type"] == "dq":
                    step["check_merge_keys"] = False
            template.write_text(yaml.safe_dump(pipeline, sort_keys=False))
    for schema_file in target.rglob("*.json"):
        fields = json.loads(schema_file.read_text())
        if isinstance(fields, list) and all(isinstance(f, dict) for f in fields):
            for f in fields:
                if f.get("type") == "BIGNUMERIC":
                    f.update(type="NUMERIC", precision=None, scale=None)
            schema_file.write_text(json.dumps(fields))
    for sql_file in target.rglob("*.sql"):
        sql_file.write_text(sql_file.read_text().replace("AS BIGNUMERIC", "AS NUMERIC"))
    for source_file in target.rglob("*_source.yml"):  # raw tables derived from records.columns
        text = re.sub(r"type: BIGNUMERIC(\(\d+, ?\d+\))?", "type: NUMERIC", source_file.read_text())
        source_file.write_text(text)
    return target


def serve_handlers(env: dict[str, str]) -> dict[str, Process]:
    """Start one functions-framework process per handler; wait until each accepts requests."""
    processes: dict[str, Process] = {}
    for name in ("ingest", "dq", "transform", "notify"):
        port = free_port()
        argv = [
            sys.executable, "-m", "functions_framework", "--target", name,
            "--source", str(REPO / "tests" / "integration" / "cloud_handlers.py"),
            "--signature-type", "cloudevent", "--host", "127.0.0.1", "--port", str(port),
        ]  # fmt: skip
        processes[name] = spawn(f"handler-{name}", argv, env, log_dir())
        processes[name].info["url"] = f"http://127.0.0.1:{port}/"
    for process in processes.values():
        wait_listening(process)
    return processes


def wait_listening(process: Process, timeout: float = 60.0) -> None:
    """Wait until the handler's port accepts connections (any HTTP answer will do)."""
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            process_error(process, f"exited with code {process.popen.returncode}")
        try:
            httpx.get(process.info["url"], timeout=2)
            return
        except httpx.TransportError:
            time.sleep(0.2)
    process_error(process, f"did not listen within {timeout:.0f}s")


@pytest.fixture
def cloud(make_platform: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """(embedded platform, cloud runtime, env, handler processes) sharing one sandbox."""
    configs = emulator_configs(tmp_path)
    platform = make_platform(config_dir=configs, tenants=(TENANT,))
    pubsub_host = pubsub_emulator().info["host"]
    monkeypatch.setenv("PUBSUB_EMULATOR_HOST", pubsub_host)
    env = {
        **os.environ,
        **demo_environment(tmp_path / "cloud-home", platform.sandbox.base_url, [TENANT]),
        "CONVERGENCE_MODE": "cloud",
        "CONVERGENCE_CONFIG_DIR": str(configs),
        "GOOGLE_CLOUD_PROJECT": new_project(),
        "PUBSUB_EMULATOR_HOST": pubsub_host,
        "CONVERGENCE_BIGQUERY_ENDPOINT": bigquery_emulator().info["endpoint"],
        "CONVERGENCE_BQ_RETRY_DEADLINE_SECONDS": str(RETRY_DEADLINE),
        "CONVERGENCE_SECRETS": "env",
        "CONVERGENCE_FIXED_NOW": NOW.isoformat(),
        "PYTHONPATH": str(REPO),
    }
    handlers = serve_handlers(env)
    accept_emulator_uploads()
    try:
        with open_runtime(Settings.from_env(env)) as rt:
            yield platform, rt, env, handlers
    finally:
        for process in handlers.values():
            process.stop()


def watch_results(project: str, subscriber: Any) -> dict[str, str]:
    """Pull subscriptions on the run-completed/run-failed topics (nobody else listens)."""
    paths = {}
    for topic in RESULT_TOPICS:
        path = f"projects/{project}/subscriptions/e2e-watch-{topic}"
        subscriber.create_subscription(
            request={"name": path, "topic": f"projects/{project}/topics/{topic}"}
        )
        paths[topic] = path
    return paths


def wait_for_result(subscriber: Any, paths: dict[str, str], handlers: dict[str, Process]) -> Any:
    """The first run.completed or run.failed event of RUN_ID."""
    deadline = time.monotonic() + RUN_TIMEOUT
    while time.monotonic() < deadline:
        for name, process in handlers.items():
            if process.popen.poll() is not None:
                process_error(process, f"(handler {name}) died")
        for path in paths.values():
            response = subscriber.pull(
                request={"subscription": path, "max_messages": 10, "return_immediately": True}
            )
            for received in response.received_messages:
                event = from_message(received.message.data)
                if event.pipeline_logging_id == RUN_ID:
                    return event
        time.sleep(0.5)
    logs = "\n\n".join(f"--- {p.name}\n{p.log_tail(15)}" for p in handlers.values())
    raise AssertionError(f"no run.completed/run.failed within {RUN_TIMEOUT:.0f}s\n{logs}")


def rows(warehouse: Warehouse, dataset: str, table: str, exact: bool) -> list[dict[str, Any]]:
    """Every row, sorted by all values (by the non-decimal ones unless ``exact``)."""
    ref = TableRef(f"{TENANT}_{dataset}", table)
    found = warehouse.query(f"SELECT * FROM {table_sql(ref)}")
    return sorted(found, key=lambda r: sorted(
        (k, repr(v)) for k, v in r.items() if exact or not isinstance(v, Decimal)
    ))  # fmt: skip


def same(a: Any, b: Any, tolerance: Decimal) -> bool:
    if isinstance(a, Decimal) and isinstance(b, Decimal):
        return abs(a - b) <= tolerance
    return bool(a == b)


def differences(
    cloud: list[dict[str, Any]], embedded: list[dict[str, Any]], tolerance: Decimal
) -> list[str]:
    """Every differing column of every row pair: (cloud value, embedded value)."""
    if len(cloud) != len(embedded):
        return [f"{len(cloud)} rows in the cloud run, {len(embedded)} embedded"]
    found = []
    for mine, theirs in zip(cloud, embedded, strict=True):
        diff = {k: (mine.get(k), theirs.get(k)) for k in mine.keys() | theirs.keys()
                if not same(mine.get(k), theirs.get(k), tolerance)}  # fmt: skip
        if diff:
            found.append(f"columns differ: {diff}")
    return found


PER_PROCESS = frozenset(
    {"worker", "delivery", "trace_id", "warehouse_statements", "bytes_processed", "bytes_billed"}
)
"""Step metadata that differs by process, message, trace or engine, not by what the step did."""


def step_records(rt: Runtime) -> list[dict[str, Any]]:
    records = sorted(
        metadata.step_history(rt.warehouse, TENANT, RUN_ID),
        key=lambda r: (r["step_index"], r["status"]),
    )
    for record in records:
        meta = record.get("metadata") or {}
        record["metadata"] = {k: v for k, v in meta.items() if k not in PER_PROCESS}
    return records


def test_cloud_run_on_emulators_matches_the_embedded_run(cloud: Any) -> None:
    platform, rt, env, handlers = cloud
    request_run(platform.rt, TENANT, PIPELINE, WINDOW, run_id=RUN_ID)
    platform.drain()
    assert metadata.run_status(platform.rt.warehouse, TENANT, RUN_ID)["status"] == "COMPLETE"

    project = env["GOOGLE_CLOUD_PROJECT"]
    publisher, subscriber = pubsub_clients(env["PUBSUB_EMULATOR_HOST"])
    endpoints = {name: process.info["url"] for name, process in handlers.items()}
    create_topology(project, endpoints, publisher=publisher, subscriber=subscriber)
    paths = watch_results(project, subscriber)

    request_run(rt, TENANT, PIPELINE, WINDOW, run_id=RUN_ID)
    result = wait_for_result(subscriber, paths, handlers)

    assert result.TYPE == "convergence.run.completed.v1", result
    assert metadata.run_status(rt.warehouse, TENANT, RUN_ID)["status"] == "COMPLETE"
    for (dataset, table), tolerance in TABLES.items():
        exact = tolerance == 0
        cloud_rows = rows(rt.warehouse, dataset, table, exact)
        assert len(cloud_rows) > 0
        embedded_rows = rows(platform.rt.warehouse, dataset, table, exact)
        assert differences(cloud_rows, embedded_rows, tolerance) == [], f"{dataset}.{table}"
    records = step_records(rt)
    assert {r["step_index"] for r in records} == set(range(8))  # priced: load_prices … check
    assert records == step_records(platform.rt)
    publisher.transport.close()
    subscriber.close()
