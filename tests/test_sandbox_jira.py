"""The sandbox Jira over real HTTP, each exchange checked against Jira's published spec.

The spec subsets in ``tests/specs`` are Atlassian's v3 description; v2 calls are checked
against the same paths (the two versions differ only in how a comment is written). Jira
writes datetimes as ``2026-11-03T09:00:00.000+0000``, which the spec calls ``date-time``
but which is not RFC 3339, so that format is checked against Jira's own pattern.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import requests
from openapi_core import Config, OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.jira import create_app
from sandbox.server import RunningServer

SPECS = Path(__file__).parent / "specs"
BOT = ("h2j-bot@example.com", "sandbox-jira-token")
PAT = "sandbox-jira-pat"
STARTED = "2026-11-03T09:00:00.000+0000"
HOUR = 3600
JIRA_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}$")
NOT_NULL = "Worklog must not be null."
NOT_EDITABLE = "You can not edit the issue as it is in a non-editable workflow state."
BAD_STARTED = (
    "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
)

# The spec offers OAuth2 beside Basic; openapi-core cannot check OAuth2 and says so.
pytestmark = pytest.mark.filterwarnings("ignore:Unsupported scheme type:UserWarning")


def _load_spec() -> OpenAPI:
    worklogs = json.loads((SPECS / "jira-cloud-platform-v3.worklog-subset.json").read_text())
    extra = json.loads((SPECS / "jira-extra-subset.json").read_text())
    merged = dict(worklogs)
    merged["paths"] = {**worklogs["paths"], **extra["paths"]}
    merged["components"] = {
        "schemas": {**worklogs["components"]["schemas"], **extra["components"]["schemas"]},
        "securitySchemes": worklogs["components"]["securitySchemes"],
    }
    config = Config(extra_format_validators={"date-time": lambda v: bool(JIRA_DATETIME.match(v))})
    return OpenAPI.from_dict(merged, config=config)


class _SpecRequest(RequestsOpenAPIRequest):
    """A request as the spec sees it: on the spec's server, v3, with no context path."""

    def __init__(self, request: requests.PreparedRequest, context: str):
        super().__init__(request)
        self._context = context

    @property
    def host_url(self) -> str:
        return "https://your-domain.atlassian.net"

    @property
    def path(self) -> str:
        path = super().path.removeprefix(self._context)
        return path.replace("/rest/api/2/", "/rest/api/3/", 1)


