"""What ``make demo`` decides and how it words it, apart from anything that does I/O.

Choosing which timesheet entries to correct, reading the report out of a run's log,
judging whether a run failed only where it should, and laying out the hours tables are
pure functions over plain data, so ``tests/test_demo.py`` checks them without servers.
The types the other demo modules pass around (``Issue``, ``Changes``, ``DemoError``)
live here too, so that none of those modules has to import another for them.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from sandbox import sample

DEMO_KEY = sample.DEMO_ISSUE_KEY
HOUR = 3600
EDIT_MINUTES = (60, -30, 45)
KEY_LIKE = re.compile(r"\b[A-Z][A-Z0-9_]*-\d+\b", re.IGNORECASE)
CLOCK = re.compile(r"^(\d{1,2}):(\d{2})\s*([ap]m)?$", re.IGNORECASE)
REPORT_HEADER = re.compile(r"^\s*user\s+created\s+updated\s+moved\s+deleted\b")
REPORT_HEADLINE = re.compile(r"^(Dry run: would have )?\d+ users: ")
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T")
Window = tuple[dt.date, dt.date]


class DemoError(RuntimeError):
    """Something the demo cannot carry on after; the message says where to look."""


@dataclass(frozen=True)
class Issue:
    """One Jira issue's time tracking, in seconds (None where Jira shows no figure)."""

    key: str
    summary: str
    status: str
    closed: bool
    estimate: int | None
    spent: int
    remaining: int | None


@dataclass
class Changes:
    """The timesheet corrections the demo makes in Harvest before the second run."""

    edits: list[tuple[dict, str]] = field(default_factory=list)
    deletes: list[dict] = field(default_factory=list)
    repoint: tuple[dict, str, str] | None = None


def month_window(month: str) -> Window:
    """First and last day of ``YYYY-MM``: the window both runs sync."""
    days = sample.month_days(month)
    return days[0], days[-1]


def first_tuesday(first_day: dt.date) -> dt.date:
    return first_day + dt.timedelta(days=(1 - first_day.weekday()) % 7)


def hours_text(seconds: int | None) -> str:
    """``36000`` as ``10 h``, ``9000`` as ``2.5 h``; ``-`` where Jira has no figure."""
    if seconds is None:
        return "-"
    return f"{seconds / HOUR:.2f}".rstrip("0").rstrip(".") + " h"


def clock_minutes(text: str) -> int:
    """Minutes after midnight of a Harvest time of day (``9:15am`` or ``14:59``)."""
    found = CLOCK.match(text.strip())
    if not found:
        raise ValueError(f"not a Harvest time of day: {text!r}")
    hour, minute, half = int(found[1]), int(found[2]), (found[3] or "").lower()
    if half:
        hour = hour % 12 + (12 if half == "pm" else 0)
    return hour * 60 + minute


def clock_text(minutes: int) -> str:
    hour, minute = divmod(minutes, 60)
    return f"{hour % 12 or 12}:{minute:02d}{'am' if hour < 12 else 'pm'}"


def stretchable(entry: dict) -> bool:
    """A stopped start/end entry that can lose 30 minutes or gain an hour the same day.

    The sample account tracks time by start and end, so Harvest takes new hours as a new
    ``ended_time``; duration-only entries there cannot be given hours.
    """
    if not (entry.get("started_time") and entry.get("ended_time")):
        return False
    start, end = clock_minutes(entry["started_time"]), clock_minutes(entry["ended_time"])
    return end - start > 45 and end <= 22 * 60


def shifted_end(entry: dict, minutes: int) -> str:
    return clock_text(clock_minutes(entry["ended_time"]) + minutes)


def single_key(entry: dict, key: str) -> bool:
    """True when the notes name ``key`` and nothing else that looks like an issue key."""
    found = KEY_LIKE.findall(entry.get("notes") or "")
    return not entry.get("external_reference") and [k.upper() for k in found] == [key.upper()]


