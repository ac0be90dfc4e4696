"""Turn the fields of a Harvest time entry into the fields of a Jira worklog.

Everything here is a pure function of its arguments, so the rules that decide what Jira
ends up holding (how hours become seconds, when a worklog starts, what its comment says)
are tested without a server. Jira Cloud's worklog API takes ``timeSpentSeconds``, a
``started`` timestamp with a colon-less UTC offset, and an Atlassian Document Format
``comment``; it rejects less than 60 seconds and text fields over 32,767 characters.
"""

from __future__ import annotations

import hashlib
import numbers
import re
import unicodedata
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

# Jira answers 400 to a worklog below one minute.
MIN_WORKLOG_SECONDS = 60
# One entry cannot hold more than a day; anything above is a data error, not work.
MAX_ENTRY_HOURS = Decimal(24)
# When Harvest tracks durations only there is no start time; Jira needs one.
DEFAULT_START = time(9, 0)
# Jira's default limit for text fields (jira.text.field.character.limit), which it
# counts in UTF-16 code units, as Java strings are.
JIRA_TEXT_LIMIT = 32_767
TRUNCATION_MARKER = " […truncated by h2j]"
# How much of an unusable value an error message quotes: enough to recognise it, short
# enough that a 100,000-character string does not travel on through XCom and the ledger.
QUOTE_LIMIT = 40

_SPENT_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_CLOCK = re.compile(
    r"(?P<hour>\d{1,2})(?::(?P<minute>\d{2}))?(?::(?P<second>\d{2}))?"
    r"\s*(?:(?P<half>[ap])\.?\s*m?\.?)?",
    re.IGNORECASE,
)
_LINE_BREAKS = re.compile(r"\r\n?|[\x85\u2028\u2029]")
_BLANK_LINES = re.compile(r"\n\s*\n")
_ZWJ = "\u200d"


class BadEntry(ValueError):
    """A Harvest time entry h2j cannot turn into a worklog; the message names it."""

    def __init__(self, entry_id: object, problem: str) -> None:
        super().__init__(f"entry {entry_id}: {problem}")
        self.entry_id = entry_id
        self.problem = problem


def quoted(value: object) -> str:
    """``repr(value)`` for an error message, cut to QUOTE_LIMIT characters."""
    text = repr(value)
    if len(text) <= QUOTE_LIMIT:
        return text
    return f"{text[: QUOTE_LIMIT - 1]}… ({len(str(value))} characters)"


def entry_seconds(entry_id: object, hours: object) -> int:
    """Harvest's decimal ``hours`` as whole seconds, rounded half up.

    The float is read through its shortest repr, so 2.01 h is exactly 7236 s rather than
    the 7235.999... a binary multiply gives; truncating would lose a second per entry and
    then show up as a change on every run.
    """
    value = _hours_decimal(entry_id, hours)
    if value < 0:
        raise BadEntry(entry_id, f"hours is {quoted(hours)}, below zero")
    if value > MAX_ENTRY_HOURS:
        limit = f"more than {MAX_ENTRY_HOURS} hours in one entry"
        raise BadEntry(entry_id, f"hours is {quoted(hours)}, {limit}")
    return int((value * 3600).to_integral_value(rounding=ROUND_HALF_UP))


def _hours_decimal(entry_id: object, hours: object) -> Decimal:
    """``hours`` as a finite Decimal, or BadEntry saying what it was instead."""
    if hours is None:
        raise BadEntry(entry_id, "hours is missing")
    if isinstance(hours, bool) or not isinstance(hours, numbers.Real | Decimal):
        raise BadEntry(entry_id, f"hours is {quoted(hours)}, not a number")
    try:
        if isinstance(hours, Decimal):
            value = hours
        elif isinstance(hours, numbers.Integral):
            value = Decimal(int(hours))
        else:
            value = Decimal(repr(float(hours)))
    except (InvalidOperation, OverflowError, ValueError, TypeError) as err:
        raise BadEntry(entry_id, f"hours is {quoted(hours)}, not a number") from err
    if not value.is_finite():
        raise BadEntry(entry_id, f"hours is {quoted(hours)}, not a finite number")
    return value


