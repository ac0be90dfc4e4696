"""The shared HTTP policy, exercised over real sockets against a server with canned answers."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from h2j.errors import AmbiguousWrite, ApiError, TransientApiError
from h2j.http_base import site_url
from h2j.retry import RateLimiter, RetryPolicy, retry_after_seconds, send
from tests.canned import Answer, Canned, closed_port, serve


@pytest.fixture(scope="module")
def server() -> Iterator[Canned]:
    yield from serve()


@pytest.fixture
def api(server: Canned) -> Canned:
    return server.reset()


class Sleeps(list):
    """Records the waits the policy asks for instead of waiting."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
def policy(sleeps) -> RetryPolicy:
    return RetryPolicy(base_delay=0.01, max_delay=0.05, read_timeout=2.0, sleep=sleeps)


def call(api: Canned, method: str, path: str, timeout: Any = 2.0, url: str | None = None):
    session = requests.Session()
    return lambda: session.request(method, (url or api.url) + path, json={}, timeout=timeout)


def test_get_retries_5xx_until_200(api, policy):
    api.queue("GET", "/r", Answer(503), Answer(502), Answer(200, {"ok": 1}))
    response = send(call(api, "GET", "/r"), method="GET", path="/r", service="jira", policy=policy)
    assert response.json() == {"ok": 1}
    assert api.count("GET", "/r") == 3


def test_429_waits_as_retry_after_says(api, policy, sleeps):
    api.queue("GET", "/r", Answer(429, {}, {"Retry-After": "7"}), Answer(200, {"ok": 1}))
    response = send(
        call(api, "GET", "/r"), method="GET", path="/r", service="harvest", policy=policy
    )
    assert response.status_code == 200
    assert len(sleeps) == 1
    assert 7 <= sleeps[0] <= 7 + policy.base_delay


def test_retry_after_as_http_date():
    now = datetime(2026, 11, 3, 9, 0, 0, tzinfo=UTC)
    assert retry_after_seconds("Tue, 03 Nov 2026 09:00:30 GMT", now) == 30
    assert retry_after_seconds("Tue, 03 Nov 2026 08:59:00 GMT", now) == 0
    assert retry_after_seconds("12", now) == 12
    assert retry_after_seconds("soon", now) is None
    assert retry_after_seconds(None, now) is None


def test_post_5xx_is_ambiguous_and_sent_once(api, policy, sleeps):
    api.queue("POST", "/w", Answer(503, {"errorMessages": ["down"]}), Answer(201, {}))
    with pytest.raises(AmbiguousWrite) as caught:
        send(call(api, "POST", "/w"), method="POST", path="/w", service="jira", policy=policy)
    assert api.count("POST", "/w") == 1
    assert caught.value.status == 503
    assert caught.value.message == "down"
    assert sleeps == []


def test_post_429_is_retried_because_nothing_was_done(api, policy):
    api.queue("POST", "/w", Answer(429, {}, {"Retry-After": "0"}), Answer(201, {"id": "5"}))
    response = send(
        call(api, "POST", "/w"), method="POST", path="/w", service="jira", policy=policy
    )
    assert response.status_code == 201
    assert api.count("POST", "/w") == 2


def test_dropped_connection_after_post_is_ambiguous(api, policy):
    api.queue("POST", "/w", Answer(drop=True), Answer(201, {}))
    with pytest.raises(AmbiguousWrite) as caught:
        send(call(api, "POST", "/w"), method="POST", path="/w", service="jira", policy=policy)
    assert api.count("POST", "/w") == 1
    assert caught.value.status is None


def test_dropped_connection_on_get_is_retried(api, policy):
    api.queue("GET", "/r", Answer(drop=True), Answer(200, {"ok": 1}))
    response = send(call(api, "GET", "/r"), method="GET", path="/r", service="jira", policy=policy)
    assert response.json() == {"ok": 1}
    assert api.count("GET", "/r") == 2


def test_read_timeout_on_put_is_ambiguous(api, policy):
    api.queue("PUT", "/w", Answer(200, {}, delay=1.0))
    slow = call(api, "PUT", "/w", timeout=(2.0, 0.2))
    with pytest.raises(AmbiguousWrite):
        send(slow, method="PUT", path="/w", service="jira", policy=policy)
    assert api.count("PUT", "/w") == 1


def test_read_timeout_on_get_is_retried(api, policy):
    api.queue("GET", "/r", Answer(200, {}, delay=1.0), Answer(200, {"ok": 1}))
    slow = call(api, "GET", "/r", timeout=(2.0, 0.2))
    assert send(slow, method="GET", path="/r", service="jira", policy=policy).json() == {"ok": 1}


def test_post_that_reads_may_be_retried_on_5xx(api, policy):
    api.queue("POST", "/list", Answer(500), Answer(200, []))
    response = send(
        call(api, "POST", "/list"),
        method="POST",
        path="/list",
        service="jira",
        policy=policy,
        idempotent=True,
    )
    assert response.json() == []


