"""POST one notification to one channel: timeouts, retries with backoff, a verdict.

A channel gets ``retry.max_attempts`` tries, ``timeout_seconds`` each, waiting
``initial_backoff_seconds`` doubling up to ``max_backoff_seconds`` between them (a
``Retry-After`` answer is honoured up to that cap). Network errors, timeouts, 408, 429 and 5xx
are worth retrying; any other 4xx means the receiver refuses what we send (a wrong URL, a key
it does not know): retrying cannot help. 2xx is delivered. Redirects are not followed.

Neither the URL (a Slack webhook URL is a secret) nor any header is ever logged or put in an
error; errors name the channel, the HTTP status or the exception type. The request runs with
HTTP instrumentation suppressed, so no span carries the URL either; the caller's span records
the channel and outcome instead.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import httpx

from lib.notify.config import RetryPolicy

RETRYABLE_STATUS = frozenset({408, 425, 429})
Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Verdict:
    """How delivering to one channel went."""

    delivered: bool
    attempts: int
    status: int | None = None
    error: str | None = None
    permanent: bool = False
    """True when the receiver refused the request: retrying later cannot help."""


def _retryable(status: int) -> bool:
    return status >= 500 or status in RETRYABLE_STATUS


def _backoff(policy: RetryPolicy, attempt: int, retry_after: str | None) -> float:
    delay = float(policy.initial_backoff_seconds * 2 ** (attempt - 1))
    if retry_after is not None:
        with contextlib.suppress(ValueError):
            delay = max(delay, float(retry_after))
    return float(min(delay, policy.max_backoff_seconds))


def post(
    client: httpx.Client,
    url: str,
    body: bytes,
    headers: Callable[[], Mapping[str, str]],
    *,
    policy: RetryPolicy,
    timeout: float,
    sleep: Sleep = time.sleep,
) -> Verdict:
    """POST ``body`` to ``url`` until it is accepted, refused, or the attempts run out.

    Args:
        client: the HTTP client (its transport is the seam tests replace).
        url: where to post (never logged).
        body: the request body.
        headers: builds the headers of each attempt (a fresh signature timestamp).
        policy: attempts and backoff.
        timeout: seconds per attempt (connect, read, write and pool).
        sleep: how to wait between attempts.
    """
    from opentelemetry.instrumentation.utils import suppress_http_instrumentation

    last = Verdict(delivered=False, attempts=0)
    for attempt in range(1, policy.max_attempts + 1):
        retry_after = None
        try:
            with suppress_http_instrumentation():
                response = client.post(url, content=body, headers=dict(headers()), timeout=timeout)
        except httpx.TimeoutException as exc:
            last = Verdict(False, attempt, error=f"timed out ({type(exc).__name__})")
        except httpx.HTTPError as exc:  # never str(exc): some quote the URL
            last = Verdict(False, attempt, error=f"connection failed ({type(exc).__name__})")
        else:
            status = response.status_code
            if 200 <= status < 300:
                return Verdict(True, attempt, status)
            permanent = not _retryable(status)
            last = Verdict(False, attempt, status, f"HTTP {status}", permanent=permanent)
            if permanent:
                return last
            retry_after = response.headers.get("Retry-After")
        if attempt < policy.max_attempts:
            sleep(_backoff(policy, attempt, retry_after))
    return last