def worklog_seconds(seconds: int) -> int | None:
    """The ``timeSpentSeconds`` to log: ``None`` for no time, at least Jira's minimum."""
    if seconds < 0:
        raise ValueError(f"seconds must not be negative, got {seconds}")
    if seconds == 0:
        return None
    return max(seconds, MIN_WORKLOG_SECONDS)


def same_minutes(a: int | None, b: int | None) -> bool:
    """Whether two durations agree to the minute (half a minute rounds up).

    Jira shows and sums worklogs in minutes, and float noise in Harvest's hours can move
    the seconds by one; comparing seconds would then update the same worklog on every
    run. ``None`` (no worklog) equals only ``None``.
    """
    if a is None or b is None:
        return a is None and b is None
    return _whole_minutes(a) == _whole_minutes(b)


def _whole_minutes(seconds: int) -> int:
    return (int(seconds) + 30) // 60


def parse_spent_date(entry_id: object, value: object) -> date:
    """Harvest's ``spent_date`` ("2026-11-03") as a date; BadEntry when it is not one."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str) and _SPENT_DATE.fullmatch(value.strip()):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    if value is None:
        raise BadEntry(entry_id, "spent_date is missing")
    raise BadEntry(entry_id, f"spent_date is {quoted(value)}, not a YYYY-MM-DD date")


def parse_started_time(value: str | None) -> time | None:
    """Harvest's ``started_time`` as a time of day, or ``None`` when there is none.

    Harvest writes it in the account's clock format: "8:00am", "12:30pm", "8:00 AM" on a
    12-hour clock, "13:30" or "08:05" on a 24-hour one. Anything unreadable gives
    ``None`` (the caller then starts the worklog at 09:00) instead of failing the entry.
    """
    if isinstance(value, time):
        return value.replace(tzinfo=None)
    if not isinstance(value, str):
        return None
    match = _CLOCK.fullmatch(value.strip())
    if match is None:
        return None
    hour = _clock_hour(int(match["hour"]), match["half"], match["minute"] is not None)
    minute = int(match["minute"] or 0)
    second = int(match["second"] or 0)
    if hour is None or minute > 59 or second > 59:
        return None
    return time(hour, minute, second)


def _clock_hour(hour: int, half: str | None, has_minutes: bool) -> int | None:
    """The 24-hour hour for a clock reading, or ``None`` when it is impossible."""
    if half is None:
        return hour if has_minutes and hour <= 23 else None
    if not 1 <= hour <= 12:
        return None
    return hour % 12 + (12 if half.lower() == "p" else 0)


def jira_started(spent_date: date, started: time | None, zone: str) -> str:
    """The worklog's ``started``: local wall time on ``spent_date`` in IANA ``zone``.

    The result looks like ``2026-11-03T09:00:00.000-0600``: milliseconds, and the offset
    in force on that date and time, without a colon, as Jira requires. ``started`` of
    ``None`` means 09:00. A wall time that does not exist (the hour skipped when clocks
    go forward) moves forward by the length of the gap, so 02:30 becomes 03:30; a wall
    time that happens twice (clocks going back) is taken at its first occurrence.
    """
    wall = datetime.combine(spent_date, (started or DEFAULT_START).replace(tzinfo=None))
    local = wall.replace(tzinfo=_zone_info(zone), fold=0)
    # A round trip through UTC settles gaps: fold=0 reads a skipped time with the offset
    # from before the change, which lands on the matching instant after it.
    local = local.astimezone(UTC).astimezone(local.tzinfo)
    millis = local.microsecond // 1000
    return f"{local:%Y-%m-%dT%H:%M:%S}.{millis:03d}{_offset_text(local.utcoffset())}"


def _zone_info(zone: str) -> ZoneInfo:
    try:
        return ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError, TypeError, OSError) as err:
        raise ValueError(f"{zone!r} is not an IANA time zone zoneinfo knows") from err


def _offset_text(offset: timedelta | None) -> str:
    """``+HHMM`` for a UTC offset; historic offsets with seconds round to the minute."""
    minutes = round((offset or timedelta()).total_seconds() / 60)
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}{minutes:02d}"


def comment_text(notes: str | None, person_name: str | None) -> str:
    """The worklog comment: Harvest's notes, cleaned and cut to fit Jira.

    Control characters other than newline and tab are dropped (line breaks of any kind
    become ``\\n``) and the text is trimmed. When ``person_name`` is given (worklogs are
    written by a service account, and Jira Cloud makes the caller the author) the comment
    starts with "Name: " so readers see who did the work. Text over Jira's limit is cut
    on a character boundary and ends with TRUNCATION_MARKER.
    """
    body = _clean(notes).strip()
    name = " ".join(_clean(person_name).split())
    if name:
        body = f"{name}: {body}" if body else name
    return _fit(body, JIRA_TEXT_LIMIT)


def _clean(text: object) -> str:
    """``text`` without control characters or lone surrogates, with ``\\n`` line breaks."""
    if text is None:
        return ""
    unified = _LINE_BREAKS.sub("\n", text if isinstance(text, str) else str(text))
    return "".join(ch for ch in unified if ch in "\n\t" or not _is_control(ch))


def _is_control(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cs")


def utf16_units(text: str) -> int:
    """The length Jira (Java) sees: characters outside the BMP, such as emoji, count 2."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _fit(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` UTF-16 units, else a cut copy with the marker."""
    if utf16_units(text) <= limit:
        return text
    budget = limit - utf16_units(TRUNCATION_MARKER)
    cut = _cut_index(text, budget)
    while cut > 0 and _splits_cluster(text, cut):
        cut -= 1
    return text[:cut].rstrip() + TRUNCATION_MARKER


