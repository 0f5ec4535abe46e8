"""REST connector: fetch one day of a provider endpoint as a stream of typed Arrow batches.

Flow per window (``[day 00:00Z, day+1 00:00Z)``)::

    Secrets ─▶ auth header ─▶ httpx.Client ─▶ TokenBucket ─▶ RetryingGetter ─▶ page JSON
        (parse_float=Decimal) ─▶ shape_page ─▶ yield batches ─▶ Pager.next ─▶ next page …

Batches of a page are yielded before the next page is requested, so memory stays flat no
matter how many pages a window has. Errors:

- retries exhausted (429 / 5xx / timeouts / connection) → ``TransientError``;
- credentials refused, other 4xx, a header value httpx refuses to send (a secret with a
  newline or non-ASCII text inside) → ``TerminalError`` naming the secret, never its value;
- malformed page (bad/truncated JSON, missing field, wrong type, pagination loop) →
  ``DataError`` naming provider, endpoint (never the query string), page number and a
  ≤200-character sample of the payload, with the secret masked;
- missing secret → ``SecretNotFound`` (from the Secrets port), raised when called.

Output columns are those of ``source.records.columns`` in schema order; the ingest step adds
``ingestion_date``, ``ingestion_timestamp`` and ``pipeline_logging_id``.
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import ssl
import time
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import httpx
import pyarrow as pa

from lib.config.source import RestSourceConfig
from lib.errors import DataError
from lib.ports import Secrets
from lib.providers.pages import PageProblem, Plan, build_plan, shape_page
from lib.providers.paging import Pager, PageRequest
from lib.providers.retry import (
    Monotonic,
    RetryingGetter,
    Sleep,
    Target,
    TokenBucket,
    illegal_header,
)
from lib.schema import SchemaField

USER_AGENT = "convergence-ingest/0.1"


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context: loading the CA bundle costs ~80 ms, so do it once."""
    return httpx.create_ssl_context()


def window(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    """The UTC window ``[day, day + 1)`` a fetch covers."""
    start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)
    return start, start + dt.timedelta(days=1)


def format_time(moment: dt.datetime, time_format: str) -> str | int:
    """A window bound as the provider wants it: unix seconds or RFC 3339 (``…Z``)."""
    if time_format == "unix":
        return int(moment.timestamp())
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def first_params(source: RestSourceConfig, day: dt.date) -> httpx.QueryParams:
    """Static params plus the window bounds."""
    start, end = window(day)
    params: dict[str, Any] = dict(source.params)
    params[source.start_param] = format_time(start, source.time_format)
    if source.end_param:
        params[source.end_param] = format_time(end, source.time_format)
    return httpx.QueryParams(params)


def auth_headers(source: RestSourceConfig, secret: str) -> dict[str, str]:
    """Static headers plus the credential header."""
    value = f"Bearer {secret}" if source.auth.type == "bearer" else secret
    return {"User-Agent": USER_AGENT, **source.headers, source.auth.header_name: value}


