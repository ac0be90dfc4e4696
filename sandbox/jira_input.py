"""What the Jira sandbox accepts: request bodies and query parameters, checked as Jira does.

Jira answers a bad worklog with 400 and its error shape, naming the field in ``errors``
(``timeLogged`` for the time spent, ``started``, ``newEstimate``, ``adjustmentAmount``) and
adding "Worklog must not be null." to ``errorMessages``; a body it cannot deserialise gets
one generic message. The texts below are Jira's where public material shows them.
"""

from __future__ import annotations

import json
from typing import Any

from sandbox.jira_format import format_jira_datetime, parse_duration, parse_jira_datetime
from sandbox.jira_store import Adjustment

NOT_NULL = "Worklog must not be null."
BAD_PAYLOAD = "Invalid request payload. Refer to the REST API documentation and try again."
NO_TIME = "You must indicate the time spent working."
BAD_TIME = "Invalid time duration entered."
BOTH_TIMES = "Provide either timeSpent or timeSpentSeconds, not both."
NO_STARTED = "You must specify a date on which the work occurred."
BAD_STARTED = (
    "Invalid date format. Please enter the date in the format \"yyyy-MM-dd'T'HH:mm:ss.SSSZ\"."
)
BAD_ADF = "Comment body is not valid!"
NO_NEW_ESTIMATE = "You must supply a valid new estimate."
BAD_NEW_ESTIMATE = "Invalid new estimate entered."
NO_AMOUNT = "You must supply a valid amount of time to adjust the estimate by."
BAD_AMOUNT = "Invalid time entered for adjusting the estimate."
MIN_SECONDS = 60

_MODES = {
    "create": {"auto", "leave", "new", "manual"},
    "update": {"auto", "leave", "new"},
    "delete": {"auto", "leave", "new", "manual"},
}
_MANUAL_PARAM = {"create": ("reduceBy", 1), "delete": ("increaseBy", -1)}


class JiraError(Exception):
    """An answer in Jira's error shape: ``{"errorMessages": [...], "errors": {...}}``."""

    def __init__(self, status: int, messages: list[str] | None = None, errors=None):
        super().__init__(status, messages)
        self.status = status
        self.messages = list(messages or [])
        self.errors = dict(errors or {})

    def body(self) -> dict[str, Any]:
        return {"errorMessages": self.messages, "errors": self.errors}


def read_json(raw: bytes) -> Any:
    try:
        return json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError) as exc:
        raise JiraError(400, [BAD_PAYLOAD]) from exc


def int_param(query, name: str, default: int | None) -> int | None:
    """An integer query parameter; Jira answers 404 when one is not numeric."""
    text = query.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise JiraError(404, [f"Parameter '{name}' must be a number."]) from exc


def expands(query, what: str) -> bool:
    return what in {e.strip() for e in (query.get("expand") or "").split(",")}


def parse_worklog_body(
    body: Any, version: str, creating: bool
) -> tuple[dict[str, Any], dict[str, str]]:
    """The worklog fields in ``body`` (state names) and the field errors found."""
    if not isinstance(body, dict):
        raise JiraError(400, [BAD_PAYLOAD])
    record: dict[str, Any] = {}
    errors: dict[str, str] = {}
    _take_comment(body, version, record, errors)
    _take_started(body, creating, record, errors)
    _take_time_spent(body, creating, record, errors)
    if body.get("properties") is not None:
        record["properties"] = _properties(body["properties"])
    if body.get("visibility") is not None:
        record["visibility"] = _visibility(body["visibility"])
    return record, errors


def _take_comment(body, version: str, record: dict, errors: dict) -> None:
    if "comment" not in body:
        return
    comment = body["comment"]
    if comment is None:
        record["comment"] = None
    elif version == "2":
        if not isinstance(comment, str):
            raise JiraError(400, [BAD_PAYLOAD])
        _take_text(comment, comment, record, errors)
    elif _is_adf_document(comment):
        _take_text(comment, "".join(_adf_texts(comment)), record, errors)
    else:
        errors["comment"] = BAD_ADF


# Jira refuses a text field longer than this many characters (counted as UTF-16 units).
COMMENT_LIMIT = 32_767
TOO_LONG = "The entered text is too long. It exceeds the allowed limit of 32,767 characters."


