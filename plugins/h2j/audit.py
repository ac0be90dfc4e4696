"""Compare the ledger, Jira and Harvest for a window of dates, changing nothing.

Harvest says what each entry's worklog should hold (mapped exactly as a run maps it),
Jira what it holds, and the ledger what h2j believes it wrote. The three are read, never
written: the ledger connection is set read-only, and issue lookups stay in memory.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg.rows import dict_row

from h2j.convert import same_minutes
from h2j.issues import IssueResolver
from h2j.jira_hook import comment_text as jira_comment_text
from h2j.jira_time import instant
from h2j.rebuild import (
    Claim,
    People,
    Services,
    dated_in,
    find_claims,
    harvest_entries,
    issue_keys,
    oldest_first,
    same_text,
)
from h2j.sql import sql
from h2j.staging import COLUMNS, stage_entry
from h2j.window import Window

log = logging.getLogger(__name__)

RUN_ID = "audit"
# States a healthy ledger row leaves behind; 'deleted' is one of them.
TROUBLED_STATES = ("failed", "pending", "drifted")


@dataclass
class Evidence:
    """What Harvest, the ledger and Jira say about one entry."""

    entry_id: int
    expected: dict[str, Any] | None = None
    gone: bool = False
    ledger: dict[str, Any] | None = None
    own: list[Claim] = field(default_factory=list)
    named: dict[str, Any] | None = None

    @property
    def worklog(self) -> dict[str, Any] | None:
        """The worklog that holds the entry's time: the ledger's, else h2j's oldest."""
        if self.named is not None:
            return self.named
        return self.own[0].worklog if self.own else None


@dataclass
class Finding:
    entry_id: int
    person: str
    issue: str
    kind: str
    detail: str

    def line(self) -> str:
        return f"entry {self.entry_id} | {self.person} | {self.issue} | {self.kind}: {self.detail}"


@dataclass
class AuditResult:
    window: Window
    site: str
    checked: int
    findings: list[Finding]

    @property
    def clean(self) -> bool:
        return not self.findings

    def summary(self) -> str:
        entries = len({finding.entry_id for finding in self.findings})
        kinds = Counter(finding.kind for finding in self.findings)
        detail = ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
        return (
            f"Audit of {self.window} on {self.site}: {self.checked} entries checked, "
            f"{self.checked - entries} agree, {entries} disagree"
            + (f" ({detail})" if detail else "")
        )


class _LookupsInMemory:
    """Stands in for the connection an IssueResolver shares a run's lookups through.

    The resolver then maps entries exactly as a run does while an audit writes nothing.
    """

    def execute(self, *_args: Any, **_kwargs: Any) -> list[tuple]:
        return []


def audit(
    services: Services,
    people: People,
    conn: psycopg.Connection,
    window: Window,
    projects: list[str],
    *,
    issues: list[str] | None = None,
    since: dt.date | None = None,
) -> AuditResult:
    """Every disagreement between ledger, Jira and Harvest about entries of ``window``.

    ``issues`` and ``since`` mean what they mean for ``rebuild_ledger``.
    """
    conn.execute(sql("audit_read_only"))
    claims = find_claims(services, window, issues, since)
    entries: dict[int, Any] = harvest_entries(
        services.harvest, people.active | {c.user_id for c in claims}, window
    )
    claims = [c for c in claims if c.entry_id in entries or dated_in(c, people, window)]
    named = entries.keys() | {claim.entry_id for claim in claims}
    ledger = ledger_rows(conn, services.site, window, sorted(named))
    for entry_id in sorted((named | ledger.keys()) - entries.keys()):
        entries[entry_id] = services.harvest.get_time_entry(entry_id)

    evidence = gather(services, people, projects, entries, ledger, claims)
    keys = issue_keys(services.jira, _jira_issue_ids(evidence.values()))
    findings = [
        finding
        for entry_id in sorted(evidence)
        for finding in findings_for(evidence[entry_id], people, keys)
    ]
    return AuditResult(window, services.site, len(evidence), findings)


