"""Test controls of the Jira sandbox, under ``/_sandbox`` beside the shared ones.

They set up what a real site would need a person for: issues with estimates, closing and
moving an issue, more accounts, and a clock to step past the minute that Jira's worklog
feeds leave out. They need no credentials and answer raw state, not Jira's JSON.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from sandbox.jira_store import JiraStore

_ISSUE_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*-\d+$")
_PROJECT_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
_ESTIMATES = ("original_estimate_seconds", "remaining_estimate_seconds")


def _problem(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def issue_with_worklogs(store: JiraStore, issue: dict[str, Any]) -> dict[str, Any]:
    return {
        **issue,
        "time_spent_seconds": store.time_spent(issue["id"]),
        "worklogs": store.worklogs_of(issue["id"]),
    }


def admin_router(store: JiraStore) -> APIRouter:
    router = APIRouter(prefix="/_sandbox")
    _add_issue_routes(router, store)

    @router.post("/accounts", status_code=201)
    async def add_account(request: Request):
        spec = await request.json()
        if not isinstance(spec, dict) or not spec.get("emailAddress"):
            return _problem(400, "emailAddress is required")
        with store.lock:
            return store.add_account(spec)

    @router.get("/clock")
    def clock() -> dict[str, int]:
        return {"now_ms": store.now_ms(), "offset_ms": store.offset_ms}

    @router.post("/clock/advance")
    async def advance(request: Request):
        """Move the sandbox clock forward by ``seconds`` (it never goes back)."""
        body = await request.json()
        seconds = body.get("seconds") if isinstance(body, dict) else None
        if not isinstance(seconds, int | float) or seconds < 0:
            return _problem(400, "seconds must be a number >= 0")
        with store.lock:
            store.offset_ms += int(seconds * 1000)
            return {"now_ms": store.now_ms(), "offset_ms": store.offset_ms}

    return router


def _add_issue_routes(router: APIRouter, store: JiraStore) -> None:
    @router.post("/issues", status_code=201)
    async def add_issue(request: Request):
        spec = await request.json()
        problem = _issue_spec_problem(spec)
        if problem:
            return _problem(400, problem)
        with store.lock:
            if spec.get("key") and store.find_issue(spec["key"]):
                return _problem(409, f"issue {spec['key']} exists")
            return issue_with_worklogs(store, store.add_issue(spec))

    @router.get("/issues/{idOrKey}")
    def get_issue(idOrKey: str):
        with store.lock:
            issue = store.find_issue(idOrKey)
            if issue is None:
                return _problem(404, f"no issue {idOrKey}")
            return issue_with_worklogs(store, issue)

    @router.patch("/issues/{idOrKey}")
    async def patch_issue(request: Request, idOrKey: str):
        changes = await request.json()
        if not isinstance(changes, dict):
            return _problem(400, "send a JSON object")
        with store.lock:
            issue = store.find_issue(idOrKey)
            if issue is None:
                return _problem(404, f"no issue {idOrKey}")
            problem = _apply_patch(store, issue, changes)
            if problem:
                return _problem(400, problem)
            return issue_with_worklogs(store, issue)


def _issue_spec_problem(spec: Any) -> str | None:
    if not isinstance(spec, dict):
        return "send a JSON object"
    key, project_key = spec.get("key"), spec.get("project_key")
    if key and not _ISSUE_KEY.match(str(key)):
        return f"bad issue key {key!r}"
    if project_key and not _PROJECT_KEY.match(str(project_key)):
        return f"bad project key {project_key!r}"
    if not key and not project_key:
        return "key or project_key is required"
    if key and project_key and not str(key).upper().startswith(f"{project_key.upper()}-"):
        return "key does not belong to project_key"
    return _estimates_problem(spec)


def _estimates_problem(spec: dict[str, Any]) -> str | None:
    for name in _ESTIMATES:
        value = spec.get(name)
        if value is not None and (not isinstance(value, int) or value < 0):
            return f"{name} must be a whole number of seconds >= 0, or null"
    return None


def _apply_patch(store: JiraStore, issue: dict[str, Any], changes: dict[str, Any]) -> str | None:
    """Close or reopen, move to another project, or set estimates and summary."""
    problem = _estimates_problem(changes)
    project_key = changes.get("project_key")
    if project_key is not None and not _PROJECT_KEY.match(str(project_key)):
        problem = f"bad project key {project_key!r}"
    if problem:
        return problem
    if "closed" in changes:
        issue["closed"] = bool(changes["closed"])
    for name in (*_ESTIMATES, "summary"):
        if name in changes:
            issue[name] = changes[name]
    if project_key:
        store.move_issue(issue, project_key)
    return None
