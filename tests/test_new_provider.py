"""docs/configuration.md "Adding a provider without code", run as written.

The walkthrough's files (marked ``<!-- file: … -->`` on that page) are copied into a config
tree; a sandbox fixture serves the imaginary TokenMeter API (offset paging, X-Api-Token
header); acme's one-line pipeline runs to COMPLETE with every row typed in its raw table.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
from decimal import Decimal
from pathlib import Path
from typing import Any

from events.models import Window
from lib import metadata
from lib.config.validate import validate_tree
from lib.ports import TableRef
from lib.runs import request_run
from lib.sql import table_sql
from tests.platform import CONFIGS, REPO

GUIDE = REPO / "docs/configuration.md"
WINDOW = Window(start=dt.date(2026, 11, 18), end=dt.date(2026, 11, 19))
PER_DAY = 60  # more than one page of 50


def walkthrough_files() -> dict[str, str]:
    """File path (under configs/) → text, for every marked code block of the guide."""
    blocks = re.findall(r"<!-- file: (\S+) -->\n```\w*\n(.*?)```", GUIDE.read_text(), re.S)
    return dict(blocks)


def items(day: str) -> list[dict[str, Any]]:
    """TokenMeter's rows of one day: 30 workspaces, 2 models."""
    return [
        {
            "date": day,
            "workspace": {"id": f"ws_{n // 2}"},
            "model": ("tm-large", "tm-small")[n % 2],
            "spend": {"amount": f"{n}.125000001", "currency": "USD"},
            "requests": n,
        }
        for n in range(PER_DAY)
    ]


def daily_usage(query: dict[str, list[str]]) -> dict[str, Any]:
    day = query["from"][0][:10]
    start, limit = int(query["offset"][0]), int(query["limit"][0])
    rows = items(day)
    return {"items": rows[start : start + limit], "total": len(rows)}


def test_the_guide_marks_the_walkthrough_files():
    assert sorted(walkthrough_files()) == [
        "_library/pipelines/tokenmeter_costs/tokenmeter_costs.yml",
        "_library/pipelines/tokenmeter_costs/tokenmeter_usage_source.yml",
        "acme/tokenmeter/tokenmeter_costs/tokenmeter_costs.yml",
    ]


def configs_with_walkthrough(tmp_path: Path) -> Path:
    root = tmp_path / "configs"
    shutil.copytree(CONFIGS, root)
    for rel, text in walkthrough_files().items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    return root


def test_the_walkthrough_validates(tmp_path):
    assert validate_tree(configs_with_walkthrough(tmp_path))[1] == []


def test_a_provider_added_by_config_alone_runs_end_to_end(make_platform, tmp_path):
    configs = configs_with_walkthrough(tmp_path)
    platform = make_platform(
        config_dir=configs,
        tenants=("acme",),
        canned={"/v2/usage/daily": daily_usage},
        env=lambda url: {
            "CONVERGENCE_TOKENMETER_BASE_URL": url,
            "CONVERGENCE_SECRET_ACME_TOKENMETER_KEY": "sk-sandbox-acme",
        },
    )
    event = request_run(platform.rt, "acme", "tokenmeter_costs", WINDOW)
    platform.drain()
    status = metadata.run_status(platform.rt.warehouse, "acme", event.pipeline_logging_id)
    assert status is not None and status["status"] == "COMPLETE", status

    sandbox = platform.sandbox
    offsets = [re.search(r"offset=(\d+)", r)[1] for r in sandbox.requests]  # type: ignore[attr-defined]
    assert offsets == ["0", "50", "0", "50"]
    assert {h["x-api-token"] for h in sandbox.seen_headers} == {"sk-sandbox-acme"}  # type: ignore[attr-defined]
    raw = table_sql(TableRef("acme_raw_tokenmeter", "daily_usage"))
    rows = platform.rt.warehouse.query(f"SELECT * FROM {raw} ORDER BY usage_date, requests")
    assert len(rows) == 2 * PER_DAY
    first = rows[0]
    assert first["usage_date"] == dt.date(2026, 11, 18) and first["workspace_id"] == "ws_0"
    assert first["amount"] == Decimal("0.125000001") and first["requests"] == 0
    dq = table_sql(metadata.metadata_table("acme", "dq_results"))
    results = platform.rt.warehouse.query(
        f"SELECT expectation_name, success FROM {dq} WHERE pipeline_logging_id = @run",
        {"run": event.pipeline_logging_id},
    )
    assert {r["expectation_name"]: r["success"] for r in results} == {
        "expect_column_values_to_be_between(amount)": True,
        "unique_merge_keys": True,
    }
