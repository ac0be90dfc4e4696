"""Turns one person's Harvest entries into staging rows: the worklog each entry should be.

Each entry is judged on its own: an entry Harvest sent in a shape h2j cannot trust becomes
a ``bad`` row that names the entry and the reason, and the others carry on.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import psycopg

from h2j.convert import (
    BadEntry,
    comment_hash,
    comment_text,
    entry_seconds,
    jira_started,
    parse_spent_date,
    parse_started_time,
    worklog_seconds,
)
from h2j.issues import IssueNotFound, IssueResolver
from h2j.sql import sql

log = logging.getLogger(__name__)

COLUMNS = (
    "run_id",
    "user_id",
    "entry_id",
    "spent_date",
    "issue_id",
    "issue_key",
    "seconds",
    "started",
    "comment",
    "comment_hash",
    "status",
    "error",
)
STATUS = COLUMNS.index("status")


@dataclass
class Person:
    """The Harvest user whose entries are staged, and how their worklogs are written."""

    user_id: int
    name: str
    zone: str
    named_in_comment: bool = True


@dataclass
class StageCounts:
    entries: int = 0
    statuses: Counter = field(default_factory=Counter)
    duplicates: int = 0
    unusable: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "entries": self.entries,
            **{status: self.statuses[status] for status in ("ok", "no_issue", "running", "bad")},
            "duplicates": self.duplicates,
            "unusable": self.unusable[:50],
        }


def stage_entry(
    entry: Mapping[str, Any], person: Person, resolver: IssueResolver, run_id: str
) -> tuple:
    """The staging row for one entry, in ``COLUMNS`` order."""
    entry_id = int(entry["id"])
    row = dict.fromkeys(COLUMNS)
    row.update(run_id=run_id, user_id=person.user_id, entry_id=entry_id)
    try:
        row["spent_date"] = parse_spent_date(entry_id, entry.get("spent_date"))
        if entry.get("is_running"):
            row["status"] = "running"
            return tuple(row.values())
        seconds = entry_seconds(entry_id, entry.get("hours"))
        ref = resolver.reference(entry)
        if ref is None:
            row["status"] = "no_issue"
            return tuple(row.values())
        issue = resolver.resolve(ref)
        zone_time = parse_started_time(entry.get("started_time"))
        notes = entry.get("notes") if isinstance(entry.get("notes"), str) else None
        text = comment_text(notes, person.name if person.named_in_comment else None)
        row.update(
            issue_id=issue.issue_id,
            issue_key=issue.key,
            seconds=worklog_seconds(seconds),
            started=jira_started(row["spent_date"], zone_time, person.zone),
            comment=text,
            comment_hash=comment_hash(text),
            status="ok",
        )
    except BadEntry as exc:
        row.update(status="bad", error=str(exc))
    except IssueNotFound as exc:
        row.update(status="bad", error=f"entry {entry_id}: {exc}")
    return tuple(row.values())


def usable_entries(
    page: Iterable[Any], seen: set[int], counts: StageCounts, person: Person
) -> Iterator[Mapping[str, Any]]:
    """The entries of a page that carry an id h2j can key on, each id once per run."""
    for entry in page:
        entry_id = entry.get("id") if isinstance(entry, Mapping) else None
        if isinstance(entry_id, bool) or not isinstance(entry_id, int) or entry_id <= 0:
            counts.unusable.append(
                f"an entry of {person.name} without a valid id: {str(entry_id)[:40]!r}"
            )
            log.warning("Skipping an entry of %s without a valid id", person.name)
            continue
        if entry_id in seen:
            counts.duplicates += 1
            log.warning(
                "Entry %s of %s came twice from Harvest; keeping the first copy",
                entry_id,
                person.name,
            )
            continue
        seen.add(entry_id)
        yield entry


def write_staging(conn: psycopg.Connection, rows: Iterable[tuple]) -> int:
    """COPY rows into the staging table inside the caller's transaction."""
    written = 0
    with conn.cursor() as cur, cur.copy(sql("staging_copy")) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written
