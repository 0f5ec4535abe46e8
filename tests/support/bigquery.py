"""BigQuery clients and warehouses pointed at the session's bqemulator.

The client is the official one, configured as the emulator needs: anonymous credentials,
the emulator's REST endpoint, ``application/octet-stream`` for small uploads (the emulator
rejects the client's default multipart content type) and short retry deadlines so a server
error cannot hang a test for the client's default ten minutes.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

from lib.adapters.bigquery_warehouse import BigQueryWarehouse
from lib.adapters.bigquery_warehouse import bigquery_client as adapter_client
from lib.ports import Warehouse
from tests.support.cloud_session import bigquery_emulator

LOCATION = "EU"
_EVOLUTION = (
    "update_table changes the emulator's metadata but not its DuckDB table, so added "
    "columns cannot be written; covered by tests/lib/adapters/test_bigquery_warehouse.py "
    "(the update_table request) and by the DuckDB run of the contract"
)
EMULATOR_GAPS: dict[str, str] = {
    "test_new_nullable_column_is_added": _EVOLUTION,
    "test_new_nullable_subfields_of_records_are_added": _EVOLUTION,
    "test_query_params_round_trip[bigquery-n]": (
        "CAST(x AS NUMERIC) becomes DuckDB's DECIMAL(18,3) in the emulator, too small for "
        "29 integer digits; NUMERIC parameters are covered by the unit tests"
    ),
    "test_every_expectation_type_gives_the_same_outcome[bigquery]": (
        "the emulator's SQL parser rejects ARRAY_AGG(x IGNORE NULLS ORDER BY x LIMIT n), valid "
        "BigQuery (the DQ sample); the BigQuery text is parsed in tests/lib/dq/test_plan.py "
        "and the uniqueness passes run on the emulator in the next test"
    ),
    "test_tags_merge_row_and_project_labels[bigquery]": (
        "the emulator's binder takes project.id in the GCP mapping's PARTITION BY for a table "
        "(valid BigQuery) and miscounts its parameters; the mapping's tag CTEs run on the "
        "emulator in test_the_mappings_tag_ctes_alone"
    ),
}
"""Contract cases the emulator cannot run faithfully (test name or node id → why)."""
RETRY_DEADLINE = 15.0


def accept_emulator_uploads() -> None:
    """Make the official client send small uploads as ``application/octet-stream``, which the
    emulator accepts (it rejects the client's default multipart content type)."""
    import google.cloud.bigquery.client as bq_client_module

    bq_client_module._GENERIC_CONTENT_TYPE = "application/octet-stream"  # type: ignore[attr-defined]


def bigquery_client(endpoint: str, project: str) -> Any:
    """An official ``bigquery.Client`` talking to the emulator at ``endpoint``."""
    accept_emulator_uploads()
    return adapter_client(project, LOCATION, endpoint)


def emulator_warehouse(project: str | None = None) -> BigQueryWarehouse:
    """A BigQueryWarehouse on the session's emulator, in a fresh project unless given."""
    endpoint = bigquery_emulator().info["endpoint"]
    project = project or f"p{uuid.uuid4().hex[:12]}"
    return BigQueryWarehouse(
        bigquery_client(endpoint, project),
        project=project,
        location=LOCATION,
        labels={"app": "convergence", "env": "test"},
        retry_deadline=RETRY_DEADLINE,
    )


def make_bigquery_emulator(tmp_path: Path) -> Warehouse:
    """Warehouse contract factory: a fresh, empty project on the session's bqemulator."""
    return emulator_warehouse()