def repointed_notes(notes: str, old_key: str, new_key: str) -> str:
    pattern = re.compile(rf"\b{re.escape(old_key)}\b", re.IGNORECASE)
    return pattern.sub(new_key, notes, count=1)


def _take(
    pool: list[dict], count: int, issue_of: dict[int, str], used: set[str], fits: Callable
) -> list[dict]:
    """Up to ``count`` entries that fit, each on an issue no other change touches."""
    chosen = []
    for entry in pool:
        issue = issue_of[entry["id"]]
        if len(chosen) < count and issue not in used and fits(entry):
            chosen.append(entry)
            used.add(issue)
    return chosen


def choose_changes(
    entries: list[dict], issue_of: dict[int, str], keep: int, prefer: frozenset[str] = frozenset()
) -> Changes:
    """Pick synced, editable entries on distinct issues; ``keep`` (the OPS-1 entry) is spared.

    ``issue_of`` maps the id of every entry that has a worklog to its issue key. Distinct
    issues make every correction its own line in the before/after table, and issues in
    ``prefer`` (those with time left) come first because Jira's remaining estimate visibly
    moves on them; on an overspent issue it stays at zero when hours grow.
    """
    pool = sorted(
        (e for e in entries if _editable(e, issue_of, keep)),
        key=lambda e: (issue_of[e["id"]] not in prefer, e["id"]),
    )
    targets = sorted(set(issue_of.values()) - {DEMO_KEY}, key=lambda k: (k not in prefer, k))
    used = set(targets[:1])
    edits = _take(pool, len(EDIT_MINUTES), issue_of, used, stretchable)
    changes = Changes(
        edits=[(e, shifted_end(e, m)) for e, m in zip(edits, EDIT_MINUTES, strict=False)],
        deletes=_take(pool, 2, issue_of, used, lambda e: True),
    )
    mover = _take(pool, 1, issue_of, used, lambda e: single_key(e, issue_of[e["id"]]))
    if mover:
        old = issue_of[mover[0]["id"]]
        notes = repointed_notes(mover[0]["notes"], old, targets[0])
        changes.repoint = (mover[0], notes, targets[0])
    return changes


def change_notes(changes: Changes, issue_of: dict[int, str]) -> dict[str, str]:
    """Why each issue's time should move, keyed by issue key, for the before/after lines."""
    notes = {issue_of[entry["id"]]: "an entry edited" for entry, _ in changes.edits}
    notes |= {issue_of[entry["id"]]: "an entry deleted" for entry in changes.deletes}
    if changes.repoint:
        entry, _, new_key = changes.repoint
        notes[issue_of[entry["id"]]] = f"an entry moved to {new_key}"
        notes[new_key] = f"an entry moved from {issue_of[entry['id']]}"
    notes[DEMO_KEY] = "the demo entry edited"
    return notes


def _editable(entry: dict, issue_of: dict[int, str], keep: int) -> bool:
    """Has a worklog, is not the demo entry, and Harvest would let a person change it."""
    return (
        entry["id"] in issue_of
        and entry["id"] != keep
        and issue_of[entry["id"]].upper() != DEMO_KEY
        and not entry.get("is_running")
        and not entry.get("is_locked")
    )


def report_block(log_text: str) -> list[str]:
    """The report table and headline the ``report`` task printed, or [] if it never did."""
    lines = log_text.splitlines()
    starts = [i for i, line in enumerate(lines) if REPORT_HEADER.match(line)]
    if not starts:
        return []
    block = []
    for line in lines[starts[-1] :]:
        if not LOG_LINE.match(line):
            block.append(line.rstrip())
        if REPORT_HEADLINE.match(line):
            return block
    return []