class Jira:
    """A client of one sandbox server that checks every API exchange against the spec."""

    def __init__(self, url: str, spec: OpenAPI, context: str = "", version: str = "3", **auth):
        self.url = url
        self.spec = spec
        self.context = context
        self.api = f"{url}{context}/rest/api/{version}"
        self.session = requests.Session()
        self.auth = auth.get("basic", BOT)
        self.headers = {"Authorization": f"Bearer {auth['bearer']}"} if "bearer" in auth else {}

    def call(
        self, method: str, path: str, *, check_request=True, check_response=True, **kwargs
    ) -> requests.Response:
        kwargs.setdefault("auth", None if self.headers else self.auth)
        kwargs.setdefault("headers", self.headers)
        response = self.session.request(method, self.api + path, timeout=5, **kwargs)
        request = _SpecRequest(response.request, self.context)
        if check_request:
            self.spec.validate_request(request)
        if check_response:
            self.spec.validate_response(request, RequestsOpenAPIResponse(response))
        return response

    def admin(self, method: str, path: str, **kwargs) -> Any:
        response = self.session.request(method, f"{self.url}/_sandbox{path}", timeout=5, **kwargs)
        response.raise_for_status()
        return response.json() if response.content else None

    def add_issue(self, key: str, estimate: int | None = None, **extra) -> dict[str, Any]:
        spec = {"key": key, "original_estimate_seconds": estimate, **extra}
        return self.admin("POST", "/issues", json=spec)

    def log(self, issue: str, seconds: int | None, params=None, **body) -> dict[str, Any]:
        body = {"started": STARTED, **body}
        if seconds is not None:
            body["timeSpentSeconds"] = seconds
        response = self.call("POST", f"/issue/{issue}/worklog", params=params, json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def edit(self, issue: str, worklog: dict, params=None, **body) -> dict[str, Any]:
        response = self.call(
            "PUT", f"/issue/{issue}/worklog/{worklog['id']}", params=params, json=body
        )
        assert response.status_code == 200, response.text
        return response.json()

    def delete(self, issue: str, worklog: dict, params=None) -> None:
        response = self.call("DELETE", f"/issue/{issue}/worklog/{worklog['id']}", params=params)
        assert response.status_code == 204, response.text

    def time_tracking(self, issue: str) -> dict[str, Any]:
        response = self.call("GET", f"/issue/{issue}", params={"fields": "timetracking"})
        assert response.status_code == 200, response.text
        return response.json()["fields"]["timetracking"]

    def remaining(self, issue: str) -> int | None:
        return self.time_tracking(issue).get("remainingEstimateSeconds")

    def worklogs(self, issue: str, **params) -> dict[str, Any]:
        response = self.call("GET", f"/issue/{issue}/worklog", params=params)
        assert response.status_code == 200, response.text
        return response.json()


def _fresh(server: RunningServer) -> None:
    requests.post(f"{server.url}/_sandbox/reset", timeout=5).raise_for_status()


@pytest.fixture(scope="module")
def spec() -> OpenAPI:
    return _load_spec()


@pytest.fixture(scope="module")
def cloud_server():
    server = RunningServer(create_app()).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def dc_server():
    server = RunningServer(create_app(context_path="/jira")).start()
    yield server
    server.stop()


@pytest.fixture
def jira(cloud_server, spec):
    _fresh(cloud_server)
    client = Jira(cloud_server.url, spec)
    yield client
    client.session.close()


@pytest.fixture
def dc(dc_server, spec):
    _fresh(dc_server)
    client = Jira(dc_server.url, spec, context="/jira", version="2", bearer=PAT)
    yield client
    client.session.close()


@pytest.fixture
def ops(jira) -> Jira:
    """The cloud client with OPS-1 estimated at 10 hours."""
    jira.add_issue("OPS-1", 10 * HOUR)
    return jira


# Time tracking, case by case.


def test_logging_six_of_ten_hours_leaves_four(ops):
    ops.log("OPS-1", 6 * HOUR)
    assert ops.time_tracking("OPS-1") == {
        "originalEstimate": "1d 2h",
        "originalEstimateSeconds": 10 * HOUR,
        "remainingEstimate": "4h",
        "remainingEstimateSeconds": 4 * HOUR,
        "timeSpent": "6h",
        "timeSpentSeconds": 6 * HOUR,
    }


def test_editing_six_hours_down_to_three_leaves_seven(ops):
    worklog = ops.log("OPS-1", 6 * HOUR)
    edited = ops.edit("OPS-1", worklog, timeSpentSeconds=3 * HOUR)
    assert (edited["timeSpent"], edited["timeSpentSeconds"]) == ("3h", 3 * HOUR)
    tracking = ops.time_tracking("OPS-1")
    assert tracking["remainingEstimateSeconds"] == 7 * HOUR
    assert tracking["timeSpentSeconds"] == 3 * HOUR


def test_logging_past_the_estimate_stops_remaining_at_zero(ops):
    ops.log("OPS-1", 6 * HOUR)
    ops.log("OPS-1", 6 * HOUR)
    tracking = ops.time_tracking("OPS-1")
    assert (tracking["remainingEstimate"], tracking["remainingEstimateSeconds"]) == ("0m", 0)
    assert (tracking["timeSpent"], tracking["timeSpentSeconds"]) == ("1d 4h", 12 * HOUR)


def test_editing_up_past_the_estimate_stops_remaining_at_zero(ops):
    worklog = ops.log("OPS-1", 6 * HOUR)
    ops.edit("OPS-1", worklog, timeSpent="2d")
    assert ops.remaining("OPS-1") == 0


def test_deleting_a_worklog_gives_its_time_back(ops):
    worklog = ops.log("OPS-1", 6 * HOUR)
    ops.delete("OPS-1", worklog)
    assert ops.time_tracking("OPS-1") == {
        "originalEstimate": "1d 2h",
        "originalEstimateSeconds": 10 * HOUR,
        "remainingEstimate": "1d 2h",
        "remainingEstimateSeconds": 10 * HOUR,
    }


def test_deleting_after_overrun_gives_back_all_the_time_logged(ops):
    worklog = ops.log("OPS-1", 12 * HOUR)
    ops.delete("OPS-1", worklog)
    assert ops.remaining("OPS-1") == 12 * HOUR


@pytest.mark.parametrize(
    ("params", "remaining"),
    [
        ({}, 4 * HOUR),
        ({"adjustEstimate": "auto"}, 4 * HOUR),
        ({"adjustEstimate": "leave"}, 10 * HOUR),
        ({"adjustEstimate": "new", "newEstimate": "2h"}, 2 * HOUR),
        ({"adjustEstimate": "manual", "reduceBy": "1h 30m"}, 8 * HOUR + 1800),
        ({"adjustEstimate": "manual", "reduceBy": "2d"}, 0),
    ],
)
def test_adjust_estimate_on_create(ops, params, remaining):
    ops.log("OPS-1", 6 * HOUR, params=params)
    assert ops.remaining("OPS-1") == remaining


@pytest.mark.parametrize(
    ("params", "remaining"),
    [
        ({"adjustEstimate": "auto"}, 7 * HOUR),
        ({"adjustEstimate": "leave"}, 4 * HOUR),
        ({"adjustEstimate": "new", "newEstimate": "1d"}, 8 * HOUR),
    ],
)
def test_adjust_estimate_on_update(ops, params, remaining):
    worklog = ops.log("OPS-1", 6 * HOUR)
    ops.edit("OPS-1", worklog, params=params, timeSpentSeconds=3 * HOUR)
    assert ops.remaining("OPS-1") == remaining


@pytest.mark.parametrize(
    ("params", "remaining"),
    [
        ({"adjustEstimate": "auto"}, 10 * HOUR),
        ({"adjustEstimate": "leave"}, 4 * HOUR),
        ({"adjustEstimate": "new", "newEstimate": "30m"}, 1800),
        ({"adjustEstimate": "manual", "increaseBy": "1h"}, 5 * HOUR),
    ],
)
def test_adjust_estimate_on_delete(ops, params, remaining):
    worklog = ops.log("OPS-1", 6 * HOUR)
    ops.delete("OPS-1", worklog, params=params)
    assert ops.remaining("OPS-1") == remaining


def test_auto_leaves_an_issue_without_estimate_unestimated(jira):
    jira.add_issue("OPS-2")
    worklog = jira.log("OPS-2", 2 * HOUR)
    assert jira.time_tracking("OPS-2") == {"timeSpent": "2h", "timeSpentSeconds": 2 * HOUR}
    jira.delete("OPS-2", worklog)
    assert jira.time_tracking("OPS-2") == {}


def test_time_spent_is_the_sum_of_the_worklogs(ops):
    for minutes in (15, 45, 90):
        ops.log("OPS-1", minutes * 60)
    raw = ops.admin("GET", "/issues/OPS-1")
    assert raw["time_spent_seconds"] == 150 * 60
    assert ops.time_tracking("OPS-1")["timeSpent"] == "2h 30m"


# Validation, as Jira answers it.


@pytest.mark.parametrize(
    "started",
    [
        "2026-11-03T09:00:00.000+00:00",
        "2026-11-03T09:00:00.000Z",
        "2026-11-03T09:00:00+0000",
        "2026-11-03 09:00:00.000+0000",
        "2026-02-30T09:00:00.000+0000",
        "03/11/2026",
    ],
)
def test_started_must_be_in_jiras_format(ops, started):
    body = {"started": started, "timeSpentSeconds": HOUR}
    response = ops.call("POST", "/issue/OPS-1/worklog", json=body, check_request=False)
    assert response.status_code == 400
    assert response.json() == {"errorMessages": [NOT_NULL], "errors": {"started": BAD_STARTED}}
    assert ops.worklogs("OPS-1")["total"] == 0


def test_started_offset_is_kept_as_an_instant(ops):
    worklog = ops.log("OPS-1", HOUR, started="2026-11-03T10:30:00.000+0130")
    assert worklog["started"] == STARTED


def test_times_are_shown_in_the_callers_time_zone(ops):
    ops.admin(
        "POST",
        "/accounts",
        json={"emailAddress": "ada@example.com", "api_token": "t-ada", "timeZone": "Europe/Berlin"},
    )
    worklog = ops.log("OPS-1", HOUR)
    seen = ops.call(
        "GET", f"/issue/OPS-1/worklog/{worklog['id']}", auth=("ada@example.com", "t-ada")
    )
    assert seen.json()["started"] == "2026-11-03T10:00:00.000+0100"


@pytest.mark.parametrize(("seconds", "status"), [(59, 400), (0, 400), (60, 201)])
def test_a_worklog_needs_at_least_a_minute(ops, seconds, status):
    body = {"started": STARTED, "timeSpentSeconds": seconds}
    response = ops.call("POST", "/issue/OPS-1/worklog", json=body)
    assert response.status_code == status
    if status == 400:
        assert response.json()["errors"] == {
            "timeLogged": "You must indicate the time spent working."
        }


@pytest.mark.parametrize(
    ("text", "seconds", "shown"),
    [
        ("1h 30m", 5400, "1h 30m"),
        ("1h30m", 5400, "1h 30m"),
        ("2d", 16 * HOUR, "2d"),
        ("1w 1d", 48 * HOUR, "1w 1d"),
        ("90", 5400, "1h 30m"),
        ("1.5h", 5400, "1h 30m"),
    ],
)
def test_time_spent_text_is_parsed_with_jira_defaults(ops, text, seconds, shown):
    worklog = ops.log("OPS-1", None, timeSpent=text)
    assert (worklog["timeSpentSeconds"], worklog["timeSpent"]) == (seconds, shown)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"timeSpent": "an hour"}, "Invalid time duration entered."),
        ({}, "You must indicate the time spent working."),
        ({"timeSpent": "1h", "timeSpentSeconds": HOUR}, None),
    ],
)
def test_time_spent_must_be_given_once_and_readable(ops, body, error):
    response = ops.call("POST", "/issue/OPS-1/worklog", json={"started": STARTED, **body})
    assert response.status_code == 400
    assert "timeLogged" in response.json()["errors"]
    if error:
        assert response.json()["errors"]["timeLogged"] == error


