"""Extract one person's Harvest entries for a window into the staging table."""

from __future__ import annotations

import logging
from typing import Any

import psycopg

from h2j.errors import ApiError
from h2j.issues import IssueResolver
from h2j.sql import sql
from h2j.staging import (
    STATUS,
    Person,
    StageCounts,
    stage_entry,
    usable_entries,
    write_staging,
)
from h2j.window import Window

log = logging.getLogger(__name__)


def extract_user(
    *,
    conn: psycopg.Connection,
    harvest,
    resolver: IssueResolver,
    run_id: str,
    person: Person,
    window: Window,
) -> dict[str, Any]:
    """Replace this person's staging rows for the run with what Harvest holds now.

    Pages are streamed and copied one by one inside one transaction, so a failure half
    way leaves the previous rows (or none) and never a partial set that looks like
    deletions. The run's ``extracts`` row is written last, in the same transaction.

    :raises ApiError: Harvest or Jira failed this person as a whole (a page refused,
        unreadable or cut short); the message names the person.
    """
    try:
        counts = _stage_all(conn, harvest, resolver, run_id, person, window)
    except ApiError as exc:
        log.error("Extract of %s (user %s) failed: %s", person.name, person.user_id, exc)
        raise naming_person(exc, person) from exc

    summary = counts.as_dict()
    log.info(
        "Staged %s entries for %s (user %s), %s: %s linked, %s without an issue, "
        "%s running, %s bad, %s left out",
        counts.entries,
        person.name,
        person.user_id,
        window,
        summary["ok"],
        summary["no_issue"],
        summary["running"],
        summary["bad"],
        len(counts.unusable),
    )
    return summary


def _stage_all(
    conn: psycopg.Connection,
    harvest,
    resolver: IssueResolver,
    run_id: str,
    person: Person,
    window: Window,
) -> StageCounts:
    """Stage every page of the person's entries in one transaction; return the counts."""
    counts = StageCounts()
    seen: set[int] = set()
    params = {"run_id": run_id, "user_id": person.user_id}
    with conn.transaction():
        conn.execute(sql("extract_forget"), params)
        conn.execute(sql("staging_clear_user"), params)
        pages = harvest.iter_time_entry_pages(person.user_id, window.from_date, window.to_date)
        for page in pages:
            entries = list(usable_entries(page, seen, counts, person))
            resolver.prefetch(ref for ref in map(resolver.reference, entries) if ref)
            rows = [stage_entry(entry, person, resolver, run_id) for entry in entries]
            for row in rows:
                counts.statuses[row[STATUS]] += 1
            counts.entries += write_staging(conn, rows)
        conn.execute(
            sql("extract_record"),
            {**params, "user_name": person.name, "entries": counts.entries, **window.as_dict()},
        )
    return counts


def naming_person(exc: ApiError, person: Person) -> ApiError:
    """The same error, of the same class, with the person's name in front of its message."""
    return type(exc)(
        exc.service,
        exc.status,
        f"entries of {person.name} (user {person.user_id}): {exc.message}",
        method=exc.method,
        path=exc.path,
    )
