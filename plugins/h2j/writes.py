"""The Jira writes of a plan row, each framed by its ledger intent and outcome.

A write is made under the issue's advisory lock, so that two tasks never change one
issue's worklogs (and so its time tracking) at the same moment. Updates and deletes go
through the connection that created the worklog, as Jira lets only its author (or an
administrator) change it.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from h2j.errors import AmbiguousWrite, ApiError
from h2j.jira_time import millis
from h2j.sql import sql

if TYPE_CHECKING:
    from h2j.load import Target

log = logging.getLogger(__name__)

PROPERTY_KEY = "h2j"


@contextmanager
def issue_lock(target: Target, issue_id: str) -> Iterator[None]:
    params = {"site": target.site, "issue_id": str(issue_id)}
    target.conn.execute(sql("issue_lock"), params)
    try:
        yield
    finally:
        target.conn.execute(sql("issue_unlock"), params)


def estimate(target: Target, issue_id: str, spent_after: Callable[[int], int]) -> dict:
    """The ``adjustEstimate`` arguments for one write.

    ``recompute`` sets the remaining estimate to what is left of the original estimate
    once the write lands, read from Jira under the issue lock; Jira's own ``auto`` rule
    drifts once the remaining estimate has been clamped at zero.
    """
    if target.adjust_estimate != "recompute":
        return {"adjust_estimate": target.adjust_estimate}
    issue = target.jira.get_issue(issue_id) or {}
    tracking = (issue.get("fields") or {}).get("timetracking") or {}
    original = tracking.get("originalEstimateSeconds")
    if original is None:
        return {"adjust_estimate": "leave"}
    left = max(0, int(original) - spent_after(int(tracking.get("timeSpentSeconds") or 0)))
    return {"adjust_estimate": "new", "new_estimate": f"{left // 60}m"}


def current_seconds(target: Target, issue_id: str, worklog_id: str) -> int:
    """What the worklog holds now in Jira (0 when it is gone)."""
    if target.adjust_estimate != "recompute":
        return 0
    worklog = target.jira.get_worklog(issue_id, worklog_id)
    return int((worklog or {}).get("timeSpentSeconds") or 0)


def ledger_keys(target: Target, row: dict[str, Any]) -> dict[str, Any]:
    return {
        "site": target.site,
        "entry_id": row["entry_id"],
        "harvest_account": target.harvest_account,
        "user_id": target.person.user_id,
        "run_id": target.run_id,
    }


def payload_hash(row: dict[str, Any], action: str) -> str:
    payload = [action, row["issue_id"], row["seconds"], row["started"], row["comment_hash"]]
    return hashlib.sha256(json.dumps(payload).encode()).hexdigest()


def record(target: Target, statement: str, row: dict[str, Any], **values: Any) -> None:
    """One ledger statement in a transaction of its own."""
    with target.conn.transaction():
        target.conn.execute(sql(statement), {**ledger_keys(target, row), **values})


def record_intent(target: Target, row: dict[str, Any], action: str, old: bool) -> None:
    record(
        target,
        "ledger_intent",
        row,
        issue_id=row["old_issue_id"] if old else row["issue_id"],
        issue_key=row["old_issue_key"] if old else row["issue_key"],
        worklog_id=row["worklog_id"],
        spent_date=row["spent_date"],
        action=action,
        payload_hash=payload_hash(row, action),
    )


def record_synced(
    target: Target, row: dict[str, Any], worklog_id: str, author: str, answer: Any
) -> None:
    """The write landed; ``answer`` is the worklog as Jira returned it, whose ``updated``
    time lets the next drift check tell this write from a later edit by hand."""
    updated = answer.get("updated") if isinstance(answer, dict) else None
    record(
        target,
        "ledger_synced",
        row,
        issue_id=row["issue_id"],
        issue_key=row["issue_key"],
        worklog_id=str(worklog_id),
        seconds=row["seconds"],
        started=row["started"],
        spent_date=row["spent_date"],
        comment_hash=row["comment_hash"],
        author_conn=author,
        jira_updated_ms=millis(updated),
    )


def find_own_worklog(target: Target, issue_id: str, entry_id: int) -> dict[str, Any] | None:
    """The worklog on ``issue_id`` that h2j wrote for ``entry_id``, if Jira holds one."""
    for worklog in target.jira.iter_worklogs(issue_id, expand_properties=True):
        for prop in worklog.get("properties") or []:
            value = prop.get("value") if prop.get("key") == PROPERTY_KEY else None
            if (
                isinstance(value, dict)
                and value.get("entry_id") == entry_id
                and str(value.get("account_id")) == str(target.harvest_account)
            ):
                return worklog
    return None


def claim(target: Target, row: dict[str, Any], worklog: dict[str, Any], old: bool) -> dict:
    """Record a worklog found by reading Jira back; returns the row pointing at it."""
    issue_id = row["old_issue_id"] if old else row["issue_id"]
    issue_key = row["old_issue_key"] if old else row["issue_key"]
    log.warning(
        "Entry %s: found worklog %s on %s that an earlier attempt created unseen",
        row["entry_id"],
        worklog["id"],
        issue_key,
    )
    record(
        target,
        "ledger_claim",
        row,
        worklog_id=str(worklog["id"]),
        issue_id=issue_id,
        issue_key=issue_key,
        author_conn=target.author_conn,
    )
    return {**row, "worklog_id": str(worklog["id"]), "author_conn": target.author_conn}


def create(target: Target, row: dict[str, Any]) -> None:
    """Create the worklog, or adopt the one an earlier attempt created unseen."""
    if row["pending_action"] == "create":
        if row["old_issue_id"] and row["old_issue_id"] != row["issue_id"]:
            # Re-pointed since the lost create: its worklog, if any, is on the old issue.
            delete(target, {**row, "worklog_id": None})
        else:
            existing = find_own_worklog(target, row["issue_id"], row["entry_id"])
            if existing is not None:
                update(target, claim(target, row, existing, old=False))
                return

    record_intent(target, row, "create", old=False)
    with issue_lock(target, row["issue_id"]):
        worklog = target.hooks(target.author_conn).add_worklog(
            row["issue_id"],
            started=row["started"],
            seconds=row["seconds"],
            comment=row["comment"] or "",
            properties={
                PROPERTY_KEY: {
                    "entry_id": row["entry_id"],
                    "account_id": target.harvest_account,
                    "user_id": target.person.user_id,
                }
            },
            **estimate(target, row["issue_id"], lambda spent: spent + row["seconds"]),
        )
    record_synced(target, row, worklog["id"], target.author_conn, worklog)


def update(target: Target, row: dict[str, Any]) -> None:
    """Rewrite the worklog; one deleted by hand in Jira is created again."""
    author = row["author_conn"] or target.service_conn
    record_intent(target, row, "update", old=False)
    try:
        with issue_lock(target, row["issue_id"]):
            now = current_seconds(target, row["issue_id"], row["worklog_id"])
            answer = target.hooks(author).update_worklog(
                row["issue_id"],
                row["worklog_id"],
                started=row["started"],
                seconds=row["seconds"],
                comment=row["comment"] or "",
                **estimate(target, row["issue_id"], lambda spent: spent - now + row["seconds"]),
            )
    except ApiError as exc:
        if exc.status != 404 or isinstance(exc, AmbiguousWrite):
            raise
        log.warning(
            "Entry %s: worklog %s is gone from %s; creating it again",
            row["entry_id"],
            row["worklog_id"],
            row["issue_key"],
        )
        record(target, "ledger_deleted", row)
        create(target, {**row, "worklog_id": None, "pending_action": None})
        return
    record_synced(target, row, row["worklog_id"], author, answer)


def delete(target: Target, row: dict[str, Any]) -> None:
    """Remove the worklog from the issue it is on (the ledger's issue)."""
    if row["worklog_id"] is None:
        # Only a create whose answer was lost plans a delete without a worklog id.
        found = None
        if row["old_issue_id"]:
            found = find_own_worklog(target, row["old_issue_id"], row["entry_id"])
        if found is None:
            record(target, "ledger_deleted", row)
            return
        row = claim(target, row, found, old=True)
    record_intent(target, row, "delete", old=True)
    with issue_lock(target, row["old_issue_id"]):
        now = current_seconds(target, row["old_issue_id"], row["worklog_id"])
        target.hooks(row["author_conn"] or target.service_conn).delete_worklog(
            row["old_issue_id"],
            row["worklog_id"],
            **estimate(target, row["old_issue_id"], lambda spent: spent - now),
        )
    record(target, "ledger_deleted", row)


def move(target: Target, row: dict[str, Any]) -> None:
    """Re-pointed entry: the hours leave the old issue, then arrive on the new one."""
    delete(target, row)
    create(target, {**row, "worklog_id": None, "pending_action": None})


APPLY = {"create": create, "update": update, "delete": delete, "move": move}