@pytest.mark.parametrize(
    "comment",
    [
        "plain text",
        {"type": "doc", "content": []},
        {"type": "paragraph", "version": 1, "content": []},
        ["doc"],
    ],
)
def test_v3_comment_must_be_an_atlassian_document(ops, comment):
    response = ops.call(
        "POST",
        "/issue/OPS-1/worklog",
        json={"started": STARTED, "timeSpentSeconds": HOUR, "comment": comment},
    )
    assert response.status_code == 400
    assert "comment" in response.json()["errors"]


def test_v2_comment_must_be_text(dc):
    dc.add_issue("OPS-1")
    document = {"type": "doc", "version": 1, "content": []}
    body = {"started": STARTED, "timeSpentSeconds": HOUR, "comment": document}
    response = dc.call("POST", "/issue/OPS-1/worklog", json=body)
    assert response.status_code == 400
    assert dc.worklogs("OPS-1")["total"] == 0


def test_malformed_json_is_refused(ops):
    response = ops.call(
        "POST",
        "/issue/OPS-1/worklog",
        data=b"{not json",
        headers={"Content-Type": "application/json"},
        check_request=False,
    )
    assert response.status_code == 400
    assert response.json()["errorMessages"]


def test_unknown_issue_is_404(jira):
    issue = jira.call("GET", "/issue/NOPE-1")
    created = jira.call(
        "POST", "/issue/NOPE-1/worklog", json={"started": STARTED, "timeSpent": "1h"}
    )
    listed = jira.call("GET", "/issue/NOPE-1/worklog")
    assert [r.status_code for r in (issue, created, listed)] == [404, 404, 404]
    assert issue.json()["errorMessages"] == [
        "Issue does not exist or you do not have permission to see it."
    ]


