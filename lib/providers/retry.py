"""HTTP GET with a token-bucket rate limit and bounded retries (429 / 5xx / timeouts).

Backoff is exponential (``initial * 2**(attempt-1)``, capped at ``max_backoff``); a
``Retry-After`` header (seconds or HTTP date) replaces the computed delay. Retrying stops at
``max_attempts`` or when the next wait would pass ``budget_seconds`` since the first attempt,
raising ``TransientError`` (Pub/Sub redelivers later). Other 4xx answers are terminal.
``sleep`` and ``monotonic`` are injected so tests run instantly.
"""

from __future__ import annotations

import email.utils
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from lib.config.source import RateLimitConfig, RetryConfig
from lib.errors import TerminalError, TransientError

log = logging.getLogger(__name__)
RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
Sleep = Callable[[float], None]
Monotonic = Callable[[], float]


class TokenBucket:
    """Allows ``requests_per_minute`` with bursts of ``burst``; waits via ``sleep``."""

    def __init__(self, config: RateLimitConfig, sleep: Sleep, monotonic: Monotonic) -> None:
        self._rate = config.requests_per_minute / 60.0
        self._burst = float(config.burst)
        self._tokens = float(config.burst)
        self._sleep = sleep
        self._monotonic = monotonic
        self._last = monotonic()

    def acquire(self) -> None:
        """Take one token, sleeping until one is available."""
        now = self._monotonic()
        elapsed = max(0.0, now - self._last)
        self._tokens = min(self._burst, self._tokens + elapsed * self._rate)
        self._last = max(self._last, now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return
        wait = (1.0 - self._tokens) / self._rate
        self._sleep(wait)
        self._tokens = 0.0
        self._last += wait


@dataclass(frozen=True)
class Target:
    """What a request is for, used in logs and errors (never a secret or a query string)."""

    provider: str
    endpoint: str
    secret_hint: str
    secret: str = field(default="", repr=False)

    def where(self, page: int) -> str:
        """``openai /v1/organization/costs page 3``."""
        return f"{self.provider} {self.endpoint} page {page}"

    def sample(self, text: str, limit: int = 200) -> str:
        """At most ``limit`` characters of ``text`` with the secret masked."""
        if self.secret:
            text = text.replace(self.secret, "***")
        return text[:limit]


def retry_after(response: httpx.Response) -> float | None:
    """Seconds asked by a ``Retry-After`` header (delta seconds or HTTP date), if any."""
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
        now = email.utils.parsedate_to_datetime(response.headers["date"])
    except (KeyError, TypeError, ValueError):
        return None
    return max(0.0, (when - now).total_seconds())


def illegal_header(target: Target) -> TerminalError:
    """The terminal error for a request header httpx refuses to send (named, never shown).

    A secret with a newline, a control character or non-ASCII text inside makes every
    request fail the same way: retrying cannot help.
    """
    return TerminalError(
        f"{target.provider} {target.endpoint}: a request header is not a legal HTTP header "
        "value (a newline, control character or non-ASCII text inside it); check "
        f"{target.secret_hint} and the source's headers"
    )


class RetryingGetter:
    """GETs one URL with rate limiting and bounded retries."""

    def __init__(
        self,
        client: httpx.Client,
        retry: RetryConfig,
        limiter: TokenBucket,
        target: Target,
        sleep: Sleep,
        monotonic: Monotonic,
    ) -> None:
        self._client = client
        self._retry = retry
        self._limiter = limiter
        self._target = target
        self._sleep = sleep
        self._monotonic = monotonic

    def get(self, url: str, params: httpx.QueryParams | None, page: int) -> httpx.Response:
        """The first non-retryable answer (2xx) for ``url``.

        Raises:
            TransientError: retries exhausted (names provider, endpoint, page, last status).
            TerminalError: the provider refused the request (401/403/other 4xx).
        """
        started = self._monotonic()
        attempt = 0
        while True:
            attempt += 1
            self._limiter.acquire()
            outcome, asked = self._attempt(url, params, page)
            if isinstance(outcome, httpx.Response):
                return outcome
            delay = asked if asked is not None else self._backoff(attempt)
            spent = self._monotonic() - started
            if attempt >= self._retry.max_attempts or spent + delay > self._retry.budget_seconds:
                raise TransientError(
                    f"{self._target.where(page)}: gave up after {attempt} attempt(s) in "
                    f"{spent:.1f}s; last: {outcome}. The provider is failing or throttling; "
                    "the step will be retried (or replay it once the provider recovers)"
                )
            log.warning("%s: %s; retrying in %.1fs", self._target.where(page), outcome, delay)
            self._sleep(delay)

    def _backoff(self, attempt: int) -> float:
        delay = self._retry.initial_backoff_seconds * 2 ** (attempt - 1)
        return float(min(self._retry.max_backoff_seconds, delay))

    def _attempt(
        self, url: str, params: httpx.QueryParams | None, page: int
    ) -> tuple[httpx.Response | str, float | None]:
        """One request: the response, or why it should be retried plus any Retry-After."""
        try:
            response = self._client.get(url, params=params)
        except httpx.LocalProtocolError:
            # h11 puts the offending header value in the message: never chain or log it
            raise illegal_header(self._target) from None
        except httpx.TimeoutException as exc:
            return f"timeout ({type(exc).__name__})", None
        except httpx.TransportError as exc:
            return f"connection error ({type(exc).__name__})", None
        status = response.status_code
        if status < 300:
            return response, None
        if status in RETRYABLE_STATUS or status >= 500:
            return f"HTTP {status}", retry_after(response)
        raise self._refused(response, page)

    def _refused(self, response: httpx.Response, page: int) -> TerminalError:
        status = response.status_code
        if status in (401, 403):
            return TerminalError(
                f"{self._target.where(page)}: the provider rejected the credentials "
                f"(HTTP {status}); check {self._target.secret_hint}"
            )
        return TerminalError(
            f"{self._target.where(page)}: the provider refused the request (HTTP {status}): "
            f"{self._target.sample(response.text)!r}; check the source's params and endpoint"
        )
