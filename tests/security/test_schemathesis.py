"""Schemathesis against the OpenAPI document, driving functions-framework's app over WSGI.

Bounded: a fixed number of examples per operation and mode, no deadline per example, so the
whole module stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.lib.api import harness

SCHEMA = schemathesis.openapi.from_path(harness.REPO / "openapi/openapi.yaml")
SCHEMA.config.generation.update(max_examples=30, modes=["positive", "negative"], deterministic=True)
# 422 is documented for well-formed input JSON Schema cannot rule out (a window ending after
# today, 2025-02-30); schema-valid requests may get it besides the default accepted statuses.
SCHEMA.config.checks.positive_data_acceptance.expected_statuses = [
    *SCHEMA.config.checks.positive_data_acceptance.expected_statuses,
    "422",
]
SCHEMA.app = harness.app()


@pytest.fixture(scope="module")
def acme_key(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    root = tmp_path_factory.mktemp("schemathesis")
    rt = harness.make_runtime(root / "home", harness.make_config(root))
    with harness.installed(rt):
        yield harness.onboard(rt).active["acme"]
    rt.close()


OPERATIONS = [result.ok() for result in SCHEMA.get_all_operations()]


@pytest.mark.integration
@pytest.mark.parametrize(
    "operation", OPERATIONS, ids=[f"{op.method.upper()} {op.path}" for op in OPERATIONS]
)
def test_api_conforms_to_openapi(operation: schemathesis.APIOperation, acme_key: str) -> None:
    # Schemathesis's own pytest plugin is not loaded (it costs every test run seconds of
    # start-up): each operation's strategy is driven by Hypothesis directly.
    @settings(
        max_examples=30,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(case=operation.as_strategy())
    def conforms(case: schemathesis.Case) -> None:
        case.call_and_validate(headers={"Authorization": f"Bearer {acme_key}"})

    conforms()
