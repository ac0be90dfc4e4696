"""Reading the fields of a time entry request body the way Harvest validates them.

Each reader raises a 422 ``HarvestError`` naming the field, as Harvest answers a body it
cannot process. Numbers and ids may come as JSON numbers or as digit strings, because
Harvest also takes form data, where everything is a string.
"""

from __future__ import annotations

import math
import re
from datetime import date
from typing import Any

from sandbox.harvest_store import HarvestError

_TIME = re.compile(r"^\s*(\d{1,2})(?::(\d{2}))?\s*([ap]m)?\s*$", re.IGNORECASE)
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
ICON_URL = "https://{host}/favicon.ico"


def given(body: dict[str, Any], key: str) -> bool:
    """A JSON null counts as not given, as it does for Harvest's optional fields."""
    return body.get(key) is not None


def positive_int(body: dict[str, Any], key: str) -> int:
    value = body.get(key)
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise HarvestError(422, f"{key} must be a positive integer")
    return value


def iso_date(body: dict[str, Any], key: str) -> str:
    try:
        return date.fromisoformat(body.get(key)).isoformat()
    except (TypeError, ValueError):
        raise HarvestError(422, f"{key} must be an ISO 8601 date") from None


def hours_value(body: dict[str, Any]) -> float:
    """Decimal hours; one entry holds at most a day."""
    value = body.get("hours")
    try:
        hours = math.nan if isinstance(value, bool) else float(value)
    except (TypeError, ValueError):
        hours = math.nan
    if not 0 <= hours <= 24:
        raise HarvestError(422, "Hours must be a number from 0 to 24")
    return hours


def notes_value(body: dict[str, Any]) -> str | None:
    notes = body.get("notes")
    if notes is not None and not isinstance(notes, str):
        raise HarvestError(422, "notes must be a string")
    return notes


def reference_value(raw: Any) -> dict[str, Any]:
    """The stored external reference; ``service`` is the host of the permalink.

    Harvest's Jira integration sets ``service`` to the Jira site's host, so a client that
    keys on it can be tested with references written through the API.
    """
    if not isinstance(raw, dict):
        raise HarvestError(422, "external_reference must be an object")
    ref = {k: None if raw.get(k) is None else str(raw[k]) for k in ("id", "group_id")}
    ref["account_id"] = None if raw.get("account_id") is None else str(raw["account_id"])
    ref["permalink"] = None if raw.get("permalink") is None else str(raw["permalink"])
    host = _SCHEME.sub("", ref["permalink"] or "").split("/", 1)[0] or None
    ref["service"] = host
    ref["service_icon_url"] = ICON_URL.format(host=host) if host else None
    return ref


def time_of_day(body: dict[str, Any], key: str) -> tuple[int, int]:
    """A time as Harvest takes it ("8:00am", "2:59pm", "14:59") as (hour, minute)."""
    match = _TIME.match(str(body.get(key)))
    if not match:
        raise HarvestError(422, f"{key} must look like 8:00am or 14:59")
    hour, minute, half = int(match[1]), int(match[2] or 0), (match[3] or "").lower()
    if half and not 1 <= hour <= 12:
        raise HarvestError(422, f"{key} has an hour out of range")
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    if hour > 23 or minute > 59:
        raise HarvestError(422, f"{key} is not a time of day")
    return hour, minute


def span_hours(body: dict[str, Any]) -> float:
    """Hours from ``started_time`` to ``ended_time`` on the same day."""
    start_hour, start_minute = time_of_day(body, "started_time")
    end_hour, end_minute = time_of_day(body, "ended_time")
    minutes = (end_hour * 60 + end_minute) - (start_hour * 60 + start_minute)
    if minutes < 0:
        raise HarvestError(422, "Ended time must be after started time")
    return minutes / 60


def format_time(hour_minute: tuple[int, int], clock: str) -> str:
    """A time of day in the company's clock: "2:05pm" on 12h, "14:05" on 24h."""
    hour, minute = hour_minute
    if clock == "24h":
        return f"{hour:02d}:{minute:02d}"
    return f"{hour % 12 or 12}:{minute:02d}{'am' if hour < 12 else 'pm'}"
