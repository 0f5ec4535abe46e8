"""topology.json's ``publishes`` (Terraform's publisher grants) covers what the code publishes.

For every pipeline of every tenant and every step, the events the step runner publishes after
that step — success (also as the pipeline's last step), DQ failure under each ``on_failure``, a
terminal fault — plus the
``run.requested`` a handler publishes when a Cloud Scheduler trigger reaches it, must go to
topics its handler may publish to; otherwise Pub/Sub refuses the publish in the cloud only.
"""

from __future__ import annotations

import datetime as dt
from typing import get_args

from events.models import BudgetCrossed, RunRequested, StepRef, Window
from events.topology import load_topology
from lib.config.loader import tenants
from lib.config.pipeline import DqStep, TransformStep
from lib.steps.base import StepOutcome
from lib.steps.next_events import completion_events, run_failed
from lib.tenants import tenant_pipelines
from tests.deploy.conftest import REPO

NOW = dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)


def _cause(tenant: str, pipeline_id: str, ref: StepRef) -> RunRequested:
    return RunRequested(
        event_id="evt-0001-abcdef",
        occurred_at=NOW,
        tenant_id=tenant,
        pipeline_id=pipeline_id,
        pipeline_logging_id="run-0123456789abcdef",
        window=Window(start=dt.date(2026, 11, 19), end=dt.date(2026, 11, 19)),
        next_step=ref,
    )


def published_topics_by_step_type() -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    configs = REPO / "configs"
    for tenant in tenants(configs):
        for pipeline in tenant_pipelines(configs, tenant):
            config = pipeline.config
            for index, step in enumerate(config.steps):
                ref = config.step_ref(index)
                assert ref is not None
                cause = _cause(tenant, config.pipeline_id, ref)
                # any step may be the last of some pipeline: also end the pipeline here
                last = config.model_copy(update={"steps": config.steps[: index + 1]})
                variants = [(config, StepOutcome(rows=1)), (last, StepOutcome(rows=1))]
                if isinstance(step, DqStep):
                    for mode in get_args(DqStep.model_fields["on_failure"].annotation):
                        steps = list(config.steps)
                        steps[index] = step.model_copy(update={"on_failure": mode})
                        variant = config.model_copy(update={"steps": steps})
                        variants.append((variant, StepOutcome(rows=1, failed=["x"])))
                topics = out.setdefault(ref.type, {RunRequested.TOPIC})  # scheduler trigger
                for variant, outcome in variants:
                    events = completion_events(
                        variant, cause, ref, outcome, now=NOW, traceparent=None
                    )
                    topics |= {e.TOPIC for e in events}
                failed = run_failed(cause, ref, "boom", "DataError", now=NOW, traceparent=None)
                topics.add(failed.TOPIC)
                if isinstance(step, TransformStep) and step.publishes == "budget_crossed":
                    topics.add(BudgetCrossed.TOPIC)  # lib/budgets/alerts.py, after the write
    return out


def test_every_handler_may_publish_everything_its_steps_publish() -> None:
    published = published_topics_by_step_type()
    assert set(published) == {"ingest", "dq", "transform"}  # the configs exercise every type
    for handler in load_topology().handlers:
        missing = published.get(handler.step_type or "", set()) - set(handler.publishes)
        assert not missing, f"{handler.name} publishes to {missing}: add them to topology.json"


def test_no_handler_may_publish_more_than_it_does() -> None:
    """A handler without a step type (notify) publishes nothing: it only tells channels."""
    published = published_topics_by_step_type()
    for handler in load_topology().handlers:
        extra = set(handler.publishes) - published.get(handler.step_type or "", set())
        assert not extra, f"{handler.name} never publishes to {extra}: least privilege"
