"""What both sandbox servers share: request counters, rate limits, fault injection, admin.

Every request to the API (not to ``/_sandbox``) is counted by method and route, may be
rate limited per credential, and goes through the fault rules a test has set. The admin
endpoints under ``/_sandbox`` need no credentials and are never counted or faulted.

A fault rule is a JSON object:

- ``kind``: ``latency`` (sleep ``ms`` then serve), ``error`` (answer ``status``, default
  503, without serving, with ``message`` in the API's error shape), ``rate_limit`` (answer
  429 with ``Retry-After: retry_after``), ``reset`` (drop the connection without serving),
  ``apply_then_fail`` (serve, commit the change, then answer ``status``, default 502, or
  drop the connection when ``drop`` is true), ``body`` (answer ``status``, default 200,
  with ``body`` sent byte for byte as UTF-8 and ``content_type``, default
  ``application/json``, without serving). ``body`` is how a test makes a server say what
  no well-behaved server would: a page that is not JSON or is cut short, ``NaN`` or
  ``Infinity`` literals, numbers too large for any integer type, the same entry on two
  pages.
- ``method``, ``path`` and ``query``: which requests it applies to (``path`` and ``query``
  are regular expressions searched in the URL path and in the raw query string, such as
  ``user_id=7(&|$)``); all optional.
- ``rate``: the chance it fires on a matching request (default 1); ``times``: how many
  times it may fire before it is spent (default unlimited); ``skip``: how many matching
  requests pass before it starts firing (default 0).
"""

from __future__ import annotations

import asyncio
import contextvars
import random
import re
import threading
import time
from collections import Counter, deque
from typing import Any

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from uvicorn.protocols.http.h11_impl import H11Protocol

_transport: contextvars.ContextVar[Any] = contextvars.ContextVar("sandbox_transport")

FAULT_KINDS = {"latency", "error", "rate_limit", "reset", "apply_then_fail", "body"}


class DroppingH11Protocol(H11Protocol):
    """uvicorn's h11 protocol that lets a fault rule reach the socket to drop it.

    ASGI gives an app no way to abort a connection; the request task inherits this
    context variable, so the middleware can find the transport of its own request.
    """

    def handle_events(self) -> None:
        _transport.set(self.transport)
        super().handle_events()


def drop_connection() -> Response:
    """Abort this request's TCP connection; the response returned goes nowhere."""
    transport = _transport.get(None)
    if transport is not None:
        transport.abort()
    return Response(status_code=500)


class FaultRule:
    def __init__(self, spec: dict[str, Any]):
        kind = spec.get("kind")
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; use one of {sorted(FAULT_KINDS)}")
        self.spec = dict(spec)
        self.kind = kind
        self.method = (spec.get("method") or "").upper() or None
        self.path = re.compile(spec["path"]) if spec.get("path") else None
        self.query = re.compile(spec["query"]) if spec.get("query") else None
        self.rate = float(spec.get("rate", 1.0))
        self.times = spec.get("times")
        self.skip = int(spec.get("skip", 0))
        self.fired = 0
        self.seen = 0

    def matches(self, method: str, path: str, query: str = "") -> bool:
        if self.method and self.method != method:
            return False
        if self.query and not self.query.search(query):
            return False
        return not (self.path and not self.path.search(path))

    def fires(self, rng: random.Random) -> bool:
        self.seen += 1
        if self.seen <= self.skip:
            return False
        if self.times is not None and self.fired >= int(self.times):
            return False
        if rng.random() >= self.rate:
            return False
        self.fired += 1
        return True

    def describe(self) -> dict[str, Any]:
        return {**self.spec, "fired": self.fired, "seen": self.seen}


class Controls:
    """Counters, limiter and fault rules of one sandbox server; safe across threads."""

    def __init__(self, rate_limit: tuple[int, float] | None):
        self.lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.rate_limit = rate_limit
        self.windows: dict[str, deque[float]] = {}
        self.rules: list[FaultRule] = []
        self.rng = random.Random(0)

    def count(self, key: str) -> None:
        with self.lock:
            self.counts[key] += 1

    def over_limit(self, credential: str) -> float | None:
        """Seconds to wait when ``credential`` is past its limit, else None."""
        if not self.rate_limit:
            return None
        limit, period = self.rate_limit
        now = time.monotonic()
        with self.lock:
            window = self.windows.setdefault(credential, deque())
            while window and now - window[0] >= period:
                window.popleft()
            if len(window) >= limit:
                return max(1.0, period - (now - window[0]))
            window.append(now)
        return None

    def firing(self, method: str, path: str, query: str = "") -> list[FaultRule]:
        with self.lock:
            return [r for r in self.rules if r.matches(method, path, query) and r.fires(self.rng)]

    def set_rules(self, specs: list[dict[str, Any]], seed: int | None) -> None:
        rules = [FaultRule(spec) for spec in specs]
        with self.lock:
            self.rules = rules
            self.rng = random.Random(seed or 0)