def _cut_index(text: str, budget: int) -> int:
    """The longest prefix length of ``text`` that fits in ``budget`` UTF-16 units."""
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > budget:
            return index
    return len(text)


def _splits_cluster(text: str, cut: int) -> bool:
    """Whether cutting before ``text[cut]`` would break an emoji or an accented letter."""
    after, before = text[cut], text[cut - 1]
    if before == _ZWJ or _extends_previous(after):
        return True
    return _is_regional_indicator(after) and _regional_run(text, cut) % 2 == 1


def _extends_previous(ch: str) -> bool:
    """Combining marks, joiners, variation selectors, skin tones, tags and keycaps."""
    code = ord(ch)
    return (
        ch == _ZWJ
        or unicodedata.category(ch) in ("Mn", "Mc", "Me")
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0020 <= code <= 0xE007F
    )


def _is_regional_indicator(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _regional_run(text: str, end: int) -> int:
    """How many regional indicators (flag halves) directly precede ``text[end]``."""
    count = 0
    while end - count > 0 and _is_regional_indicator(text[end - count - 1]):
        count += 1
    return count


def adf_document(text: str) -> dict:
    """``text`` as an Atlassian Document Format document for a worklog comment.

    Blocks separated by blank lines become paragraphs; single line breaks inside a
    block become ``hardBreak`` nodes. ADF forbids empty text nodes, so blank lines are
    dropped, and empty text gives the empty document Atlassian's own editor produces
    (``content: []``).
    """
    paragraphs = []
    for block in _BLANK_LINES.split(text or ""):
        lines = [line for line in block.split("\n") if line.strip()]
        if lines:
            paragraphs.append({"type": "paragraph", "content": _inline_nodes(lines)})
    return {"type": "doc", "version": 1, "content": paragraphs}


def _inline_nodes(lines: list[str]) -> list[dict]:
    nodes: list[dict] = []
    for line in lines:
        if nodes:
            nodes.append({"type": "hardBreak"})
        nodes.append({"type": "text", "text": line})
    return nodes


def comment_hash(text: str) -> str:
    """SHA-256 hex digest of the comment, so the ledger can tell an edited note."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
