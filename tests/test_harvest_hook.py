"""HarvestHook over real sockets, against a server whose answers each test queues."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from h2j.errors import ApiError, TransientApiError
from h2j.harvest_hook import HarvestHook
from h2j.retry import RateLimiter, RetryPolicy
from tests.canned import Answer, Canned, closed_port, serve

TOKEN = "harvest-secret-token-123"


@pytest.fixture(scope="module")
def server() -> Iterator[Canned]:
    yield from serve()


@pytest.fixture
def api(server: Canned) -> Canned:
    return server.reset()


def connection(port: int, **changes: Any) -> str:
    conn: dict[str, Any] = {
        "conn_type": "http",
        "host": "127.0.0.1",
        "port": port,
        "schema": "http",
        "password": TOKEN,
        "extra": {"account_id": "12345", "user_agent": "ops@example.com", "X-Trace": "on"},
    }
    conn.update(changes)
    return json.dumps(conn)


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def hook(api, monkeypatch, sleeps) -> HarvestHook:
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_TEST", connection(api.port))
    policy = RetryPolicy(base_delay=0.01, max_delay=0.02, read_timeout=5, sleep=sleeps.append)
    return HarvestHook("harvest_test", retry_policy=policy, rate_limiter=RateLimiter(1000, 1))


def page(key: str, items: list[dict[str, Any]], next_link: str | None) -> Answer:
    return Answer(200, {key: items, "per_page": 2, "links": {"next": next_link}})


def test_sends_bearer_account_and_user_agent_but_not_h2j_extras(api, hook):
    api.queue("GET", "/v2/users/me", Answer(200, {"id": 7}))
    assert hook.me() == {"id": 7}
    headers = api.seen[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert headers["harvest-account-id"] == "12345"
    assert headers["user-agent"] == "h2j (ops@example.com)"
    assert headers["x-trace"] == "on"
    assert "account_id" not in headers
    assert "user_agent" not in headers
    assert hook.account_id == "12345"


def test_constructor_looks_nothing_up():
    hook = HarvestHook("no_such_connection")
    assert hook.harvest_conn_id == "no_such_connection"


def test_users_follow_links_next_on_the_configured_host(api, hook):
    elsewhere = "https://api.harvestapp.com/v2/users?page={}&per_page=2&is_active=true"
    api.queue(
        "GET",
        "/v2/users",
        page("users", [{"id": 1}, {"id": 2}], elsewhere.format(2)),
        page("users", [{"id": 3}, {"id": 4}], elsewhere.format(3)),
        page("users", [{"id": 5}], None),
    )
    assert [user["id"] for user in hook.iter_users()] == [1, 2, 3, 4, 5]
    assert [seen.query.get("page") for seen in api.seen] == [None, "2", "3"]
    assert api.seen[0].query == {"per_page": "2000", "is_active": "true"}


def test_users_without_active_filter(api, hook):
    api.queue("GET", "/v2/users", page("users", [{"id": 1}], None))
    assert len(list(hook.iter_users(is_active=None))) == 1
    assert "is_active" not in api.seen[0].query


def test_time_entry_pages_stream_one_page_at_a_time(api, hook):
    next_link = f"http://127.0.0.1:{api.port}/v2/time_entries?cursor=abc&user_id=7"
    api.queue(
        "GET",
        "/v2/time_entries",
        page("time_entries", [{"id": 10}, {"id": 11}], next_link),
        page("time_entries", [{"id": 12}], None),
    )
    pages = hook.iter_time_entry_pages(7, "2026-11-01", "2026-11-30", per_page=2)
    first = next(pages)
    assert [entry["id"] for entry in first] == [10, 11]
    assert len(api.seen) == 1
    assert api.seen[0].query == {
        "user_id": "7",
        "from": "2026-11-01",
        "to": "2026-11-30",
        "per_page": "2",
    }
    assert [[entry["id"] for entry in rest] for rest in pages] == [[12]]
    assert api.seen[1].query == {"cursor": "abc", "user_id": "7"}


def test_page_cut_short_names_user_and_page(api, hook):
    next_link = "/v2/time_entries?page=2"
    api.queue(
        "GET",
        "/v2/time_entries",
        page("time_entries", [{"id": 1}], next_link),
        Answer(200, raw=b'{"time_entries": [{"id": 2, "hours": 1.'),
    )
    with pytest.raises(ApiError, match="time_entries page 2 for user 42") as caught:
        for _ in hook.iter_time_entry_pages(42, "2026-11-01", "2026-11-30"):
            pass
    assert caught.value.path == "/v2/time_entries"


def test_page_whose_body_stops_early_is_retried_then_names_user_and_page(api, hook, sleeps):
    short = Answer(200, raw=b'{"time_entries": [', headers={"content-length": "400"})
    api.queue("GET", "/v2/time_entries", short, short, short)
    policy = RetryPolicy(base_delay=0.01, max_attempts=3, sleep=sleeps.append)
    hook.retry_policy = policy
    with pytest.raises(TransientApiError, match="time_entries page 1 for user 42") as caught:
        list(hook.iter_time_entry_pages(42, "2026-11-01", "2026-11-30"))
    assert caught.value.status is None
    assert len(api.seen) == 3


def test_page_without_links_is_refused(api, hook):
    api.queue("GET", "/v2/time_entries", Answer(200, {"time_entries": []}))
    with pytest.raises(ApiError, match="page 1 for user 42 has no 'time_entries' list or 'links'"):
        list(hook.iter_time_entry_pages(42, "2026-11-01", "2026-11-30"))


def test_missing_time_entry_is_none(api, hook):
    api.queue("GET", "/v2/time_entries/99", Answer(404, {"message": "Not found"}))
    api.queue("GET", "/v2/time_entries/98", Answer(200, {"id": 98, "hours": 1.5}))
    assert hook.get_time_entry(99) is None
    assert hook.get_time_entry(98) == {"id": 98, "hours": 1.5}


def test_429_with_retry_after_then_200(api, hook, sleeps):
    api.queue(
        "GET",
        "/v2/company",
        Answer(429, {"message": "Too many requests"}, {"Retry-After": "3"}),
        Answer(200, {"name": "Acme"}),
    )
    assert hook.company() == {"name": "Acme"}
    assert len(sleeps) == 1
    assert sleeps[0] >= 3


def test_5xx_then_200_on_a_page(api, hook):
    api.queue(
        "GET", "/v2/time_entries", Answer(502), Answer(200, page("time_entries", [], None).body)
    )
    assert list(hook.iter_time_entry_pages(1, "2026-11-01", "2026-11-30")) == [[]]
    assert len(api.seen) == 2


def test_bad_token_gives_harvest_message_without_the_token(api, hook):
    api.queue(
        "GET",
        "/v2/users/me",
        Answer(401, {"error": "invalid_token", "error_description": "The token is invalid"}),
    )
    with pytest.raises(ApiError) as caught:
        hook.me()
    assert caught.value.status == 401
    assert caught.value.message == "The token is invalid"
    assert TOKEN not in str(caught.value)


def test_refused_connection_is_transient(monkeypatch, sleeps):
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_DOWN", connection(closed_port()))
    policy = RetryPolicy(base_delay=0.01, max_attempts=3, sleep=sleeps.append)
    hook = HarvestHook("harvest_down", retry_policy=policy, rate_limiter=RateLimiter(100, 1))
    with pytest.raises(TransientApiError):
        hook.me()
    assert len(sleeps) == 2


def test_every_attempt_passes_the_rate_limiter(api, monkeypatch, sleeps):
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_TEST", connection(api.port))
    readings: list[int] = []

    def clock() -> float:
        readings.append(1)
        return float(len(readings))

    limiter = RateLimiter(1000, 15.0, clock=clock)
    policy = RetryPolicy(base_delay=0.01, sleep=sleeps.append)
    hook = HarvestHook("harvest_test", retry_policy=policy, rate_limiter=limiter)
    api.queue("GET", "/v2/company", Answer(503), Answer(200, {"name": "Acme"}))
    api.queue("GET", "/v2/users/me", Answer(200, {"id": 1}))
    hook.company()
    hook.me()
    assert len(readings) == len(api.seen) == 3


def test_missing_account_id_is_reported_on_first_use(api, monkeypatch):
    conn = connection(api.port, extra={"user_agent": "ops@example.com"})
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_BARE", conn)
    hook = HarvestHook("harvest_bare")
    with pytest.raises(ValueError, match="account_id"):
        hook.me()
    assert api.seen == []


def test_connection_without_schema_means_https(monkeypatch):
    conn = {"conn_type": "http", "host": "api.harvestapp.com", "password": TOKEN}
    conn["extra"] = {"account_id": "1", "user_agent": "ops@example.com"}
    monkeypatch.setenv("AIRFLOW_CONN_HARVEST_PROD", json.dumps(conn))
    hook = HarvestHook("harvest_prod")
    hook.get_conn()
    assert hook.base_url == "https://api.harvestapp.com"
