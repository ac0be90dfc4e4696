"""The shared Harvest limiter, on a real PostgreSQL: threads and processes share one window.

Every slot the limiter writes is copied by a test trigger into ``slot_audit`` with the
server's timestamp, so the window is checked on what the database recorded, not on when
each caller happened to wake up.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from h2j.harvest_hook import HarvestHook
from h2j.retry import RetryPolicy
from h2j.schema import ensure_schema
from h2j.shared_limiter import (
    DEFAULT_MAX_CALLS,
    DEFAULT_PERIOD,
    SharedRateLimiter,
    harvest_limiter,
    token_fingerprint,
)
from tests.canned import Answer, Canned, serve

ROOT = Path(__file__).resolve().parent.parent

AUDIT = """
CREATE TABLE slot_audit (bucket text NOT NULL, taken_at timestamptz NOT NULL);
CREATE FUNCTION audit_slot() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO slot_audit VALUES (NEW.bucket, NEW.taken_at);
    RETURN NEW;
END $$;
CREATE TRIGGER audit_slot AFTER INSERT ON h2j.rate_slots
    FOR EACH ROW EXECUTE FUNCTION audit_slot();
"""

WORKER = """
import sys
import psycopg
from h2j.shared_limiter import SharedRateLimiter

dsn, bucket, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
with SharedRateLimiter(lambda: psycopg.connect(dsn), bucket, 5, 1.0) as limiter:
    limiter.acquire()
    print("ready", flush=True)
    sys.stdin.readline()
    for _ in range(count - 1):
        limiter.acquire()
