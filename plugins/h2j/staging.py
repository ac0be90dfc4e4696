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
    quoted,
    worklog_seconds,
)
from h2j.issues import IssueLookupFailed, IssueNotFound, IssueResolver
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
# Staging and the ledger key on PostgreSQL bigint; a larger id cannot be stored or trusted.
MAX_ENTRY_ID = 2**63 - 1


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
    except (IssueNotFound, IssueLookupFailed) as exc:
        row.update(status="bad", error=f"entry {entry_id}: {exc}")
    return tuple(row.values())


def usable_entries(
    page: Iterable[Any], seen: set[int], counts: StageCounts, person: Person
) -> Iterator[Mapping[str, Any]]:
    """The entries of a page h2j can key on: a valid id, this person's, each id once per run.

    Anything else is left out and described in ``counts.unusable``. Harvest's offset
    paging can show an entry on two pages when entries change while a person is paged
    through; the first copy is kept, and the next run reads the entry afresh.
    """
    for entry in page:
        problem = unusable_problem(entry, person)
        if problem is None and entry["id"] in seen:
            counts.duplicates += 1
            problem = f"entry {entry['id']} of {person.name} came twice; the first copy is kept"
        if problem is not None:
            counts.unusable.append(problem)
            log.warning("Skipping an entry from Harvest: %s", problem)
            continue
        seen.add(entry["id"])
        yield entry


def unusable_problem(entry: Any, person: Person) -> str | None:
    """Why h2j cannot stage ``entry`` for ``person`` at all, or None when it can."""
    if not isinstance(entry, Mapping):
        return f"an item of {person.name}'s entries is not an object: {quoted(entry)}"
    entry_id = entry.get("id")
    if isinstance(entry_id, bool) or not isinstance(entry_id, int):
        return f"an entry of {person.name} has no usable id: {quoted(entry_id)}"
    if not 0 < entry_id <= MAX_ENTRY_ID:
        return f"an entry of {person.name} has an id out of range: {quoted(entry_id)}"
    owner = entry.get("user")
    owner_id = owner.get("id") if isinstance(owner, Mapping) else None
    if owner_id is not None and owner_id != person.user_id:
        return (
            f"entry {entry_id} came among {person.name}'s entries but belongs to user "
            f"{quoted(owner_id)}"
        )
    return None


def write_staging(conn: psycopg.Connection, rows: Iterable[tuple]) -> int:
    """COPY rows into the staging table inside the caller's transaction."""
    written = 0
    with conn.cursor() as cur, cur.copy(sql("staging_copy")) as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written
