"""Rebuild the ledger from the worklogs h2j left in Jira, for one window of dates.

Every worklog h2j creates carries the ``h2j`` property (Harvest entry id, account, user).
A lost ledger is therefore read back from Jira; syncing the window again instead would
create every worklog a second time. Jira's ``worklog/updated`` feed lists the changed
worklogs of the whole site with their properties, a thousand per request, so the ones
naming this Harvest account are found without visiting issues one by one, and
``worklog/list`` then returns them whole. Given issue keys are read issue by issue instead.

Each row records what Jira holds now. Where that is exactly what h2j would write for the
Harvest entry today, the row carries h2j's own ``started`` text and comment hash, so the
next run finds nothing to do; anything else stays visible to the next run's diff, which
rewrites the worklog (or deletes it, when Harvest no longer has the entry). The readers
here (:func:`find_claims`, :class:`People`, :func:`harvest_entries`) also serve the audit.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import psycopg

from h2j.authors import SERVICE_CONN_ID, author_for
from h2j.convert import (
    BadEntry,
    comment_hash,
    comment_text,
    jira_started,
    parse_spent_date,
    parse_started_time,
)
from h2j.flow import HARVEST_CONN_ID, JIRA_CONN_ID, jira_site, person_for, user_summary
from h2j.harvest_hook import HarvestHook
from h2j.jira_hook import JiraHook
from h2j.jira_hook import comment_text as jira_comment_text
from h2j.jira_time import instant
from h2j.schema import ensure_schema
from h2j.sql import sql
from h2j.staging import Person
from h2j.window import Window
from h2j.writes import PROPERTY_KEY

log = logging.getLogger(__name__)

RUN_ID = "rebuild-ledger"
NEVER = dt.datetime.max.replace(tzinfo=dt.UTC)


@dataclass
class Services:
    """The Jira and Harvest hooks the DAG uses, and the keys the ledger is written under."""

    jira: Any
    harvest: Any
    site: str
    site_host: str | None
    account: str

    @classmethod
    def open(cls) -> Services:
        jira = JiraHook(jira_conn_id=JIRA_CONN_ID)
        harvest = HarvestHook(harvest_conn_id=HARVEST_CONN_ID)
        site, site_host = jira_site(jira)
        return cls(jira, harvest, site, site_host, str(harvest.account_id))

    @functools.cached_property
    def service_account(self) -> str | None:
        """The Jira account of the service connection, to tell who wrote a worklog."""
        return account_of(self.jira.myself())


def account_of(user: Any) -> str | None:
    """A Jira user's identity: ``accountId`` on Cloud, ``key`` (else ``name``) on Data Center."""
    if not isinstance(user, dict):
        return None
    return user.get("accountId") or user.get("key") or user.get("name")


@dataclass(frozen=True)
class Claim:
    """A worklog whose ``h2j`` property names an entry of this Harvest account."""

    entry_id: int
    user_id: int | None
    worklog: dict[str, Any]

    @property
    def worklog_id(self) -> str:
        return str(self.worklog["id"])

    @property
    def issue_id(self) -> str:
        return str(self.worklog.get("issueId"))


@dataclass
class People:
    """Every Harvest user (inactive ones too: their worklogs stay), as a run writes for them."""

    users: dict[int, dict[str, Any]]
    active: set[int]
    author_mode: str | None = None
    known: dict[int | None, Person] = field(default_factory=dict)

    @classmethod
    def load(cls, harvest, author_mode: str | None = None) -> People:
        """:param author_mode: the run's ``author_mode`` param; None reads the Variable."""
        people = cls({}, set(), author_mode)
        for user in harvest.iter_users(is_active=None):
            summary = user_summary(user)
            people.users[summary["id"]] = summary
            if user.get("is_active"):
                people.active.add(summary["id"])
        return people

    def get(self, user_id: int | None) -> Person:
        """The person as ``flow`` makes them: time zone, and named in comments or not."""
        if user_id not in self.known:
            fallback = {"id": user_id or 0, "name": f"user {user_id}", "timezone": None}
            user = self.users.get(user_id) or fallback
            author = author_for(user["id"], user["name"], self.author_mode)
            self.known[user_id] = person_for(user, author)
        return self.known[user_id]


