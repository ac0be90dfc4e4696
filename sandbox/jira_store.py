"""The Jira sandbox's data: a JSON-serialisable state dict and the rules that change it.

The state is what ``/_sandbox/state`` dumps and loads, and what the sample-data generator
writes, so its shape is fixed (see ``default_state``). Indexes kept beside it are rebuilt on
every load. Callers hold ``store.lock`` around a read-modify-write.

Time tracking follows Jira: time spent is the sum of the worklogs; the remaining estimate
never goes below zero; ``auto`` and ``manual`` adjustments never create an estimate where
there was none, only ``new`` does.
"""

from __future__ import annotations

import copy
import hashlib
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from sandbox.jira_format import format_jira_datetime, from_millis, millis_of

DEFAULT_SITE = "h2j-sandbox.atlassian.net"
DEFAULT_EMAIL = "h2j-bot@example.com"
DEFAULT_API_TOKEN = "sandbox-jira-token"
DEFAULT_PAT = "sandbox-jira-pat"
FIRST_ID = 10000
FEED_PAGE = 1000
FEED_QUIET_MS = 60_000

_KEY = re.compile(r"^([A-Z][A-Z0-9_]*)-(\d+)$")


def account_id_for(email: str) -> str:
    """A stable, Atlassian-looking account id (24 hex digits) derived from the email."""
    return hashlib.sha1(email.lower().encode()).hexdigest()[:24]


def make_account(spec: dict[str, Any]) -> dict[str, Any]:
    email = spec.get("emailAddress") or DEFAULT_EMAIL
    return {
        "accountId": spec.get("accountId") or account_id_for(email),
        "emailAddress": email,
        "displayName": spec.get("displayName") or email.split("@")[0],
        "api_token": spec.get("api_token") or DEFAULT_API_TOKEN,
        "personal_access_token": spec.get("personal_access_token") or DEFAULT_PAT,
        "timeZone": spec.get("timeZone") or "UTC",
        "active": bool(spec.get("active", True)),
    }


def default_state() -> dict[str, Any]:
    """One bot account and nothing else."""
    bot = make_account({"emailAddress": DEFAULT_EMAIL, "displayName": "h2j bot"})
    return {
        "site": DEFAULT_SITE,
        "accounts": [bot],
        "projects": [],
        "issues": [],
        "worklogs": [],
        "deleted_worklogs": [],
        "next_id": FIRST_ID,
    }


@dataclass(frozen=True)
class Adjustment:
    """How a worklog change moves the remaining estimate (Jira's ``adjustEstimate``).

    ``manual_change`` is signed like time logged: ``reduceBy`` is positive, ``increaseBy``
    negative, so every mode lowers the estimate by a change in the same direction.
    """

    mode: str = "auto"
    new_estimate: int | None = None
    manual_change: int = 0


def next_remaining(remaining: int | None, adjust: Adjustment, logged_delta: int) -> int | None:
    """The remaining estimate after ``logged_delta`` more seconds were logged."""
    if adjust.mode == "leave":
        return remaining
    if adjust.mode == "new":
        return adjust.new_estimate
    if remaining is None:
        return None
    change = logged_delta if adjust.mode == "auto" else adjust.manual_change
    return max(0, remaining - change)


