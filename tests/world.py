"""A test's view of Harvest and Jira: people log time, Jira shows worklogs and estimates.

Everything goes through the sandboxes' public APIs (and their admin API for what a person
would do in a product's UI, such as creating an issue), over real sockets. Jira is read the
way the sandbox's flavour is spoken: API v3 with an API token on Cloud, API v2 with a
personal access token under the context path on Data Center.
"""

from __future__ import annotations

import copy
import datetime as dt
from typing import Any
from urllib.parse import urlsplit

import requests

from sandbox import sample

HARVEST_HEADERS = {
    "Authorization": "Bearer sandbox-harvest-token",
    "Harvest-Account-Id": "1234567",
    "User-Agent": "h2j tests (tests@example.com)",
}
JIRA_AUTH = ("h2j-bot@example.com", "sandbox-jira-token")
HOUR = 3600


class World:
    def __init__(self, sandbox):
        self.sandbox = sandbox
        self.harvest = sandbox.harvest_url
        self.jira = getattr(sandbox, "jira_base", sandbox.jira_url)
        self.flavour = getattr(sandbox, "flavour", "cloud")
        self.api_version = "2" if self.flavour == "datacenter" else "3"
        self.api = f"{self.jira}/rest/api/{self.api_version}"
        self.auth = getattr(sandbox, "jira_auth", JIRA_AUTH)

    def add_person(
        self, first: str, last: str, timezone: str = "UTC", user_id: int | None = None
    ) -> int:
        """A Harvest user, added like an administrator would (here: via the state)."""
        state = self.sandbox.state("harvest")
        template = copy.deepcopy(state["users"][0])
        user_id = user_id or max(u["id"] for u in state["users"]) + 1000
        template.update(
            id=user_id,
            first_name=first,
            last_name=last,
            timezone=timezone,
            email=f"{first.lower()}.{last.lower()}@example.com",
            is_active=True,
            access_roles=["member"],
        )
        state["users"].append(template)
        self.sandbox.load(harvest=state)
        return user_id

    def log(
        self, user_id: int, day: dt.date | str, hours: float, notes: str | None = "", **fields: Any
    ) -> int:
        body = {
            "user_id": user_id,
            "project_id": 501,
            "task_id": 11,
            "spent_date": str(day),
            "hours": hours,
            "notes": notes,
            **fields,
        }
        response = requests.post(
            f"{self.harvest}/v2/time_entries", json=body, headers=HARVEST_HEADERS, timeout=10
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def edit(self, entry_id: int, **fields: Any) -> dict[str, Any]:
        response = requests.patch(
            f"{self.harvest}/v2/time_entries/{entry_id}",
            json=fields,
            headers=HARVEST_HEADERS,
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def delete(self, entry_id: int) -> None:
        response = requests.delete(
            f"{self.harvest}/v2/time_entries/{entry_id}", headers=HARVEST_HEADERS, timeout=10
        )
        assert response.status_code == 200, response.text

    def stop_timer(self, entry_id: int) -> float:
        """Stop a running timer; returns the hours it ended with."""
        response = requests.patch(
            f"{self.harvest}/v2/time_entries/{entry_id}/stop", headers=HARVEST_HEADERS, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()["hours"]

    def add_issue(self, key: str, estimate_hours: float | None = None, **spec: Any) -> str:
        seconds = None if estimate_hours is None else int(estimate_hours * HOUR)
        body = {"key": key, "original_estimate_seconds": seconds, **spec}
        issue = self.sandbox.admin("jira", "POST", "/issues", json=body).json()
        return issue["id"]

    def change_issue(self, key: str, **changes: Any) -> dict[str, Any]:
        return self.sandbox.admin("jira", "PATCH", f"/issues/{key}", json=changes).json()

    def issue(self, key: str) -> dict[str, Any]:
        """Jira's time tracking of an issue, in seconds."""
        response = requests.get(
            f"{self.api}/issue/{key}",
            params={"fields": "timetracking"},
            auth=self.auth,
            timeout=10,
        )
        response.raise_for_status()
        tracking = response.json()["fields"]["timetracking"]
        return {
            "spent": tracking.get("timeSpentSeconds", 0),
            "remaining": tracking.get("remainingEstimateSeconds"),
            "original": tracking.get("originalEstimateSeconds"),
        }

    def worklogs(self, key: str) -> list[dict[str, Any]]:
        response = requests.get(
            f"{self.api}/issue/{key}/worklog",
            params={"expand": "properties"},
            auth=self.auth,
            timeout=10,
        )
        response.raise_for_status()
        return response.json()["worklogs"]

    def jira_writes(self) -> int:
        """POST, PUT and DELETE calls the Jira sandbox served since the last reset."""
        seen = self.sandbox.requests_seen("jira")
        return sum(
            n
            for route, n in seen.items()
            if route.split(" ")[0] in ("POST", "PUT", "DELETE") and "/worklog/list" not in route
        )

    def hand_edit_worklog(self, key: str, worklog_id: str, seconds: int) -> None:
        """Someone changes a worklog in Jira's UI."""
        response = requests.put(
            f"{self.api}/issue/{key}/worklog/{worklog_id}",
            json={"timeSpentSeconds": seconds},
            auth=self.auth,
            timeout=10,
        )
        assert response.status_code == 200, response.text

    def hand_delete_worklog(self, key: str, worklog_id: str) -> None:
        response = requests.delete(
            f"{self.api}/issue/{key}/worklog/{worklog_id}", auth=self.auth, timeout=10
        )
        assert response.status_code == 204, response.text

    def hand_log(self, key: str, seconds: int, started: str) -> str:
        """A worklog someone adds in Jira itself, which h2j must never touch."""
        body = {"timeSpentSeconds": seconds, "started": started}
        response = requests.post(
            f"{self.api}/issue/{key}/worklog", json=body, auth=self.auth, timeout=10
        )
        assert response.status_code == 201, response.text
        return response.json()["id"]

    def let_jira_feeds_catch_up(self) -> None:
        """Jira's change feeds leave out the last minute; move the sandbox clock past it."""
        self.sandbox.admin("jira", "POST", "/clock/advance", json={"seconds": 61})

    @property
    def site(self) -> str:
        """The site h2j keys its ledger on.

        Cloud's connection names it; Data Center's does not, so it is host and context path.
        """
        if self.flavour == "cloud":
            return sample.JIRA_SITE
        parts = urlsplit(self.jira)
        return f"{parts.hostname}{parts.path}"

    def jira_reference(self, issue_id: str, key: str) -> dict[str, Any]:
        """The ``external_reference`` Harvest's Jira integration records for an issue here."""
        if self.flavour == "cloud":
            host, base = sample.JIRA_SITE, f"https://{sample.JIRA_SITE}"
        else:
            host, base = urlsplit(self.jira).hostname, self.jira
        return {
            "id": issue_id,
            "group_id": "10000",
            "service": host,
            "permalink": f"{base}/browse/{key}",
        }

    def foreign_reference(self, reference: dict[str, Any]) -> dict[str, Any]:
        """The same id as ``reference`` from somewhere h2j must not follow.

        On Cloud that is another Jira site. The Data Center connection names no site, and
        without one h2j cannot tell two self-hosted Jiras apart (README), so there it is an
        issue of another integration.
        """
        if self.flavour == "cloud":
            host, path = "other.atlassian.net", urlsplit(reference["permalink"]).path
            return {**reference, "service": host, "permalink": f"https://{host}{path}"}
        return {
            **reference,
            "service": "github.com",
            "permalink": "https://github.com/acme/billing/issues/9",
        }

    def stored_comment(self, worklog_id: str) -> str:
        """A worklog's comment as the Jira sandbox stored it, as text.

        It must have been sent in the form of the API h2j speaks: a string on v2, an
        Atlassian Document on v3.
        """
        [worklog] = [
            w for w in self.sandbox.state("jira")["worklogs"] if str(w["id"]) == str(worklog_id)
        ]
        comment = worklog["comment"]
        if self.api_version == "2":
            assert isinstance(comment, str), comment
            return comment
        assert isinstance(comment, dict), comment
        assert (comment["type"], comment["version"]) == ("doc", 1), comment
        return "\n".join(_texts(comment))


def _texts(node: dict[str, Any]) -> list[str]:
    """Every text node of an Atlassian Document, in order."""
    if node.get("type") == "text":
        return [str(node.get("text", ""))]
    return [text for child in node.get("content") or [] for text in _texts(child)]
