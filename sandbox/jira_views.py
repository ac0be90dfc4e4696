"""How the Jira sandbox shows its state: the JSON of users, worklogs, issues and projects.

Every representation is made for one request (a ``View``): links point back at the URL the
client used, dates are shown in the caller's time zone as Jira does, and a worklog comment
is shown as an Atlassian Document (v3) or as plain text (v2), whichever way it was stored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sandbox.jira_format import format_duration, reformat
from sandbox.jira_store import JiraStore

WORKLOGS_IN_ISSUE = 20


@dataclass
class View:
    store: JiraStore
    account: dict[str, Any]
    version: str
    root: str

    @property
    def api(self) -> str:
        return f"{self.root}/rest/api/{self.version}"

    @property
    def zone(self) -> str:
        return self.account.get("timeZone") or "UTC"


def user_json(view: View, account_id: str) -> dict[str, Any]:
    """UserDetails; an account the state no longer holds shows as an inactive unknown user."""
    account = view.store.accounts.get(account_id)
    out: dict[str, Any] = {
        "self": f"{view.api}/user?accountId={account_id}",
        "accountId": account_id,
        "accountType": "atlassian",
        "avatarUrls": _avatars(view, account_id),
    }
    if account is None:
        return {**out, "displayName": "Former user", "active": False}
    return {
        **out,
        "emailAddress": account["emailAddress"],
        "displayName": account["displayName"],
        "active": bool(account.get("active", True)),
        "timeZone": account.get("timeZone") or "UTC",
    }


def myself_json(view: View) -> dict[str, Any]:
    return {**user_json(view, view.account["accountId"]), "locale": "en_US"}


def _avatars(view: View, owner: str) -> dict[str, str]:
    sizes = {"16x16": "xsmall", "24x24": "small", "32x32": "medium", "48x48": "large"}
    return {
        px: f"{view.root}/secure/useravatar?size={name}&ownerId={owner}"
        for px, name in sizes.items()
    }


def adf_document(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document, one paragraph per line."""
    content = [
        {"type": "paragraph", "content": [{"type": "text", "text": line}]}
        for line in text.split("\n")
        if line
    ]
    return {"type": "doc", "version": 1, "content": content}


def adf_text(node: Any) -> str:
    """The text of an Atlassian Document, paragraphs on separate lines."""
    if not isinstance(node, dict):
        return ""
    if node.get("type") == "text":
        return str(node.get("text", ""))
    parts = [adf_text(child) for child in node.get("content") or []]
    joiner = "\n" if node.get("type") == "doc" else ""
    return joiner.join(parts)


def comment_for(view: View, comment: Any) -> Any:
    if view.version == "3":
        return adf_document(comment) if isinstance(comment, str) else comment
    return adf_text(comment) if isinstance(comment, dict) else comment


def worklog_json(view: View, worklog: dict[str, Any], with_properties: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "self": f"{view.api}/issue/{worklog['issue_id']}/worklog/{worklog['id']}",
        "author": user_json(view, worklog["author"]),
        "updateAuthor": user_json(view, worklog.get("update_author") or worklog["author"]),
        "created": reformat(worklog["created"], view.zone),
        "updated": reformat(worklog["updated"], view.zone),
        "started": reformat(worklog["started"], view.zone),
        "timeSpent": format_duration(worklog["time_spent_seconds"]),
        "timeSpentSeconds": int(worklog["time_spent_seconds"]),
        "id": str(worklog["id"]),
        "issueId": str(worklog["issue_id"]),
    }
    if worklog.get("comment") is not None:
        out["comment"] = comment_for(view, worklog["comment"])
    if worklog.get("visibility") is not None:
        out["visibility"] = worklog["visibility"]
    if with_properties:
        out["properties"] = properties_json(worklog)
    return out


def properties_json(worklog: dict[str, Any]) -> list[dict[str, Any]]:
    return [{"key": k, "value": v} for k, v in (worklog.get("properties") or {}).items()]


def time_tracking_json(view: View, issue: dict[str, Any]) -> dict[str, Any]:
    """TimeTrackingDetails: only the values that are set, as Jira leaves out the others."""
    values = {
        "originalEstimate": issue.get("original_estimate_seconds"),
        "remainingEstimate": issue.get("remaining_estimate_seconds"),
        "timeSpent": view.store.time_spent(issue["id"]) or None,
    }
    out: dict[str, Any] = {}
    for name, seconds in values.items():
        if seconds is not None:
            out[name] = format_duration(seconds)
            out[f"{name}Seconds"] = int(seconds)
    return out


def project_json(view: View, project: dict[str, Any]) -> dict[str, Any]:
    return {
        "self": f"{view.api}/project/{project['id']}",
        "id": str(project["id"]),
        "key": project["key"],
        "name": project["name"],
        "projectTypeKey": "software",
        "simplified": False,
        "style": "classic",
        "isPrivate": False,
    }


def issue_json(view: View, issue: dict[str, Any], fields: str | None) -> dict[str, Any]:
    wanted = _wanted_fields(fields)
    all_fields = _issue_fields(view, issue)
    chosen = (
        all_fields if wanted is None else {k: all_fields[k] for k in wanted & all_fields.keys()}
    )
    return {
        "expand": "renderedFields,names,schema,operations,editmeta,changelog",
        "id": str(issue["id"]),
        "self": f"{view.api}/issue/{issue['id']}",
        "key": issue["key"],
        "fields": chosen,
    }


def _wanted_fields(fields: str | None) -> set[str] | None:
    """The field ids asked for, or None for all of them (``*all``, ``*navigable``, none)."""
    if not fields:
        return None
    names = {f.strip() for f in fields.split(",") if f.strip()}
    if names & {"*all", "*navigable"}:
        return None
    return {n for n in names if not n.startswith("-")}


def _issue_fields(view: View, issue: dict[str, Any]) -> dict[str, Any]:
    project = view.store.projects.get(issue["project_id"])
    spent = view.store.time_spent(issue["id"]) or None
    worklogs = view.store.worklogs_of(issue["id"])
    status = ("Closed", "done") if issue.get("closed") else ("Open", "new")
    return {
        "summary": issue.get("summary", ""),
        "project": project_json(view, project) if project else None,
        "status": {"name": status[0], "statusCategory": {"key": status[1]}},
        "timetracking": time_tracking_json(view, issue),
        "timespent": spent,
        "aggregatetimespent": spent,
        "timeoriginalestimate": issue.get("original_estimate_seconds"),
        "timeestimate": issue.get("remaining_estimate_seconds"),
        "worklog": {
            "startAt": 0,
            "maxResults": WORKLOGS_IN_ISSUE,
            "total": len(worklogs),
            "worklogs": [worklog_json(view, w, False) for w in worklogs[:WORKLOGS_IN_ISSUE]],
        },
    }