class JiraStore:
    """The state plus indexes, a clock that tests can move forward, and id allocation."""

    def __init__(self, state: dict[str, Any] | None = None):
        self.lock = threading.RLock()
        self.offset_ms = 0
        self._last_stamp = 0
        self.load(state if state is not None else default_state())

    def load(self, state: dict[str, Any]) -> None:
        fresh = copy.deepcopy(state)
        for key, value in default_state().items():
            fresh.setdefault(key, value if key != "accounts" else [])
        with self.lock:
            self.state = fresh
            self.issues = {i["id"]: i for i in fresh["issues"]}
            self.worklogs = {w["id"]: w for w in fresh["worklogs"]}
            self.projects = {p["id"]: p for p in fresh["projects"]}
            self.accounts = {a["accountId"]: a for a in fresh["accounts"]}

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.state)

    def reset(self) -> None:
        with self.lock:
            self.offset_ms = 0
            self._last_stamp = 0
            self.load(default_state())

    def now_ms(self) -> int:
        return int(time.time() * 1000) + self.offset_ms

    def stamp(self) -> tuple[int, str]:
        """A change time, strictly after the previous one, as epoch ms and Jira text."""
        millis = max(self.now_ms(), self._last_stamp + 1)
        self._last_stamp = millis
        return millis, format_jira_datetime(from_millis(millis))

    def new_id(self) -> str:
        taken = self.issues.keys() | self.worklogs.keys() | self.projects.keys()
        number = int(self.state["next_id"])
        while str(number) in taken:
            number += 1
        self.state["next_id"] = number + 1
        return str(number)

    def account_for_basic(self, email: str, token: str) -> dict[str, Any] | None:
        for account in self.state["accounts"]:
            if account["emailAddress"].lower() == email.lower() and account["api_token"] == token:
                return account if account.get("active", True) else None
        return None

    def account_for_bearer(self, token: str) -> dict[str, Any] | None:
        for account in self.state["accounts"]:
            if account.get("personal_access_token") == token:
                return account if account.get("active", True) else None
        return None

    def find_issue(self, id_or_key: str) -> dict[str, Any] | None:
        """By id, by key (any case), or by a key the issue had before it moved."""
        if id_or_key in self.issues:
            return self.issues[id_or_key]
        wanted = id_or_key.upper()
        for issue in self.state["issues"]:
            if issue["key"].upper() == wanted:
                return issue
        for issue in self.state["issues"]:
            if wanted in (k.upper() for k in issue.get("previous_keys", [])):
                return issue
        return None

    def project_by_key(self, key: str) -> dict[str, Any] | None:
        for project in self.state["projects"]:
            if project["key"].upper() == key.upper():
                return project
        return None

    def ensure_project(self, key: str, name: str | None = None) -> dict[str, Any]:
        project = self.project_by_key(key)
        if project is None:
            project = {"id": self.new_id(), "key": key.upper(), "name": name or key.upper()}
            self.state["projects"].append(project)
            self.projects[project["id"]] = project
        return project

    def worklogs_of(self, issue_id: str) -> list[dict[str, Any]]:
        """An issue's worklogs, oldest created first."""
        found = [w for w in self.state["worklogs"] if w["issue_id"] == issue_id]
        return sorted(found, key=lambda w: (millis_of(w["created"]) or 0, int(w["id"])))

    def time_spent(self, issue_id: str) -> int:
        return sum(
            int(w["time_spent_seconds"])
            for w in self.state["worklogs"]
            if w["issue_id"] == issue_id
        )

    def _next_number(self, project_key: str) -> int:
        highest = 0
        for issue in self.state["issues"]:
            for key in [issue["key"], *issue.get("previous_keys", [])]:
                match = _KEY.match(key.upper())
                if match and match.group(1) == project_key.upper():
                    highest = max(highest, int(match.group(2)))
        return highest + 1

    def add_issue(self, spec: dict[str, Any]) -> dict[str, Any]:
        key = (spec.get("key") or "").upper()
        project_key = (spec.get("project_key") or key.split("-")[0]).upper()
        project = self.ensure_project(project_key, spec.get("project_name"))
        original = spec.get("original_estimate_seconds")
        issue = {
            "id": str(spec.get("id") or self.new_id()),
            "key": key or f"{project['key']}-{self._next_number(project['key'])}",
            "project_id": project["id"],
            "summary": spec.get("summary") or key or "Sandbox issue",
            "closed": bool(spec.get("closed", False)),
            "original_estimate_seconds": original,
            "remaining_estimate_seconds": spec.get("remaining_estimate_seconds", original),
            "previous_keys": list(spec.get("previous_keys", [])),
        }
        self.state["issues"].append(issue)
        self.issues[issue["id"]] = issue
        return issue

    def move_issue(self, issue: dict[str, Any], project_key: str) -> None:
        project = self.ensure_project(project_key)
        if project["id"] == issue["project_id"]:
            return
        issue["previous_keys"].append(issue["key"])
        issue["key"] = f"{project['key']}-{self._next_number(project['key'])}"
        issue["project_id"] = project["id"]

    def add_account(self, spec: dict[str, Any]) -> dict[str, Any]:
        account = make_account(spec)
        self.state["accounts"].append(account)
        self.accounts[account["accountId"]] = account
        return account

    def add_worklog(
        self, issue: dict[str, Any], record: dict[str, Any], adjust: Adjustment
    ) -> dict[str, Any]:
        """Store ``record`` (started, time_spent_seconds, comment, ...) as a new worklog."""
        _, now = self.stamp()
        worklog = {
            "id": self.new_id(),
            "issue_id": issue["id"],
            "author": record["author"],
            "update_author": record["author"],
            "started": record["started"],
            "time_spent_seconds": record["time_spent_seconds"],
            "comment": record.get("comment"),
            "created": now,
            "updated": now,
            "properties": dict(record.get("properties") or {}),
        }
        if record.get("visibility") is not None:
            worklog["visibility"] = record["visibility"]
        self.state["worklogs"].append(worklog)
        self.worklogs[worklog["id"]] = worklog
        self._adjust(issue, adjust, worklog["time_spent_seconds"])
        return worklog

    def update_worklog(
        self,
        worklog: dict[str, Any],
        changes: dict[str, Any],
        account_id: str,
        adjust: Adjustment,
    ) -> None:
        before = int(worklog["time_spent_seconds"])
        if "properties" in changes:
            changes = {
                **changes,
                "properties": {**(worklog.get("properties") or {}), **changes["properties"]},
            }
        worklog.update(changes)
        worklog["update_author"] = account_id
        _, worklog["updated"] = self.stamp()
        issue = self.issues[worklog["issue_id"]]
        self._adjust(issue, adjust, int(worklog["time_spent_seconds"]) - before)

    def delete_worklog(self, worklog: dict[str, Any], adjust: Adjustment) -> None:
        self.state["worklogs"].remove(worklog)
        del self.worklogs[worklog["id"]]
        millis, _ = self.stamp()
        self.state["deleted_worklogs"].append(
            {"worklogId": int(worklog["id"]), "updatedTime": millis}
        )
        issue = self.issues[worklog["issue_id"]]
        self._adjust(issue, adjust, -int(worklog["time_spent_seconds"]))

    def _adjust(self, issue: dict[str, Any], adjust: Adjustment, logged_delta: int) -> None:
        remaining = issue.get("remaining_estimate_seconds")
        issue["remaining_estimate_seconds"] = next_remaining(remaining, adjust, logged_delta)

    def changed_worklogs(self, kind: str, since: int) -> tuple[list[tuple[int, Any]], bool]:
        """One page of the ``updated`` or ``deleted`` feed and whether it is the last.

        Items are ``(epoch ms, worklog dict or deleted id)``, oldest first, from ``since``
        (inclusive) up to a minute ago: Jira leaves out the minute before the request.
        """
        horizon = self.now_ms() - FEED_QUIET_MS
        if kind == "updated":
            items = [(millis_of(w["updated"]) or 0, w) for w in self.state["worklogs"]]
        else:
            items = [(d["updatedTime"], d["worklogId"]) for d in self.state["deleted_worklogs"]]
        items = sorted((i for i in items if since <= i[0] <= horizon), key=_feed_order)
        return items[:FEED_PAGE], len(items) <= FEED_PAGE


def _feed_order(item: tuple[int, Any]) -> tuple[int, int]:
    millis, entry = item
    return millis, int(entry["id"] if isinstance(entry, dict) else entry)