def test_unknown_worklog_or_one_of_another_issue_is_404(ops):
    ops.add_issue("OPS-2")
    elsewhere = ops.log("OPS-2", HOUR)
    for worklog_id in ("99999", elsewhere["id"]):
        path = f"/issue/OPS-1/worklog/{worklog_id}"
        answers = [
            ops.call("GET", path),
            ops.call("PUT", path, json={"timeSpent": "2h"}),
            ops.call("DELETE", path),
        ]
        assert [a.status_code for a in answers] == [404, 404, 404]
        assert answers[0].json()["errorMessages"] == [
            f"Cannot find worklog with id: '{worklog_id}'."
        ]
    assert ops.worklogs("OPS-2")["worklogs"][0]["timeSpentSeconds"] == HOUR


def test_closed_issue_refuses_new_edited_and_deleted_worklogs(ops):
    worklog = ops.log("OPS-1", HOUR)
    ops.admin("PATCH", "/issues/OPS-1", json={"closed": True})
    path = f"/issue/OPS-1/worklog/{worklog['id']}"
    answers = [
        ops.call("POST", "/issue/OPS-1/worklog", json={"started": STARTED, "timeSpent": "1h"}),
        ops.call("PUT", path, json={"timeSpent": "2h"}),
        ops.call("DELETE", path),
    ]
    assert [a.status_code for a in answers] == [400, 400, 400]
    assert all(a.json()["errorMessages"] == [NOT_EDITABLE] for a in answers)
    raw = ops.admin("GET", "/issues/OPS-1")
    assert (len(raw["worklogs"]), raw["remaining_estimate_seconds"]) == (1, 9 * HOUR)
    ops.admin("PATCH", "/issues/OPS-1", json={"closed": False})
    ops.delete("OPS-1", worklog)


