"""The demo's own HTTP clients, kept apart from h2j's hooks on purpose.

The demo plays the people around h2j: someone editing a Harvest timesheet and someone
reading an issue in Jira. Going through plain ``requests`` rather than the DAG's hooks
keeps what it shows independent of the code it demonstrates.
"""

from __future__ import annotations

import time
from typing import Any

import requests

from sandbox import sample
from tools.demo_text import DemoError, Issue, Window

HTTP_TIMEOUT = 30


class Harvest:
    """The few Harvest API v2 calls the demo makes, as the account's administrator."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {sample.HARVEST_TOKEN}",
                "Harvest-Account-Id": sample.HARVEST_ACCOUNT_ID,
                "User-Agent": "h2j demo (h2j-demo@example.com)",
            }
        )

    def call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request; a 429 waits out Harvest's ``Retry-After`` (100 calls per 15 s)."""
        for _ in range(5):
            response = self.session.request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("Retry-After", "1")))
        if not response.ok:
            raise DemoError(f"Harvest {method} {url}: HTTP {response.status_code}")
        return response

    def me(self) -> dict:
        return self.call("GET", f"{self.url}/v2/users/me").json()

    def user_names(self) -> dict[int, str]:
        users = self.call("GET", f"{self.url}/v2/users").json()["users"]
        return {u["id"]: f"{u['first_name']} {u['last_name']}" for u in users}

    def entries(self, window: Window) -> list[dict]:
        """Every entry dated in the window, following ``links.next`` page by page."""
        found: list[dict] = []
        url: str | None = f"{self.url}/v2/time_entries"
        params: dict | None = {"from": str(window[0]), "to": str(window[1])}
        while url:
            page = self.call("GET", url, params=params).json()
            found.extend(page["time_entries"])
            url, params = page["links"]["next"], None
        return found

    def create(self, body: dict) -> dict:
        return self.call("POST", f"{self.url}/v2/time_entries", json=body).json()

    def edit(self, entry_id: int, **fields: Any) -> dict:
        return self.call("PATCH", f"{self.url}/v2/time_entries/{entry_id}", json=fields).json()

    def delete(self, entry_id: int) -> None:
        self.call("DELETE", f"{self.url}/v2/time_entries/{entry_id}")


class Jira:
    """Reads an issue's time tracking, as anyone looking at the issue in Jira would."""

    def __init__(self, url: str):
        self.url = url
        self.auth = (sample.JIRA_EMAIL, sample.JIRA_API_TOKEN)

    def issue(self, id_or_key: str) -> Issue:
        response = requests.get(
            f"{self.url}/rest/api/3/issue/{id_or_key}",
            params={"fields": "summary,status,timetracking"},
            auth=self.auth,
            timeout=HTTP_TIMEOUT,
        )
        if not response.ok:
            raise DemoError(f"Jira issue {id_or_key}: HTTP {response.status_code}")
        body = response.json()
        fields, tracking = body["fields"], body["fields"].get("timetracking") or {}
        return Issue(
            key=body["key"],
            summary=fields.get("summary") or "",
            status=fields["status"]["name"],
            closed=fields["status"]["statusCategory"]["key"] == "done",
            estimate=tracking.get("originalEstimateSeconds"),
            spent=tracking.get("timeSpentSeconds", 0),
            remaining=tracking.get("remainingEstimateSeconds"),
        )

    def snapshot(self, ids_or_keys: set[str]) -> dict[str, Issue]:
        issues = [self.issue(value) for value in sorted(ids_or_keys)]
        return {issue.key: issue for issue in issues}