def ledger_rows(
    conn: psycopg.Connection, site: str, window: Window, entry_ids: list[int]
) -> dict[int, dict[str, Any]]:
    """The ledger's rows for the window and for the given entries; none without a ledger."""
    if not conn.execute(sql("audit_ledger_exists")).fetchone()[0]:
        log.warning("There is no h2j ledger in this database")
        return {}
    params = {"site": site, "entry_ids": entry_ids, **window.as_dict()}
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(sql("audit_ledger"), params).fetchall()
    return {row["entry_id"]: row for row in rows}


def gather(
    services: Services,
    people: People,
    projects: list[str],
    entries: dict[int, dict[str, Any] | None],
    ledger: dict[int, dict[str, Any]],
    claims: list[Claim],
) -> dict[int, Evidence]:
    """One Evidence per entry that Harvest, the ledger or an h2j worklog names."""
    resolver = IssueResolver(
        conn=_LookupsInMemory(),
        run_id=RUN_ID,
        site=services.site,
        known_projects=projects,
        lookup=services.jira.get_issue,
        site_host=services.site_host,
    )
    evidence: dict[int, Evidence] = {}
    for entry_id, entry in entries.items():
        found = evidence.setdefault(entry_id, Evidence(entry_id, gone=entry is None))
        if entry is not None:
            person = people.get(_owner(entry, ledger.get(entry_id)))
            row = stage_entry(entry, person, resolver, RUN_ID)
            found.expected = dict(zip(COLUMNS, row, strict=True))
    for entry_id, row in ledger.items():
        evidence.setdefault(entry_id, Evidence(entry_id)).ledger = row
    kept, duplicates = oldest_first(claims)
    for claim in [*kept.values(), *(extra for extra, _kept in duplicates)]:
        evidence.setdefault(claim.entry_id, Evidence(claim.entry_id)).own.append(claim)
    attach_named(services, evidence.values())
    return evidence


def _owner(entry: dict[str, Any], row: dict[str, Any] | None) -> int | None:
    user = entry.get("user")
    owner = user.get("id") if isinstance(user, dict) else None
    return owner if isinstance(owner, int) else (row or {}).get("user_id")


def attach_named(services: Services, evidence) -> None:
    """Find in Jira each worklog the ledger names; not finding it is a finding."""
    by_id = {claim.worklog_id: claim.worklog for item in evidence for claim in item.own}
    wanted = {
        item.ledger["worklog_id"]
        for item in evidence
        if item.ledger and item.ledger["worklog_id"] and item.ledger["worklog_id"] not in by_id
    }
    if wanted:
        by_id.update((str(w["id"]), w) for w in services.jira.worklogs_by_ids(sorted(wanted)))
    for item in evidence:
        if item.ledger and item.ledger["worklog_id"]:
            item.named = by_id.get(item.ledger["worklog_id"])


def _jira_issue_ids(evidence) -> list[str]:
    worklogs = [claim.worklog for item in evidence for claim in item.own]
    worklogs += [item.named for item in evidence if item.named]
    return [str(worklog.get("issueId")) for worklog in worklogs]


def findings_for(item: Evidence, people: People, keys: dict[str, str | None]) -> list[Finding]:
    """The disagreements about one entry, each as one Finding."""
    problems = ledger_vs_jira(item, keys) + harvest_vs_jira(item, keys)
    expected, row = item.expected or {}, item.ledger or {}
    claim_user = item.own[0].user_id if item.own else None
    person = people.get(expected.get("user_id") or row.get("user_id") or claim_user).name
    worklog = item.worklog
    issue = (
        expected.get("issue_key")
        or row.get("issue_key")
        or (keys.get(str(worklog.get("issueId"))) if worklog else None)
        or "-"
    )
    return [Finding(item.entry_id, person, issue, kind, detail) for kind, detail in problems]


