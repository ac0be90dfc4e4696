"""Jira's text formats: durations such as ``1d 2h``, and ``yyyy-MM-dd'T'HH:mm:ss.SSSZ`` dates.

Durations use Jira's default time tracking settings (8 hour days, 5 day weeks, minutes as
the unit of a bare number). Jira prints a duration in whole minutes, dropping seconds.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MINUTE = 60
HOUR = 60 * MINUTE
DAY = 8 * HOUR
WEEK = 5 * DAY
UNITS = {"w": WEEK, "d": DAY, "h": HOUR, "m": MINUTE}

_NUMBER = r"\d+(?:\.\d+)?"
_PART = re.compile(rf"({_NUMBER})\s*([wdhm])", re.IGNORECASE)
_DURATION = re.compile(rf"^\s*(?:{_NUMBER}\s*[wdhm]\s*)+$", re.IGNORECASE)
_BARE_MINUTES = re.compile(rf"^\s*({_NUMBER})\s*$")

# Jira parses ``started`` with the Java pattern yyyy-MM-dd'T'HH:mm:ss.SSSZ, whose zone is
# RFC 822 style: +0000, never +00:00 or Z.
_JIRA_DATETIME = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.(\d{3})([+-])(\d{2})(\d{2})$"
)


def parse_duration(text: str) -> int | None:
    """Seconds in a Jira duration (``1h 30m``, ``2d``, ``90``), or None when it is not one."""
    if not isinstance(text, str):
        return None
    bare = _BARE_MINUTES.match(text)
    if bare:
        return round(float(bare.group(1)) * MINUTE)
    if not _DURATION.match(text):
        return None
    total = sum(float(n) * UNITS[u.lower()] for n, u in _PART.findall(text))
    return round(total)


def format_duration(seconds: int) -> str:
    """Jira's pretty form of a duration: ``1w 2d 3h 20m``; ``0m`` under a minute."""
    minutes = max(0, int(seconds)) // MINUTE
    parts = []
    for unit, size in (("w", WEEK), ("d", DAY), ("h", HOUR), ("m", MINUTE)):
        count, minutes = divmod(minutes, size // MINUTE)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts) or "0m"


def parse_jira_datetime(text: object) -> datetime | None:
    """The instant in a ``2026-11-03T09:00:00.000+0000`` string, or None if malformed."""
    if not isinstance(text, str):
        return None
    match = _JIRA_DATETIME.match(text)
    if not match:
        return None
    year, month, day, hour, minute, second, millis, sign, off_h, off_m = match.groups()
    offset = timedelta(hours=int(off_h), minutes=int(off_m))
    if offset >= timedelta(hours=24):
        return None
    tz = timezone(-offset if sign == "-" else offset)
    try:
        return datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            int(millis) * 1000,
            tzinfo=tz,
        )
    except ValueError:
        return None


def format_jira_datetime(moment: datetime, zone: str = "UTC") -> str:
    """``moment`` as Jira prints it, in the time zone of the user who asked."""
    local = moment.astimezone(time_zone(zone))
    millis = local.microsecond // 1000
    return local.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis:03d}" + local.strftime("%z")


def time_zone(name: str):
    """The zone called ``name``; UTC when the name is unknown."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def to_millis(moment: datetime) -> int:
    return int(round(moment.timestamp() * 1000))


def from_millis(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, tz=UTC)


def reformat(text: str, zone: str) -> str:
    """A stored ``+0000`` datetime string shown in another zone (unchanged if unparsable)."""
    moment = parse_jira_datetime(text)
    return format_jira_datetime(moment, zone) if moment else text


def millis_of(text: str) -> int | None:
    moment = parse_jira_datetime(text)
    return to_millis(moment) if moment else None
