"""Reading Jira's datetimes (``2026-11-03T09:00:00.000-0500``)."""

from __future__ import annotations

import datetime as dt
from typing import Any

JIRA_TIME = "%Y-%m-%dT%H:%M:%S.%f%z"


def instant(text: Any) -> dt.datetime | None:
    """The moment a Jira datetime names, or None when it is missing or unreadable."""
    try:
        return dt.datetime.strptime(text, JIRA_TIME)
    except (TypeError, ValueError):
        return None


def millis(text: Any) -> int | None:
    """A Jira datetime as milliseconds since the epoch, the unit of Jira's change feeds."""
    moment = instant(text)
    if moment is None:
        return None
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(milliseconds=1)