def _where(worklog: dict[str, Any], keys: dict[str, str | None]) -> str:
    issue = str(worklog.get("issueId"))
    return f"worklog {worklog['id']} on {keys.get(issue) or 'issue ' + issue}"


def ledger_vs_jira(item: Evidence, keys: dict[str, str | None]) -> list[tuple[str, str]]:
    """Where the ledger and Jira disagree about which worklog is the entry's and its values."""
    row = item.ledger
    named_id = row["worklog_id"] if row else None
    problems = [_unclaimed(claim, named_id, keys) for claim in item.own]
    problems = [problem for problem in problems if problem]
    if row is None:
        return problems
    if row["state"] in TROUBLED_STATES:
        problems.append(("ledger state", f"{row['state']}: {row['last_error'] or 'no error'}"))
    if named_id and item.named is None:
        problems.append(("worklog missing", f"the ledger names worklog {named_id}; Jira lacks it"))
    elif item.named is not None:
        problems += _values_differ(item.named, row["seconds"], row["started"], "the ledger")
    return problems


def _unclaimed(
    claim: Claim, named_id: str | None, keys: dict[str, str | None]
) -> tuple[str, str] | None:
    """An h2j worklog the ledger does not name: lost from the ledger, or a duplicate."""
    if claim.worklog_id == named_id:
        return None
    where = _where(claim.worklog, keys)
    if named_id:
        return ("duplicate", f"{where} carries the h2j property; the ledger names {named_id}")
    return ("not in ledger", f"{where} carries the h2j property; the ledger names no worklog")


def harvest_vs_jira(item: Evidence, keys: dict[str, str | None]) -> list[tuple[str, str]]:
    """Where Jira's worklog differs from what a run would write for the Harvest entry."""
    worklog, expected = item.worklog, item.expected
    if item.gone:
        present = f"Harvest has no such entry, yet {_where(worklog, keys)} is present"
        return [("entry gone", present)] if worklog else []
    if expected is None or expected["status"] == "running":
        return []
    if expected["status"] == "bad":
        return [("unmappable", expected["error"] or "Harvest's entry cannot be mapped")]
    if expected["status"] != "ok" or expected["seconds"] is None:
        return _unwanted(worklog, expected, keys)
    if worklog is None:
        return [("missing worklog", f"Harvest has {expected['seconds']} s, Jira has none")]
    return _compare(worklog, expected, keys)


def _unwanted(
    worklog: dict[str, Any] | None, expected: dict[str, Any], keys: dict[str, str | None]
) -> list[tuple[str, str]]:
    if worklog is None:
        return []
    why = "no Jira issue" if expected["status"] == "no_issue" else "zero hours"
    return [("unwanted worklog", f"{_where(worklog, keys)} is present; the entry has {why}")]


def _compare(
    worklog: dict[str, Any], expected: dict[str, Any], keys: dict[str, str | None]
) -> list[tuple[str, str]]:
    problems = []
    if str(worklog.get("issueId")) != expected["issue_id"]:
        where = _where(worklog, keys)
        problems.append(("issue differs", f"{where}; Harvest names {expected['issue_key']}"))
    problems += _values_differ(worklog, expected["seconds"], expected["started"], "Harvest")
    if not same_text(jira_comment_text(worklog.get("comment")), expected["comment"] or ""):
        problems.append(("comment differs", _where(worklog, keys)))
    return problems


def _values_differ(
    worklog: dict[str, Any], seconds: int | None, started: str | None, source: str
) -> list[tuple[str, str]]:
    """Seconds (to the minute, as a run compares them) and start instants."""
    problems = []
    held = worklog.get("timeSpentSeconds")
    if not same_minutes(held, seconds):
        problems.append(("seconds differ", f"Jira {held} s, {source} {seconds} s"))
    if instant(worklog.get("started")) != instant(started):
        problems.append(("started differs", f"Jira {worklog.get('started')}, {source} {started}"))
    return problems