def test_issue_holding_5000_worklogs_refuses_another(ops):
    state = ops.admin("GET", "/state")
    issue_id = state["issues"][0]["id"]
    bot = state["accounts"][0]["accountId"]
    stamp = "2026-11-01T08:00:00.000+0000"
    state["worklogs"] = [
        {
            "id": str(50000 + n),
            "issue_id": issue_id,
            "author": bot,
            "update_author": bot,
            "started": STARTED,
            "time_spent_seconds": 60,
            "comment": None,
            "created": stamp,
            "updated": stamp,
            "properties": {},
        }
        for n in range(5000)
    ]
    ops.admin("PUT", "/state", json=state)
    response = ops.call(
        "POST", "/issue/OPS-1/worklog", json={"started": STARTED, "timeSpent": "1h"}
    )
    assert response.status_code == 413
    assert response.json()["errorMessages"]
    ops.add_issue("OPS-2")
    ops.log("OPS-2", HOUR)


@pytest.mark.parametrize(
    ("method", "params", "field", "message"),
    [
        ("POST", {"adjustEstimate": "new"}, "newEstimate", "You must supply a valid new estimate."),
        ("POST", {"adjustEstimate": "new", "newEstimate": "soon"}, "newEstimate", None),
        ("POST", {"adjustEstimate": "manual"}, "adjustmentAmount", None),
        ("POST", {"adjustEstimate": "manual", "reduceBy": "lots"}, "adjustmentAmount", None),
        ("PUT", {"adjustEstimate": "new"}, "newEstimate", None),
        ("DELETE", {"adjustEstimate": "manual"}, "adjustmentAmount", None),
        ("DELETE", {"adjustEstimate": "new", "newEstimate": ""}, "newEstimate", None),
    ],
)
def test_estimate_adjustment_needs_its_amount(ops, method, params, field, message):
    worklog = ops.log("OPS-1", HOUR)
    path = "/issue/OPS-1/worklog" + ("" if method == "POST" else f"/{worklog['id']}")
    body = {"started": STARTED, "timeSpent": "1h"} if method != "DELETE" else None
    response = ops.call(method, path, params=params, json=body)
    assert response.status_code == 400
    assert field in response.json()["errors"]
    if message:
        assert response.json()["errors"][field] == message
    raw = ops.admin("GET", "/issues/OPS-1")
    assert (len(raw["worklogs"]), raw["remaining_estimate_seconds"]) == (1, 9 * HOUR)


@pytest.mark.parametrize(
    ("method", "params"),
    [("PUT", {"adjustEstimate": "manual"}), ("POST", {"adjustEstimate": "sometimes"})],
)
def test_unsupported_adjust_estimate_is_refused(ops, method, params):
    worklog = ops.log("OPS-1", HOUR)
    path = "/issue/OPS-1/worklog" + ("" if method == "POST" else f"/{worklog['id']}")
    body = {"started": STARTED, "timeSpent": "1h"}
    response = ops.call(method, path, params=params, json=body, check_request=False)
    assert response.status_code == 400


# Authentication.


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic " + "aDJqLWJvdEBleGFtcGxlLmNvbTp3cm9uZw=="},
        {"Authorization": "Basic not-base64!"},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": "Bearer sandbox-jira-token"},
        {"Authorization": "Token sandbox-jira-pat"},
    ],
)
def test_requests_without_valid_credentials_get_401(ops, headers):
    response = ops.call(
        "GET", "/issue/OPS-1/worklog", auth=None, headers=headers, check_request=False
    )
    assert response.status_code == 401
    assert response.json() == {
        "errorMessages": ["Client must be authenticated to access this resource."],
        "errors": {},
    }


def test_inactive_account_gets_401(ops):
    spec = {"emailAddress": "gone@example.com", "api_token": "t-gone", "active": False}
    ops.admin("POST", "/accounts", json=spec)
    response = ops.call("GET", "/myself", auth=("gone@example.com", "t-gone"))
    assert response.status_code == 401


def test_myself_is_the_authenticated_account(jira, spec):
    basic = jira.call("GET", "/myself").json()
    bearer = Jira(jira.url, spec, bearer=PAT).call("GET", "/myself").json()
    assert basic["emailAddress"] == "h2j-bot@example.com"
    assert basic["accountId"] == bearer["accountId"]
    assert basic["timeZone"] == "UTC"


