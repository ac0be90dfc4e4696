"""The sandbox Harvest API v2 server, over real HTTP, checked against the published spec.

Every request and response that the spec describes is validated with openapi-core against
``tests/specs/harvest-v2.time-entries-users-subset.json``. That file was generated with
OpenAPI 3.1's ``{"type": "null"}`` inside 3.0 ``anyOf`` lists, which a 3.0 validator cannot
read; ``_readable_spec`` swaps each for a 3.0 schema that admits only null.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
import urllib3
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from sandbox.harvest import create_app
from sandbox.server import RunningServer

SPEC = Path(__file__).parent / "specs" / "harvest-v2.time-entries-users-subset.json"
TOKEN = "sandbox-harvest-token"
ADA_TOKEN = "ada-token"
GRACE_TOKEN = "grace-token"
ACCOUNT = "1234567"
AGENT = "h2j tests (h2j@example.com)"
ONLY_NULL = {"type": "object", "nullable": True, "enum": [None]}


def _readable_spec(node: Any) -> None:
    if isinstance(node, dict):
        if "anyOf" in node:
            node["anyOf"] = [ONLY_NULL if b == {"type": "null"} else b for b in node["anyOf"]]
        for value in node.values():
            _readable_spec(value)
    elif isinstance(node, list):
        for value in node:
            _readable_spec(value)


class Harvest:
    """A requests session that validates each exchange against the spec."""

    def __init__(self, base: str, openapi: OpenAPI, token: str = TOKEN):
        self.base = base
        self.openapi = openapi
        self.session = requests.Session()
        self.headers = {
            "Authorization": f"Bearer {token}",
            "Harvest-Account-Id": ACCOUNT,
            "User-Agent": AGENT,
        }

    def call(
        self,
        method: str,
        target: str,
        *,
        validate: bool = True,
        valid_request: bool = True,
        headers=None,
        **kwargs,
    ) -> requests.Response:
        """Send a request; ``valid_request=False`` sends one the spec forbids on purpose."""
        url = target if target.startswith("http") else f"{self.base}/v2{target}"
        request = requests.Request(
            method, url, headers={**self.headers, **(headers or {})}, **kwargs
        )
        prepared = self.session.prepare_request(request)
        if validate and valid_request:
            self.openapi.validate_request(RequestsOpenAPIRequest(prepared))
        response = self.session.send(prepared, timeout=5)
        if validate:
            self.openapi.validate_response(
                RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(response)
            )
        return response

    def ok(self, method: str, target: str, **kwargs) -> Any:
        response = self.call(method, target, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json() if response.content else None

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.session.request(method, f"{self.base}/_sandbox{path}", timeout=5, **kwargs)


@pytest.fixture(scope="module")
def server():
    running = RunningServer(create_app()).start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def openapi(server) -> OpenAPI:
    spec = json.loads(SPEC.read_text())
    _readable_spec(spec)
    spec["servers"] = [{"url": f"{server.url}/v2"}]
    return OpenAPI.from_dict(spec)


@pytest.fixture
def harvest(server, openapi):
    client = Harvest(server.url, openapi)
    assert client.admin("POST", "/reset").status_code == 204
    yield client
    client.session.close()


@pytest.fixture
def seeded(harvest) -> dict[str, Any]:
    state = account_state()
    assert harvest.admin("PUT", "/state", json=state).status_code == 204
    return state


def stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def user(user_id: int, first: str, last: str, role: str, created: str, **changes) -> dict:
    made = {
        "id": user_id,
        "first_name": first,
        "last_name": last,
        "email": f"{first.lower()}@example.com",
        "telephone": "",
        "timezone": "Eastern Time (US & Canada)",
        "has_access_to_all_future_projects": False,
        "is_contractor": False,
        "is_active": True,
        "weekly_capacity": 126000,
        "default_hourly_rate": 100.0,
        "cost_rate": 50.0,
        "roles": [],
        "access_roles": [role],
        "avatar_url": "https://example.com/avatar.png",
        "created_at": created,
        "updated_at": created,
    }
    return {**made, **changes}


def time_entry(entry_id: int, owner: dict, spent_date: str, created: str, **changes) -> dict:
    made = {
        "id": entry_id,
        "spent_date": spent_date,
        "user": {"id": owner["id"], "name": f"{owner['first_name']} {owner['last_name']}"},
        "user_assignment": {"id": 125068553, "is_project_manager": False, "is_active": True},
        "client": {"id": 5735776, "name": "123 Industries"},
        "project": {"id": 14308069, "name": "Online Store"},
        "task": {"id": 8083366, "name": "Programming"},
        "task_assignment": {"id": 155505014, "billable": True, "is_active": True},
        "external_reference": None,
        "invoice": None,
        "hours": 1.0,
        "hours_without_timer": 1.0,
        "rounded_hours": 1.0,
        "notes": f"entry {entry_id}",
        "is_locked": False,
        "locked_reason": None,
        "is_closed": False,
        "is_billed": False,
        "timer_started_at": None,
        "started_time": None,
        "ended_time": None,
        "is_running": False,
        "billable": True,
        "budgeted": True,
        "billable_rate": 100.0,
        "cost_rate": 50.0,
        "created_at": created,
        "updated_at": created,
    }
    return {**made, **changes}


BIG = 2**32 + 10


def account_state() -> dict[str, Any]:
    """Three users (admin, member, archived member) and six entries across March 2026."""
    admin = user(1, "Sandbox", "Admin", "administrator", "2025-01-01T00:00:00Z")
    ada = user(2, "Ada", "Lovelace", "member", "2025-02-01T00:00:00Z", timezone="London")
    grace = user(3, "Grace", "Hopper", "member", "2025-03-01T00:00:00Z", is_active=False)
    started = stamp(datetime.now(UTC) - timedelta(hours=2))
    entries = [
        time_entry(BIG + 1, admin, "2026-03-01", "2026-03-01T10:00:00Z"),
        time_entry(BIG + 2, ada, "2026-03-02", "2026-03-02T10:00:00Z", hours=2.11),
        time_entry(BIG + 3, ada, "2026-03-02", "2026-03-02T12:00:00Z"),
        time_entry(BIG + 4, admin, "2026-03-03", "2026-03-03T10:00:00Z"),
        time_entry(BIG + 5, ada, "2026-03-04", "2026-03-04T10:00:00Z"),
        time_entry(
            BIG + 6,
            ada,
            "2026-03-05",
            "2026-03-05T10:00:00Z",
            is_running=True,
            timer_started_at=started,
            hours_without_timer=0.5,
        ),
    ]
    return {
        "account_id": ACCOUNT,
        "tokens": {TOKEN: 1, ADA_TOKEN: 2, GRACE_TOKEN: 3},
        "company": {"name": "Sandbox", "wants_timestamp_timers": False, "clock": "12h"},
        "users": [admin, ada, grace],
        "time_entries": entries,
        "next_id": BIG + 100,
    }


def ids(page: dict) -> list[int]:
    return [entry["id"] for entry in page["time_entries"]]


def test_empty_account_is_usable_with_the_default_token(harvest):
    assert harvest.ok("GET", "/users/me")["id"] == 1
    assert harvest.ok("GET", "/company")["wants_timestamp_timers"] is False
    listing = harvest.ok("GET", "/time_entries")
    assert (listing["time_entries"], listing["total_entries"], listing["next_page"]) == (
        [],
        0,
        None,
    )


def test_paging_follows_links_next_and_keeps_filters(harvest, seeded, server):
    first = harvest.ok("GET", "/time_entries", params={"per_page": 2, "from": "2026-03-01"})
    assert (first["total_entries"], first["total_pages"], first["next_page"]) == (6, 3, 2)
    assert first["links"]["next"].startswith(f"{server.url}/v2/time_entries?")
    assert "from=2026-03-01" in first["links"]["next"]
    seen, page, pages = ids(first), first, 1
    while page["links"]["next"]:
        page = harvest.ok("GET", page["links"]["next"])
        seen += ids(page)
        pages += 1
    assert pages == 3
    assert (page["page"], page["previous_page"], page["next_page"]) == (3, 2, None)
    assert seen == [BIG + 6, BIG + 5, BIG + 4, BIG + 3, BIG + 2, BIG + 1]


@pytest.mark.parametrize(("per_page", "status"), [(2001, 422), (0, 422), (2000, 200)])
def test_per_page_must_lie_between_1_and_2000(harvest, per_page, status):
    response = harvest.call("GET", "/time_entries", params={"per_page": per_page})
    assert response.status_code == status
    if status == 422:
        assert response.json()["code"] == 422


def test_same_day_entries_come_newest_first(harvest, seeded):
    listing = harvest.ok("GET", "/time_entries", params={"from": "2026-03-02", "to": "2026-03-02"})
    assert ids(listing) == [BIG + 3, BIG + 2]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"user_id": 1}, [BIG + 4, BIG + 1]),
        ({"from": "2026-03-03", "to": "2026-03-04"}, [BIG + 5, BIG + 4]),
        ({"updated_since": "2026-03-04T10:00:00Z"}, [BIG + 6, BIG + 5]),
        ({"updated_since": "2026-03-04T10:00:01+00:00"}, [BIG + 6]),
        ({"is_running": "true"}, [BIG + 6]),
        ({"project_id": 1}, []),
    ],
)
def test_filters_narrow_the_list(harvest, seeded, params, expected):
    assert ids(harvest.ok("GET", "/time_entries", params=params)) == expected


@pytest.mark.parametrize(
    "params", [{"from": "03/01/2026"}, {"updated_since": "yesterday"}, {"is_running": "yes"}]
)
def test_unreadable_filters_are_rejected(harvest, params):
    assert harvest.call("GET", "/time_entries", params=params).status_code == 422


def test_new_entries_get_64_bit_ids(harvest):
    created = harvest.ok(
        "POST",
        "/time_entries",
        json={"project_id": 7, "task_id": 8, "spent_date": "2026-03-09", "hours": 1.5},
    )
    assert created["id"] > 2**32
    assert harvest.ok("GET", f"/time_entries/{created['id']}")["hours"] == 1.5
    assert harvest.admin("GET", "/state").json()["next_id"] == created["id"] + 1


@pytest.mark.parametrize("dropped", ["project_id", "task_id", "spent_date"])
def test_create_needs_project_task_and_date(harvest, dropped):
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09", "hours": 1.0}
    del body[dropped]
    response = harvest.call("POST", "/time_entries", json=body, valid_request=False)
    assert response.status_code == 422
    assert "can't be blank" in response.json()["message"]


def test_entry_without_hours_runs_a_timer_until_stopped(harvest):
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09"}
    running = harvest.ok("POST", "/time_entries", json=body)
    assert running["is_running"] is True
    assert running["timer_started_at"] is not None
    stopped = harvest.ok("PATCH", f"/time_entries/{running['id']}/stop")
    assert (stopped["is_running"], stopped["timer_started_at"]) == (False, None)
    assert harvest.call("PATCH", f"/time_entries/{running['id']}/stop").status_code == 422
    assert harvest.ok("PATCH", f"/time_entries/{running['id']}/restart")["is_running"] is True
    assert harvest.call("PATCH", f"/time_entries/{running['id']}/restart").status_code == 422


def test_starting_a_timer_stops_the_users_other_timer(harvest):
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09"}
    first = harvest.ok("POST", "/time_entries", json=body)
    second = harvest.ok("POST", "/time_entries", json=body)
    assert harvest.ok("GET", f"/time_entries/{first['id']}")["is_running"] is False
    assert harvest.ok("GET", f"/time_entries/{second['id']}")["is_running"] is True


def test_running_timer_hours_include_time_since_it_started(harvest, seeded):
    entry = harvest.ok("GET", f"/time_entries/{BIG + 6}")
    assert entry["hours_without_timer"] == 0.5
    assert 2.5 <= entry["hours"] < 3.5
    assert entry["rounded_hours"] >= entry["hours"]
    assert (entry["rounded_hours"] * 4).is_integer()


@pytest.mark.parametrize(("hours", "rounded"), [(2.11, 2.25), (1.0, 1.0), (0.02, 0.25)])
def test_rounded_hours_round_up_to_a_quarter_hour(harvest, hours, rounded):
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09", "hours": hours}
    assert harvest.ok("POST", "/time_entries", json=body)["rounded_hours"] == rounded


def test_every_edit_moves_updated_at(harvest):
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09", "hours": 1.0}
    entry = harvest.ok("POST", "/time_entries", json=body)
    stamps = [entry["updated_at"]]
    for notes in ("one", "two"):
        stamps.append(
            harvest.ok("PATCH", f"/time_entries/{entry['id']}", json={"notes": notes})["updated_at"]
        )
    assert stamps == sorted(set(stamps))
    assert len(stamps) == 3


def test_entries_list_every_field_of_the_spec(harvest, seeded, openapi):
    fields = json.loads(SPEC.read_text())["components"]["schemas"]["TimeEntry"]["properties"]
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09", "hours": 1.0}
    created = harvest.ok("POST", "/time_entries", json=body)
    for entry in harvest.ok("GET", "/time_entries")["time_entries"] + [created]:
        assert set(fields) <= set(entry)


def test_timestamp_accounts_track_start_and_end_times(harvest):
    harvest.ok("PATCH", "/company", json={"wants_timestamp_timers": True})
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09"}
    made = harvest.ok(
        "POST", "/time_entries", json={**body, "started_time": "9:00am", "ended_time": "11:30am"}
    )
    assert (made["hours"], made["started_time"], made["ended_time"]) == (2.5, "9:00am", "11:30am")
    assert harvest.call("POST", "/time_entries", json={**body, "hours": 1.0}).status_code == 422


def test_duration_accounts_refuse_start_and_end_times(harvest):
    body = {"project_id": 7, "task_id": 8, "spent_date": "2026-03-09", "started_time": "9:00am"}
    assert harvest.call("POST", "/time_entries", json=body).status_code == 422


def test_external_reference_is_set_by_patch_and_removed_by_delete(harvest, seeded):
    reference = {
        "id": "10001",
        "group_id": "10000",
        "permalink": "https://example.atlassian.net/browse/H2J-1",
    }
    patched = harvest.ok(
        "PATCH", f"/time_entries/{BIG + 1}", json={"external_reference": reference}
    )
    assert patched["external_reference"]["service"] == "example.atlassian.net"
    found = harvest.ok("GET", "/time_entries", params={"external_reference_id": "10001"})
    assert ids(found) == [BIG + 1]
    target = f"/time_entries/{BIG + 1}/external_reference"
    assert harvest.call("PATCH", target, json=reference, validate=False).status_code == 405
    assert harvest.call("DELETE", target).status_code == 200
    after = harvest.ok("GET", f"/time_entries/{BIG + 1}")
    assert after["external_reference"] is None
    assert after["updated_at"] > patched["updated_at"]


@pytest.mark.parametrize(
    ("method", "entry_id"), [("GET", "123"), ("PATCH", "123"), ("DELETE", "abc")]
)
def test_unknown_entries_are_404_in_harvest_shape(harvest, method, entry_id):
    response = harvest.call(
        method, f"/time_entries/{entry_id}", json={} if method == "PATCH" else None
    )
    assert response.status_code == 404
    assert response.json() == {"code": 404, "message": "Not found"}


def test_members_see_only_their_own_entries(harvest, seeded, server, openapi):
    ada = Harvest(server.url, openapi, token=ADA_TOKEN)
    assert ids(ada.ok("GET", "/time_entries")) == [BIG + 6, BIG + 5, BIG + 3, BIG + 2]
    assert ada.call("GET", f"/time_entries/{BIG + 1}").status_code == 404


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"User-Agent": urllib3.util.SKIP_HEADER}, 400),
        ({"Authorization": "Bearer not-a-token"}, 401),
        ({"Harvest-Account-Id": "7654321"}, 401),
        ({"Authorization": f"Bearer {GRACE_TOKEN}"}, 401),
    ],
)
def test_requests_without_valid_credentials_are_refused(harvest, seeded, headers, status):
    response = harvest.call("GET", "/users/me", headers=headers)
    assert response.status_code == status
    if status == 401:
        assert response.json()["error"] == "invalid_token"


def test_missing_authorization_is_401(harvest):
    response = harvest.call("GET", "/users/me", headers={"Authorization": None}, validate=False)
    assert response.status_code == 401


@pytest.fixture
def small_rate_limit(harvest):
    assert harvest.admin("PUT", "/rate_limit", json={"requests": 3, "per_seconds": 60}).ok
    yield
    assert harvest.admin("PUT", "/rate_limit", json={"requests": 100, "per_seconds": 15}).ok


def test_past_the_rate_limit_comes_429_with_retry_after(
    harvest, seeded, server, openapi, small_rate_limit
):
    assert [harvest.call("GET", "/users/me").status_code for _ in range(3)] == [200] * 3
    refused = harvest.call("GET", "/users/me")
    assert refused.status_code == 429
    assert int(refused.headers["Retry-After"]) >= 1
    assert Harvest(server.url, openapi, token=ADA_TOKEN).call("GET", "/users/me").status_code == 200


def test_state_dumps_exactly_what_was_loaded(harvest, seeded):
    assert harvest.admin("GET", "/state").json() == seeded
    assert harvest.admin("POST", "/reset").status_code == 204
    assert harvest.admin("GET", "/state").json()["time_entries"] == []


def test_users_list_filters_and_pages_newest_first(harvest, seeded):
    active = harvest.ok("GET", "/users", params={"is_active": "true"})
    assert [u["id"] for u in active["users"]] == [2, 1]
    paged = harvest.ok("GET", "/users", params={"per_page": 1, "page": 2})
    assert ([u["id"] for u in paged["users"]], paged["total_pages"]) == ([2], 3)
    assert harvest.call("GET", "/users/99").status_code == 404


def test_error_fault_answers_then_is_spent(harvest):
    rule = {
        "kind": "error",
        "status": 503,
        "method": "GET",
        "path": "^/v2/time_entries$",
        "times": 1,
    }
    assert harvest.admin("PUT", "/faults", json={"rules": [rule]}).status_code == 204
    failed = harvest.call("GET", "/time_entries")
    assert (failed.status_code, failed.json()["code"]) == (503, 503)
    assert harvest.call("GET", "/time_entries").status_code == 200


def test_reset_fault_drops_the_connection(harvest):
    rule = {"kind": "reset", "path": "^/v2/users/me$", "times": 1}
    assert harvest.admin("PUT", "/faults", json={"rules": [rule]}).status_code == 204
    with pytest.raises(requests.ConnectionError):
        harvest.call("GET", "/users/me", validate=False)
    assert harvest.call("GET", "/users/me").status_code == 200


def test_apply_then_fail_delete_deletes_yet_answers_502(harvest, seeded):
    rule = {"kind": "apply_then_fail", "method": "DELETE", "path": r"^/v2/time_entries/\d+$"}
    assert harvest.admin("PUT", "/faults", json={"rules": [rule]}).status_code == 204
    assert harvest.call("DELETE", f"/time_entries/{BIG + 1}").status_code == 502
    assert harvest.call("GET", f"/time_entries/{BIG + 1}").status_code == 404


def test_requests_are_counted_by_route(harvest, seeded):
    harvest.ok("GET", f"/time_entries/{BIG + 1}")
    harvest.ok("GET", f"/time_entries/{BIG + 2}")
    harvest.ok("GET", "/time_entries")
    counts = harvest.admin("GET", "/requests").json()
    assert counts["by_route"] == {
        "GET /v2/time_entries/{time_entry_id}": 2,
        "GET /v2/time_entries": 1,
    }
    assert counts["total"] == 3
