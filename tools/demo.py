"""``make demo``: a month of a team's Harvest time kept true in Jira, in about two minutes.

The demo shows what h2j does for a person who reads only its output. On the two sandbox
servers (``python -m sandbox --sample``) and a fresh ledger database, ``h2j_demo``:

1. Someone logs 6 h on the demo issue OPS-1, which Jira estimates at 10 h.
2. A real run of ``harvest_to_jira`` for last month (``airflow dags test``) turns every
   Harvest entry that names a Jira issue into a worklog, and Jira's remaining estimates
   drop by the hours. Two sample entries name a closed issue; Jira refuses them, so the
   run fails for their person and names them, while everyone else's worklogs go through.
   That is the behaviour the demo wants to show, not a fault in the demo.
3. People then correct their timesheets in Harvest: three entries change hours, two are
   deleted, one is re-pointed to another issue in its notes, and the 6 h on OPS-1 becomes
   3 h. A second run applies exactly those changes, and OPS-1 ends at 10 h estimate, 3 h
   spent, 7 h remaining.

Everything goes through the same HTTP APIs and the same Airflow command a person would
use. Logs land in ``.h2j/demo/``; the ledger database is kept for inspection.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import requests
from psycopg import sql

from sandbox import sample
from sandbox.__main__ import connection_env

ROOT = Path(__file__).resolve().parent.parent
WORK_DIR = ROOT / ".h2j" / "demo"
DATABASE = "h2j_demo"
DAG_ID = "harvest_to_jira"
DEMO_KEY = sample.DEMO_ISSUE_KEY
HOUR = 3600
HTTP_TIMEOUT = 30
RUN_TIMEOUT = 170
EDIT_MINUTES = (60, -30, 45)
DEMO_START, DEMO_END, DEMO_EDITED_END = "9:00am", "3:00pm", "12:00pm"
KEY_LIKE = re.compile(r"\b[A-Z][A-Z0-9_]*-\d+\b", re.IGNORECASE)
CLOCK = re.compile(r"^(\d{1,2}):(\d{2})\s*([ap]m)?$", re.IGNORECASE)
REPORT_HEADER = re.compile(r"^\s*user\s+created\s+updated\s+moved\s+deleted\b")
REPORT_HEADLINE = re.compile(r"^(Dry run: would have )?\d+ users: ")
LOG_LINE = re.compile(r"^\d{4}-\d{2}-\d{2}T")
Window = tuple[dt.date, dt.date]

SYNCED_SQL = (
    "SELECT entry_id, issue_key, issue_id FROM h2j.ledger "
    "WHERE state = 'synced' AND worklog_id IS NOT NULL"
)
FAILED_SQL = (
    "SELECT entry_id, user_id, issue_key, spent_date, last_error FROM h2j.ledger "
    "WHERE state = 'failed' ORDER BY issue_key, spent_date, entry_id"
)


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
    if exit_code != 0 and all(_is_closed(issues.get(f["issue_key"])) for f in failures):
        noun = "a closed issue" if len(keys) == 1 else "closed issues"
        people = ", ".join(sorted({f["person"] for f in failures}))
        return True, [
            f"{len(failures)} entries on {noun} failed, as expected:",
            *details,
            "Jira takes no worklogs on a closed issue, so the run is marked failed",
            f"for {people}; everyone else's worklogs went through.",
        ]
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


class Harvest:
    """The few Harvest API v2 calls the demo makes, as the account's administrator."""

    def __init__(self, url: str):
        self.url = url
        self.session = requests.Session()
        self.session.headers.update(
            {
                "Authorization": f"Bearer {sample.HARVEST_TOKEN}",
                "Harvest-Account-Id": sample.HARVEST_ACCOUNT_ID,
                "User-Agent": "h2j demo (h2j-demo@example.com)",
            }
        )

    def call(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        """One request; a 429 waits out Harvest's ``Retry-After`` (100 calls per 15 s)."""
        for _ in range(5):
            response = self.session.request(method, url, timeout=HTTP_TIMEOUT, **kwargs)
            if response.status_code != 429:
                break
            time.sleep(float(response.headers.get("Retry-After", "1")))
        if not response.ok:
            raise DemoError(f"Harvest {method} {url}: HTTP {response.status_code}")
        return response

    def me(self) -> dict:
        return self.call("GET", f"{self.url}/v2/users/me").json()

    def user_names(self) -> dict[int, str]:
        users = self.call("GET", f"{self.url}/v2/users").json()["users"]
        return {u["id"]: f"{u['first_name']} {u['last_name']}" for u in users}

    def entries(self, window: Window) -> list[dict]:
        """Every entry dated in the window, following ``links.next`` page by page."""
        found: list[dict] = []
        url: str | None = f"{self.url}/v2/time_entries"
        params: dict | None = {"from": str(window[0]), "to": str(window[1])}
        while url:
            page = self.call("GET", url, params=params).json()
            found.extend(page["time_entries"])
            url, params = page["links"]["next"], None
        return found

    def create(self, body: dict) -> dict:
        return self.call("POST", f"{self.url}/v2/time_entries", json=body).json()

    def edit(self, entry_id: int, **fields: Any) -> dict:
        return self.call("PATCH", f"{self.url}/v2/time_entries/{entry_id}", json=fields).json()

    def delete(self, entry_id: int) -> None:
        self.call("DELETE", f"{self.url}/v2/time_entries/{entry_id}")


class Jira:
    """Reads an issue's time tracking, as anyone looking at the issue in Jira would."""

    def __init__(self, url: str):
        self.url = url
        self.auth = (sample.JIRA_EMAIL, sample.JIRA_API_TOKEN)

    def issue(self, id_or_key: str) -> Issue:
        response = requests.get(
            f"{self.url}/rest/api/3/issue/{id_or_key}",
            params={"fields": "summary,status,timetracking"},
            auth=self.auth,
            timeout=HTTP_TIMEOUT,
        )
        if not response.ok:
            raise DemoError(f"Jira issue {id_or_key}: HTTP {response.status_code}")
        body = response.json()
        fields, tracking = body["fields"], body["fields"].get("timetracking") or {}
        return Issue(
            key=body["key"],
            summary=fields.get("summary") or "",
            status=fields["status"]["name"],
            closed=fields["status"]["statusCategory"]["key"] == "done",
            estimate=tracking.get("originalEstimateSeconds"),
            spent=tracking.get("timeSpentSeconds", 0),
            remaining=tracking.get("remainingEstimateSeconds"),
        )

    def snapshot(self, ids_or_keys: set[str]) -> dict[str, Issue]:
        issues = [self.issue(value) for value in sorted(ids_or_keys)]
        return {issue.key: issue for issue in issues}


def airflow_defaults() -> dict[str, str]:
    """What the Makefile exports, so ``python -m tools.demo`` alone behaves the same."""
    return {
        "AIRFLOW_HOME": str(ROOT / ".airflow"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "PYTHONPATH": os.pathsep.join([str(ROOT / "plugins"), str(ROOT)]),
    }


def server_dsn() -> str:
    """``H2J_PG_DSN`` as make exports it, else whatever server ``tools.pg`` finds."""
    if os.environ.get("H2J_PG_DSN"):
        return os.environ["H2J_PG_DSN"]
    found = subprocess.run(
        [sys.executable, "-m", "tools.pg"], cwd=ROOT, check=True, capture_output=True, text=True
    )
    return found.stdout.strip()


def fresh_database(server: str, name: str) -> str:
    """Drop and create database ``name`` on ``server``; return a DSN for it."""
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return psycopg.conninfo.make_conninfo(server, dbname=name)


def postgres_connection(dsn: str) -> str:
    """The ``h2j_postgres`` connection in Airflow's JSON form."""
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    conn = {
        "conn_type": "postgres",
        "host": info.get("host") or "127.0.0.1",
        "port": int(info.get("port") or 5432),
        "login": info.get("user") or "postgres",
        "password": info.get("password"),
        "schema": info["dbname"],
    }
    return json.dumps(conn)


def metadata_ready(home: Path) -> bool:
    """True when Airflow's default sqlite metadata database already carries its schema."""
    path = home / "airflow.db"
    if os.environ.get("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN") or not path.exists():
        return False
    try:
        with closing(sqlite3.connect(path)) as db:
            return bool(db.execute("SELECT version_num FROM alembic_version").fetchall())
    except sqlite3.Error:
        return False


def run_logged(args: list[str], log_path: Path, timeout: float) -> int:
    """Run a command with its output in ``log_path``; return its exit code."""
    with log_path.open("w", encoding="utf-8") as log:
        try:
            done = subprocess.run(
                args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT, timeout=timeout, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise DemoError(
                f"{' '.join(args[1:4])} ran over {timeout:.0f} s; see {log_path}"
            ) from exc
    return done.returncode


def prepare_airflow() -> None:
    home = Path(os.environ["AIRFLOW_HOME"])
    if metadata_ready(home):
        return
    home.mkdir(parents=True, exist_ok=True)
    log_path = WORK_DIR / "airflow-db-migrate.log"
    print(f"    Creating Airflow's metadata database in {home} (once) ...", flush=True)
    if run_logged([sys.executable, "-m", "airflow", "db", "migrate"], log_path, 300):
        raise DemoError(f"airflow db migrate failed; see {log_path}")


def ledger_rows(dsn: str, query: str) -> list[dict]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(query).fetchall()


def synced_issue_of(dsn: str) -> dict[int, str]:
    return {row["entry_id"]: row["issue_key"] for row in ledger_rows(dsn, SYNCED_SQL)}


def worklog_issue_ids(dsn: str) -> set[str]:
    return {row["issue_id"] for row in ledger_rows(dsn, SYNCED_SQL)}


def wait_for_urls(ready: Path, process: subprocess.Popen, seconds: float = 60) -> dict:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if ready.exists():
            return json.loads(ready.read_text(encoding="utf-8"))
        if process.poll() is not None:
            raise DemoError(f"the sandbox exited early; see {WORK_DIR / 'sandbox.log'}")
        time.sleep(0.1)
    raise DemoError(f"the sandbox did not start within {seconds:.0f} s")


@contextmanager
def sandbox(month: str) -> Iterator[dict[str, str]]:
    """Both sandbox servers with the sample for ``month``, stopped with SIGTERM on exit."""
    ready = WORK_DIR / "sandbox-ready.json"
    ready.unlink(missing_ok=True)
    args = [sys.executable, "-m", "sandbox", "--sample", "--month", month]
    args += ["--harvest-port", "0", "--jira-port", "0", "--ready-file", str(ready)]
    with (WORK_DIR / "sandbox.log").open("w", encoding="utf-8") as log:
        process = subprocess.Popen(args, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        yield wait_for_urls(ready, process)
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()


def step(number: int, text: str) -> None:
    print(f"\n[{number}/7] {text}", flush=True)


def show(lines: list[str], indent: str = "    ") -> None:
    for line in lines:
        print(f"{indent}{line}", flush=True)


def log_demo_hours(harvest: Harvest, jira: Jira, window: Window) -> dict:
    """Log 6 h on OPS-1 for the account's administrator, on a project they already use."""
    person, entries = harvest.me(), harvest.entries(window)
    theirs = [e for e in entries if e["user"]["id"] == person["id"]]
    template = min(theirs or entries, key=lambda e: e["id"])
    day = first_tuesday(window[0])
    entry = harvest.create(
        {
            "user_id": person["id"],
            "project_id": template["project"]["id"],
            "task_id": template["task"]["id"],
            "spent_date": str(day),
            "started_time": DEMO_START,
            "ended_time": DEMO_END,
            "notes": f"{DEMO_KEY} write the deploy runbook",
        }
    )
    issue = jira.issue(DEMO_KEY)
    print(
        f"    {entry['user']['name']} logs {entry['hours']:g} h on {DEMO_KEY} on {day:%a %d %b} "
        f"({DEMO_START}-{DEMO_END}), Harvest entry #{entry['id']}.\n"
        f'    Jira: {DEMO_KEY} "{issue.summary}" is estimated at {hours_text(issue.estimate)}'
        f", {hours_text(issue.spent)} spent.",
        flush=True,
    )
    return entry


def run_dag(number: int, window: Window) -> tuple[int, list[str]]:
    """One real run of the DAG for the window; its whole output goes to a log file."""
    conf = json.dumps({"from_date": str(window[0]), "to_date": str(window[1])})
    today = dt.datetime.now(dt.UTC).date().isoformat()
    args = [sys.executable, "-m", "airflow", "dags", "test", DAG_ID, today, "-c", conf]
    log_path = WORK_DIR / f"run-{number}.log"
    print(f"    $ airflow dags test {DAG_ID} {today} -c '{conf}'", flush=True)
    began = time.monotonic()
    exit_code = run_logged(args, log_path, RUN_TIMEOUT)
    print(
        f"    exit code {exit_code} after {time.monotonic() - began:.0f} s; "
        f"full log: {log_path.relative_to(ROOT)}",
        flush=True,
    )
    block = report_block(log_path.read_text(encoding="utf-8", errors="replace"))
    if not block:
        raise DemoError(f"run {number} ended before its report; see {log_path}")
    return exit_code, block


def sync(number: int, window: Window, dsn: str, jira: Jira, names: dict[int, str]) -> bool:
    """Run the DAG, print its report and say whether its failures are the expected ones."""
    exit_code, block = run_dag(number, window)
    print("    The report task's table (entries per person):", flush=True)
    show(block, indent="      ")
    failures = [
        {**row, "person": names.get(row["user_id"], f"user {row['user_id']}")}
        for row in ledger_rows(dsn, FAILED_SQL)
    ]
    issues = jira.snapshot({row["issue_key"] for row in failures})
    ok, lines = judge_run(exit_code, failures, issues)
    show(lines)
    return ok


def apply_changes(
    harvest: Harvest, changes: Changes, demo_entry: dict, issue_of: dict[int, str]
) -> None:
    """Correct timesheets in Harvest the way people do, and say what changed."""
    for entry, ended in changes.edits:
        after = harvest.edit(entry["id"], ended_time=ended)
        print(
            f"    edit     #{entry['id']} {entry['user']['name']}, {entry['spent_date']}, "
            f"{issue_of[entry['id']]}: {entry['hours']:g} h -> {after['hours']:g} h",
            flush=True,
        )
    for entry in changes.deletes:
        harvest.delete(entry["id"])
        print(
            f"    delete   #{entry['id']} {entry['user']['name']}, {entry['spent_date']}, "
            f"{issue_of[entry['id']]}: {entry['hours']:g} h",
            flush=True,
        )
    if changes.repoint:
        entry, notes, _ = changes.repoint
        harvest.edit(entry["id"], notes=notes)
        print(
            f"    re-point #{entry['id']} {entry['user']['name']}: notes "
            f'"{entry["notes"]}" -> "{notes}"',
            flush=True,
        )
    after = harvest.edit(demo_entry["id"], ended_time=DEMO_EDITED_END)
    print(
        f"    edit     #{demo_entry['id']} {demo_entry['user']['name']}, {DEMO_KEY}: "
        f"{demo_entry['hours']:g} h -> {after['hours']:g} h",
        flush=True,
    )


def demonstrate(harvest: Harvest, jira: Jira, dsn: str, window: Window) -> bool:
    """Steps 3 to 6; True when everything ended as the demo expects."""
    names = harvest.user_names()
    print(
        f"    Sample: {len(names)} people, {len(harvest.entries(window))} Harvest entries; "
        "no worklogs in Jira yet.",
        flush=True,
    )
    step(3, f"The 10 h case: log 6 h on {DEMO_KEY} in Harvest")
    demo_entry = log_demo_hours(harvest, jira, window)

    step(4, f"First run of {DAG_ID} for {window[0]} .. {window[1]}")
    first_ok = sync(1, window, dsn, jira, names)

    before = jira.snapshot(worklog_issue_ids(dsn))
    step(5, f"Jira after the first run: {len(before)} issues got worklogs")
    show(issue_table(list(before.values())))

    step(6, "People correct their timesheets in Harvest, then the DAG runs again")
    issue_of = synced_issue_of(dsn)
    with_time_left = frozenset(i.key for i in before.values() if i.remaining)
    changes = choose_changes(harvest.entries(window), issue_of, demo_entry["id"], with_time_left)
    apply_changes(harvest, changes, demo_entry, issue_of)
    print("    Second run, same window:", flush=True)
    second_ok = sync(2, window, dsn, jira, names)

    after = jira.snapshot(worklog_issue_ids(dsn) | set(before) | {DEMO_KEY})
    print("    Issues whose time changed in Jira (before -> after):", flush=True)
    show(changed_issues(before, after, change_notes(changes, issue_of)), indent="      ")
    return first_ok and second_ok and demo_issue_ends_right(after[DEMO_KEY])


def demo_issue_ends_right(issue: Issue) -> bool:
    print(f"\n    {demo_line(issue)}", flush=True)
    if (issue.estimate, issue.spent, issue.remaining) == (10 * HOUR, 3 * HOUR, 7 * HOUR):
        return True
    print(f"    Unexpected: {DEMO_KEY} should read 10 h estimate, 3 h spent, 7 h remaining.")
    return False


def prepare_ledger() -> str:
    """A fresh ``h2j_demo`` database, made the DAG's ``h2j_postgres`` connection."""
    dsn = fresh_database(server_dsn(), DATABASE)
    os.environ["AIRFLOW_CONN_H2J_POSTGRES"] = postgres_connection(dsn)
    info = psycopg.conninfo.conninfo_to_dict(dsn)
    print(
        f"    Database {DATABASE} on {info.get('host')}:{info.get('port', 5432)} "
        "(dropped and created again); DAG connection h2j_postgres points at it.",
        flush=True,
    )
    return dsn


def main() -> int:
    began = time.monotonic()
    for name, value in airflow_defaults().items():
        os.environ.setdefault(name, value)
    WORK_DIR.mkdir(parents=True, exist_ok=True)
    month = sample.last_month(dt.datetime.now(dt.UTC).date())
    window = month_window(month)
    print("h2j demo: Harvest time entries kept true as Jira worklogs, on local sandboxes")
    try:
        step(1, "Ledger database and Airflow")
        dsn = prepare_ledger()
        prepare_airflow()
        step(2, f"Sandbox servers with the sample team's time for {month}")
        with sandbox(month) as urls:
            os.environ.update(connection_env(urls["harvest"], urls["jira"]))
            print(f"    Harvest {urls['harvest']}   Jira {urls['jira']}", flush=True)
            ok = demonstrate(Harvest(urls["harvest"]), Jira(urls["jira"]), dsn, window)
    except (DemoError, psycopg.Error, requests.RequestException) as exc:
        print(f"\nThe demo stopped: {exc}", file=sys.stderr)
        return 1
    step(7, "Sandbox servers stopped")
    print(f"    The ledger is kept for inspection: database {DATABASE} (table h2j.ledger).")
    print(
        f"\nDemo {'finished' if ok else 'ended with surprises'} in "
        f"{time.monotonic() - began:.0f} s."
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
