"""Run the real h2j sync against the sandboxes without Airflow's scheduler, and audit it.

A ``dag.test()`` run costs seconds, mostly the scheduler's bookkeeping; a property test or a
chaos bench needs hundreds of syncs. :func:`run_sync` calls the task bodies of
``h2j.flow`` in the DAG's order, over real HTTP and PostgreSQL, and treats an exception
the way Airflow treats a failed task: that task and what depends on it fail, everyone
else carries on. Task retries are left out: the next sync plays that part.

People's edits (:class:`Edit`) go through Harvest's public API, faults (:class:`Fault`)
through the sandboxes' admin API, and :func:`audit` reads Harvest, Jira and the ledger
back to check that Jira holds exactly what Harvest says, once.

**The estimate invariant.** Jira moves an issue's remaining estimate ``r`` on each worklog
change of ``d`` seconds (``adjustEstimate=auto``, h2j's mode and the default for the
hand-made worklogs) to ``max(0, r - d)``. Let ``e = r - (original - spent)``: it starts at
0 and each change adds ``max(0, d - r)``, so ``e`` never falls and grows exactly when a
change is clamped at zero. Which changes were clamped depends on the order of every write,
failed attempts included, so the audit claims only what is provable:

- an issue without an estimate keeps none (h2j never sets one);
- an issue whose estimate is at least :meth:`Cast.clamp_free_bound` (the hand-made time
  plus 24 h, Harvest's cap, for every entry ever created) was never clamped, as long as no
  entry held two worklogs at once, so ``r == original - spent`` exactly;
- any other issue must still have ``r >= max(0, original - spent)``.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import sys
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import psycopg
import requests

from h2j.convert import (
    comment_text,
    entry_seconds,
    jira_started,
    parse_spent_date,
    parse_started_time,
    same_minutes,
    worklog_seconds,
)
from h2j.issue_refs import first_known_key, reference_from_external
from h2j.retry import RateLimiter, RetryPolicy
from h2j.timezones import iana_zone
from sandbox.__main__ import connection_env
from sandbox.sample import HARVEST_ACCOUNT_ID, HARVEST_TOKEN, JIRA_API_TOKEN, JIRA_EMAIL, JIRA_SITE

HOUR = 3600
WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
FIRST_DAY = dt.date(2026, 11, 1)
PARAMS = {"dry_run": False, "adjust_estimate": "auto", "confirm_deletions": False}
PROPERTY_KEY = "h2j"
TIMEOUT = 30

# Backoff of milliseconds instead of seconds; which calls are retried does not change.
QUICK_POLICY = RetryPolicy(
    connect_timeout=2.0,
    read_timeout=5.0,
    base_delay=0.01,
    max_delay=0.05,
    max_total_wait=2.0,
    max_attempts=5,
)

PEOPLE = (
    ("Ada", "Lovelace", "London"),
    ("Grace", "Hopper", "Eastern Time (US & Canada)"),
    ("Katherine", "Johnson", "Kolkata"),
)
# Entries a scenario may create: fewer than the ten deletions that make h2j hold back a
# person's deletions for confirmation, so the hold never stands between a scenario and
# its final audit (the hold has an end-to-end test of its own).
MAX_ENTRIES = 9
# (key, estimate): None has no estimate, "big" is clamp-free, a number is in seconds.
ISSUES = (("OPS-11", "big"), ("OPS-12", "big"), ("WEB-7", "big"), ("DATA-3", 2 * HOUR))
ISSUES += (("OPS-13", None),)
HAND_LOGS = (("OPS-11", HOUR), ("DATA-3", 1800), ("OPS-13", 2700))
WORDS = ("deploy", "review", "pairing", "on-call", "planning", "fix", "triage")
DECOY = "UTF-8 cleanup and ISO-8601 dates for 2026-05"

EDIT_KINDS = ("log", "timer", "hours", "repoint", "redate", "reword", "delete", "stop")
LINKS = ("key", "lower", "two", "reference", "none", "decoy")
FAULT_KINDS = ("latency", "error", "rate_limit", "reset", "apply_then_fail")
TARGETS = {
    "jira_create": ("jira", "POST", r"/rest/api/\d/issue/[^/]+/worklog$"),
    "jira_update": ("jira", "PUT", r"/rest/api/\d/issue/[^/]+/worklog/[^/]+$"),
    "jira_delete": ("jira", "DELETE", r"/rest/api/\d/issue/[^/]+/worklog/[^/]+$"),
    "jira_read": ("jira", "GET", r"/worklog"),
    "harvest_entries": ("harvest", "GET", r"^/v2/time_entries"),
    "harvest_users": ("harvest", "GET", r"^/v2/users"),
}
TARGET_OF = {(method, path): name for name, (_, method, path) in TARGETS.items()}
WRITE_TARGETS = ("jira_create", "jira_update", "jira_delete")


def ledger_env(dsn: str) -> dict[str, str]:
    """``AIRFLOW_CONN_H2J_POSTGRES`` for a libpq DSN, in Airflow's JSON form."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    conn = {
        "conn_type": "postgres",
        "host": info.get("host") or "127.0.0.1",
        "port": int(info.get("port") or 5432),
        "login": info.get("user") or "postgres",
        "password": info.get("password"),
        "schema": info.get("dbname") or "postgres",
    }
    return {"AIRFLOW_CONN_H2J_POSTGRES": json.dumps(conn)}


