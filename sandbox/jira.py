"""A sandbox Jira: the REST routes h2j uses, as Jira Cloud (v3) and Data Center (v2) serve them.

``create_app(state, context_path, rate_limit)`` builds the FastAPI app. Every API route is
served under ``{context_path}/rest/api/3`` and ``{context_path}/rest/api/2``; Data Center
sites live under a context path such as ``/jira`` and speak v2. Clients authenticate with
Basic (email and API token) or Bearer (personal access token); anything else gets 401.

Run it with ``sandbox.server.RunningServer(create_app()).start()``. The state format is
described in ``sandbox.jira_store``; ``/_sandbox`` holds the shared controls (counters,
faults, rate limit, state) and this server's own (issues, accounts, clock).
"""

from __future__ import annotations

import base64
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.common import Controls, install
from sandbox.jira_admin import admin_router
from sandbox.jira_input import JiraError, int_param
from sandbox.jira_store import JiraStore
from sandbox.jira_views import View, issue_json, myself_json, project_json
from sandbox.jira_worklogs import require_issue, worklog_router

VERSIONS = ("3", "2")
NOT_AUTHENTICATED = "Client must be authenticated to access this resource."
PROJECT_PAGE_MAX = 100


def error_body(status: int, message: str) -> dict[str, Any]:
    """Jira's error shape, for the errors the shared middleware makes (429, faults)."""
    return {"errorMessages": [message], "errors": {}}


def create_app(
    state: dict | None = None,
    context_path: str = "",
    rate_limit: tuple[int, float] | None = None,
) -> FastAPI:
    """The sandbox Jira app over ``state`` (default: one bot account and nothing else)."""
    store = JiraStore(state)
    prefix = "/" + context_path.strip("/") if context_path.strip("/") else ""
    app = FastAPI(title="Jira sandbox", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    install(
        app,
        Controls(rate_limit),
        credential_of=lambda request: _credential(store, request),
        dump_state=store.dump,
        load_state=store.load,
        reset_state=store.reset,
        error_body=error_body,
    )
    app.add_exception_handler(JiraError, _jira_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    view_of = _viewer(store, prefix)
    for version in VERSIONS:
        api = f"{prefix}/rest/api/{version}"
        app.include_router(_platform_router(api, view_of, version))
        app.include_router(worklog_router(api, view_of, version))
    app.include_router(admin_router(store))
    return app


async def _jira_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, JiraError)
    return JSONResponse(exc.body(), status_code=exc.status)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    return JSONResponse(error_body(exc.status_code, str(exc.detail)), status_code=exc.status_code)


def _account_of(store: JiraStore, header: str | None) -> dict[str, Any] | None:
    """The active account an ``Authorization`` header proves, if any."""
    scheme, _, value = (header or "").partition(" ")
    if scheme.lower() == "bearer":
        return store.account_for_bearer(value.strip())
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    email, colon, token = decoded.partition(":")
    return store.account_for_basic(email, token) if colon else None


def _credential(store: JiraStore, request: Request) -> str:
    """Whom the rate limit counts a request against: the account, or anonymous."""
    with store.lock:
        account = _account_of(store, request.headers.get("authorization"))
    return account["accountId"] if account else "anonymous"


def _viewer(store: JiraStore, prefix: str):
    def view_of(request: Request, version: str) -> View:
        with store.lock:
            account = _account_of(store, request.headers.get("authorization"))
        if account is None:
            raise JiraError(401, [NOT_AUTHENTICATED])
        root = str(request.base_url).rstrip("/") + prefix
        return View(store=store, account=account, version=version, root=root)

    return view_of


def _platform_router(api: str, view_of, version: str) -> APIRouter:
    router = APIRouter(prefix=api)

    @router.get("/myself")
    async def myself(request: Request):
        return myself_json(view_of(request, version))

    @router.get("/project/search")
    async def project_search(request: Request):
        return _project_page(view_of(request, version), request)

    @router.get("/issue/{issueIdOrKey}")
    async def get_issue(request: Request, issueIdOrKey: str):
        view = view_of(request, version)
        fields = ",".join(request.query_params.getlist("fields")) or None
        with view.store.lock:
            return issue_json(view, require_issue(view, issueIdOrKey), fields)

    return router


def _project_page(view: View, request: Request) -> dict[str, Any]:
    """A PageBeanProject: filtered by ``query``, ``keys`` and ``id``, ordered by key or name."""
    query = request.query_params
    start = max(0, int_param(query, "startAt", 0))
    limit = min(max(0, int_param(query, "maxResults", 50)), PROJECT_PAGE_MAX)
    with view.store.lock:
        projects = [p for p in view.store.state["projects"] if _project_matches(p, query)]
        order = (query.get("orderBy") or "key").lstrip("+")
        field = "name" if order.lstrip("-") == "name" else "key"
        projects.sort(key=lambda p: p[field].lower(), reverse=order.startswith("-"))
        values = [project_json(view, p) for p in projects[start : start + limit]]
    is_last = start + len(values) >= len(projects)
    out: dict[str, Any] = {
        "self": str(request.url),
        "maxResults": limit,
        "startAt": start,
        "total": len(projects),
        "isLast": is_last,
        "values": values,
    }
    if not is_last:
        out["nextPage"] = str(request.url.include_query_params(startAt=start + limit))
    return out


def _project_matches(project: dict[str, Any], query) -> bool:
    text = (query.get("query") or "").lower()
    keys = {k.upper() for k in query.getlist("keys")}
    ids = set(query.getlist("id"))
    if text and text not in project["key"].lower() and text not in project["name"].lower():
        return False
    if keys and project["key"].upper() not in keys:
        return False
    return not ids or str(project["id"]) in ids