def judge_run(
    exit_code: int, failures: list[dict], issues: dict[str, Issue]
) -> tuple[bool, list[str]]:
    """Whether a run ended as the demo expects, and the lines that say so.

    ``failures`` are the ledger's failed rows with the person's name; ``issues`` holds
    Jira's view of their issues, which says whether each one is closed.
    """
    if not failures:
        if exit_code == 0:
            return True, ["The run succeeded: every entry that names an issue is in Jira."]
        return False, [f"The run failed (exit {exit_code}) though no entry failed; see its log."]
    keys = sorted({f["issue_key"] for f in failures})
    details = [line for key in keys for line in _failure_lines(key, failures, issues.get(key))]
    if all(_is_closed(issues.get(f["issue_key"])) for f in failures):
        noun = "a closed issue" if len(keys) == 1 else "closed issues"
        people = ", ".join(sorted({f["person"] for f in failures}))
        if exit_code != 0:
            verdict = [
                "Jira takes no worklogs on a closed issue, so the run is marked failed",
                f"for {people}; everyone else's worklogs went through.",
            ]
        else:
            verdict = [
                "An earlier run already reported these for the same reason, so this run",
                "lists them again but stays green; they sync once the issue reopens.",
            ]
        return True, [f"{len(failures)} entries on {noun} failed, as expected:", *details, *verdict]
    return False, [f"Unexpected: {len(failures)} entries failed (exit {exit_code}):", *details]


def _is_closed(issue: Issue | None) -> bool:
    return issue is not None and issue.closed


def _failure_lines(key: str, failures: list[dict], issue: Issue | None) -> list[str]:
    mine = [f for f in failures if f["issue_key"] == key]
    title = f'{key} "{issue.summary}" ({issue.status})' if issue else key
    entries = [
        f"    {f['person']}, {f['spent_date']}, Harvest entry #{f['entry_id']}" for f in mine
    ]
    return [f"  {title}", *entries, f"    Jira said: {mine[0]['last_error']}"]


def format_table(headers: list[str], rows: list[list[str]], right: set[int]) -> list[str]:
    """Fixed-width lines; columns in ``right`` are right-aligned (numbers)."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: list[str]) -> str:
        parts = [
            str(c).rjust(w) if i in right else str(c).ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return [line(headers), *(line(row) for row in rows)]


def issue_table(issues: list[Issue]) -> list[str]:
    rows = [
        [
            i.key,
            i.status,
            hours_text(i.estimate),
            hours_text(i.spent),
            hours_text(i.remaining),
            i.summary[:40],
        ]
        for i in sorted(issues, key=lambda i: _key_order(i.key))
    ]
    headers = ["issue", "status", "estimate", "spent", "remaining", "summary"]
    return format_table(headers, rows, right={2, 3, 4})


def _key_order(key: str) -> tuple[str, int]:
    project, _, number = key.partition("-")
    return project, int(number) if number.isdigit() else 0


def changed_issues(
    before: dict[str, Issue], after: dict[str, Issue], notes: dict[str, str]
) -> list[str]:
    """One line per issue whose spent or remaining time moved; the demo issue comes last."""
    lines = []
    for key in sorted(set(before) & set(after), key=_key_order):
        old, new = before[key], after[key]
        if (old.spent, old.remaining) == (new.spent, new.remaining):
            continue
        line = f"{key:<9} spent {hours_text(old.spent)} -> {hours_text(new.spent)}"
        if old.remaining is None and new.remaining is None:
            line += " (no estimate)"
        else:
            line += f", remaining {hours_text(old.remaining)} -> {hours_text(new.remaining)}"
        if key in notes:
            line += f"  ({notes[key]})"
        lines.append((key.upper() == DEMO_KEY, line))
    return [line for _, line in sorted(lines, key=lambda pair: pair[0])]


def demo_line(issue: Issue) -> str:
    return (
        f"{issue.key}: {hours_text(issue.estimate)} estimate, {hours_text(issue.spent)} spent, "
        f"{hours_text(issue.remaining)} remaining"
    )
