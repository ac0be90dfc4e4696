"""Apply one person's plan to Jira and record every outcome in the ledger.

Each Jira write is preceded by an intent row and followed by its outcome, each in its own
short transaction, so that whatever fails in between, the next attempt knows to read
Jira back before writing again. One failed entry never stops the others.

Writes to issues that share nothing go out side by side, a few threads at a time, each
thread with its own ledger connection and Jira sessions; one issue's writes stay in order
and one at a time.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from h2j.errors import AmbiguousWrite, ApiError
from h2j.issue_groups import issue_groups
from h2j.issues import IssueResolver
from h2j.sql import sql
from h2j.staging import Person, stage_entry, unusable_problem, write_staging
from h2j.window import Window
from h2j.writes import APPLY, ledger_keys

log = logging.getLogger(__name__)

ACTIONS = ("created", "updated", "moved", "deleted", "unchanged", "skipped", "failed")


@dataclass
class Target:
    """Where one person's worklogs go and how they are written."""

    conn: psycopg.Connection
    jira: Any
    harvest: Any
    hooks: Callable[[str], Any]
    service_conn: str
    author_conn: str
    resolver: IssueResolver
    run_id: str
    site: str
    harvest_account: str
    person: Person
    window: Window
    adjust_estimate: str = "auto"
    dry_run: bool = False
    confirm_deletions: bool = False
    author_problem: str | None = None
    mass_delete_share: float = 0.5
    mass_delete_min: int = 10
    # Up to this many threads write at once, each with a copy of the target from ``fork``
    # (its own ledger connection and Jira hooks); without ``fork`` the writes go one by one.
    concurrency: int = 1
    fork: Callable[[], AbstractContextManager[Target]] | None = None


@dataclass
class Summary:
    user_id: int
    user: str
    counts: Counter = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    seconds_pushed: int = 0

    @property
    def new_failures(self) -> list[dict[str, Any]]:
        """Failures not already reported by an earlier run with the same reason."""
        return [failure for failure in self.failures if not failure["known"]]

    def add(self, other: Summary) -> None:
        self.counts.update(other.counts)
        self.failures.extend(other.failures)
        self.seconds_pushed += other.seconds_pushed

    def as_dict(self) -> dict[str, Any]:
        return {
            "user_id": self.user_id,
            "user": self.user,
            **{action: self.counts[action] for action in ACTIONS},
            "hours_pushed": round(self.seconds_pushed / 3600, 2),
            "failures": self.failures,
            "new_failures": len(self.new_failures),
        }


def load_user(target: Target) -> Summary:
    """Plan and apply this person's changes while holding their advisory lock."""
    summary = Summary(target.person.user_id, target.person.name)
    lock = {"site": target.site, "user_id": target.person.user_id}
    target.conn.execute(sql("user_lock"), lock)
    try:
        rows = refuse_without_author(target, hold_mass_deletion(target, plan_rows(target)))
        writes = [row for row in rows if row["action"] in APPLY and not target.dry_run]
        for row in rows:
            if row["action"] not in APPLY or target.dry_run:
                apply_row(target, row, summary)
        apply_writes(target, writes, summary)
    finally:
        target.conn.execute(sql("user_unlock"), lock)
    log.info(
        "%s for %s (user %s): %s created, %s updated, %s moved, %s deleted, %s unchanged, "
        "%s skipped, %s failed",
        "Planned" if target.dry_run else "Applied",
        target.person.name,
        target.person.user_id,
        *(summary.counts[action] for action in ACTIONS),
    )
    return summary


def apply_writes(target: Target, rows: list[dict[str, Any]], summary: Summary) -> None:
    """Make the Jira writes, issue groups in parallel up to ``target.concurrency``."""
    groups = issue_groups(rows)
    threads = min(target.concurrency, len(groups))
    if threads <= 1 or target.fork is None:
        for row in rows:
            apply_row(target, row, summary)
        return
    _Writers(target, summary, groups).run(threads)
    summary.failures.sort(key=lambda failure: failure["entry_id"])


class _Writers:
    """Writer threads taking issue groups from one queue, each writing through its own fork.

    Whatever stops one writer (an unexpected error, or the task's timeout raised in the
    main thread) stops them all after the write each has in hand, as a single writer would
    stop; the entries not reached are planned again by the next attempt.
    """

    def __init__(self, target: Target, summary: Summary, groups: list[list[dict]]) -> None:
        self.target = target
        self.summary = summary
        self.todo: queue.SimpleQueue[list[dict[str, Any]]] = queue.SimpleQueue()
        for group in groups:
            self.todo.put(group)
        self.stop = threading.Event()

    def run(self, threads: int) -> None:
        name = f"h2j-load-{self.target.person.user_id}"
        pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix=name)
        try:
            parts = [pool.submit(self.work) for _ in range(threads)]
            for part in parts:
                self.summary.add(part.result())
        except BaseException:
            self.stop.set()
            raise
        finally:
            pool.shutdown(wait=True)

    def next_group(self) -> list[dict[str, Any]] | None:
        if self.stop.is_set():
            return None
        try:
            return self.todo.get_nowait()
        except queue.Empty:
            return None

    def work(self) -> Summary:
        part = Summary(self.summary.user_id, self.summary.user)
        with self.target.fork() as mine:
            while (group := self.next_group()) is not None:
                for row in group:
                    if self.stop.is_set():
                        break
                    try:
                        apply_row(mine, row, part)
                    except BaseException:
                        self.stop.set()
                        raise
        return part


