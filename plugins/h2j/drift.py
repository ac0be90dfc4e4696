"""Notice worklogs that people changed or deleted by hand in Jira since the last run.

Jira's change feeds (``worklog/updated`` and ``worklog/deleted``) list every worklog change
on the site since a moment, a thousand per request, so reading them costs a few requests
a day however many issues there are. Only the ids the ledger knows are then fetched with
``worklog/list``, and not those whose newest change is h2j's own write (the ledger keeps
the ``updated`` time of Jira's answer to each write). A drifted ledger row is planned again
like any change from Harvest.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import psycopg

from h2j.jira_time import instant
from h2j.sql import sql

log = logging.getLogger(__name__)

FIRST_LOOK_BACK_MS = 7 * 24 * 3600 * 1000


def _checkpoint(conn: psycopg.Connection, site: str, feed: str) -> int:
    row = conn.execute(sql("checkpoint_get"), {"site": site, "feed": feed}).fetchone()
    return int(row[0]) if row else int(time.time() * 1000) - FIRST_LOOK_BACK_MS


def _millis(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _read_feed(jira, kind: str, since: int) -> tuple[dict[str, int | None], int]:
    """When each worklog changed since ``since`` (by id), and where to read from next time."""
    changed: dict[str, int | None] = {}
    newest = since
    for change in jira.changed_worklogs(kind, since):
        worklog_id = str(change["worklogId"])
        when = _millis(change.get("updatedTime"))
        earlier = changed.get(worklog_id, 0)
        changed[worklog_id] = None if when is None or earlier is None else max(earlier, when)
        newest = max(newest, when or since)
    return changed, newest


def _ledger_rows(
    conn: psycopg.Connection, site: str, changed: dict[str, int | None]
) -> list[tuple]:
    """Ledger rows of the changed worklogs, but for changes that were h2j's own writes."""
    if not changed:
        return []
    params = {"site": site, "worklog_ids": list(changed), "changed_ms": list(changed.values())}
    return conn.execute(sql("ledger_by_worklogs"), params).fetchall()


def _changed(row: tuple, worklog: dict[str, Any]) -> str | None:
    """Why Jira's worklog differs from what the ledger says h2j wrote, or None."""
    _entry, _key, _wid, seconds, started = row
    jira_seconds = worklog.get("timeSpentSeconds")
    if (
        seconds is not None
        and jira_seconds is not None
        and round(int(jira_seconds) / 60) != round(seconds / 60)
    ):
        return f"time spent changed by hand in Jira ({jira_seconds} s, h2j wrote {seconds} s)"
    ours, theirs = instant(started), instant(worklog.get("started"))
    if ours and theirs and ours != theirs:
        return f"started changed by hand in Jira ({worklog.get('started')}, h2j wrote {started})"
    return None


def find_drift(conn: psycopg.Connection, jira, site: str) -> tuple[list[dict], dict[str, int]]:
    """The ledger rows whose worklogs drifted, and where each feed should be read from next."""
    drifted: list[dict] = []
    since = {feed: _checkpoint(conn, site, feed) for feed in ("updated", "deleted")}
    deleted, next_deleted = _read_feed(jira, "deleted", since["deleted"])
    gone = {worklog_id: None for worklog_id in deleted}
    for entry_id, key, worklog_id, _s, _t in _ledger_rows(conn, site, gone):
        drifted.append(
            {
                "entry_id": entry_id,
                "issue": key,
                "worklog_id": worklog_id,
                "gone": True,
                "reason": "worklog deleted by hand in Jira",
            }
        )

    updated, next_updated = _read_feed(jira, "updated", since["updated"])
    rows = {row[2]: row for row in _ledger_rows(conn, site, updated)}
    if rows:
        for worklog in jira.worklogs_by_ids(rows):
            row = rows.get(str(worklog.get("id")))
            reason = _changed(row, worklog) if row else None
            if reason:
                drifted.append(
                    {
                        "entry_id": row[0],
                        "issue": row[1],
                        "worklog_id": row[2],
                        "gone": False,
                        "reason": reason,
                    }
                )
    return drifted, {"updated": next_updated, "deleted": next_deleted}


def check_drift(conn: psycopg.Connection, jira, site: str, *, dry_run: bool) -> dict[str, Any]:
    """Mark drifted ledger rows (unless a dry run) and move the feed checkpoints on."""
    drifted, checkpoints = find_drift(conn, jira, site)
    for item in drifted:
        log.warning(
            "Entry %s on %s: %s; h2j will restore Harvest's value",
            item["entry_id"],
            item["issue"],
            item["reason"],
        )
    if not dry_run:
        with conn.transaction():
            for item in drifted:
                conn.execute(
                    sql("ledger_drifted"),
                    {
                        "site": site,
                        "entry_id": item["entry_id"],
                        "gone": item["gone"],
                        "reason": item["reason"],
                    },
                )
            for feed, since_ms in checkpoints.items():
                conn.execute(
                    sql("checkpoint_put"), {"site": site, "feed": feed, "since_ms": since_ms}
                )
    log.info("Drift check: %s worklogs changed or deleted by hand in Jira", len(drifted))
    return {"drifted": len(drifted), "items": drifted[:100]}
