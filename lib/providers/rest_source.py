"""REST source (``kind: rest``): a provider API's days, page by page, into one raw write.

Each day of the window is fetched through the connector (``lib/providers/rest.py``), the
batches are stamped with the ingestion columns (:func:`stamp`) as they stream, and the whole
window lands in ONE ``Warehouse.write`` with the destination's WriteSpec for those days
(a snapshot source replaces its days: ``replace_window``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pyarrow as pa

from lib.config.loader import INGESTION_FIELDS
from lib.providers.rest import fetch_batches

if TYPE_CHECKING:
    from lib.config.source import RestSourceConfig
    from lib.ports import WriteResult
    from lib.sources.base import IngestRequest

__all__ = ["RestSource", "stamp"]


def stamp(
    batches: Iterable[pa.RecordBatch], *, run_id: str, now: dt.datetime
) -> Iterator[pa.RecordBatch]:
    """Add ``ingestion_date``, ``ingestion_timestamp`` and ``pipeline_logging_id`` to each batch."""
    constants = {
        "ingestion_date": pa.scalar(now.date(), pa.date32()),
        "ingestion_timestamp": pa.scalar(now, pa.timestamp("us", tz="UTC")),
        "pipeline_logging_id": pa.scalar(run_id, pa.string()),
    }
    for batch in batches:
        columns = {name: pa.repeat(value, batch.num_rows) for name, value in constants.items()}
        arrays = list(batch.columns)
        names = list(batch.schema.names)
        for name, array in columns.items():
            if name in names:
                arrays[names.index(name)] = array
            else:
                arrays.append(array)
                names.append(name)
        yield pa.RecordBatch.from_arrays(arrays, names=names)


@dataclass(frozen=True)
class RestSource:
    """A ``kind: rest`` source: any JSON REST API (OpenAI, Anthropic, …)."""

    config: RestSourceConfig

    def ingest(self, request: IngestRequest) -> WriteResult:
        """Fetch the window day by day and load it in one atomic write.

        Raises:
            ConfigError: a mapped column is not in the raw table's schema.
            SecretNotFound: the tenant has no such secret.
            TransientError: retries exhausted (the step is retried).
            TerminalError: the provider refused the request.
            DataError: a malformed page or a pagination loop.
        """
        source = self.config
        stamped = {f.name for f in INGESTION_FIELDS}
        payload = [f for f in request.spec.fields if f.name not in stamped]
        base_url = request.base_url_overrides.get(source.provider)
        days = request.window.days()

        def pages() -> Iterator[pa.RecordBatch]:
            for day in days:
                yield from fetch_batches(
                    source,
                    day,
                    tenant_id=request.tenant_id,
                    secrets=request.secrets,
                    schema=payload,
                    base_url=base_url,
                )

        batches = stamp(pages(), run_id=request.run_id, now=request.now)
        write = request.destination.write_spec(request.run_id, days)
        return request.warehouse.write(request.table, batches, write)
