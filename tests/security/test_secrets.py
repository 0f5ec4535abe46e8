"""A run with known secret values: logs, API responses, step records and events never hold them.

acme's provider key is the sandbox's valid key (its run completes); globex's is a distinctive
wrong key the sandbox refuses (its run fails), so the error path is covered too. The canary
test adds newline-terminated keys (stripped, with a warning) and a key no header may carry
(terminal), runs every pipeline at DEBUG, and greps every log record, every cell of the
warehouse file, the dead letters, the published messages and the HTML report.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from events.models import Window
from lib import metadata
from lib.adapters.env_secrets import EnvSecrets
from lib.demo import demo_pipelines, prepare_sources, split_gold
from lib.metadata import TABLES, metadata_table
from lib.observability import HEADER_LOGGERS, CloudLoggingFormatter, configure_logging
from lib.ports import DeadLetterFilter
from lib.report.html import render_html
from lib.report.model import build_report
from lib.runs import request_run
from lib.span_file import span_file
from lib.sql import table_sql
from tests.lib.api import harness
from tests.support.warehouse_dump import warehouse_text

ACME_SECRET = "sk-sandbox-acme"
GLOBEX_SECRET = "sk-live-DO-NOT-LEAK-7f3a9c1e"


@pytest.mark.integration
def test_secrets_never_leak(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    from lib.sandbox.server import SandboxServer

    json_logs = logging.StreamHandler(sys.stderr)
    json_logs.setFormatter(CloudLoggingFormatter())
    logging.getLogger().addHandler(json_logs)
    seen: list[str] = []
    try:
        with SandboxServer() as sandbox, caplog.at_level(logging.DEBUG):
            env = {
                "CONVERGENCE_OPENAI_BASE_URL": sandbox.base_url,
                "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": ACME_SECRET,
                "CONVERGENCE_SECRET_GLOBEX_OPENAI_ADMIN_KEY": GLOBEX_SECRET,
            }
            rt = harness.make_runtime(
                tmp_path / "home", harness.make_config(tmp_path), env, real=True
            )
            with harness.installed(rt):
                keys = harness.onboard(rt)
                c = harness.client()
                runs = {}
                for tenant in ("acme", "globex"):
                    resp = harness.call(
                        c, "POST", "/pipelines/run/openai_costs", keys.active[tenant]
                    )
                    seen.append(resp.get_data(as_text=True))
                    runs[tenant] = resp.get_json()["run_id"]
                rt.bus.run_until_idle()  # type: ignore[attr-defined]
                statuses = {}
                for tenant, run_id in runs.items():
                    key = keys.active[tenant]
                    for path in (f"/pipelines/runs/{run_id}", "/pipelines/runs", "/nope"):
                        resp = harness.call(c, "GET", path, key)
                        seen.append(resp.get_data(as_text=True))
                    statuses[tenant] = harness.call(
                        c, "GET", f"/pipelines/runs/{run_id}", key
                    ).get_json()
                    # a refused request carrying the tenant's real key, then a mangled one
                    seen.append(
                        harness.call(c, "POST", "/pipelines/run/x", key).get_data(as_text=True)
                    )
                    seen.append(
                        harness.call(c, "GET", "/pipelines/runs", key[:-2]).get_data(as_text=True)
                    )
                    for table in TABLES:
                        rows = rt.warehouse.query(
                            f"SELECT * FROM {table_sql(metadata_table(tenant, table))}"
                        )
                        seen.append(repr(rows))
                seen += [e.model_dump_json() for e in rt.bus.published_events()]  # type: ignore[attr-defined]
                seen += [repr(d) for d in rt.bus.dead_letters(DeadLetterFilter())]
            rt.close()
    finally:
        logging.getLogger().removeHandler(json_logs)
    captured = capsys.readouterr()
    seen += [caplog.text, captured.out, captured.err]
    seen += [r.getMessage() for r in caplog.records]
    seen += [repr(r.args) for r in caplog.records]

    assert statuses["acme"]["status"] == "COMPLETE"
    assert statuses["globex"]["status"] == "FAILED" and statuses["globex"]["error"]
    assert "401" in statuses["globex"]["error"]  # the provider refused the wrong key
    assert caplog.records and captured.err  # logs were really captured
    everything = "\n".join(seen)
    assert ACME_SECRET not in everything
    assert GLOBEX_SECRET not in everything
    assert GLOBEX_SECRET[8:] not in everything  # nor a recognisable part of it
    for key in keys.active.values():
        assert key.rpartition("_")[2] not in everything  # nor an API key's secret part


# --- canary: newline-terminated and broken secrets, DEBUG everywhere, grep everything ------

CANARY_OK = "sk-sandbox-acme\n"  # valid once stripped (what `echo key | ...` stores)
CANARY_WRONG = "sk-canary-WRONG-5e1d7b\n"  # stripped, then refused by the provider (401)
CANARY_BROKEN = "sk-canary-BROKEN-a93f\nX-Injected: 1\n"  # a header httpx refuses to send
CANARIES = ("sk-sandbox-acme", "canary", "WRONG-5e1d7b", "BROKEN-a93f", "X-Injected")


@contextlib.contextmanager
def debug_everywhere() -> Iterator[None]:
    """The project's logging setup at DEBUG, and every other logger at DEBUG too.

    Only the HTTP client loggers the setup pins to WARNING (``HEADER_LOGGERS``) stay there:
    that pin is the behaviour under test. Restores handlers and levels afterwards.
    """
    root = logging.getLogger()
    names = list(logging.root.manager.loggerDict)
    saved = (list(root.handlers), root.level, {n: logging.getLogger(n).level for n in names})
    configure_logging(level="DEBUG")
    for name in logging.root.manager.loggerDict:
        if not name.startswith(HEADER_LOGGERS):
            logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name in logging.root.manager.loggerDict:
            logging.getLogger(name).setLevel(saved[2].get(name, logging.NOTSET))


@pytest.mark.integration
def test_canary_secrets_reach_no_log_table_dead_letter_or_report(
    make_platform: Any, caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str]
) -> None:
    platform = make_platform()
    rt = platform.rt
    rt.secrets = EnvSecrets(
        {
            "CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY": CANARY_OK,
            "CONVERGENCE_SECRET_ACME_ANTHROPIC_ADMIN_KEY": CANARY_OK,
            "CONVERGENCE_SECRET_GLOBEX_OPENAI_ADMIN_KEY": CANARY_WRONG,
            "CONVERGENCE_SECRET_GLOBEX_ANTHROPIC_ADMIN_KEY": CANARY_BROKEN,
        }
    )
    span = Window(start=dt.date(2026, 11, 12), end=dt.date(2026, 11, 19))
    with debug_everywhere(), caplog.at_level(logging.DEBUG):
        pipelines = demo_pipelines(rt.config_dir)
        prepare_sources(rt, pipelines, span, as_of=None)
        providers, gold = split_gold(pipelines)
        runs = {}
        for group in (providers, gold):
            for p in group:
                event = request_run(rt, p.tenant_id, p.config.pipeline_id, span)
                runs[(p.tenant_id, p.config.pipeline_id)] = event.pipeline_logging_id
            platform.drain()
        status = {
            key: metadata.run_status(rt.warehouse, key[0], run_id) for key, run_id in runs.items()
        }
        report = render_html(build_report(rt.warehouse, "acme"))
        letters = rt.bus.dead_letters(DeadLetterFilter())
        published = rt.bus.published  # type: ignore[attr-defined]
    rt.close()
    tables = warehouse_text(rt.settings.duckdb_path)
    captured = capsys.readouterr()
    spans = span_file(rt.settings.home)

    assert {k: s["status"] for k, s in status.items() if k[0] == "acme"} == dict.fromkeys(
        [k for k in status if k[0] == "acme"], "COMPLETE"
    )
    openai, anthropic = status["globex", "openai_costs"], status["globex", "anthropic_costs"]
    assert openai["status"] == "FAILED" and "401" in openai["error"]
    assert anthropic["status"] == "FAILED" and "not a legal HTTP header" in anthropic["error"]
    assert "anthropic_admin_key" in anthropic["error"]
    warnings = [r.getMessage() for r in caplog.records if "whitespace" in r.getMessage()]
    assert any("CONVERGENCE_SECRET_ACME_OPENAI_ADMIN_KEY" in w for w in warnings)
    assert len(tables) > 10 and any("step_logs" in t for t in tables)  # really read
    assert '"kind": "CLIENT"' in spans.read_text()  # provider calls were traced

    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s %(args)r")
    haystacks = {
        "log records": "\n".join(formatter.format(r) for r in caplog.records),
        "stderr/stdout": captured.err + captured.out,
        "warehouse": "\n".join(tables.values()),
        "dead letters": "\n".join(repr(x) for x in letters),
        "published messages": "\n".join(repr(m) for m in published),
        "report": report,
        "spans": spans.read_text(),
    }
    hits = {
        (where, canary)
        for where, text in haystacks.items()
        for canary in CANARIES
        if canary in text
    }
    assert hits == set()