def sync_env(harvest_url: str, jira_url: str, ledger_dsn: str) -> dict[str, str]:
    """The three ``AIRFLOW_CONN_*`` variables that point h2j at sandboxes and a ledger."""
    return {**connection_env(harvest_url, jira_url), **ledger_env(ledger_dsn)}


def reset_ledger(dsn: str) -> None:
    """Drop h2j's schema, so that the next ``prepare`` starts from an empty ledger."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS h2j CASCADE")


def _policy_home() -> ModuleType:
    """The module whose ``DEFAULT_POLICY`` a hook takes when it is given none."""
    from h2j.jira_hook import JiraHook

    for cls in JiraHook.__mro__:
        module = sys.modules.get(cls.__module__)
        if module is not None and hasattr(module, "DEFAULT_POLICY"):
            return module
    raise RuntimeError("no hook base module holds DEFAULT_POLICY")


@contextlib.contextmanager
def quick_retries(policy: RetryPolicy = QUICK_POLICY) -> Iterator[None]:
    """Shrink the hooks' backoff and lift h2j's own Harvest rate limits for a while.

    The sandboxes answer in milliseconds and their Harvest limit is off, so waiting
    seconds between attempts would only make a test slow; the retry decisions stay h2j's.
    """
    from h2j import harvest_hook

    home = _policy_home()
    saved = home.DEFAULT_POLICY, harvest_hook.PROCESS_RATE_LIMITER
    home.DEFAULT_POLICY = policy
    harvest_hook.PROCESS_RATE_LIMITER = RateLimiter(max_calls=100_000, period=1.0)
    try:
        with environment({"AIRFLOW__H2J__HARVEST_RATE_MAX_CALLS": "100000"}):
            yield
    finally:
        home.DEFAULT_POLICY, harvest_hook.PROCESS_RATE_LIMITER = saved


class Sandboxes:
    """The two sandbox servers' admin API: state, issues, faults and Jira's clock."""

    def __init__(self, harvest_url: str, jira_url: str):
        self.urls = {"harvest": harvest_url, "jira": jira_url}

    def admin(self, service: str, method: str, path: str, **kwargs: Any) -> requests.Response:
        url = f"{self.urls[service]}/_sandbox{path}"
        response = requests.request(method, url, timeout=TIMEOUT, **kwargs)
        response.raise_for_status()
        return response

    def reset(self) -> None:
        for service in self.urls:
            self.admin(service, "POST", "/reset")
        self.admin("harvest", "PUT", "/rate_limit", json={})

    def state(self, service: str) -> dict[str, Any]:
        return self.admin(service, "GET", "/state").json()

    def set_faults(self, faults: list[Fault], seed: int = 1) -> None:
        for service, rules in fault_rules(faults).items():
            self.admin(service, "PUT", "/faults", json={"rules": rules, "seed": seed})

    def fired(self) -> Counter:
        """How often each (kind, target) of fault fired since the rules were set."""
        counts: Counter = Counter()
        for service in self.urls:
            for rule in self.admin(service, "GET", "/faults").json()["rules"]:
                target = TARGET_OF.get((rule.get("method"), rule.get("path")), "other")
                counts[(rule["kind"], target)] += rule["fired"]
        return +counts

    def clear_faults(self) -> None:
        for service in self.urls:
            self.admin(service, "DELETE", "/faults")

    def advance_jira_clock(self, seconds: int = 61) -> None:
        """Step past the minute Jira's change feeds leave out, as a day between runs does."""
        self.admin("jira", "POST", "/clock/advance", json={"seconds": seconds})