def route_key(request: Request) -> str:
    """``METHOD /path/{template}`` when the router matched a route, else the raw path."""
    route = request.scope.get("route")
    template = getattr(route, "path", None) or request.url.path
    return f"{request.method} {template}"


def install(
    app: FastAPI,
    controls: Controls,
    credential_of,
    dump_state,
    load_state,
    reset_state,
    error_body,
) -> None:
    """Wire the counters, limiter, faults and the ``/_sandbox`` admin API into ``app``.

    ``credential_of(request)`` names the credential a rate limit applies to;
    ``error_body(status, message)`` builds an error in the API's own shape.
    """

    @app.middleware("http")
    async def controlled(request: Request, call_next):
        path = request.url.path
        if path.startswith("/_sandbox"):
            return await call_next(request)

        wait = controls.over_limit(credential_of(request))
        if wait is not None:
            controls.count(f"{request.method} {path} (429)")
            return JSONResponse(
                error_body(429, "Too many requests"),
                status_code=429,
                headers={"Retry-After": str(int(wait + 0.999))},
            )

        after: list[FaultRule] = []
        for rule in controls.firing(request.method, path, request.url.query):
            if rule.kind == "latency":
                await asyncio.sleep(float(rule.spec.get("ms", 20)) / 1000)
            elif rule.kind == "apply_then_fail":
                after.append(rule)
            else:
                controls.count(f"{request.method} {path} ({rule.kind})")
                return _fault_response(rule, error_body)

        response = await call_next(request)
        controls.count(route_key(request))
        for rule in after:
            if rule.spec.get("drop"):
                return drop_connection()
            status = int(rule.spec.get("status", 502))
            return JSONResponse(error_body(status, "Bad gateway"), status_code=status)
        return response

    app.include_router(_admin_router(controls, dump_state, load_state, reset_state))


def _fault_response(rule: FaultRule, error_body) -> Response:
    if rule.kind == "reset":
        return drop_connection()
    if rule.kind == "body":
        return Response(
            content=str(rule.spec.get("body", "")).encode("utf-8"),
            status_code=int(rule.spec.get("status", 200)),
            media_type=str(rule.spec.get("content_type", "application/json")),
        )
    if rule.kind == "rate_limit":
        retry_after = str(rule.spec.get("retry_after", 1))
        return JSONResponse(
            error_body(429, "Too many requests"),
            status_code=429,
            headers={"Retry-After": retry_after},
        )
    status = int(rule.spec.get("status", 503))
    message = str(rule.spec.get("message", "Service unavailable"))
    return JSONResponse(error_body(status, message), status_code=status)


def _admin_router(controls: Controls, dump_state, load_state, reset_state) -> APIRouter:
    router = APIRouter(prefix="/_sandbox")

    @router.get("/requests")
    def requests_seen() -> dict[str, Any]:
        with controls.lock:
            by_route = dict(controls.counts)
        return {"total": sum(by_route.values()), "by_route": by_route}

    @router.delete("/requests", status_code=204)
    def forget_requests() -> None:
        with controls.lock:
            controls.counts.clear()

    @router.get("/faults")
    def faults() -> dict[str, Any]:
        with controls.lock:
            return {"rules": [rule.describe() for rule in controls.rules]}

    @router.put("/faults")
    async def set_faults(request: Request) -> Response:
        body = await request.json()
        try:
            controls.set_rules(body.get("rules", []), body.get("seed"))
        except (ValueError, re.error, TypeError) as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return Response(status_code=204)

    @router.delete("/faults", status_code=204)
    def clear_faults() -> None:
        controls.set_rules([], None)

    @router.put("/rate_limit")
    async def set_rate_limit(request: Request) -> Response:
        body = await request.json()
        with controls.lock:
            if body.get("requests"):
                controls.rate_limit = (int(body["requests"]), float(body["per_seconds"]))
            else:
                controls.rate_limit = None
            controls.windows.clear()
        return Response(status_code=204)

    _add_state_routes(router, controls, dump_state, load_state, reset_state)
    return router


def _add_state_routes(router: APIRouter, controls: Controls, dump_state, load_state, reset_state):
    @router.get("/state")
    def state() -> dict[str, Any]:
        return dump_state()

    @router.put("/state", status_code=204)
    async def put_state(request: Request) -> None:
        load_state(await request.json())

    @router.post("/reset", status_code=204)
    def reset() -> None:
        reset_state()
        controls.set_rules([], None)
        with controls.lock:
            controls.counts.clear()
            controls.windows.clear()
