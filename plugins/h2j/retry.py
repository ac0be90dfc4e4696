"""The one HTTP resilience policy of h2j; :mod:`h2j.http_base` applies it to HttpHook.

Both hooks send every request through :func:`send`: a connect and a read timeout on each
call; exponential backoff with jitter on connection errors, 5xx and 429, honouring
``Retry-After``; a bounded total wait; an immediate failure on any other 4xx. A read is
retried on anything transient. A write is retried only when the server provably did not
act on it: a 429, or a connection that was never opened. A write that met a 5xx or lost
its answer raises :class:`~h2j.errors.AmbiguousWrite` at once, because repeating it could
apply it twice. Airflow's task retries remain the outer net.
"""

from __future__ import annotations

import email.utils
import logging
import random
import threading
import time
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
import tenacity
from urllib3.exceptions import NewConnectionError

from h2j.errors import AmbiguousWrite, ApiError, TransientApiError, error_for_response

log = logging.getLogger(__name__)

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to wait for one answer, and how long to keep trying for a good one.

    :param connect_timeout: seconds to open a connection.
    :param read_timeout: seconds to wait for the answer once the request is sent.
    :param base_delay: the first backoff; each further retry doubles it, with full jitter.
    :param max_delay: the cap on one backoff (``Retry-After`` is not capped by it).
    :param max_total_wait: the cap on all waits of one call; past it, the call fails.
    :param max_attempts: the cap on attempts of one call, the first one included.
    :param sleep: how to wait; tests pass a recorder.
    """

    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    base_delay: float = 1.0
    max_delay: float = 30.0
    max_total_wait: float = 120.0
    max_attempts: int = 10
    sleep: Callable[[float], None] = field(default=time.sleep, compare=False)

    @property
    def timeout(self) -> tuple[float, float]:
        return (self.connect_timeout, self.read_timeout)


DEFAULT_POLICY = RetryPolicy()


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta-seconds or an HTTP date).

    RFC 9110 section 10.2.3 allows both forms; a date in the past means "now".
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = now or datetime.now(UTC)
    return max(0.0, (when - now).total_seconds())


def sent_nothing(exc: BaseException) -> bool:
    """Whether ``exc`` proves the request never left this machine.

    requests reports a refused or unresolvable connection as a plain ConnectionError whose
    urllib3 reason is a NewConnectionError; a ConnectTimeout is its own class.
    """
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    if not isinstance(exc, requests.exceptions.ConnectionError):
        return False
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, NewConnectionError)


def lost_answer(exc: BaseException) -> bool:
    """Whether ``exc`` means the request may have been sent but its answer did not arrive."""
    if sent_nothing(exc):
        return False
    if isinstance(exc, requests.exceptions.SSLError | requests.exceptions.ProxyError):
        return False
    return isinstance(
        exc,
        requests.exceptions.ConnectionError
        | requests.exceptions.Timeout
        | requests.exceptions.ChunkedEncodingError
        | requests.exceptions.ContentDecodingError,
    )


def describe(exc: BaseException) -> str:
    """A short account of a transport failure, safe to log.

    Only connection-level errors are described in full: their text names host, port and
    the socket error. Other requests errors can quote header values, so only their class
    name is kept.
    """
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        reason = getattr(exc.args[0], "reason", None) if exc.args else None
        return f"{type(exc).__name__}: {reason or exc}"[:300]
    return type(exc).__name__


class _ShouldRetry(tenacity.retry_base):
    """Tenacity's retry predicate for one call, given whether the call is a safe read."""

    def __init__(self, idempotent: bool) -> None:
        self.idempotent = idempotent

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        outcome = retry_state.outcome
        if outcome is None:
            return False
        if outcome.failed:
            exc = outcome.exception()
            return sent_nothing(exc) or (self.idempotent and lost_answer(exc))
        status = outcome.result().status_code
        return status == 429 or (self.idempotent and status >= 500)


