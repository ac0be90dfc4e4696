"""A sandbox of the Harvest API v2: users, the company and time entries.

``create_app(state, rate_limit)`` builds the FastAPI app; serve it with
``sandbox.server.RunningServer(app).start()`` and point a client at ``<url>/v2``.
``create_app()`` starts with an empty account (``account_id`` "1234567") whose token
``sandbox-harvest-token`` belongs to user 1, an administrator. The state format is in
``sandbox.harvest_store``; time entry behaviour in ``sandbox.harvest_entries``.

Requests are checked as Harvest checks them (https://help.getharvest.com/api-v2/):

- ``User-Agent`` is required (400 without it).
- ``Authorization: Bearer <token>`` and ``Harvest-Account-Id`` (or the documented
  ``access_token`` and ``account_id`` query parameters); a missing or unknown token, a
  token of an archived user or another account id give 401 with an OAuth
  ``invalid_token`` body.
- 100 requests per 15 seconds per token by default; past that 429 with ``Retry-After``.
- Administrators and managers see every time entry; members see only their own (others'
  answer 404). A user without ``access_roles`` counts as a member.

Errors other than 401 carry the spec's Error object, ``{"code": ..., "message": ...}``.
``PATCH /v2/time_entries/{id}/external_reference`` is not served: Harvest documents only
its DELETE, and sets a reference through ``PATCH /v2/time_entries/{id}``.

Counters under ``/_sandbox/requests`` are keyed by route templates such as
``GET /v2/time_entries/{time_entry_id}``.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sandbox.common import Controls, install
from sandbox.harvest_entries import (
    create_entry,
    render_entry,
    restart_entry,
    stop_entry,
    update_entry,
)
from sandbox.harvest_query import entry_filters, newest_first, page_params, paginate, user_filters
from sandbox.harvest_store import (
    HarvestError,
    HarvestStore,
    error_body,
    render_user,
    roles_of,
    sees_everyone,
    touch,
)

log = logging.getLogger(__name__)

UNAUTHORIZED = {
    "error": "invalid_token",
    "error_description": "The token is unknown, revoked or not valid for this account.",
}


def create_app(
    state: dict[str, Any] | None = None,
    rate_limit: tuple[int, float] | None = (100, 15.0),
) -> FastAPI:
    """A Harvest sandbox serving ``state`` (an empty account when None)."""
    store = HarvestStore(state)
    app = FastAPI(title="Harvest API v2 sandbox", openapi_url=None, docs_url=None, redoc_url=None)
    app.state.store = store
    install(
        app,
        Controls(rate_limit),
        credential_of=lambda request: _token_of(request) or "anonymous",
        dump_state=store.dump,
        load_state=store.load,
        reset_state=store.reset,
        error_body=error_body,
    )
    app.add_exception_handler(HarvestError, _harvest_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    actor = _authenticator(store)
    app.include_router(_account_router(store, actor))
    app.include_router(_entry_router(store, actor))
    return app


async def _harvest_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HarvestError)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if exc.status == 401 else {}
    body = exc.body or error_body(exc.status, exc.message)
    return JSONResponse(body, status_code=exc.status, headers=headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    body = error_body(exc.status_code, str(exc.detail))
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


def _token_of(request: Request) -> str:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return request.query_params.get("access_token", "")


def _authenticator(store: HarvestStore):
    """A dependency giving the user a request acts as, or raising Harvest's 400 or 401."""

    def actor(request: Request) -> dict[str, Any]:
        if not request.headers.get("user-agent", "").strip():
            raise HarvestError(400, "Send a User-Agent header naming your application")
        token = _token_of(request)
        account = request.headers.get("harvest-account-id") or request.query_params.get(
            "account_id"
        )
        with store.lock:
            user = store.user_for_token(token) if token else None
            if user is None or account != str(store.state["account_id"]):
                raise HarvestError(401, "invalid_token", body=UNAUTHORIZED)
            return render_user(user)

    return Depends(actor)