def fetch_batches(
    source: RestSourceConfig,
    day: dt.date,
    *,
    tenant_id: str,
    secrets: Secrets,
    schema: Sequence[SchemaField],
    base_url: str | None = None,
    transport: httpx.BaseTransport | None = None,
    sleep: Sleep = time.sleep,
    monotonic: Monotonic = time.monotonic,
    batch_rows: int = 10_000,
) -> Iterator[pa.RecordBatch]:
    """Stream one day of ``source`` as Arrow batches typed by ``schema``.

    The mapping is checked and the secret resolved when called; pages are fetched lazily
    as the returned iterator is consumed.

    Args:
        source: the REST source config.
        day: the UTC day to fetch.
        tenant_id: whose secret to use.
        secrets: the Secrets port.
        schema: the raw table's fields (mapped columns must be among them).
        base_url: overrides ``source.base_url`` (e.g. a sandbox).
        transport: httpx transport (tests use ``httpx.MockTransport``).
        sleep: waits for rate limiting and backoff.
        monotonic: clock for rate limiting and the retry budget.
        batch_rows: maximum rows per batch.

    Returns:
        An iterator of record batches; a page's batches come before the next request.

    Raises:
        ConfigError: a mapped column is not in ``schema`` or cannot be filled.
        SecretNotFound: the tenant has no such secret.
        TransientError: retries exhausted (while iterating).
        TerminalError: the provider refused the request (while iterating).
        DataError: a malformed page or a pagination loop (while iterating).
    """
    where = f"source {source.provider} {source.endpoint}"
    plan = build_plan(source.records, schema, where)
    secret = secrets.get(tenant_id, source.auth.secret)
    target = Target(
        source.provider,
        source.endpoint,
        f"secret {source.auth.secret!r} of tenant {tenant_id!r}",
        secret,
    )
    fetch = _Fetch(source, plan, target, base_url or source.base_url, transport, sleep, monotonic)
    return fetch.run(first_params(source, day), batch_rows)


@dataclass(frozen=True)
class _Fetch:
    """Everything one window's fetch needs; ``run`` opens the client only when iterated."""

    source: RestSourceConfig
    plan: Plan
    target: Target
    base_url: str
    transport: httpx.BaseTransport | None
    sleep: Sleep
    monotonic: Monotonic

    def _client(self) -> httpx.Client:
        try:
            headers = httpx.Headers(auth_headers(self.source, self.target.secret))
        except UnicodeEncodeError:  # the error object holds the whole value: drop it
            raise illegal_header(self.target) from None
        return httpx.Client(
            base_url=self.base_url,
            headers=headers,
            timeout=self.source.retry.timeout_seconds,
            transport=self.transport,
            follow_redirects=False,
            verify=tls_context(),
        )

    def run(self, params: httpx.QueryParams, batch_rows: int) -> Iterator[pa.RecordBatch]:
        """Fetch page after page, yielding each page's batches before the next request."""
        source = self.source
        limiter = TokenBucket(source.rate_limit, self.sleep, self.monotonic)
        pager = Pager(source.pagination, source.endpoint, params, source.records.path)
        with self._client() as client:
            getter = RetryingGetter(
                client, source.retry, limiter, self.target, self.sleep, self.monotonic
            )
            request: PageRequest | None = pager.first()
            while request is not None:
                response = getter.get(request.url, request.params, request.number)
                payload = _parse(response, self.target, request.number)
                request = yield from self._shape(payload, pager, request, response, batch_rows)

    def _shape(
        self,
        payload: Any,
        pager: Pager,
        request: PageRequest,
        response: httpx.Response,
        batch_rows: int,
    ) -> Generator[pa.RecordBatch, None, PageRequest | None]:
        rows = 0
        try:
            for batch in shape_page(payload, self.plan, batch_rows):
                rows += batch.num_rows
                yield batch
            return pager.next(payload, request, rows, response.url)
        except PageProblem as exc:
            problem = str(exc)
            raise _data_error(self.target, request.number, problem, response.text) from exc


def _parse(response: httpx.Response, target: Target, page: int) -> Any:
    try:
        payload = json.loads(response.content, parse_float=Decimal)
    except (ValueError, UnicodeDecodeError) as exc:
        reason = f"invalid JSON ({exc})" if isinstance(exc, json.JSONDecodeError) else "not JSON"
        raise _data_error(target, page, reason, response.text) from exc
    if not isinstance(payload, dict):
        raise _data_error(target, page, "expected a JSON object", response.text)
    return payload


def _data_error(target: Target, page: int, problem: str, text: str) -> DataError:
    return DataError(
        f"{target.where(page)}: malformed page: {problem}. Sample: {target.sample(text)!r}. "
        "The provider sent data that does not match the source's record mapping; check the "
        "provider's status or the source file's records section"
    )