def test_refused_connection_is_retried_even_for_post_then_transient(policy, sleeps):
    session = requests.Session()
    url = f"http://127.0.0.1:{closed_port()}/w"
    small = RetryPolicy(base_delay=0.01, max_delay=0.02, max_attempts=3, sleep=sleeps)
    with pytest.raises(TransientApiError) as caught:
        send(
            lambda: session.post(url, timeout=1),
            method="POST",
            path="/w",
            service="jira",
            policy=small,
        )
    assert len(sleeps) == 2
    assert caught.value.status is None
    assert "Connection refused" in caught.value.message


def test_other_4xx_fails_at_once(api, policy, sleeps):
    api.queue("GET", "/r", Answer(400, {"errorMessages": ["bad jql"], "errors": {"x": "y"}}))
    with pytest.raises(ApiError) as caught:
        send(call(api, "GET", "/r"), method="GET", path="/r", service="jira", policy=policy)
    assert type(caught.value) is ApiError
    assert caught.value.message == "bad jql; x: y"
    assert api.count("GET", "/r") == 1
    assert sleeps == []


def test_allowed_status_is_returned(api, policy):
    api.queue("GET", "/r", Answer(404, {"message": "gone"}))
    response = send(
        call(api, "GET", "/r"),
        method="GET",
        path="/r",
        service="harvest",
        policy=policy,
        allow=(404,),
    )
    assert response.status_code == 404


def test_retry_after_beyond_budget_gives_up_without_waiting(api, sleeps):
    api.queue("GET", "/r", Answer(429, {"message": "slow down"}, {"Retry-After": "3600"}))
    policy = RetryPolicy(base_delay=0.01, max_total_wait=120, sleep=sleeps)
    with pytest.raises(TransientApiError) as caught:
        send(call(api, "GET", "/r"), method="GET", path="/r", service="harvest", policy=policy)
    assert sleeps == []
    assert "Retry-After: 3600" in str(caught.value)


def test_total_wait_stays_within_budget(api, sleeps):
    api.queue("GET", "/r", *[Answer(503) for _ in range(50)])
    policy = RetryPolicy(base_delay=1, max_delay=4, max_total_wait=10, sleep=sleeps)
    with pytest.raises(TransientApiError):
        send(call(api, "GET", "/r"), method="GET", path="/r", service="jira", policy=policy)
    assert sleeps
    assert sum(sleeps) <= 10
    assert max(sleeps) <= 4


def test_attempts_are_capped(api, policy):
    api.queue("GET", "/r", *[Answer(503) for _ in range(50)])
    capped = RetryPolicy(base_delay=0.01, max_attempts=4, sleep=policy.sleep)
    with pytest.raises(TransientApiError):
        send(call(api, "GET", "/r"), method="GET", path="/r", service="jira", policy=capped)
    assert api.count("GET", "/r") == 4


def test_error_text_is_one_line_with_status_and_vendor_message():
    error = AmbiguousWrite("jira", 502, "Bad gateway", method="POST", path="/rest/api/3/x")
    assert str(error) == "jira POST /rest/api/3/x -> HTTP 502: Bad gateway"
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is AmbiguousWrite
    assert (copy.status, copy.path) == (502, "/rest/api/3/x")


def test_rate_limiter_spaces_calls_with_a_sliding_window():
    now = [0.0]
    limiter = RateLimiter(
        3, 10.0, clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s)
    )
    starts = [limiter.acquire() for _ in range(7)]
    assert starts == [0.0, 0.0, 0.0, 10.0, 10.0, 10.0, 20.0]


def test_rate_limiter_holds_across_threads():
    limiter = RateLimiter(4, 0.2)
    starts: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(3):
            start = limiter.acquire()
            with lock:
                starts.append(start)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    starts.sort()
    assert len(starts) == 12
    assert all(later - first >= 0.2 for first, later in zip(starts, starts[4:], strict=False))


@pytest.mark.parametrize(
    ("host", "schema", "port", "expected"),
    [
        ("api.harvestapp.com", None, None, "https://api.harvestapp.com"),
        ("127.0.0.1", "http", 8123, "http://127.0.0.1:8123"),
        ("jira.acme.com/jira", "https", 8443, "https://jira.acme.com:8443/jira"),
        ("https://jira.acme.com/jira/", "", None, "https://jira.acme.com/jira"),
        ("http://127.0.0.1:9/jira", "", 9, "http://127.0.0.1:9/jira"),
    ],
)
def test_site_url_keeps_context_path_and_defaults_to_https(host, schema, port, expected):
    assert site_url(host, schema, port) == expected


def test_site_url_refuses_a_uri_form_schema():
    with pytest.raises(ValueError, match="schema must be http or https"):
        site_url("jira.acme.com", "jira", None)
