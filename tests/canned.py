"""A loopback HTTP server that gives each request the answer a test queued for it.

The retry policy and both hooks are tested over real sockets rather than mocked sessions,
so timeouts, dropped connections and cut-short bodies happen the way they do in the field.
The retry, Harvest hook and Jira hook tests each run one; a test queues its answers
and reads back what was sent.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from sandbox.common import drop_connection
from sandbox.server import RunningServer

NOTHING_QUEUED = {"message": "nothing queued", "errorMessages": ["nothing queued"]}


@dataclass
class Answer:
    """One canned answer: a JSON body, or ``raw`` bytes sent as they are.

    ``drop`` aborts the connection instead of answering; ``delay`` waits first, so a
    client's read timeout can expire.
    """

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    drop: bool = False
    delay: float = 0.0
    raw: bytes | None = None


@dataclass
class Seen:
    """One request as the server received it; header names are lower-cased."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class Canned:
    """A server that answers each request with the next answer queued for its path."""

    def __init__(self) -> None:
        self.queues: dict[tuple[str, str], deque[Answer]] = defaultdict(deque)
        self.seen: list[Seen] = []
        self.app = FastAPI()
        methods = ["GET", "POST", "PUT", "DELETE"]
        self.app.add_api_route("/{path:path}", self.handle, methods=methods)
        self.url = ""
        self.port = 0

    def queue(self, method: str, path: str, *answers: Answer) -> None:
        self.queues[(method, path)].extend(answers)

    def count(self, method: str, path: str) -> int:
        return sum(1 for seen in self.seen if (seen.method, seen.path) == (method, path))

    def sent(self, method: str) -> list[Seen]:
        return [seen for seen in self.seen if seen.method == method]

    def reset(self) -> Canned:
        """Forget every queued answer and every request seen, for the next test."""
        self.queues.clear()
        self.seen.clear()
        return self

    async def handle(self, request: Request) -> Response:
        raw = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        query = dict(request.query_params)
        body = _parsed(raw)
        self.seen.append(Seen(request.method, request.url.path, query, headers, body))
        queued = self.queues.get((request.method, request.url.path))
        answer = queued.popleft() if queued else Answer(418, NOTHING_QUEUED)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        return _response(answer)


def _parsed(raw: bytes) -> Any:
    """The request body as JSON; as text when a client sent something else."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", errors="replace")


def _response(answer: Answer) -> Response:
    if answer.drop:
        return drop_connection()
    if answer.raw is not None:
        return Response(
            answer.raw,
            status_code=answer.status,
            media_type="application/json",
            headers=answer.headers,
        )
    if answer.status == 204:
        return Response(status_code=204)
    return JSONResponse(answer.body, status_code=answer.status, headers=answer.headers)


def serve() -> Iterator[Canned]:
    """Run a fresh server until the generator resumes; a module fixture yields from it."""
    canned = Canned()
    running = RunningServer(canned.app).start()
    canned.url, canned.port = running.url, running.port
    yield canned
    running.stop()


def closed_port() -> int:
    """A loopback port nothing listens on, so a connection to it is refused."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return port
