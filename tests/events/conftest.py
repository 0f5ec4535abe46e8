import datetime as dt

import pytest

from events.models import RunRequested, StepRef, Window

UTC = dt.UTC


@pytest.fixture
def make_event():
    def make(cls=RunRequested, **overrides):
        fields = dict(
            event_id="evt-0001-abcdef",
            occurred_at=dt.datetime(2026, 11, 20, 6, 0, tzinfo=UTC),
            tenant_id="acme",
            pipeline_id="openai_costs",
            pipeline_logging_id="run-0123456789abcdef",
            window=Window(start=dt.date(2026, 11, 13), end=dt.date(2026, 11, 19)),
            next_step=StepRef(name="ingest_costs", index=0, type="ingest"),
            traceparent="00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )
        fields.update(overrides)
        return cls(**fields)

    return make