"""


@pytest.fixture(scope="module")
def canned_server() -> Iterator[Canned]:
    yield from serve()


@pytest.fixture
def harvest_api(canned_server: Canned) -> Canned:
    return canned_server.reset()


@pytest.fixture
def dsn(ledger_dsn):
    with psycopg.connect(ledger_dsn, autocommit=True) as conn:
        ensure_schema(conn)
        conn.execute(AUDIT)
    return ledger_dsn


@pytest.fixture
def db(dsn):
    with psycopg.connect(dsn, autocommit=True) as conn:
        yield conn


class Opener:
    """Opens connections for a limiter and remembers them, so a test can watch them."""

    def __init__(self, dsn: str) -> None:
        self.dsn = dsn
        self.opened: list[psycopg.Connection] = []

    def __call__(self) -> psycopg.Connection:
        conn = psycopg.connect(self.dsn)
        self.opened.append(conn)
        return conn


def limiter_for(dsn: str, bucket: str, max_calls: int, period: float, **kwargs):
    return SharedRateLimiter(Opener(dsn), bucket, max_calls, period, **kwargs)


def audited(db: psycopg.Connection, bucket: str) -> list:
    rows = db.execute(
        "SELECT taken_at FROM slot_audit WHERE bucket = %s ORDER BY taken_at", (bucket,)
    )
    return [row[0] for row in rows]


def assert_window_holds(times: list, max_calls: int, period: float) -> None:
    """No ``max_calls + 1`` slots within ``period`` seconds of each other."""
    for first, later in zip(times, times[max_calls:], strict=False):
        assert (later - first).total_seconds() >= period, (first, later)


def test_threads_with_their_own_limiters_never_exceed_the_limit(dsn, db):
    def work() -> None:
        with limiter_for(dsn, "threads", 5, 1.0) as limiter:
            for _ in range(4):
                limiter.acquire()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = audited(db, "threads")
    assert len(times) == 16
    assert_window_holds(times, 5, 1.0)


def test_processes_share_one_window(dsn, db):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)])}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, dsn, "processes", "4"],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for worker in workers:
        assert worker.stdout.readline().strip() == "ready"
    for worker in workers:
        worker.stdin.write("go\n")
        worker.stdin.flush()
    assert [worker.wait(timeout=60) for worker in workers] == [0, 0, 0]
    times = audited(db, "processes")
    assert len(times) == 12
    assert_window_holds(times, 5, 1.0)


def test_a_full_window_waits_until_its_oldest_slot_expires(dsn, db):
    asked: list[tuple[float, float]] = []

    def sleep(seconds: float) -> None:
        asked.append((seconds, time.monotonic()))
        time.sleep(seconds)

    limiter = limiter_for(dsn, "wait", 2, 1.0, sleep=sleep)
    begun = time.monotonic()
    assert limiter.acquire() == 0.0
    assert limiter.acquire() == 0.0
    waited = limiter.acquire()
    limiter.close()

    first_wait, asked_at = asked[0]
    # The oldest slot was stamped after ``begun`` and the wait computed before ``asked_at``,
    # so the wait is at least the period less the time that passed in between.
    assert 1.0 - (asked_at - begun) <= first_wait <= 1.0
    assert waited == pytest.approx(sum(seconds for seconds, _ in asked))
    times = audited(db, "wait")
    assert (times[2] - times[0]).total_seconds() >= 1.0


def test_sleeps_with_no_transaction_open_and_no_lock_held(dsn, db):
    seen: list[tuple] = []
    opener = Opener(dsn)

    def sleep(seconds: float) -> None:
        pid = opener.opened[-1].info.backend_pid
        seen.append(
            db.execute(
                "SELECT state, (SELECT count(*) FROM pg_locks"
                " WHERE locktype = 'advisory' AND pid = %(pid)s)"
                " FROM pg_stat_activity WHERE pid = %(pid)s",
                {"pid": pid},
            ).fetchone()
        )
        time.sleep(seconds)

    with SharedRateLimiter(opener, "idle", 1, 0.3, sleep=sleep) as limiter:
        limiter.acquire()
        limiter.acquire()
    assert seen
    assert all(row == ("idle", 0) for row in seen), seen


def test_expired_slots_are_deleted_and_other_buckets_left_alone(dsn, db):
    db.execute(
        "INSERT INTO h2j.rate_slots (bucket, taken_at)"
        " SELECT bucket, now() - interval '1 hour'"
        " FROM (VALUES ('old'), ('old'), ('old'), ('other'), ('other')) AS b (bucket)"
    )
    with limiter_for(dsn, "old", 5, 1.0) as limiter:
        limiter.acquire()
    counts = dict(db.execute("SELECT bucket, count(*) FROM h2j.rate_slots GROUP BY bucket"))
    assert counts == {"old": 1, "other": 2}


def test_a_full_bucket_does_not_hold_back_another(dsn, db):
    def refuse(seconds: float) -> None:
        raise AssertionError(f"asked to wait {seconds} s")

    with limiter_for(dsn, "busy", 1, 60.0) as busy:
        busy.acquire()
    with limiter_for(dsn, "free", 1, 60.0, sleep=refuse) as free:
        assert free.acquire() == 0.0
    assert len(audited(db, "free")) == 1


def test_a_lost_connection_is_replaced(dsn, db):
    opener = Opener(dsn)
    with SharedRateLimiter(opener, "lost", 10, 1.0) as limiter:
        limiter.acquire()
        pid = opener.opened[0].info.backend_pid
        db.execute("SELECT pg_terminate_backend(%s)", (pid,))
        while db.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            time.sleep(0.01)
        limiter.acquire()
    assert len(opener.opened) == 2
    assert len(audited(db, "lost")) == 2


def test_harvest_limiter_keys_on_the_fingerprint_and_never_logs_the_token(dsn, db, caplog):
    token = "pat-1234567.abcdefSECRET"
    fingerprint = token_fingerprint(token)
    caplog.set_level(logging.DEBUG)
    with harvest_limiter("h2j_postgres", fingerprint) as limiter:
        assert (limiter.max_calls, limiter.period) == (DEFAULT_MAX_CALLS, DEFAULT_PERIOD)
        limiter.acquire()
    buckets = [row[0] for row in db.execute("SELECT bucket FROM h2j.rate_slots")]
    assert buckets == [f"harvest/{fingerprint}"]
    assert token not in fingerprint
    assert token not in caplog.text


def test_harvest_hook_takes_one_shared_slot_per_attempt(dsn, db, harvest_api, monkeypatch):
    token = "harvest-secret-token-123"
    harvest_api.queue(
        "GET",
        "/v2/users/me",
        Answer(429, {"message": "Too many requests"}, {"Retry-After": "0"}),
        Answer(200, {"id": 7}),
    )
    monkeypatch.setenv(
        "AIRFLOW_CONN_HARVEST_TEST",
        json.dumps(
            {
                "conn_type": "http",
                "host": "127.0.0.1",
                "port": harvest_api.port,
                "schema": "http",
                "password": token,
                "extra": {"account_id": "12345", "user_agent": "ops@example.com"},
            }
        ),
    )
    hook = HarvestHook("harvest_test", retry_policy=RetryPolicy(base_delay=0.01))
    fingerprint = token_fingerprint(hook.connection.password)
    with harvest_limiter("h2j_postgres", fingerprint) as limiter:
        hook.rate_limiter = limiter
        assert hook.me() == {"id": 7}
    assert harvest_api.count("GET", "/v2/users/me") == 2
    assert len(audited(db, f"harvest/{fingerprint}")) == 2


def test_harvest_limiter_reads_its_limit_from_airflow_config(monkeypatch):
    monkeypatch.setenv("AIRFLOW__H2J__HARVEST_RATE_MAX_CALLS", "40")
    monkeypatch.setenv("AIRFLOW__H2J__HARVEST_RATE_PERIOD", "10")
    limiter = harvest_limiter("h2j_postgres", token_fingerprint("some-token"))
    assert (limiter.max_calls, limiter.period) == (40, 10.0)


def test_harvest_limiter_refuses_anything_but_a_fingerprint():
    token = "pat-1234567.abcdefSECRET"
    with pytest.raises(ValueError, match="token_fingerprint") as raised:
        harvest_limiter("h2j_postgres", token)
    assert token not in str(raised.value)


def test_fingerprints_are_stable_and_tell_tokens_apart():
    assert token_fingerprint("a") == token_fingerprint("a")
    assert token_fingerprint("a") != token_fingerprint("b")
    with pytest.raises(ValueError, match="token"):
        token_fingerprint("")