@dataclass
class Rebuilt:
    """What a rebuild found: the ledger rows, the extra worklogs, the vanished entries."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    duplicates: list[tuple[Claim, Claim]] = field(default_factory=list)
    gone: list[dict[str, Any]] = field(default_factory=list)


def claim_of(worklog: dict[str, Any], account: str) -> Claim | None:
    """The claim in a worklog's (or a change feed item's) properties, if it names us."""
    for prop in worklog.get("properties") or []:
        value = prop.get("value") if prop.get("key") == PROPERTY_KEY else None
        if isinstance(value, dict) and str(value.get("account_id")) == account:
            entry_id, user_id = _number(value.get("entry_id")), _number(value.get("user_id"))
            if entry_id is not None:
                return Claim(entry_id, user_id, worklog)
    return None


def _number(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and value.isdigit() else None


def find_claims(
    services: Services, window: Window, issues: list[str] | None, since: dt.date | None
) -> list[Claim]:
    """h2j's worklogs for this account: from the change feed, or from the given issues."""
    if issues:
        found = [
            worklog
            for issue in issues
            for worklog in services.jira.iter_worklogs(issue, expand_properties=True)
        ]
    else:
        start = since or window.from_date - dt.timedelta(days=1)
        since_ms = int(dt.datetime.combine(start, dt.time(), dt.UTC).timestamp() * 1000)
        ids = {
            int(change["worklogId"])
            for change in services.jira.changed_worklogs("updated", since_ms)
            if claim_of(change, services.account) is not None
        }
        found = services.jira.worklogs_by_ids(sorted(ids)) if ids else []
    claims = {}
    for worklog in found:
        claim = claim_of(worklog, services.account)
        if claim is not None:
            claims[claim.worklog_id] = claim
    log.info("Found %s worklogs h2j wrote for Harvest account %s", len(claims), services.account)
    return list(claims.values())


def harvest_entries(harvest, user_ids, window: Window) -> dict[int, dict[str, Any]]:
    """The window's entries of these people, by id: a page of 2000 costs one request."""
    entries: dict[int, dict[str, Any]] = {}
    for user_id in sorted(uid for uid in user_ids if uid is not None):
        for page in harvest.iter_time_entry_pages(user_id, window.from_date, window.to_date):
            entries.update(
                (e["id"], e) for e in page if isinstance(e, dict) and isinstance(e.get("id"), int)
            )
    return entries


def local_day(text: Any, zone: str) -> dt.date | None:
    """The calendar day of a Jira datetime where the person lives."""
    moment = instant(text)
    return moment.astimezone(ZoneInfo(zone)).date() if moment else None


def dated_in(claim: Claim, people: People, window: Window) -> bool:
    day = local_day(claim.worklog.get("started"), people.get(claim.user_id).zone)
    return day is not None and window.from_date <= day <= window.to_date


def spent_day(entry: dict[str, Any] | None) -> dt.date | None:
    if entry is None:
        return None
    try:
        return parse_spent_date(entry.get("id"), entry.get("spent_date"))
    except BadEntry:
        return None


def would_write(entry: dict[str, Any] | None, person: Person) -> tuple[str | None, str | None]:
    """The ``started`` text and the comment h2j writes for ``entry`` now (None: unknown)."""
    if entry is None:
        return None, None
    day = spent_day(entry)
    started = None
    if day is not None:
        started = jira_started(day, parse_started_time(entry.get("started_time")), person.zone)
    notes = entry.get("notes") if isinstance(entry.get("notes"), str) else None
    return started, comment_text(notes, person.name if person.named_in_comment else None)


def same_text(held: str, written: str) -> bool:
    """Whether Jira's comment reads as h2j's text; blank lines may not survive ADF."""
    if held == written:
        return True
    return _lines(held) == _lines(written)


def _lines(text: str) -> list[str]:
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def oldest_first(claims: list[Claim]) -> tuple[dict[int, Claim], list[tuple[Claim, Claim]]]:
    """The oldest worklog per entry, and each younger one paired with the one kept."""
    kept: dict[int, Claim] = {}
    extra: list[tuple[Claim, Claim]] = []
    for claim in sorted(claims, key=_age):
        if claim.entry_id in kept:
            extra.append((claim, kept[claim.entry_id]))
        else:
            kept[claim.entry_id] = claim
    return kept, extra


def _age(claim: Claim) -> tuple[dt.datetime, int]:
    number = int(claim.worklog_id) if claim.worklog_id.isdigit() else 0
    return instant(claim.worklog.get("created")) or NEVER, number