class _Backoff(tenacity.wait.wait_base):
    """Full-jitter exponential backoff, or the server's ``Retry-After`` plus a little jitter."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.jittered = tenacity.wait_random_exponential(
            multiplier=policy.base_delay, max=policy.max_delay
        )

    def __call__(self, retry_state: tenacity.RetryCallState) -> float:
        outcome = retry_state.outcome
        if outcome is not None and not outcome.failed:
            asked = retry_after_seconds(outcome.result().headers.get("Retry-After"))
            if asked is not None:
                return asked + random.uniform(0, self.policy.base_delay)
        return self.jittered(retry_state)


class _OutOfPatience(tenacity.stop.stop_base):
    """Stops when the next wait would overrun the budget, or the attempts are used up."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy

    def __call__(self, retry_state: tenacity.RetryCallState) -> bool:
        if retry_state.attempt_number >= self.policy.max_attempts:
            return True
        return retry_state.idle_for + retry_state.upcoming_sleep > self.policy.max_total_wait


def _log_retry(service: str, method: str, path: str) -> Callable[[tenacity.RetryCallState], None]:
    def before_sleep(retry_state: tenacity.RetryCallState) -> None:
        outcome = retry_state.outcome
        if outcome is not None and outcome.failed:
            why = describe(outcome.exception())
        else:
            why = f"HTTP {outcome.result().status_code}" if outcome else "unknown"
        log.warning(
            "%s %s %s failed (%s) on attempt %s; retrying in %.2f s",
            service,
            method,
            path,
            why,
            retry_state.attempt_number,
            retry_state.upcoming_sleep,
        )

    return before_sleep


def send(
    call: Callable[[], requests.Response],
    *,
    method: str,
    path: str,
    service: str,
    policy: RetryPolicy = DEFAULT_POLICY,
    idempotent: bool | None = None,
    allow: Collection[int] = (),
) -> requests.Response:
    """Run ``call`` (one HTTP attempt) under the retry policy and return a good response.

    :param call: sends the request once and returns the response; it must not raise on an
        HTTP error status.
    :param method: the HTTP method, which decides what may be retried.
    :param path: the URL path, for logs and errors.
    :param service: ``"harvest"`` or ``"jira"``, for logs and errors.
    :param policy: timeouts, backoff and budget.
    :param idempotent: whether the request only reads; by default true for GET, HEAD and
        OPTIONS. Pass True for a read sent as POST.
    :param allow: error statuses returned to the caller instead of raised (such as 404).
    :raises AmbiguousWrite: a write met a 5xx or lost its answer.
    :raises TransientApiError: the service stayed unreachable or failing.
    :raises ApiError: any other error status, or a request that could not be sent.
    """
    method = method.upper()
    if idempotent is None:
        idempotent = method in SAFE_METHODS
    retrying = tenacity.Retrying(
        retry=_ShouldRetry(idempotent),
        wait=_Backoff(policy),
        stop=_OutOfPatience(policy),
        sleep=policy.sleep,
        before_sleep=_log_retry(service, method, path),
        retry_error_callback=lambda state: state.outcome.result(),
    )
    try:
        response = retrying(call)
    except requests.exceptions.RequestException as exc:
        raise _error_for_exception(exc, service, method, path, idempotent) from exc
    if response.ok or response.status_code in allow:
        return response
    raise error_for_response(service, response, method=method, path=path, ambiguous=not idempotent)


def _error_for_exception(
    exc: requests.exceptions.RequestException,
    service: str,
    method: str,
    path: str,
    idempotent: bool,
) -> ApiError:
    if sent_nothing(exc) or (idempotent and lost_answer(exc)):
        cls: type[ApiError] = TransientApiError
    elif lost_answer(exc):
        cls = AmbiguousWrite
    else:
        cls = ApiError
    return cls(service, None, describe(exc), method=method, path=path)


class RateLimiter:
    """Blocks callers so that at most ``max_calls`` start in any ``period`` seconds.

    A sliding window over the start times of recent calls, shared by every thread that
    holds the same instance. Waiting happens outside the lock.
    """

    def __init__(
        self,
        max_calls: int = 100,
        period: float = 15.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("RateLimiter needs max_calls >= 1 and period > 0")
        self.max_calls = max_calls
        self.period = period
        self._clock = clock
        self._sleep = sleep
        self._starts: deque[float] = deque()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a free slot, take it, and return the clock reading it was taken at."""
        while True:
            with self._lock:
                now = self._clock()
                while self._starts and now - self._starts[0] >= self.period:
                    self._starts.popleft()
                if len(self._starts) < self.max_calls:
                    self._starts.append(now)
                    return now
                delay = self.period - (now - self._starts[0])
            log.debug(
                "Rate limit of %s calls per %s s reached; waiting %.2f s",
                self.max_calls,
                self.period,
                delay,
            )
            self._sleep(delay)
