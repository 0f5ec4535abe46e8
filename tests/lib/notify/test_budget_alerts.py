"""Budget alerts end to end: cost_intelligence publishes ``budget.crossed``, the topology routes
it to ``notify``, which tells the channel that asked for budgets — once, across re-runs."""

from __future__ import annotations

import pytest

from events.models import BudgetCrossed
from lib.runs import request_run
from tests.lib.notify.support import WINDOW, notify_configs, secrets

HOOK = "/hooks/convergence"


@pytest.fixture
def platform(make_platform, receiver, tmp_path):
    configs = notify_configs(
        tmp_path,
        receiver.base_url,
        webhook={"events": ["budget.crossed"], "pipelines": ["cost_intelligence"]},
    )
    budgets = configs / "acme/reporting/cost/cost_intelligence/budgets.yml"
    budgets.write_text(
        'kind: budgets\nbudgets:\n  - name: openai_small\n    monthly_amount: "50"\n'
        "    scope: {providers: [openai]}\n    thresholds: {actual: [50, 100], forecast: [100]}\n"
    )
    platform = make_platform(config_dir=configs, tenants=("acme",))
    platform.rt.secrets = secrets(receiver.base_url)
    return platform


def run(platform, pipeline: str) -> None:
    request_run(platform.rt, "acme", pipeline, WINDOW)
    platform.drain()


@pytest.mark.integration
def test_a_crossed_budget_reaches_the_channel_that_asked_once_across_reruns(platform, receiver):
    run(platform, "openai_costs")  # two days of OpenAI spend: well over $50
    run(platform, "cost_intelligence")
    events = platform.rt.bus.published_events(BudgetCrossed.TOPIC)
    crossed = sorted((e.basis, e.threshold_percent) for e in events)
    assert crossed == [("actual", 50), ("actual", 100), ("forecast", 100)]
    bodies = [r.json() for r in receiver.to(HOOK)]
    assert sorted((b["budget_crossed"]["basis"], b["budget_crossed"]["threshold_percent"])
                  for b in bodies) == crossed  # fmt: skip
    assert {b["type"] for b in bodies} == {"budget.crossed"}
    assert all(b["summary"].startswith("acme: budget openai_small") for b in bodies)
    platform.clock.advance(minutes=30)
    run(platform, "cost_intelligence")  # the same month, the same crossings: nothing new
    assert len(platform.rt.bus.published_events(BudgetCrossed.TOPIC)) == len(events)
    assert len(receiver.to(HOOK)) == len(bodies)