class Office:
    """What people do over the public APIs: log time in Harvest, read and log in Jira."""

    def __init__(self, sandboxes: Sandboxes):
        self.sandboxes = sandboxes
        self.harvest_headers = {
            "Authorization": f"Bearer {HARVEST_TOKEN}",
            "Harvest-Account-Id": HARVEST_ACCOUNT_ID,
            "User-Agent": "h2j bench (bench@example.com)",
        }

    def harvest(self, method: str, path: str, body: dict | None = None) -> dict[str, Any]:
        url = f"{self.sandboxes.urls['harvest']}/v2/time_entries{path}"
        response = requests.request(
            method, url, json=body, headers=self.harvest_headers, timeout=TIMEOUT
        )
        if response.status_code >= 300:
            raise RuntimeError(f"Harvest {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else {}

    def jira(self, method: str, path: str, **kwargs: Any) -> Any:
        url = f"{self.sandboxes.urls['jira']}/rest/api/3/{path}"
        response = requests.request(
            method, url, auth=(JIRA_EMAIL, JIRA_API_TOKEN), timeout=TIMEOUT, **kwargs
        )
        if response.status_code >= 300:
            raise RuntimeError(f"Jira {method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def hand_log(self, key: str, seconds: int, started: str) -> dict[str, Any]:
        """A worklog someone adds in Jira itself, which h2j must never touch."""
        body = {"timeSpentSeconds": seconds, "started": started}
        return self.jira("POST", f"issue/{key}/worklog", json=body)

    def tracking(self, key: str) -> dict[str, Any]:
        issue = self.jira("GET", f"issue/{key}", params={"fields": "timetracking"})
        return issue["fields"]["timetracking"]

    def worklogs(self, key: str) -> list[dict[str, Any]]:
        page = self.jira("GET", f"issue/{key}/worklog", params={"expand": "properties"})
        return page["worklogs"]


@dataclass(frozen=True)
class Person:
    user_id: int
    name: str
    zone: str


@dataclass(frozen=True)
class Issue:
    key: str
    issue_id: str
    project_id: str
    original: int | None


@dataclass(frozen=True)
class HandLog:
    key: str
    worklog_id: str
    seconds: int
    started: str


@dataclass
class Cast:
    """The people, issues and hand-made worklogs of a scenario, and the entries it made."""

    people: list[Person]
    issues: list[Issue]
    hand_logs: list[HandLog] = field(default_factory=list)
    entries: list[int] = field(default_factory=list)
    created: int = 0
    max_entries: int = MAX_ENTRIES

    def issue(self, ref: str | None) -> Issue | None:
        """The issue an entry's reference (an issue id or a key) names, if any."""
        for issue in self.issues:
            if ref in (issue.issue_id, issue.key):
                return issue
        return None

    def params(self) -> dict[str, Any]:
        """Run params that sync the cast alone (the sandbox's own admin has no entries)."""
        return {"users": [person.user_id for person in self.people]}

    def project_keys(self) -> set[str]:
        return {issue.key.split("-")[0] for issue in self.issues}

    def clamp_free_bound(self) -> int:
        """The most time an issue can hold at once if no entry ever holds two worklogs."""
        return sum(log.seconds for log in self.hand_logs) + 24 * HOUR * self.created


def big_estimate(max_entries: int) -> int:
    hand = sum(seconds for _, seconds in HAND_LOGS)
    return hand + 24 * HOUR * max_entries


def setup_cast(
    sandboxes: Sandboxes, office: Office, people: int = 3, max_entries: int = MAX_ENTRIES
) -> Cast:
    """Reset both sandboxes and give them people, issues and some hand-made worklogs."""
    sandboxes.reset()
    state = sandboxes.state("harvest")
    cast = Cast(people=[], issues=[], max_entries=max_entries)
    for number, (first, last, zone) in enumerate(PEOPLE[:people], start=1):
        user = {**state["users"][0], "id": 100 + number, "first_name": first}
        user.update(last_name=last, timezone=zone, access_roles=["member"])
        user["email"] = f"{first.lower()}.{last.lower()}@example.com"
        state["users"].append(user)
        cast.people.append(Person(user["id"], f"{first} {last}", iana_zone(zone)))
    sandboxes.admin("harvest", "PUT", "/state", json=state)
    for key, estimate in ISSUES:
        original = big_estimate(max_entries) if estimate == "big" else estimate
        spec = {"key": key, "original_estimate_seconds": original}
        made = sandboxes.admin("jira", "POST", "/issues", json=spec).json()
        cast.issues.append(Issue(key, made["id"], made["project_id"], original))
    for day, (key, seconds) in enumerate(HAND_LOGS, start=2):
        made = office.hand_log(key, seconds, f"2026-11-{day:02d}T14:00:00.000+0000")
        cast.hand_logs.append(HandLog(key, made["id"], seconds, made["started"]))
    return cast


@dataclass(frozen=True)
class Edit:
    """One thing a person does in Harvest; ``pick`` and ``issue`` wrap around the choices.

    ``pick`` chooses the person for ``log`` and ``timer`` and the entry otherwise; ``day``
    is the day of November 2026; ``link`` says how the notes name ``issue``.
    """

    kind: str
    pick: int = 0
    hours: float = 1.0
    link: str = "key"
    issue: int = 0
    day: int = 1


def link_fields(cast: Cast, link: str, issue_index: int, word: str) -> dict[str, Any]:
    """The ``notes`` and ``external_reference`` that link an entry the way ``link`` says."""
    issue = cast.issues[issue_index % len(cast.issues)]
    other = cast.issues[(issue_index + 1) % len(cast.issues)]
    notes = {
        "key": f"{issue.key} {word}",
        "lower": f"{word} on {issue.key.lower()}: notes",
        "two": f"{word} for {issue.key}, then ({other.key})",
        "reference": f"{word} from a Jira timer",
        "none": f"{word} with the team",
        "decoy": f"{word}: {DECOY}",
    }[link]
    reference = None
    if link == "reference":
        reference = {
            "id": issue.issue_id,
            "group_id": issue.project_id,
            "permalink": f"https://{JIRA_SITE}/browse/{issue.key}",
        }
    return {"notes": notes, "external_reference": reference}


def apply_edit(office: Office, cast: Cast, edit: Edit) -> str | None:
    """Do ``edit`` in Harvest; a description of what was done, or None if it did not apply."""
    if edit.kind in ("log", "timer"):
        return _log(office, cast, edit)
    if edit.kind == "stop":
        return _stop(office, cast, edit)
    if not cast.entries:
        return None
    entry = cast.entries[edit.pick % len(cast.entries)]
    word = WORDS[(edit.issue + edit.day) % len(WORDS)]
    if edit.kind == "delete":
        office.harvest("DELETE", f"/{entry}")
        cast.entries.remove(entry)
    elif edit.kind == "reword":
        notes = office.harvest("GET", f"/{entry}").get("notes") or ""
        office.harvest("PATCH", f"/{entry}", {"notes": f"{notes} +{word}"})
    else:
        office.harvest("PATCH", f"/{entry}", _changes(cast, edit, word))
    return f"{edit.kind} {entry}"


def _changes(cast: Cast, edit: Edit, word: str) -> dict[str, Any]:
    if edit.kind == "hours":
        return {"hours": edit.hours}
    if edit.kind == "redate":
        return {"spent_date": (FIRST_DAY + dt.timedelta(days=edit.day - 1)).isoformat()}
    if edit.kind == "repoint":
        return link_fields(cast, edit.link, edit.issue, word)
    raise ValueError(f"unknown edit kind {edit.kind!r}")


def _log(office: Office, cast: Cast, edit: Edit) -> str | None:
    if cast.created >= cast.max_entries:
        return None
    person = cast.people[edit.pick % len(cast.people)]
    word = WORDS[(edit.issue + edit.day) % len(WORDS)]
    body = {
        "user_id": person.user_id,
        "project_id": 501,
        "task_id": 11,
        "spent_date": (FIRST_DAY + dt.timedelta(days=edit.day - 1)).isoformat(),
        "hours": edit.hours if edit.kind == "log" else None,
        **link_fields(cast, edit.link, edit.issue, word),
    }
    entry = office.harvest("POST", "", body)["id"]
    cast.entries.append(entry)
    cast.created += 1
    return f"{edit.kind} {entry}"


def _stop(office: Office, cast: Cast, edit: Edit) -> str | None:
    live = set(cast.entries)
    running = [
        e["id"]
        for e in office.sandboxes.state("harvest")["time_entries"]
        if e.get("is_running") and e["id"] in live
    ]
    if not running:
        return None
    entry = sorted(running)[edit.pick % len(running)]
    office.harvest("PATCH", f"/{entry}/stop")
    return f"stop {entry}"


@dataclass(frozen=True)
class Fault:
    """One fault rule for the sandboxes (see ``sandbox.common``) on one kind of request."""

    kind: str
    target: str
    rate: float = 1.0
    times: int | None = 1
    skip: int = 0
    status: int = 503
    drop: bool = False
    ms: int = 50


def fault_rules(faults: list[Fault]) -> dict[str, list[dict[str, Any]]]:
    """The rules each sandbox should hold for ``faults``.

    A 429 asks for ``Retry-After: 0`` so that it costs no wall time; that h2j waits as long
    as the header says is for the hook tests to show.
    """
    rules: dict[str, list[dict[str, Any]]] = {"harvest": [], "jira": []}
    for fault in faults:
        service, method, path = TARGETS[fault.target]
        rule: dict[str, Any] = {"kind": fault.kind, "method": method, "path": path}
        rule.update(rate=fault.rate, skip=fault.skip)
        if fault.times is not None:
            rule["times"] = fault.times
        if fault.kind == "latency":
            rule["ms"] = fault.ms
        elif fault.kind == "rate_limit":
            rule["retry_after"] = 0
        elif fault.kind in ("error", "apply_then_fail"):
            rule.update(status=fault.status, drop=fault.drop)
        rules[service].append(rule)
    return rules


@dataclass
class SyncOutcome:
    """What one sync did: the failed tasks (with their errors), the plan and the loads."""

    run_id: str
    failed: dict[str, str] = field(default_factory=dict)
    plan: dict[str, Any] = field(default_factory=dict)
    loads: dict[str, dict[str, Any]] = field(default_factory=dict)
    report: dict[str, Any] | None = None

    @property
    def succeeded(self) -> bool:
        return not self.failed


class _Tasks:
    """Runs task bodies as Airflow would: an exception fails that task only."""

    def __init__(self, outcome: SyncOutcome):
        self.outcome = outcome

    def __call__(self, label: str, body: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        try:
            return body(*args, **kwargs)
        except Exception as exc:
            self.outcome.failed[label] = f"{type(exc).__name__}: {exc}"[:500]
            return None


def run_sync(
    window: dict[str, str] | None = None,
    *,
    run_id: str | None = None,
    params: dict[str, Any] | None = None,
    before_load: Callable[[], None] | None = None,
) -> SyncOutcome:
    """One run of ``harvest_to_jira``'s tasks, in order, for ``window`` (default November).

    Every person is a map index of their own. ``before_load`` is called between ``diff``
    and the loads, so two syncs can be made to plan before either writes.
    """
    from h2j import flow

    window = window or WINDOW
    params = {**PARAMS, **(params or {})}
    outcome = SyncOutcome(run_id or f"sim__{uuid.uuid4().hex[:12]}")
    task = _Tasks(outcome)
    end = dt.date.fromisoformat(window["to_date"])
    settled = task("prepare", flow.prepare, window["from_date"], window["to_date"], end, params)
    users = task("list_users", flow.select_users, params.get("users")) if settled else None
    projects = task("list_projects", flow.known_projects) if settled else None
    if settled is None or users is None or projects is None:
        return outcome
    task("check_drift", flow.drift, dry_run=params["dry_run"])
    run = (settled, projects, outcome.run_id, params)
    extracts = [[task(f"extract[{u['name']}]", flow.extract, u, *run)] for u in users]
    outcome.plan = task("diff", flow.diff, users, settled, outcome.run_id) or {}
    if before_load is not None:
        before_load()
    loads = [[_load(task, outcome, user, run)] for user in users]
    outcome.report = task("report", flow.report, users, extracts, loads, dry_run=False)
    return outcome


def _load(task: _Tasks, outcome: SyncOutcome, user: dict[str, Any], run: tuple) -> dict | None:
    """One person's load; like the DAG, it fails on entries that failed for a new reason."""
    from h2j import flow

    label = f"load[{user['name']}]"
    settled, projects, run_id, params = run
    summary = task(label, flow.load, user, settled, projects, run_id, params)
    if summary is None:
        return None
    outcome.loads[user["name"]] = summary.as_dict()
    if outcome.loads[user["name"]].get("new_failures"):
        outcome.failed[label] = f"{len(summary.failures)} entries failed"
    return outcome.loads[user["name"]]


@dataclass(frozen=True)
class Sync:
    """A sync under ``faults``; ``advance_clock`` puts a day's distance since the last one."""

    faults: tuple[Fault, ...] = ()
    advance_clock: bool = True
    seed: int = 1


@dataclass
class Tally:
    """What a scenario went through: syncs run, and faults fired by (kind, target)."""

    syncs: int = 0
    fired: Counter = field(default_factory=Counter)
    failed_tasks: int = 0


def play(
    sandboxes: Sandboxes,
    office: Office,
    cast: Cast,
    steps: list[Edit | Sync],
    rerun_when: Callable[[Counter], bool] | None = None,
) -> Tally:
    """Apply the edits and run the syncs of ``steps`` in order.

    After a sync whose fired faults satisfy ``rerun_when``, the faults are cleared and the
    sync is run again at once, as an operator clearing the failed run would.
    """
    tally = Tally()
    for step in steps:
        if isinstance(step, Edit):
            apply_edit(office, cast, step)
            continue
        fired = faulted_sync(sandboxes, cast, step, tally)
        if rerun_when is not None and rerun_when(fired):
            faulted_sync(sandboxes, cast, Sync(), tally)
    return tally


def lost_answer(fired: Counter) -> bool:
    """Whether a write was applied but its answer lost, by the (kind, target) faults fired."""
    return any(kind == "apply_then_fail" for kind, _target in fired)


def faulted_sync(sandboxes: Sandboxes, cast: Cast, step: Sync, tally: Tally) -> Counter:
    """One sync under the step's faults; the faults that fired, by (kind, target)."""
    if step.advance_clock:
        sandboxes.advance_jira_clock()
    sandboxes.set_faults(list(step.faults), seed=step.seed)
    try:
        outcome = run_sync(params=cast.params())
        fired = sandboxes.fired()
    finally:
        sandboxes.clear_faults()
    tally.syncs += 1
    tally.fired.update(fired)
    tally.failed_tasks += len(outcome.failed)
    return fired


def finish(sandboxes: Sandboxes, office: Office, cast: Cast, ledger_dsn: str):
    """The closing clean sync, a day after the last one, and the audit of what it left.

    One clean sync is enough: an intent left pending is read back or redone by the next
    plan, a write whose answer was lost shows in Jira's change feeds once a minute has
    passed, and scenarios hold fewer entries than the mass-deletion hold needs to fire.
    """
    sandboxes.clear_faults()
    sandboxes.advance_jira_clock()
    outcome = run_sync(params=cast.params())
    return outcome, audit(office, cast, ledger_dsn)


@dataclass(frozen=True)
class Expected:
    issue: Issue
    seconds: int
    started: str
    comment: str


def expected_worklog(entry: dict[str, Any], cast: Cast) -> Expected | None:
    """The worklog h2j's own rules give ``entry``, or None when it should have none."""
    if entry.get("is_running"):
        return None
    seconds = worklog_seconds(entry_seconds(entry["id"], entry.get("hours")))
    if seconds is None:
        return None
    ref = reference_from_external(entry.get("external_reference"), JIRA_SITE)
    notes = entry.get("notes") if isinstance(entry.get("notes"), str) else None
    named = (ref.issue_id or ref.key) if ref else first_known_key(notes, cast.project_keys())
    issue = cast.issue(named)
    if issue is None:
        return None
    person = next(p for p in cast.people if p.user_id == entry["user"]["id"])
    day = parse_spent_date(entry["id"], entry["spent_date"])
    started = jira_started(day, parse_started_time(entry.get("started_time")), person.zone)
    return Expected(issue, seconds, started, comment_text(notes, person.name))


@dataclass
class Audit:
    """What disagrees between Harvest, Jira and the ledger; empty lists mean all is well."""

    problems: list[str] = field(default_factory=list)
    kinds: Counter = field(default_factory=Counter)
    duplicates: int = 0
    orphans: int = 0
    seconds_lost: int = 0
    seconds_extra: int = 0
    ledger_lies: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, kind: str, problem: str) -> None:
        """Record ``problem``, counted under ``kind`` (stray, duplicate, missing, time...)."""
        self.kinds[kind] += 1
        self.problems.append(problem)

    def __str__(self) -> str:
        return "\n".join(self.problems) or "audit clean"


@dataclass
class _JiraView:
    tracking: dict[str, dict[str, Any]]
    worklogs: dict[str, list[dict[str, Any]]]

    def by_id(self) -> dict[str, tuple[str, dict[str, Any]]]:
        return {w["id"]: (key, w) for key, logs in self.worklogs.items() for w in logs}

    def own(self) -> dict[int, list[tuple[str, dict[str, Any]]]]:
        """h2j's worklogs (those with its property), by Harvest entry id."""
        found: dict[int, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for key, logs in self.worklogs.items():
            for worklog in logs:
                entry_id = _entry_of(worklog)
                if entry_id is not None:
                    found[entry_id].append((key, worklog))
        return found


def _entry_of(worklog: dict[str, Any]) -> int | None:
    for prop in worklog.get("properties") or []:
        if prop.get("key") == PROPERTY_KEY and isinstance(prop.get("value"), dict):
            return prop["value"].get("entry_id")
    return None


def audit(office: Office, cast: Cast, ledger_dsn: str) -> Audit:
    """Check Jira and the ledger against Harvest; call it with no faults set."""
    entries = {e["id"]: e for e in office.sandboxes.state("harvest")["time_entries"]}
    view = _JiraView(
        tracking={i.key: office.tracking(i.key) for i in cast.issues},
        worklogs={i.key: office.worklogs(i.key) for i in cast.issues},
    )
    result = Audit()
    expected = {entry_id: expected_worklog(e, cast) for entry_id, e in entries.items()}
    own = view.own()
    for entry_id in sorted(set(expected) | set(own)):
        _audit_entry(result, entry_id, expected.get(entry_id), own.get(entry_id, []))
    _audit_sums(result, cast, expected, own)
    _audit_hand_logs(result, cast, view)
    _audit_estimates(result, cast, view)
    _audit_ledger(result, ledger_dsn, view)
    return result


def _audit_entry(
    result: Audit, entry_id: int, want: Expected | None, got: list[tuple[str, dict[str, Any]]]
) -> None:
    right = [w for key, w in got if want is not None and key == want.issue.key]
    for key, worklog in got:
        if worklog not in right:
            result.orphans += 1
            result.seconds_extra += worklog["timeSpentSeconds"]
            result.add("stray", f"entry {entry_id}: stray worklog {worklog['id']} on {key}")
    for worklog in right[1:]:
        result.duplicates += 1
        result.seconds_extra += worklog["timeSpentSeconds"]
        result.add(
            "duplicate", f"entry {entry_id}: duplicate worklog {worklog['id']} on {want.issue.key}"
        )
    if want is None:
        return
    if not right:
        result.seconds_lost += want.seconds
        result.add(
            "missing", f"entry {entry_id}: no worklog on {want.issue.key} for {want.seconds} s"
        )
        return
    _audit_fields(result, entry_id, want, right[0])


def _audit_fields(result: Audit, entry_id: int, want: Expected, worklog: dict[str, Any]) -> None:
    from h2j.jira_hook import comment_text as readable

    have = worklog["timeSpentSeconds"]
    if not same_minutes(have, want.seconds):
        result.seconds_lost += max(0, want.seconds - have)
        result.seconds_extra += max(0, have - want.seconds)
        result.add(
            "time", f"entry {entry_id}: worklog {worklog['id']} has {have} s, not {want.seconds}"
        )
    if _instant(worklog["started"]) != _instant(want.started):
        result.add("started", f"entry {entry_id}: starts {worklog['started']}, not {want.started}")
    if readable(worklog.get("comment")) != want.comment:
        result.add("comment", f"entry {entry_id}: comment {readable(worklog.get('comment'))!r}")


def _instant(started: str) -> dt.datetime:
    return dt.datetime.strptime(started, "%Y-%m-%dT%H:%M:%S.%f%z")


def _audit_sums(result: Audit, cast: Cast, expected: dict, own: dict) -> None:
    """Per issue, h2j's time equals Harvest's linked time to within half a minute per entry."""
    for issue in cast.issues:
        wanted = [w.seconds for w in expected.values() if w and w.issue == issue]
        held = [w["timeSpentSeconds"] for logs in own.values() for k, w in logs if k == issue.key]
        if abs(sum(held) - sum(wanted)) > 30 * max(len(wanted), len(held), 1):
            result.add(
                "sum", f"{issue.key}: h2j holds {sum(held)} s, Harvest links {sum(wanted)} s"
            )


def _audit_hand_logs(result: Audit, cast: Cast, view: _JiraView) -> None:
    worklogs = view.by_id()
    for hand in cast.hand_logs:
        key, worklog = worklogs.get(hand.worklog_id, (None, None))
        if worklog is None:
            result.add("hand", f"hand-made worklog {hand.worklog_id} on {hand.key} is gone")
            continue
        found = (key, worklog["timeSpentSeconds"], worklog["started"], _entry_of(worklog))
        if found != (hand.key, hand.seconds, hand.started, None):
            result.add("hand", f"hand-made worklog {hand.worklog_id} changed: {found}")


def _audit_estimates(result: Audit, cast: Cast, view: _JiraView) -> None:
    """The estimate invariant of the module docstring."""
    bound = cast.clamp_free_bound()
    for issue in cast.issues:
        tracking = view.tracking[issue.key]
        spent = sum(w["timeSpentSeconds"] for w in view.worklogs[issue.key])
        remaining = tracking.get("remainingEstimateSeconds")
        if tracking.get("timeSpentSeconds", 0) != spent:
            result.add(
                "spent", f"{issue.key}: time spent {tracking.get('timeSpentSeconds')} != {spent}"
            )
        if issue.original is None:
            good = remaining is None
        elif issue.original >= bound:
            good = remaining == issue.original - spent
        else:
            good = remaining is not None and remaining >= max(0, issue.original - spent)
        if not good:
            result.add(
                "estimate",
                f"{issue.key}: remaining {remaining} s with {spent} s spent of an estimate of "
                f"{issue.original} s",
            )


def _audit_ledger(result: Audit, dsn: str, view: _JiraView) -> None:
    """Every ledger row that names a worklog names one Jira holds, on its issue, as written."""
    worklogs = view.by_id()
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT entry_id, issue_id, worklog_id, seconds FROM h2j.ledger "
            "WHERE worklog_id IS NOT NULL ORDER BY entry_id"
        ).fetchall()
    for entry_id, issue_id, worklog_id, seconds in rows:
        _key, worklog = worklogs.get(worklog_id, (None, None))
        held = None if worklog is None else (worklog["issueId"], worklog["timeSpentSeconds"])
        if held != (issue_id, seconds):
            result.ledger_lies += 1
            result.add(
                "ledger",
                f"ledger: entry {entry_id} names worklog {worklog_id} on issue {issue_id} "
                f"with {seconds} s; Jira holds {held}",
            )


@contextlib.contextmanager
def environment(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables for a while, then put the old values back."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