def test_worklog_author_is_the_caller_whatever_the_body_says(ops):
    ada = ops.admin("POST", "/accounts", json={"emailAddress": "ada@example.com", "api_token": "t"})
    bot = ops.call("GET", "/myself").json()["accountId"]
    body = {"started": STARTED, "timeSpent": "1h", "author": {"accountId": bot}}
    created = ops.call(
        "POST",
        "/issue/OPS-1/worklog",
        json=body,
        auth=("ada@example.com", "t"),
        check_request=False,
    ).json()
    assert created["author"]["accountId"] == ada["accountId"]
    edited = ops.edit("OPS-1", created, timeSpent="2h")
    assert (edited["author"]["accountId"], edited["updateAuthor"]["accountId"]) == (
        ada["accountId"],
        bot,
    )


# Issues and projects.


def test_project_search_pages_and_filters(jira):
    for key in ("CCC-1", "AAA-1", "BBB-1"):
        jira.add_issue(key)
    first = jira.call("GET", "/project/search", params={"maxResults": 2}).json()
    assert ([p["key"] for p in first["values"]], first["isLast"], first["total"]) == (
        ["AAA", "BBB"],
        False,
        3,
    )
    second = jira.session.get(first["nextPage"], auth=BOT, timeout=5).json()
    assert ([p["key"] for p in second["values"]], second["isLast"]) == (["CCC"], True)
    found = jira.call("GET", "/project/search", params={"query": "bb"}).json()
    assert [p["key"] for p in found["values"]] == ["BBB"]


def test_issue_answers_to_its_id_its_key_and_a_key_it_had_before_a_move(ops):
    issue_id = ops.admin("GET", "/issues/OPS-1")["id"]
    moved = ops.admin("PATCH", "/issues/OPS-1", json={"project_key": "NEW"})
    assert (moved["key"], moved["previous_keys"]) == ("NEW-1", ["OPS-1"])
    for name in (issue_id, "NEW-1", "new-1", "OPS-1"):
        response = ops.call("GET", f"/issue/{name}", params={"fields": "timetracking"})
        assert (response.status_code, response.json()["key"]) == (200, "NEW-1")
    worklog = ops.log("OPS-1", HOUR)
    assert worklog["issueId"] == issue_id


def test_issue_fields_default_to_all(ops):
    fields = ops.call("GET", "/issue/OPS-1").json()["fields"]
    assert fields["project"]["key"] == "OPS"
    assert fields["timeoriginalestimate"] == 10 * HOUR
    assert fields["timetracking"]["remainingEstimate"] == "1d 2h"


# Worklog lists, properties and feeds.


def test_worklogs_of_an_issue_page_in_created_order(ops):
    ids = [ops.log("OPS-1", (n + 1) * 60)["id"] for n in range(5)]
    page = ops.worklogs("OPS-1", startAt=1, maxResults=2)
    assert (page["startAt"], page["maxResults"], page["total"]) == (1, 2, 5)
    assert [w["id"] for w in page["worklogs"]] == ids[1:3]
    assert ops.worklogs("OPS-1")["maxResults"] == 5000


def test_non_numeric_paging_is_404_as_jira_documents(ops):
    response = ops.call("GET", "/issue/OPS-1/worklog?startAt=first", check_request=False)
    assert response.status_code == 404


def test_worklogs_filter_by_started(ops):
    early = ops.log("OPS-1", HOUR, started="2026-11-02T09:00:00.000+0000")
    late = ops.log("OPS-1", HOUR, started="2026-11-04T09:00:00.000+0000")
    nov_3 = int(datetime(2026, 11, 3, tzinfo=UTC).timestamp() * 1000)
    after = ops.worklogs("OPS-1", startedAfter=nov_3)["worklogs"]
    before = ops.worklogs("OPS-1", startedBefore=nov_3)["worklogs"]
    assert ([w["id"] for w in after], [w["id"] for w in before]) == ([late["id"]], [early["id"]])


def test_worklog_properties_round_trip(ops):
    props = [{"key": "h2j", "value": {"harvest_entry": 42}}]
    worklog = ops.log("OPS-1", HOUR, properties=props)
    assert "properties" not in worklog
    expanded = ops.worklogs("OPS-1", expand="properties")["worklogs"][0]
    assert expanded["properties"] == props
    base = f"/issue/OPS-1/worklog/{worklog['id']}/properties"
    assert [k["key"] for k in ops.call("GET", base).json()["keys"]] == ["h2j"]
    # The spec gives PUT an untyped body; the sandbox sends none, so only the status is checked.
    created = ops.call("PUT", f"{base}/extra", json=[1, 2], check_response=False)
    updated = ops.call("PUT", f"{base}/extra", json=[3], check_response=False)
    assert (created.status_code, updated.status_code) == (201, 200)
    assert ops.call("GET", f"{base}/extra").json() == {"key": "extra", "value": [3]}
    assert ops.call("DELETE", f"{base}/extra").status_code == 204
    assert ops.call("GET", f"{base}/extra").status_code == 404
    ops.edit("OPS-1", worklog, properties=[{"key": "more", "value": 2}])
    keys = [k["key"] for k in ops.call("GET", base).json()["keys"]]
    assert keys == ["h2j", "more"]


