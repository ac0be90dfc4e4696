"""The Jira sandbox's worklog routes: an issue's worklogs, their properties, and the feeds.

One router per API version; v2 and v3 differ only in how a comment is written (plain text
or an Atlassian Document). A closed issue refuses new, edited and deleted worklogs, as
Jira does for an issue in a non-editable workflow state.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from sandbox.jira_format import millis_of
from sandbox.jira_input import (
    NOT_NULL,
    JiraError,
    expands,
    int_param,
    parse_adjustment,
    parse_ids,
    parse_worklog_body,
    read_json,
)
from sandbox.jira_views import View, properties_json, worklog_json

log = logging.getLogger(__name__)

MAX_WORKLOGS_PER_ISSUE = 5000
NOT_EDITABLE = "You can not edit the issue as it is in a non-editable workflow state."
NO_ISSUE = "Issue does not exist or you do not have permission to see it."
PROPERTY_KEY_MAX = 255
TOO_MANY = f"An issue can't have more than {MAX_WORKLOGS_PER_ISSUE} worklogs."
PROPERTY_VALUE_MAX = 32768


def require_issue(view: View, id_or_key: str) -> dict[str, Any]:
    issue = view.store.find_issue(id_or_key)
    if issue is None:
        raise JiraError(404, [NO_ISSUE])
    return issue


def _require_worklog(view: View, issue: dict[str, Any], worklog_id: str) -> dict[str, Any]:
    worklog = view.store.worklogs.get(worklog_id)
    if worklog is None or worklog["issue_id"] != issue["id"]:
        raise JiraError(404, [f"Cannot find worklog with id: '{worklog_id}'."])
    return worklog


def _require_editable(issue: dict[str, Any]) -> None:
    if issue.get("closed"):
        raise JiraError(400, [NOT_EDITABLE])


def _fail_on(errors: dict[str, str]) -> None:
    if errors:
        raise JiraError(400, [NOT_NULL], errors)


def worklog_router(prefix: str, view_of: Callable[[Request, str], View], version: str):
    """The worklog routes under ``prefix`` (``{context}/rest/api/{version}``)."""
    router = APIRouter(prefix=prefix)
    _add_issue_worklog_routes(router, view_of, version)
    _add_single_worklog_routes(router, view_of, version)
    _add_property_routes(router, view_of, version)
    _add_feed_routes(router, view_of, version)
    return router


def _add_issue_worklog_routes(router: APIRouter, view_of, version: str) -> None:
    @router.get("/issue/{issueIdOrKey}/worklog")
    async def list_worklogs(request: Request, issueIdOrKey: str):
        view = view_of(request, version)
        query = request.query_params
        start = max(0, int_param(query, "startAt", 0))
        limit = min(max(0, int_param(query, "maxResults", 5000)), 5000)
        after = int_param(query, "startedAfter", None)
        before = int_param(query, "startedBefore", None)
        with view.store.lock:
            issue = require_issue(view, issueIdOrKey)
            found = [
                w for w in view.store.worklogs_of(issue["id"]) if _started_in(w, after, before)
            ]
            with_props = expands(query, "properties")
            page = [worklog_json(view, w, with_props) for w in found[start : start + limit]]
        return {"startAt": start, "maxResults": limit, "total": len(found), "worklogs": page}

    @router.post("/issue/{issueIdOrKey}/worklog")
    async def add_worklog(request: Request, issueIdOrKey: str):
        view = view_of(request, version)
        body = read_json(await request.body())
        with view.store.lock:
            issue = require_issue(view, issueIdOrKey)
            _require_editable(issue)
            record, errors = parse_worklog_body(body, version, creating=True)
            adjust, adjust_errors = parse_adjustment(request.query_params, "create")
            _fail_on({**errors, **adjust_errors})
            if len(view.store.worklogs_of(issue["id"])) >= MAX_WORKLOGS_PER_ISSUE:
                raise JiraError(413, [TOO_MANY])
            record["author"] = view.account["accountId"]
            worklog = view.store.add_worklog(issue, record, adjust)
            out = worklog_json(view, worklog, expands(request.query_params, "properties"))
        log.debug("Added worklog %s to %s", worklog["id"], issue["key"])
        return JSONResponse(out, status_code=201)


def _started_in(worklog: dict[str, Any], after: int | None, before: int | None) -> bool:
    started = millis_of(worklog["started"]) or 0
    return (after is None or started >= after) and (before is None or started < before)


def _add_single_worklog_routes(router: APIRouter, view_of, version: str) -> None:
    @router.get("/issue/{issueIdOrKey}/worklog/{id}")
    async def get_worklog(request: Request, issueIdOrKey: str, id: str):
        view = view_of(request, version)
        with view.store.lock:
            worklog = _require_worklog(view, require_issue(view, issueIdOrKey), id)
            return worklog_json(view, worklog, expands(request.query_params, "properties"))

    @router.put("/issue/{issueIdOrKey}/worklog/{id}")
    async def update_worklog(request: Request, issueIdOrKey: str, id: str):
        view = view_of(request, version)
        body = read_json(await request.body())
        with view.store.lock:
            issue = require_issue(view, issueIdOrKey)
            worklog = _require_worklog(view, issue, id)
            _require_editable(issue)
            changes, errors = parse_worklog_body(body, version, creating=False)
            adjust, adjust_errors = parse_adjustment(request.query_params, "update")
            _fail_on({**errors, **adjust_errors})
            view.store.update_worklog(worklog, changes, view.account["accountId"], adjust)
            return worklog_json(view, worklog, expands(request.query_params, "properties"))

    @router.delete("/issue/{issueIdOrKey}/worklog/{id}", status_code=204)
    async def delete_worklog(request: Request, issueIdOrKey: str, id: str):
        view = view_of(request, version)
        with view.store.lock:
            issue = require_issue(view, issueIdOrKey)
            worklog = _require_worklog(view, issue, id)
            _require_editable(issue)
            adjust, errors = parse_adjustment(request.query_params, "delete")
            _fail_on(errors)
            view.store.delete_worklog(worklog, adjust)
        return Response(status_code=204)


def _add_property_routes(router: APIRouter, view_of, version: str) -> None:
    base = "/issue/{issueIdOrKey}/worklog/{worklogId}/properties"

    @router.get(base)
    async def property_keys(request: Request, issueIdOrKey: str, worklogId: str):
        view = view_of(request, version)
        with view.store.lock:
            worklog = _require_worklog(view, require_issue(view, issueIdOrKey), worklogId)
            url = f"{view.api}/issue/{worklog['issue_id']}/worklog/{worklog['id']}/properties"
            keys = [{"key": k, "self": f"{url}/{k}"} for k in worklog.get("properties") or {}]
        return {"keys": keys}

    @router.get(base + "/{propertyKey}")
    async def get_property(request: Request, issueIdOrKey: str, worklogId: str, propertyKey: str):
        view = view_of(request, version)
        with view.store.lock:
            worklog = _require_worklog(view, require_issue(view, issueIdOrKey), worklogId)
            properties = worklog.get("properties") or {}
            if propertyKey not in properties:
                raise JiraError(404, [f"The property with key '{propertyKey}' does not exist."])
            return {"key": propertyKey, "value": properties[propertyKey]}

    @router.put(base + "/{propertyKey}")
    async def set_property(request: Request, issueIdOrKey: str, worklogId: str, propertyKey: str):
        view = view_of(request, version)
        raw = await request.body()
        value = _property_value(propertyKey, raw)
        with view.store.lock:
            worklog = _require_worklog(view, require_issue(view, issueIdOrKey), worklogId)
            properties = worklog.setdefault("properties", {})
            created = propertyKey not in properties
            properties[propertyKey] = value
        return Response(status_code=201 if created else 200)

    @router.delete(base + "/{propertyKey}", status_code=204)
    async def delete_property(
        request: Request, issueIdOrKey: str, worklogId: str, propertyKey: str
    ):
        view = view_of(request, version)
        with view.store.lock:
            worklog = _require_worklog(view, require_issue(view, issueIdOrKey), worklogId)
            properties = worklog.get("properties") or {}
            if propertyKey not in properties:
                raise JiraError(404, [f"The property with key '{propertyKey}' does not exist."])
            del properties[propertyKey]
        return Response(status_code=204)


def _property_value(key: str, raw: bytes) -> Any:
    """The JSON value of a property PUT: valid, non-empty, at most 32768 characters."""
    if len(key) > PROPERTY_KEY_MAX:
        raise JiraError(400, ["The property key can not be longer than 255 characters."])
    if not raw.strip():
        raise JiraError(400, ["The property value can not be empty."])
    if len(raw) > PROPERTY_VALUE_MAX:
        raise JiraError(400, ["The property value can not be longer than 32768 characters."])
    return read_json(raw)


def _add_feed_routes(router: APIRouter, view_of, version: str) -> None:
    @router.post("/worklog/list")
    async def list_by_ids(request: Request):
        view = view_of(request, version)
        ids = parse_ids(read_json(await request.body()))
        with view.store.lock:
            found = [view.store.worklogs.get(str(i)) for i in ids]
            with_props = expands(request.query_params, "properties")
            return [worklog_json(view, w, with_props) for w in found if w is not None]

    @router.get("/worklog/updated")
    async def updated(request: Request):
        return _feed(view_of(request, version), request, "updated")

    @router.get("/worklog/deleted")
    async def deleted(request: Request):
        return _feed(view_of(request, version), request, "deleted")


def _feed(view: View, request: Request, kind: str) -> dict[str, Any]:
    """One ChangedWorklogs page; ``nextPage`` repeats the last change time, as Jira's does."""
    since = int_param(request.query_params, "since", 0)
    with_props = kind == "updated" and expands(request.query_params, "properties")
    with view.store.lock:
        items, last_page = view.store.changed_worklogs(kind, since)
        values = [_changed(millis, entry, with_props) for millis, entry in items]
    until = items[-1][0] if items else since
    expand = "&expand=properties" if with_props else ""
    out: dict[str, Any] = {
        "values": values,
        "since": items[0][0] if items else since,
        "until": until,
        "self": f"{view.api}/worklog/{kind}?since={since}{expand}",
        "lastPage": last_page,
    }
    if not last_page:
        out["nextPage"] = f"{view.api}/worklog/{kind}?since={until}{expand}"
    return out


def _changed(millis: int, entry: Any, with_props: bool) -> dict[str, Any]:
    if isinstance(entry, dict):
        properties = properties_json(entry) if with_props else []
        return {"worklogId": int(entry["id"]), "updatedTime": millis, "properties": properties}
    return {"worklogId": int(entry), "updatedTime": millis, "properties": []}
