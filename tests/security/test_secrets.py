"""A run with known secret values: logs, API responses, step records and events never hold them.

acme's provider key is the sandbox's valid key (its run completes); globex's is a distinctive
wrong key the sandbox refuses (its run fails), so the error path is covered too.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

import pytest

from lib.metadata import TABLES, metadata_table
from lib.observability import CloudLoggingFormatter
from lib.ports import DeadLetterFilter
from lib.sql import table_sql
from tests.lib.api import harness

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