def test_worklog_list_returns_the_known_ids(ops):
    first, second = ops.log("OPS-1", HOUR), ops.log("OPS-1", 2 * HOUR)
    ids = [int(first["id"]), 99999, int(second["id"])]
    found = ops.call("POST", "/worklog/list", json={"ids": ids}).json()
    assert [w["id"] for w in found] == [first["id"], second["id"]]


@pytest.mark.parametrize("ids", [[], list(range(1, 1002))])
def test_worklog_list_takes_one_to_a_thousand_ids(jira, ids):
    assert jira.call("POST", "/worklog/list", json={"ids": ids}).status_code == 400


def test_updated_feed_leaves_out_the_last_minute(ops):
    worklog = ops.log("OPS-1", HOUR, properties=[{"key": "h2j", "value": 1}])
    quiet = ops.call("GET", "/worklog/updated", params={"since": 0}).json()
    assert (quiet["values"], quiet["lastPage"]) == ([], True)
    ops.admin("POST", "/clock/advance", json={"seconds": 61})
    feed = ops.call("GET", "/worklog/updated", params={"since": 0, "expand": "properties"}).json()
    raw = ops.admin("GET", "/issues/OPS-1")["worklogs"][0]
    assert [v["worklogId"] for v in feed["values"]] == [int(worklog["id"])]
    assert feed["values"][0]["properties"] == [{"key": "h2j", "value": 1}]
    assert feed["until"] == feed["values"][0]["updatedTime"]
    assert raw["updated"] == worklog["updated"]


def test_edits_and_deletes_show_in_the_feeds(ops):
    kept, dropped = ops.log("OPS-1", HOUR), ops.log("OPS-1", HOUR)
    ops.admin("POST", "/clock/advance", json={"seconds": 61})
    since = ops.call("GET", "/worklog/updated").json()["until"] + 1
    ops.edit("OPS-1", kept, timeSpent="3h")
    ops.delete("OPS-1", dropped)
    assert ops.call("GET", "/worklog/deleted", params={"since": 0}).json()["values"] == []
    ops.admin("POST", "/clock/advance", json={"seconds": 61})
    updated = ops.call("GET", "/worklog/updated", params={"since": since}).json()["values"]
    deleted = ops.call("GET", "/worklog/deleted", params={"since": since}).json()["values"]
    assert [v["worklogId"] for v in updated] == [int(kept["id"])]
    assert [v["worklogId"] for v in deleted] == [int(dropped["id"])]
    assert ops.admin("GET", "/state")["deleted_worklogs"][0]["worklogId"] == int(dropped["id"])


@pytest.mark.parametrize("kind", ["updated", "deleted"])
def test_feeds_page_a_thousand_at_a_time(ops, kind):
    state = ops.admin("GET", "/state")
    start = 1_790_000_000_000
    if kind == "deleted":
        state["deleted_worklogs"] = [
            {"worklogId": 60000 + n, "updatedTime": start + n} for n in range(1500)
        ]
    else:
        state["worklogs"] = [_stored_worklog(state, 60000 + n, start + n) for n in range(1500)]
    ops.admin("PUT", "/state", json=state)
    first = ops.call("GET", f"/worklog/{kind}", params={"since": start}).json()
    assert (len(first["values"]), first["lastPage"]) == (1000, False)
    second = ops.session.get(first["nextPage"], auth=BOT, timeout=5).json()
    ids = {v["worklogId"] for v in first["values"] + second["values"]}
    assert (second["lastPage"], len(ids)) == (True, 1500)


def _stored_worklog(state: dict, worklog_id: int, updated_ms: int) -> dict[str, Any]:
    moment = datetime.fromtimestamp(updated_ms / 1000, tz=UTC)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{updated_ms % 1000:03d}+0000"
    bot = state["accounts"][0]["accountId"]
    return {
        "id": str(worklog_id),
        "issue_id": state["issues"][0]["id"],
        "author": bot,
        "update_author": bot,
        "started": STARTED,
        "time_spent_seconds": 60,
        "comment": None,
        "created": stamp,
        "updated": stamp,
        "properties": {},
    }