def read_plan(target: Target) -> list[dict[str, Any]]:
    params = {
        "run_id": target.run_id,
        "site": target.site,
        "user_ids": [target.person.user_id],
        **target.window.as_dict(),
    }
    with target.conn.transaction(), target.conn.cursor(row_factory=dict_row) as cur:
        cur.execute(sql("serial_plans"))
        rows = cur.execute(sql("plan_read"), params).fetchall()
    return rows


def plan_rows(target: Target) -> list[dict[str, Any]]:
    """The plan, after asking Harvest about every entry that vanished from the window.

    An entry still in Harvest (its date left the window, say) is staged and planned
    again like any other; only a 404 from Harvest makes a deletion.
    """
    rows = read_plan(target)
    vanished = [row for row in rows if row["action"] == "verify"]
    if not vanished:
        return rows

    gone: set[int] = set()
    found: list[tuple] = []
    for row in vanished:
        entry = target.harvest.get_time_entry(row["entry_id"])
        problem = None if entry is None else unusable_problem(entry, target.person)
        if entry is None:
            gone.add(row["entry_id"])
        elif problem:
            log.warning(
                "Entry %s left %s's window and cannot be planned here: %s",
                row["entry_id"],
                target.person.name,
                problem,
            )
        else:
            found.append(stage_entry(entry, target.person, target.resolver, target.run_id))
    if found:
        with target.conn.transaction():
            write_staging(target.conn, found)
        rows = read_plan(target)
    for row in rows:
        if row["action"] == "verify" and row["entry_id"] in gone:
            row.update(action="delete", reason="deleted in Harvest")
    return rows


def hold_mass_deletion(target: Target, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Turn the deletions into failures when they would wipe out much of a person's time.

    A Harvest outage that answers with empty pages, or a wrong filter, must not delete a
    month of worklogs. Past the share (and the minimum count) nothing is deleted for the
    person until someone confirms with the ``confirm_deletions`` param.
    """
    deletions = [row for row in rows if row["action"] == "delete"]
    synced = sum(1 for row in rows if row["worklog_id"] is not None)
    too_many = (
        len(deletions) >= target.mass_delete_min
        and len(deletions) > target.mass_delete_share * synced
    )
    if not too_many or target.confirm_deletions:
        return rows

    reason = (
        f"held back: this run would delete {len(deletions)} of {target.person.name}'s "
        f"{synced} synced worklogs in {target.window}, more than "
        f"{target.mass_delete_share:.0%}; nothing was deleted. If Harvest really lost "
        "these entries, trigger a run with confirm_deletions=true"
    )
    log.error("Entry deletions for %s %s", target.person.name, reason)
    return [
        {**row, "action": "fail", "reason": reason, "last_error": None}
        if row["action"] == "delete"
        else row
        for row in rows
    ]


def refuse_without_author(target: Target, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Without a Jira account to write as, every write of the person fails, named."""
    if not target.author_problem:
        return rows
    return [
        {**row, "action": "fail", "reason": target.author_problem} if row["action"] in PAST else row
        for row in rows
    ]


def apply_row(target: Target, row: dict[str, Any], summary: Summary) -> None:
    action = row["action"]
    if action == "unchanged":
        summary.counts["unchanged"] += 1
        return
    if action in ("skip", "verify"):
        summary.counts["skipped"] += 1
        return
    if action == "fail":
        fail(target, row, summary, None, row["reason"], ambiguous=False)
        return
    if target.dry_run:
        summary.counts[PAST[action]] += 1
        return

    try:
        APPLY[action](target, row)
    except ApiError as exc:
        # An unresolved intent stays until a later attempt has read Jira back: whatever
        # failed now, an earlier write may still be in Jira.
        unsure = isinstance(exc, AmbiguousWrite) or row["pending_action"] is not None
        message = str(exc) if isinstance(exc, AmbiguousWrite) else exc.message or str(exc)
        fail(target, row, summary, exc.status, message, ambiguous=unsure)
        return
    summary.counts[PAST[action]] += 1
    if action != "delete":
        summary.seconds_pushed += row["seconds"] or 0


def fail(
    target: Target,
    row: dict[str, Any],
    summary: Summary,
    status: int | None,
    message: str,
    *,
    ambiguous: bool,
) -> None:
    issue = row["issue_key"] or row["old_issue_key"] or row["issue_id"] or row["old_issue_id"]
    log.error(
        "Entry %s of %s on %s failed to %s: %s%s",
        row["entry_id"],
        summary.user,
        issue,
        row["action"],
        f"HTTP {status} " if status else "",
        message,
    )
    summary.counts["failed"] += 1
    summary.failures.append(
        {
            "entry_id": row["entry_id"],
            "issue": issue,
            "action": row["action"],
            "status": status,
            "message": message,
            "known": row.get("last_error") == message[:2000],
        }
    )
    if target.dry_run:
        return
    with target.conn.transaction():
        target.conn.execute(
            sql("ledger_failed"),
            {
                **ledger_keys(target, row),
                "issue_id": row["issue_id"] or row["old_issue_id"],
                "issue_key": row["issue_key"] or row["old_issue_key"],
                "spent_date": row["spent_date"],
                "error": message[:2000],
                "ambiguous": ambiguous,
            },
        )


PAST = {"create": "created", "update": "updated", "delete": "deleted", "move": "moved"}
