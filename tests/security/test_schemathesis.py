"""Schemathesis against the OpenAPI document, driving functions-framework's app over WSGI.

Bounded: a fixed number of examples per operation and mode, no deadline per example, so the
whole module stays well under a minute.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

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


@pytest.mark.integration
@SCHEMA.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_openapi(case: schemathesis.Case, acme_key: str) -> None:
    case.call_and_validate(headers={"Authorization": f"Bearer {acme_key}"})
