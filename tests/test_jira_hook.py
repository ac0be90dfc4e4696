"""JiraHook over real sockets, against a server whose answers each test queues."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest

from h2j.errors import AmbiguousWrite, ApiError, TransientApiError
from h2j.jira_hook import JiraHook, adf_document, comment_text
from h2j.retry import RetryPolicy
from tests.canned import Answer, Canned, closed_port, serve

TOKEN = "jira-api-token-456"
V3 = "/jira/rest/api/3"


@pytest.fixture(scope="module")
def server() -> Iterator[Canned]:
    yield from serve()


@pytest.fixture
def api(server: Canned) -> Canned:
    return server.reset()


@pytest.fixture
def sleeps() -> list[float]:
    return []


def make_hook(monkeypatch, sleeps, conn_id: str, **conn: Any) -> JiraHook:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "http", **conn}))
    policy = RetryPolicy(base_delay=0.01, max_delay=0.02, read_timeout=5, sleep=sleeps.append)
    return JiraHook(conn_id, retry_policy=policy)


@pytest.fixture
def hook(api, monkeypatch, sleeps) -> JiraHook:
    return make_hook(
        monkeypatch,
        sleeps,
        "jira_test",
        host=f"http://127.0.0.1:{api.port}/jira",
        login="ada@example.com",
        password=TOKEN,
        extra={"site": "acme.atlassian.net"},
    )


@pytest.fixture
def hook_v2(api, monkeypatch, sleeps) -> JiraHook:
    return make_hook(
        monkeypatch,
        sleeps,
        "jira_v2",
        host="127.0.0.1/jira",
        schema="http",
        port=api.port,
        password=TOKEN,
        extra={"auth": "bearer", "api_version": "2"},
    )


WORKLOG = {"id": "100", "issueId": "10001", "timeSpentSeconds": 3600}


def test_basic_auth_under_the_context_path(api, hook):
    api.queue("GET", f"{V3}/myself", Answer(200, {"accountId": "a1"}))
    assert hook.myself() == {"accountId": "a1"}
    seen = api.seen[0]
    expected = base64.b64encode(f"ada@example.com:{TOKEN}".encode()).decode()
    assert seen.headers["authorization"] == f"Basic {expected}"
    assert seen.path == f"{V3}/myself"
    assert "site" not in seen.headers
    assert hook.api_version == "3"
    assert hook.site == "acme.atlassian.net"


def test_bearer_token_on_v2_with_port_and_context_path(api, hook_v2):
    api.queue("GET", "/jira/rest/api/2/myself", Answer(200, {"name": "ada"}))
    assert hook_v2.myself() == {"name": "ada"}
    headers = api.seen[0].headers
    assert headers["authorization"] == f"Bearer {TOKEN}"
    assert not {"auth", "api_version"} & set(headers)
    assert hook_v2.site == "127.0.0.1"


def test_v3_comment_is_an_adf_document_with_properties(api, hook):
    api.queue("POST", f"{V3}/issue/10001/worklog", Answer(201, WORKLOG))
    created = hook.add_worklog(
        10001,
        started="2026-11-03T09:00:00.000+0000",
        seconds=3600,
        comment="Fixed login\nand wrote tests",
        properties={"h2j": {"entry_id": 555}},
    )
    assert created == WORKLOG
    seen = api.sent("POST")[0]
    assert seen.query == {"adjustEstimate": "auto", "expand": "properties"}
    assert seen.body == {
        "started": "2026-11-03T09:00:00.000+0000",
        "timeSpentSeconds": 3600,
        "comment": adf_document("Fixed login\nand wrote tests"),
        "properties": [{"key": "h2j", "value": {"entry_id": 555}}],
    }
    assert seen.body["comment"]["content"][1] == {
        "type": "paragraph",
        "content": [{"type": "text", "text": "and wrote tests"}],
    }


def test_v2_comment_is_a_plain_string(api, hook_v2):
    api.queue("POST", "/jira/rest/api/2/issue/PROJ-1/worklog", Answer(201, WORKLOG))
    hook_v2.add_worklog(
        "PROJ-1",
        started="2026-11-03T09:00:00.000+0000",
        seconds=60,
        comment="one\ntwo",
        properties=None,
    )
    body = api.sent("POST")[0].body
    assert body["comment"] == "one\ntwo"
    assert "properties" not in body


def test_adf_comment_reads_back_as_the_same_text():
    text = "first line\n\nthird line"
    assert comment_text(adf_document(text)) == text
    assert comment_text("plain v2") == "plain v2"
    assert comment_text(None) == ""


def test_create_5xx_is_ambiguous_and_sent_once(api, hook):
    api.queue("POST", f"{V3}/issue/10001/worklog", Answer(503), Answer(201, WORKLOG))
    with pytest.raises(AmbiguousWrite) as caught:
        hook.add_worklog(10001, started="2026-11-03T09:00:00.000+0000", seconds=600, comment="")
    assert len(api.sent("POST")) == 1
    assert caught.value.status == 503


def test_create_with_dropped_answer_is_ambiguous(api, hook):
    api.queue("POST", f"{V3}/issue/10001/worklog", Answer(drop=True))
    with pytest.raises(AmbiguousWrite):
        hook.add_worklog(10001, started="2026-11-03T09:00:00.000+0000", seconds=600, comment="x")
    assert len(api.sent("POST")) == 1


def test_create_rate_limited_is_retried_once_allowed(api, hook, sleeps):
    api.queue(
        "POST",
        f"{V3}/issue/10001/worklog",
        Answer(429, {}, {"Retry-After": "2"}),
        Answer(201, WORKLOG),
    )
    assert (
        hook.add_worklog(10001, started="2026-11-03T09:00:00.000+0000", seconds=600, comment="x")
        == WORKLOG
    )
    assert len(api.sent("POST")) == 2
    assert sleeps[0] >= 2


def test_400_carries_jira_messages(api, hook):
    problem = {"errorMessages": ["Worklog is invalid"], "errors": {"timeLogged": "too short"}}
    api.queue("POST", f"{V3}/issue/10001/worklog", Answer(400, problem))
    with pytest.raises(ApiError) as caught:
        hook.add_worklog(10001, started="2026-11-03T09:00:00.000+0000", seconds=30, comment="x")
    assert type(caught.value) is ApiError
    assert caught.value.status == 400
    assert caught.value.message == "Worklog is invalid; timeLogged: too short"
    assert TOKEN not in str(caught.value)


def test_update_sends_put_and_is_ambiguous_on_5xx(api, hook):
    path = f"{V3}/issue/10001/worklog/100"
    api.queue("PUT", path, Answer(200, WORKLOG), Answer(502))
    updated = hook.update_worklog(
        10001,
        100,
        started="2026-11-03T09:00:00.000+0000",
        seconds=5400,
        comment="edit",
        adjust_estimate="new",
        new_estimate="2h",
    )
    assert updated == WORKLOG
    assert api.seen[0].query == {
        "adjustEstimate": "new",
        "newEstimate": "2h",
        "expand": "properties",
    }
    assert api.seen[0].body["timeSpentSeconds"] == 5400
    with pytest.raises(AmbiguousWrite):
        hook.update_worklog(
            10001, 100, started="2026-11-03T09:00:00.000+0000", seconds=60, comment=""
        )
    assert len(api.sent("PUT")) == 2


def test_delete_answers_true_then_false_when_already_gone(api, hook):
    path = f"{V3}/issue/10001/worklog/100"
    api.queue("DELETE", path, Answer(204), Answer(404, {"errorMessages": ["gone"]}))
    assert hook.delete_worklog(10001, 100) is True
    assert hook.delete_worklog(10001, 100, adjust_estimate="leave") is False
    assert [seen.query for seen in api.seen] == [
        {"adjustEstimate": "auto"},
        {"adjustEstimate": "leave"},
    ]


def test_estimate_mode_new_needs_an_estimate(api, hook):
    with pytest.raises(ValueError, match="new_estimate"):
        hook.delete_worklog(10001, 100, adjust_estimate="new")
    with pytest.raises(ValueError, match="adjust_estimate"):
        hook.delete_worklog(10001, 100, adjust_estimate="manual")
    assert api.seen == []


def test_missing_issue_and_worklog_are_none(api, hook):
    api.queue("GET", f"{V3}/issue/NOPE-1", Answer(404, {"errorMessages": ["no issue"]}))
    api.queue("GET", f"{V3}/issue/10001/worklog/7", Answer(404, {"errorMessages": ["no"]}))
    api.queue("GET", f"{V3}/issue/PROJ-2", Answer(200, {"id": "10002", "fields": {}}))
    assert hook.get_issue("NOPE-1") is None
    assert hook.get_worklog(10001, 7) is None
    assert hook.get_issue("PROJ-2") == {"id": "10002", "fields": {}}
    assert api.seen[0].query == {"fields": "timetracking"}


def test_get_retries_5xx_then_succeeds(api, hook):
    api.queue("GET", f"{V3}/myself", Answer(500), Answer(503), Answer(200, {"accountId": "a"}))
    assert hook.myself() == {"accountId": "a"}
    assert len(api.seen) == 3


def test_worklogs_follow_start_at_and_total(api, hook):
    path = f"{V3}/issue/10001/worklog"
    api.queue(
        "GET",
        path,
        Answer(
            200, {"startAt": 0, "maxResults": 2, "total": 3, "worklogs": [{"id": "1"}, {"id": "2"}]}
        ),
        Answer(200, {"startAt": 2, "maxResults": 2, "total": 3, "worklogs": [{"id": "3"}]}),
    )
    assert [w["id"] for w in hook.iter_worklogs(10001)] == ["1", "2", "3"]
    assert [seen.query["startAt"] for seen in api.seen] == ["0", "2"]
    assert api.seen[0].query["expand"] == "properties"


def test_projects_page_until_is_last(api, hook):
    path = f"{V3}/project/search"
    first = [{"id": "1", "key": "A", "name": "Apollo", "self": "x"}]
    api.queue(
        "GET",
        path,
        Answer(200, {"values": first, "startAt": 0, "isLast": False}),
        Answer(200, {"values": [{"id": "2", "key": "B", "name": "Borg"}], "isLast": True}),
    )
    assert hook.projects() == [
        {"id": "1", "key": "A", "name": "Apollo"},
        {"id": "2", "key": "B", "name": "Borg"},
    ]
    assert api.seen[1].query["startAt"] == "1"


def test_worklogs_by_ids_go_in_chunks_of_1000_and_retry_5xx(api, hook):
    path = f"{V3}/worklog/list"
    api.queue("POST", path, Answer(500), Answer(200, [{"id": "1"}]), Answer(200, [{"id": "2"}]))
    api.queue("POST", path, Answer(200, [{"id": "3"}]))
    found = hook.worklogs_by_ids(range(2500))
    assert [w["id"] for w in found] == ["1", "2", "3"]
    sizes = [len(seen.body["ids"]) for seen in api.sent("POST")]
    assert sizes == [1000, 1000, 1000, 500]
    assert hook.worklogs_by_ids([]) == []


def test_changed_worklogs_follow_next_page_until_last(api, hook):
    path = f"{V3}/worklog/updated"
    next_page = f"https://acme.atlassian.net{path}?since=2000&expand=properties"
    api.queue(
        "GET",
        path,
        Answer(200, {"values": [{"worklogId": 1}], "lastPage": False, "nextPage": next_page}),
        Answer(200, {"values": [{"worklogId": 2}], "lastPage": True}),
    )
    assert [v["worklogId"] for v in hook.changed_worklogs("updated", 1000)] == [1, 2]
    assert [seen.query["since"] for seen in api.seen] == ["1000", "2000"]


def test_deleted_worklogs_read_one_page(api, hook):
    api.queue("GET", f"{V3}/worklog/deleted", Answer(200, {"values": [], "lastPage": True}))
    assert list(hook.changed_worklogs("deleted", 5)) == []
    assert api.seen[0].query == {"since": "5"}


def test_refused_connection_is_transient(monkeypatch, sleeps):
    url = f"http://127.0.0.1:{closed_port()}"
    hook = make_hook(monkeypatch, sleeps, "jira_down", host=url, login="a", password=TOKEN)
    with pytest.raises(TransientApiError):
        hook.add_worklog(1, started="2026-11-03T09:00:00.000+0000", seconds=60, comment="x")
    assert sleeps
