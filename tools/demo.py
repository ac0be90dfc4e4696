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
import sys
import time

import psycopg
import requests

from sandbox import sample
from sandbox.__main__ import connection_env
from tools.demo_clients import Harvest, Jira
from tools.demo_setup import (
    ROOT,
    WORK_DIR,
    airflow_defaults,
    fresh_database,
    postgres_connection,
    prepare_airflow,
    run_logged,
    sandbox,
    server_dsn,
)
from tools.demo_text import (
    DEMO_KEY,
    HOUR,
    Changes,
    DemoError,
    Issue,
    Window,
    change_notes,
    changed_issues,
    choose_changes,
    demo_line,
    first_tuesday,
    hours_text,
    issue_table,
    judge_run,
    month_window,
    report_block,
)

DATABASE = "h2j_demo"
DAG_ID = "harvest_to_jira"
RUN_TIMEOUT = 170
DEMO_START, DEMO_END, DEMO_EDITED_END = "9:00am", "3:00pm", "12:00pm"

SYNCED_SQL = (
    "SELECT entry_id, issue_key, issue_id FROM h2j.ledger "
    "WHERE state = 'synced' AND worklog_id IS NOT NULL"
)
FAILED_SQL = (
    "SELECT entry_id, user_id, issue_key, spent_date, last_error FROM h2j.ledger "
    "WHERE state = 'failed' ORDER BY issue_key, spent_date, entry_id"
)


def ledger_rows(dsn: str, query: str) -> list[dict]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return cur.execute(query).fetchall()


def synced_issue_of(dsn: str) -> dict[int, str]:
    return {row["entry_id"]: row["issue_key"] for row in ledger_rows(dsn, SYNCED_SQL)}


def worklog_issue_ids(dsn: str) -> set[str]:
    return {row["issue_id"] for row in ledger_rows(dsn, SYNCED_SQL)}


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