def _take_text(comment: Any, text: str, record: dict, errors: dict) -> None:
    if len(text.encode("utf-16-le")) // 2 > COMMENT_LIMIT:
        errors["comment"] = TOO_LONG
    else:
        record["comment"] = comment


def _adf_texts(node: Any) -> list[str]:
    if isinstance(node, dict):
        own = [node["text"]] if isinstance(node.get("text"), str) else []
        return own + [t for child in node.get("content") or [] for t in _adf_texts(child)]
    return []


def _is_adf_document(node: Any) -> bool:
    return (
        isinstance(node, dict)
        and node.get("type") == "doc"
        and node.get("version") == 1
        and isinstance(node.get("content"), list)
    )


def _take_started(body, creating: bool, record: dict, errors: dict) -> None:
    started = body.get("started")
    if started is None:
        if creating:
            errors["started"] = NO_STARTED
        return
    moment = parse_jira_datetime(started)
    if moment is None:
        errors["started"] = BAD_STARTED
    else:
        record["started"] = format_jira_datetime(moment, "UTC")


def _take_time_spent(body, creating: bool, record: dict, errors: dict) -> None:
    text, seconds = body.get("timeSpent"), body.get("timeSpentSeconds")
    if text is not None and seconds is not None:
        errors["timeLogged"] = BOTH_TIMES
        return
    if text is None and seconds is None:
        if creating:
            errors["timeLogged"] = NO_TIME
        return
    if text is not None:
        if not isinstance(text, str):
            raise JiraError(400, [BAD_PAYLOAD])
        seconds = parse_duration(text)
        if seconds is None:
            errors["timeLogged"] = BAD_TIME
            return
    else:
        seconds = _whole_number(seconds)
    if seconds < MIN_SECONDS:
        errors["timeLogged"] = NO_TIME
        return
    record["time_spent_seconds"] = seconds


def _whole_number(value: Any) -> int:
    """A JSON number (or numeric string) as Jackson reads it into a Java long."""
    if isinstance(value, bool):
        raise JiraError(400, [BAD_PAYLOAD])
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise JiraError(400, [BAD_PAYLOAD])


def _properties(items: Any) -> dict[str, Any]:
    if not isinstance(items, list):
        raise JiraError(400, [BAD_PAYLOAD])
    found: dict[str, Any] = {}
    for item in items:
        if not isinstance(item, dict) or not isinstance(item.get("key"), str):
            raise JiraError(400, [BAD_PAYLOAD])
        found[item["key"]] = item.get("value")
    return found


def _visibility(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict) or value.get("type") not in ("group", "role"):
        raise JiraError(400, [BAD_PAYLOAD])
    return value


def parse_adjustment(query, operation: str) -> tuple[Adjustment, dict[str, str]]:
    """``adjustEstimate`` and its companion parameter for a create, update or delete."""
    mode = (query.get("adjustEstimate") or "auto").lower()
    if mode not in _MODES[operation]:
        message = f"Value '{query.get('adjustEstimate')}' is not valid for adjustEstimate"
        raise JiraError(400, [message])
    if mode == "new":
        seconds, error = _estimate(query.get("newEstimate"), NO_NEW_ESTIMATE, BAD_NEW_ESTIMATE)
        errors = {"newEstimate": error} if error else {}
        return Adjustment("new", new_estimate=seconds), errors
    if mode == "manual":
        name, sign = _MANUAL_PARAM[operation]
        seconds, error = _estimate(query.get(name), NO_AMOUNT, BAD_AMOUNT)
        errors = {"adjustmentAmount": error} if error else {}
        return Adjustment("manual", manual_change=sign * (seconds or 0)), errors
    return Adjustment(mode), {}


def _estimate(text: str | None, missing: str, invalid: str) -> tuple[int | None, str | None]:
    if text is None or not text.strip():
        return None, missing
    seconds = parse_duration(text)
    return (seconds, None) if seconds is not None else (None, invalid)


def parse_ids(body: Any) -> list[int]:
    """The ``ids`` of a WorklogIdsRequestBean, at most 1000 and at least one."""
    if not isinstance(body, dict) or not isinstance(body.get("ids"), list):
        raise JiraError(400, [BAD_PAYLOAD])
    ids = [_whole_number(i) for i in body["ids"]]
    if not ids:
        raise JiraError(400, ["The request must contain at least one worklog id."])
    if len(ids) > 1000:
        raise JiraError(400, ["The number of worklog ids must not exceed 1000."])
    return list(dict.fromkeys(ids))