# State, the Data Center flavour, faults and counters.


def test_default_state_holds_only_the_bot(jira):
    state = jira.admin("GET", "/state")
    assert [a["emailAddress"] for a in state["accounts"]] == ["h2j-bot@example.com"]
    assert state["accounts"][0]["personal_access_token"] == PAT
    assert (state["projects"], state["issues"], state["worklogs"]) == ([], [], [])


def test_state_dumps_and_loads_exactly(ops, spec):
    ops.log("OPS-1", HOUR, comment={"type": "doc", "version": 1, "content": []})
    before = ops.admin("GET", "/state")
    ops.admin("POST", "/reset")
    ops.admin("PUT", "/state", json=before)
    assert ops.admin("GET", "/state") == before
    other = RunningServer(create_app(before)).start()
    try:
        assert Jira(other.url, spec).remaining("OPS-1") == 9 * HOUR
    finally:
        other.stop()


def test_data_center_speaks_v2_under_its_context_path_with_a_pat(dc):
    dc.add_issue("OPS-1", 8 * HOUR)
    worklog = dc.log("OPS-1", HOUR, comment="Fixed the build")
    assert worklog["self"].startswith(f"{dc.url}/jira/rest/api/2/issue/")
    assert dc.worklogs("OPS-1")["worklogs"][0]["comment"] == "Fixed the build"
    assert dc.time_tracking("OPS-1")["remainingEstimate"] == "7h"
    outside = requests.get(f"{dc.url}/rest/api/2/myself", headers=dc.headers, timeout=5)
    assert outside.status_code == 404


def test_text_comment_reads_as_a_document_in_v3(ops, spec):
    v2 = Jira(ops.url, spec, version="2")
    worklog = v2.log("OPS-1", HOUR, comment="Line one\nLine two")
    seen = ops.call("GET", f"/issue/OPS-1/worklog/{worklog['id']}").json()["comment"]
    assert seen["type"] == "doc"
    assert [p["content"][0]["text"] for p in seen["content"]] == ["Line one", "Line two"]


def test_apply_then_fail_creates_the_worklog_yet_answers_502(ops):
    rule = {"kind": "apply_then_fail", "method": "POST", "path": "/worklog$", "times": 1}
    ops.admin("PUT", "/faults", json={"rules": [rule]})
    body = {"started": STARTED, "timeSpent": "2h"}
    response = ops.call("POST", "/issue/OPS-1/worklog", json=body, check_response=False)
    assert response.status_code == 502
    assert response.json()["errorMessages"] == ["Bad gateway"]
    assert ops.worklogs("OPS-1")["total"] == 1
    assert ops.remaining("OPS-1") == 8 * HOUR


def test_reset_fault_drops_the_connection_and_changes_nothing(ops):
    rule = {"kind": "reset", "method": "POST", "path": "/worklog$", "times": 1}
    ops.admin("PUT", "/faults", json={"rules": [rule]})
    with pytest.raises(requests.ConnectionError):
        ops.session.post(
            f"{ops.api}/issue/OPS-1/worklog",
            json={"started": STARTED, "timeSpent": "2h"},
            auth=BOT,
            timeout=5,
        )
    assert ops.worklogs("OPS-1")["total"] == 0


def test_requests_are_counted_by_route(ops):
    ops.log("OPS-1", HOUR)
    ops.log("OPS-1", HOUR)
    ops.time_tracking("OPS-1")
    counts = ops.admin("GET", "/requests")["by_route"]
    assert counts["POST /rest/api/3/issue/{issueIdOrKey}/worklog"] == 2
    assert counts["GET /rest/api/3/issue/{issueIdOrKey}"] == 1
    assert not any(route.startswith("POST /_sandbox") for route in counts)


def test_rate_limit_applies_per_account_in_jiras_shape(spec):
    server = RunningServer(create_app(rate_limit=(2, 60))).start()
    try:
        client = Jira(server.url, spec)
        client.admin(
            "POST", "/accounts", json={"emailAddress": "ada@example.com", "api_token": "t"}
        )
        statuses = [
            client.call("GET", "/myself", check_response=False).status_code for _ in range(3)
        ]
        limited = client.call("GET", "/myself", check_response=False)
        other = client.call("GET", "/myself", auth=("ada@example.com", "t"))
    finally:
        server.stop()
    assert statuses == [200, 200, 429]
    assert (limited.status_code, int(limited.headers["Retry-After"]) > 0) == (429, True)
    assert limited.json() == {"errorMessages": ["Too many requests"], "errors": {}}
    assert other.status_code == 200
