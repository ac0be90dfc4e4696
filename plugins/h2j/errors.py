"""Errors the Harvest and Jira hooks raise, split by what a caller may safely do next.

A caller needs three answers from a failed call: was it refused (fix the input, do not
retry), did the service stay unreachable (retry later, nothing happened), or may a write
have happened without our hearing about it (read back before writing again). The classes
below carry those answers; their text holds the status and the vendor's own message, never
a credential or a whole response body.
"""

from __future__ import annotations

from typing import Any

import requests

MAX_MESSAGE_CHARS = 300


class BadSetting(ValueError):
    """A param, Variable or connection value that is wrong, which no retry can fix.

    The DAG fails such a task at once, with this message, instead of retrying it.
    """


class ApiError(Exception):
    """A Harvest or Jira call that failed for good: a 4xx, or an answer h2j cannot read.

    :param service: ``"harvest"`` or ``"jira"``.
    :param status: the HTTP status, or None when no answer arrived.
    :param message: the vendor's message, or h2j's own description of the problem.
    :param method: the HTTP method of the failed request.
    :param path: the URL path of the failed request, without its query string.
    """

    def __init__(
        self,
        service: str,
        status: int | None,
        message: str,
        *,
        method: str = "",
        path: str = "",
    ) -> None:
        self.service = service
        self.status = status
        self.message = message
        self.method = method
        self.path = path
        super().__init__(self.__str__())

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no answer"
        request = f"{self.method} {self.path}".strip()
        where = f" {request}" if request else ""
        text = f": {self.message}" if self.message else ""
        return f"{self.service}{where} -> {status}{text}"

    def __reduce__(self):
        """Keyword-only arguments need help to survive pickling across processes."""
        return (
            _rebuild,
            (type(self), self.service, self.status, self.message, self.method, self.path),
        )


class TransientApiError(ApiError):
    """The service stayed unreachable, overloaded or failing through every retry.

    Nothing is known to have changed on the server; running the task again later is safe.
    """


class AmbiguousWrite(ApiError):
    """A write whose request may have reached the server but whose answer was lost.

    Raised for a POST, PUT or DELETE that met a 5xx, a read timeout or a dropped connection
    after the request was sent. The change may or may not have been applied, so the caller
    must read the resource back before writing again; blindly repeating a worklog create
    would log the same hours twice.
    """


def _rebuild(cls: type[ApiError], service, status, message, method, path) -> ApiError:
    return cls(service, status, message, method=method, path=path)


def vendor_message(service: str, response: requests.Response) -> str:
    """The error text the vendor put in ``response``, or the reason phrase if it gave none.

    Jira answers with ``errorMessages`` (a list) and ``errors`` (field name to message);
    Harvest with ``message``, or ``error`` and ``error_description`` from its OAuth layer.
    Anything else, such as a proxy's HTML page, is reduced to the reason phrase so no
    page content reaches a log.
    """
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        parts = _jira_parts(body) if service == "jira" else _harvest_parts(body)
        text = "; ".join(part for part in parts if part)
        if text:
            return _shorten(text)
    return response.reason or ""


def _jira_parts(body: dict[str, Any]) -> list[str]:
    parts = [str(message) for message in body.get("errorMessages") or []]
    errors = body.get("errors")
    if isinstance(errors, dict):
        parts.extend(f"{field}: {message}" for field, message in errors.items())
    return parts


def _harvest_parts(body: dict[str, Any]) -> list[str]:
    parts = [str(body[key]) for key in ("message", "error_description") if body.get(key)]
    if not parts and body.get("error"):
        parts.append(str(body["error"]))
    return parts


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) <= MAX_MESSAGE_CHARS:
        return text
    return text[: MAX_MESSAGE_CHARS - 3] + "..."


def error_for_response(
    service: str, response: requests.Response, *, method: str, path: str, ambiguous: bool
) -> ApiError:
    """The error that a failed ``response`` stands for.

    :param ambiguous: True when the request was a write that the server may have applied.
    """
    status = response.status_code
    message = vendor_message(service, response)
    retry_after = response.headers.get("Retry-After")
    if status == 429 and retry_after:
        message = f"{message} (Retry-After: {retry_after})".strip()
    if status >= 500 and ambiguous:
        cls: type[ApiError] = AmbiguousWrite
    elif status >= 500 or status == 429:
        cls = TransientApiError
    else:
        cls = ApiError
    return cls(service, status, message, method=method, path=path)