async def _body(request: Request) -> dict[str, Any]:
    """A JSON or form-encoded request body, as Harvest takes either."""
    raw = await request.body()
    if not raw.strip():
        return {}
    if request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return dict(parse_qsl(raw.decode()))
    try:
        body = json.loads(raw)
    except ValueError:
        raise HarvestError(400, "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise HarvestError(400, "The request body must be a JSON object")
    return body


def _now() -> datetime:
    return datetime.now(UTC)


def _account_router(store: HarvestStore, actor) -> APIRouter:
    router = APIRouter(prefix="/v2")

    @router.get("/company")
    async def company(user: dict = actor) -> dict[str, Any]:
        with store.lock:
            return store.company()

    @router.patch("/company")
    async def update_company(request: Request, user: dict = actor) -> dict[str, Any]:
        if "administrator" not in roles_of(user):
            raise HarvestError(403, "Only administrators may change the company")
        changes = _company_changes(await _body(request))
        with store.lock:
            store.state["company"].update(changes)
            return store.company()

    @router.get("/users")
    async def users(request: Request, user: dict = actor) -> dict[str, Any]:
        tests = user_filters(request.query_params)
        page, per_page = page_params(request.query_params)
        with store.lock:
            found = [render_user(u) for u in store.state["users"]]
        found = sorted((u for u in found if all(t(u) for t in tests)), key=newest_first)
        return paginate(request, "users", found[::-1], page, per_page)

    @router.get("/users/me")
    async def me(user: dict = actor) -> dict[str, Any]:
        return user

    @router.get("/users/{user_id}")
    async def one_user(user_id: str, user: dict = actor) -> dict[str, Any]:
        with store.lock:
            found = store.user(int(user_id)) if user_id.isdigit() else None
            if found is None:
                raise HarvestError(404, "Not found")
            return render_user(found)

    return router


def _company_changes(body: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if body.get("wants_timestamp_timers") is not None:
        flag = body["wants_timestamp_timers"]
        if flag not in (True, False, "true", "false"):
            raise HarvestError(422, "wants_timestamp_timers must be true or false")
        changes["wants_timestamp_timers"] = flag in (True, "true")
    if body.get("weekly_capacity") is not None:
        capacity = body["weekly_capacity"]
        if not str(capacity).isdigit():
            raise HarvestError(422, "weekly_capacity must be a whole number of seconds")
        changes["weekly_capacity"] = int(capacity)
    return changes


def _entry_router(store: HarvestStore, actor) -> APIRouter:
    router = APIRouter(prefix="/v2/time_entries")

    @router.get("")
    async def entries(request: Request, user: dict = actor) -> dict[str, Any]:
        tests = entry_filters(request.query_params)
        page, per_page = page_params(request.query_params)
        now = _now()
        with store.lock:
            mine = [e for e in store.state["time_entries"] if _sees(user, e)]
            shown = [render_entry(e, now) for e in mine]
        shown = sorted((e for e in shown if all(t(e) for t in tests)), key=newest_first)
        return paginate(request, "time_entries", shown[::-1], page, per_page)

    @router.post("", status_code=201)
    async def create(request: Request, user: dict = actor) -> dict[str, Any]:
        body, now = await _body(request), _now()
        with store.lock:
            entry = create_entry(store, user, body, now)
            log.debug("Created time entry %s for user %s", entry["id"], entry["user"]["id"])
            return render_entry(entry, now)

    @router.get("/{time_entry_id}")
    async def one(time_entry_id: str, user: dict = actor) -> dict[str, Any]:
        with store.lock:
            return render_entry(store.visible_entry(user, time_entry_id), _now())

    @router.patch("/{time_entry_id}")
    async def update(time_entry_id: str, request: Request, user: dict = actor) -> dict[str, Any]:
        body, now = await _body(request), _now()
        with store.lock:
            entry = store.visible_entry(user, time_entry_id)
            update_entry(store, entry, body, now)
            return render_entry(entry, now)

    @router.delete("/{time_entry_id}")
    async def delete(time_entry_id: str, user: dict = actor) -> Response:
        with store.lock:
            entry = store.visible_entry(user, time_entry_id)
            store.state["time_entries"].remove(entry)
        return Response(status_code=200)

    _add_timer_routes(router, store, actor)
    return router


def _add_timer_routes(router: APIRouter, store: HarvestStore, actor) -> None:
    @router.patch("/{time_entry_id}/stop")
    async def stop(time_entry_id: str, user: dict = actor) -> dict[str, Any]:
        now = _now()
        with store.lock:
            entry = store.visible_entry(user, time_entry_id)
            stop_entry(store, entry, now)
            return render_entry(entry, now)

    @router.patch("/{time_entry_id}/restart")
    async def restart(time_entry_id: str, user: dict = actor) -> dict[str, Any]:
        now = _now()
        with store.lock:
            entry = store.visible_entry(user, time_entry_id)
            restart_entry(store, entry, now)
            return render_entry(entry, now)

    @router.delete("/{time_entry_id}/external_reference")
    async def drop_reference(time_entry_id: str, user: dict = actor) -> Response:
        with store.lock:
            entry = store.visible_entry(user, time_entry_id)
            entry["external_reference"] = None
            touch(entry, _now())
        return Response(status_code=200)


def _sees(user: dict[str, Any], entry: dict[str, Any]) -> bool:
    return sees_everyone(user) or (entry.get("user") or {}).get("id") == user["id"]
