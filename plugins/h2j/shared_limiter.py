"""A Harvest rate limiter shared by every process, kept in the ledger database.

Harvest allows 100 requests per 15 seconds per access token. Airflow runs each mapped
extract task in a process of its own, on other machines with Celery, so a limiter held in
memory bounds one task only. :class:`SharedRateLimiter` keeps the recent request slots in
``h2j.rate_slots`` instead; ``h2j.take_rate_slot`` (``include/sql/schema/003_rate_limit.sql``)
takes one under an advisory lock in a transaction of a single statement, and the caller
sleeps with no transaction open when the window is full.

Slots are stamped with the database server's clock, so workers whose clocks disagree still
share one window. The bucket names a fingerprint of the token, never the token itself.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
import threading
import time
from collections.abc import Callable

import psycopg

from h2j.sql import connect, sql

log = logging.getLogger(__name__)

# Below Harvest's 100: a slot is stamped before the request leaves, and network delay can
# bunch requests closer together by the time they reach Harvest.
DEFAULT_MAX_CALLS = 95
DEFAULT_PERIOD = 15.0

_FINGERPRINT = re.compile(r"[0-9a-f]{16,64}")


def token_fingerprint(token: str) -> str:
    """A stable name for ``token`` that does not reveal it: 32 hex digits of a SHA-256."""
    if not token:
        raise ValueError("a Harvest token is needed to name its rate-limit bucket")
    return hashlib.sha256(f"h2j/harvest-token/{token}".encode()).hexdigest()[:32]


class SharedRateLimiter:
    """Blocks callers so that at most ``max_calls`` start in any ``period`` seconds.

    The same sliding window as :class:`h2j.retry.RateLimiter`, counted in PostgreSQL for
    every process that uses the same ``bucket``. The limiter owns one connection, opened on
    first use with ``connect`` and set to autocommit (each attempt must commit, and so free
    the lock, before any sleep); a connection found broken is replaced once per attempt.
    Threads sharing an instance take turns on the connection, never while sleeping.

    :param connect: opens a new psycopg connection to the ledger database.
    :param bucket: the name of the shared budget.
    :param max_calls: slots per window, at least 1.
    :param period: window length in seconds.
    :param sleep: how to wait; tests pass a recorder.
    """

    def __init__(
        self,
        connect: Callable[[], psycopg.Connection],
        bucket: str,
        max_calls: int = DEFAULT_MAX_CALLS,
        period: float = DEFAULT_PERIOD,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if max_calls < 1 or period <= 0:
            raise ValueError("SharedRateLimiter needs max_calls >= 1 and period > 0")
        if not bucket:
            raise ValueError("SharedRateLimiter needs a bucket name")
        self.bucket = bucket
        self.max_calls = int(max_calls)
        self.period = float(period)
        self._connect = connect
        self._sleep = sleep
        self._conn: psycopg.Connection | None = None
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Wait for a free slot, take it, and return the seconds spent waiting."""
        waited = 0.0
        while True:
            delay = self._take()
            if delay <= 0:
                return waited
            log.debug(
                "Harvest budget of %s calls per %s s is spent; waiting %.2f s",
                self.max_calls,
                self.period,
                delay,
            )
            self._sleep(delay)
            waited += delay

    def close(self) -> None:
        """Close the limiter's connection; a later acquire opens a new one."""
        with self._lock:
            self._drop()

    def __enter__(self) -> SharedRateLimiter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _take(self) -> float:
        """One attempt: 0 when a slot was taken, else the seconds until one may be free."""
        params = {"bucket": self.bucket, "max_calls": self.max_calls, "period": self.period}
        with self._lock:
            try:
                return self._run(params)
            except psycopg.OperationalError:
                if self._conn is None or not (self._conn.broken or self._conn.closed):
                    raise
                log.warning("Rate-limit connection to the ledger database was lost; reconnecting")
                self._drop()
                return self._run(params)

    def _run(self, params: dict[str, object]) -> float:
        row = self._connection().execute(sql("rate_take"), params).fetchone()
        return float(row[0])

    def _connection(self) -> psycopg.Connection:
        if self._conn is None or self._conn.closed:
            conn = self._connect()
            if not conn.autocommit:
                conn.rollback()
                conn.autocommit = True
            self._conn = conn
        return self._conn

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None


def harvest_limiter(conn_id: str, token_fingerprint: str) -> SharedRateLimiter:
    """The shared limiter for one Harvest token, on the ledger connection ``conn_id``.

    The limit comes from ``[h2j] harvest_rate_max_calls`` (default 95) and ``[h2j]
    harvest_rate_period`` (seconds, default 15), e.g. ``AIRFLOW__H2J__HARVEST_RATE_MAX_CALLS``.
    Harvest counts requests per access token, so the bucket is keyed on the token.

    :param conn_id: the Airflow connection of the ledger database.
    :param token_fingerprint: :func:`token_fingerprint` of the Harvest token, never the token.
    """
    if not _FINGERPRINT.fullmatch(token_fingerprint or ""):
        raise ValueError("token_fingerprint must be the hex digest token_fingerprint() returns")
    from airflow.sdk import conf

    return SharedRateLimiter(
        functools.partial(connect, conn_id),
        f"harvest/{token_fingerprint}",
        conf.getint("h2j", "harvest_rate_max_calls", fallback=DEFAULT_MAX_CALLS),
        conf.getfloat("h2j", "harvest_rate_period", fallback=DEFAULT_PERIOD),
    )