def issue_keys(jira, issue_ids) -> dict[str, str | None]:
    """Issue id to key: worklogs name their issue by id only."""
    keys: dict[str, str | None] = {}
    for issue_id in sorted(set(issue_ids)):
        issue = jira.get_issue(issue_id)
        keys[issue_id] = issue.get("key") if isinstance(issue, dict) else None
    return keys


def rebuild_ledger(
    services: Services,
    people: People,
    conn: psycopg.Connection | None,
    window: Window,
    *,
    issues: list[str] | None = None,
    since: dt.date | None = None,
) -> Rebuilt:
    """Write (with ``conn`` None: only compute) the ledger rows for ``window``.

    A worklog belongs to the window when its Harvest entry is dated in it, or when Jira
    dates it in it (its entry may have moved to another day, or be gone).

    :param issues: issue keys or ids to read instead of the site-wide change feed.
    :param since: the day the change feed is read from; by default the day before the
        window, which finds every worklog a run wrote for an entry dated in the window.
    """
    claims = find_claims(services, window, issues, since)
    entries: dict[int, Any] = harvest_entries(services.harvest, {c.user_id for c in claims}, window)
    chosen = [c for c in claims if c.entry_id in entries or dated_in(c, people, window)]
    kept, duplicates = oldest_first(chosen)
    for entry_id in sorted(kept.keys() - entries.keys()):
        entries[entry_id] = services.harvest.get_time_entry(entry_id)

    keys = issue_keys(services.jira, [claim.issue_id for claim in kept.values()])
    result = Rebuilt(duplicates=duplicates)
    for entry_id, claim in sorted(kept.items()):
        entry = entries[entry_id]
        row = ledger_row(services, claim, entry, people.get(claim.user_id), keys)
        row["author_conn"] = author_conn(services, claim, people)
        result.rows.append(row)
        if entry is None:
            result.gone.append(row)
    if conn is not None:
        write_rows(conn, result.rows)
    return result


def ledger_row(
    services: Services,
    claim: Claim,
    entry: dict[str, Any] | None,
    person: Person,
    keys: dict[str, str | None],
) -> dict[str, Any]:
    """The ledger row for one worklog: Jira's values, in h2j's spelling where they agree."""
    worklog = claim.worklog
    started = worklog.get("started")
    expected_started, expected_text = would_write(entry, person)
    if expected_started and instant(expected_started) == instant(started):
        started = expected_started
    held_text = jira_comment_text(worklog.get("comment"))
    agreed = expected_text is not None and same_text(held_text, expected_text)
    return {
        "site": services.site,
        "entry_id": claim.entry_id,
        "harvest_account": services.account,
        "user_id": claim.user_id or person.user_id,
        "issue_id": claim.issue_id,
        "issue_key": keys.get(claim.issue_id),
        "worklog_id": claim.worklog_id,
        "seconds": int(worklog["timeSpentSeconds"]),
        "started": started,
        "spent_date": spent_day(entry) or local_day(started, person.zone),
        # A comment Jira holds differently hashes differently, so the next run rewrites it.
        "comment_hash": comment_hash(expected_text if agreed else held_text),
        "first_synced": instant(worklog.get("created")),
        "run_id": RUN_ID,
    }


def author_conn(services: Services, claim: Claim, people: People) -> str:
    """The connection that wrote the worklog: Jira lets only its author change it.

    A worklog the service account did not write was written with the person's own
    connection (``author_mode`` per_user), when that connection still exists.
    """
    author = account_of(claim.worklog.get("author"))
    if author is not None and author == services.service_account:
        return SERVICE_CONN_ID
    person = people.get(claim.user_id)
    return author_for(person.user_id, person.name, "per_user").conn_id


def write_rows(conn: psycopg.Connection, rows: list[dict[str, Any]]) -> None:
    """UPSERT the rows in one transaction, after taking their worklogs from other entries.

    A worklog's property names the entry it was written for, so a ledger row of another
    entry that claims the same worklog is wrong; it is cleared first, because a worklog
    may belong to one entry only.
    """
    ensure_schema(conn)
    if not rows:
        return
    with conn.transaction(), conn.cursor() as cur:
        cur.executemany(sql("rebuild_release"), rows)
        cur.executemany(sql("rebuild_upsert"), rows)
    log.info("Wrote %s ledger rows", len(rows))
