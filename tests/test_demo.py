"""The parts of ``make demo`` that decide and format; the whole run is ``make demo`` itself."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from contextlib import closing
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from h2j.report import build_report, headline, report_table
from tools import demo_setup, demo_text
from tools.demo_text import Changes, Issue

HOUR = 3600


def entry(entry_id: int, notes: str = "", **fields) -> dict:
    """A Harvest time entry as the API returns it, stopped, on a start/end account."""
    base = {
        "id": entry_id,
        "notes": notes,
        "spent_date": "2026-11-03",
        "hours": 2.0,
        "started_time": "9:00am",
        "ended_time": "11:00am",
        "is_running": False,
        "is_locked": False,
        "external_reference": None,
        "user": {"id": 1, "name": "Ada Lovelace"},
    }
    return base | fields


def issue(key: str, spent: int, remaining: int | None, estimate: int | None = 10 * HOUR):
    return Issue(key, "summary", "Open", False, estimate, spent, remaining)


def test_hours_read_like_a_person_writes_them():
    assert demo_text.hours_text(36000) == "10 h"
    assert demo_text.hours_text(9000) == "2.5 h"
    assert demo_text.hours_text(7236) == "2.01 h"
    assert demo_text.hours_text(0) == "0 h"
    assert demo_text.hours_text(None) == "-"


@pytest.mark.parametrize(
    ("text", "minutes"),
    [("9:15am", 555), ("12:00pm", 720), ("12:05am", 5), ("3:00pm", 900), ("14:59", 899)],
)
def test_harvest_times_of_day_parse_both_clocks(text, minutes):
    assert demo_text.clock_minutes(text) == minutes


def test_time_of_day_is_written_back_in_the_12h_clock():
    assert [demo_text.clock_text(m) for m in (5, 555, 720, 900)] == [
        "12:05am",
        "9:15am",
        "12:00pm",
        "3:00pm",
    ]


def test_window_is_the_whole_month_and_the_demo_day_its_first_tuesday():
    assert demo_text.month_window("2026-02") == (dt.date(2026, 2, 1), dt.date(2026, 2, 28))
    assert demo_text.first_tuesday(dt.date(2026, 11, 1)) == dt.date(2026, 11, 3)
    assert demo_text.first_tuesday(dt.date(2026, 12, 1)) == dt.date(2026, 12, 1)


def test_an_entry_stretches_only_with_room_on_both_sides():
    assert demo_text.stretchable(entry(1, started_time="9:00am", ended_time="10:00am"))
    assert not demo_text.stretchable(entry(1, started_time="9:00am", ended_time="9:40am"))
    assert not demo_text.stretchable(entry(1, started_time="8:00pm", ended_time="10:30pm"))
    assert not demo_text.stretchable(entry(1, started_time=None, ended_time=None))
    assert demo_text.shifted_end(entry(1, ended_time="11:30am"), 60) == "12:30pm"


def test_repointing_replaces_the_key_whatever_its_case():
    assert demo_text.repointed_notes("web-3 debug flaky test", "WEB-3", "OPS-4") == (
        "OPS-4 debug flaky test"
    )
    assert demo_text.repointed_notes("[WEB-3] review", "WEB-3", "OPS-4") == "[OPS-4] review"


def test_only_a_note_naming_its_own_key_alone_is_repointed():
    assert demo_text.single_key(entry(1, "WEB-3: triage"), "WEB-3")
    assert not demo_text.single_key(entry(1, "WEB-3 and WEB-4 triage"), "WEB-3")
    assert not demo_text.single_key(entry(1, "WEB-3 UTF-8 bug"), "WEB-3")
    assert not demo_text.single_key(
        entry(1, "WEB-3 triage", external_reference={"id": "1"}), "WEB-3"
    )
    assert not demo_text.single_key(entry(1, "WEB-2 triage"), "WEB-3")


def team_month() -> tuple[list[dict], dict[int, str]]:
    """Ten synced entries on ten issues, plus entries the demo must leave alone."""
    entries = [entry(100 + n, f"WEB-{n} work") for n in range(1, 11)]
    issue_of = {100 + n: f"WEB-{n}" for n in range(1, 11)}
    entries += [
        entry(1, "WEB-1 running", is_running=True),
        entry(2, "WEB-2 approved", is_locked=True),
        entry(3, "no key at all"),
        entry(4, "OPS-1 demo hours"),
        entry(5, "OPS-1 someone else on the demo issue"),
    ]
    issue_of |= {1: "WEB-1", 2: "WEB-2", 4: "OPS-1", 5: "OPS-1"}
    return entries, issue_of


def test_changes_touch_distinct_editable_issues_and_spare_the_demo_entry():
    entries, issue_of = team_month()
    changes = demo_text.choose_changes(entries, issue_of, keep=4)

    edited = [e["id"] for e, _ in changes.edits]
    deleted = [e["id"] for e in changes.deletes]
    moved, notes, target = changes.repoint
    touched = [*edited, *deleted, moved["id"]]
    assert len(edited) == 3
    assert len(deleted) == 2
    assert not {1, 2, 3, 4, 5} & set(touched)
    issues = [issue_of[i] for i in touched] + [target]
    assert len(set(issues)) == len(issues) == 7
    assert [end for _, end in changes.edits] == ["12:00pm", "10:30am", "11:45am"]
    assert notes == f"{target} work"
    assert issue_of[moved["id"]] != target


def test_issues_with_time_left_are_changed_first():
    entries, issue_of = team_month()
    prefer = frozenset({"WEB-9", "WEB-10"})
    changes = demo_text.choose_changes(entries, issue_of, keep=4, prefer=prefer)

    assert changes.repoint[2] in prefer
    assert issue_of[changes.edits[0][0]["id"]] in prefer


def test_why_each_issue_moves_is_said_next_to_it():
    _, issue_of = team_month()
    changes = Changes(
        edits=[(entry(101), "12:00pm")],
        deletes=[entry(102)],
        repoint=(entry(103), "WEB-9 work", "WEB-9"),
    )
    assert demo_text.change_notes(changes, issue_of) == {
        "WEB-1": "an entry edited",
        "WEB-2": "an entry deleted",
        "WEB-3": "an entry moved to WEB-9",
        "WEB-9": "an entry moved from WEB-3",
        "OPS-1": "the demo entry edited",
    }


def a_report() -> dict:
    users = [{"id": 1, "name": "Nia Okafor"}, {"id": 2, "name": "Sam Becker"}]
    loads = {
        1: {"created": 25, "failed": 2, "hours_pushed": 55.9, "failures": [{"entry_id": 9}]},
        2: {"created": 30, "hours_pushed": 66.48, "failures": []},
    }
    return build_report(users, {1: {}, 2: {}}, loads, dry_run=False)


def test_the_report_table_is_cut_from_the_run_log():
    report = a_report()
    printed = [*report_table(report).splitlines(), headline(report)]
    log = "\n".join(
        [
            "2026-12-03T17:25:40.0Z [info     ] Task started",
            *printed[:2],
            "2026-12-03T17:25:40.1Z [info     ] a log line between print calls",
            *printed[2:],
            "2026-12-03T17:25:40.4Z [error    ] Task failed with exception",
            "airflow.sdk.exceptions.AirflowFailException: 2 users: ...",
        ]
    )
    block = demo_text.report_block(log)
    assert block == [line.rstrip() for line in printed]
    assert block[0].split()[:3] == ["user", "created", "updated"]
    assert block[-1].startswith("2 users: 55 created")


def test_a_run_that_never_reported_gives_no_table():
    report = a_report()
    header_only = report_table(report).splitlines()[0]
    assert demo_text.report_block("2026-12-03T17:25:40.0Z [error] DagRun failed") == []
    assert demo_text.report_block(f"{header_only}\n  Nia Okafor 25 0 0") == []


def failure(entry_id: int, key: str) -> dict:
    return {
        "entry_id": entry_id,
        "user_id": 1,
        "person": "Nia Okafor",
        "issue_key": key,
        "spent_date": dt.date(2026, 11, 3),
        "last_error": "You can not edit the issue as it is in a non-editable workflow state.",
    }


def test_failures_on_a_closed_issue_are_the_expected_ones():
    closed = Issue("WEB-5", "Deploy script", "Closed", True, HOUR, 0, HOUR)
    ok, lines = demo_text.judge_run(
        1, [failure(1, "WEB-5"), failure(2, "WEB-5")], {"WEB-5": closed}
    )
    assert ok
    assert lines[0] == "2 entries on a closed issue failed, as expected:"
    assert '  WEB-5 "Deploy script" (Closed)' in lines
    assert "    Nia Okafor, 2026-11-03, Harvest entry #2" in lines
    assert lines[-1].startswith("for Nia Okafor;")


def test_closed_issue_failures_reported_before_leave_a_green_run():
    closed = Issue("WEB-5", "Deploy script", "Closed", True, HOUR, 0, HOUR)
    ok, lines = demo_text.judge_run(0, [failure(1, "WEB-5")], {"WEB-5": closed})
    assert ok
    assert lines[0] == "1 entries on a closed issue failed, as expected:"
    assert "stays green" in lines[-1]


def test_a_failure_on_an_open_issue_is_a_surprise():
    issues = {"WEB-5": issue("WEB-5", 0, HOUR)}
    ok, lines = demo_text.judge_run(1, [failure(1, "WEB-5")], issues)
    assert not ok
    assert lines[0].startswith("Unexpected: 1 entries failed")


def test_a_failed_run_without_failed_entries_is_a_surprise():
    assert demo_text.judge_run(0, [], {})[0]
    assert not demo_text.judge_run(1, [], {})[0]


def test_changed_issues_list_moves_only_and_end_on_the_demo_issue():
    before = {
        "OPS-1": issue("OPS-1", 6 * HOUR, 4 * HOUR),
        "WEB-10": issue("WEB-10", 5 * HOUR, 5 * HOUR),
        "WEB-9": issue("WEB-9", 2 * HOUR, 0),
        "DATA2-4": issue("DATA2-4", 3 * HOUR, None, estimate=None),
    }
    after = before | {
        "OPS-1": issue("OPS-1", 3 * HOUR, 7 * HOUR),
        "WEB-9": issue("WEB-9", HOUR, HOUR),
        "DATA2-4": issue("DATA2-4", HOUR, None, estimate=None),
    }
    lines = demo_text.changed_issues(before, after, {"WEB-9": "an entry deleted"})
    assert lines == [
        "DATA2-4   spent 3 h -> 1 h (no estimate)",
        "WEB-9     spent 2 h -> 1 h, remaining 0 h -> 1 h  (an entry deleted)",
        "OPS-1     spent 6 h -> 3 h, remaining 4 h -> 7 h",
    ]
    assert demo_text.demo_line(after["OPS-1"]) == "OPS-1: 10 h estimate, 3 h spent, 7 h remaining"


def test_issue_table_sorts_keys_by_number_and_right_aligns_hours():
    lines = demo_text.issue_table(
        [issue("WEB-10", 40 * HOUR, 0), issue("WEB-9", 9000, 27000), issue("DATA2-4", HOUR, None)]
    )
    assert [line.split()[0] for line in lines] == ["issue", "DATA2-4", "WEB-9", "WEB-10"]
    end = lines[0].index("spent") + len("spent")
    assert all(line[end - 2 : end + 1] == " h " for line in lines[1:]), lines


def test_the_ledger_connection_names_the_demo_database():
    conn = json.loads(
        demo_setup.postgres_connection(
            "host=127.0.0.1 port=5433 user=me password=pw dbname=h2j_demo"
        )
    )
    assert conn == {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 5433,
        "login": "me",
        "password": "pw",
        "schema": "h2j_demo",
    }


def test_airflow_metadata_counts_as_ready_only_once_migrated(tmp_path, monkeypatch):
    monkeypatch.delenv("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", raising=False)
    assert not demo_setup.metadata_ready(tmp_path)
    with closing(sqlite3.connect(tmp_path / "airflow.db")) as db:
        db.execute("CREATE TABLE alembic_version (version_num text)")
        db.commit()
        assert not demo_setup.metadata_ready(tmp_path)
        db.execute("INSERT INTO alembic_version VALUES ('d2f4e1b3c5a7')")
        db.commit()
    assert demo_setup.metadata_ready(tmp_path)


def test_the_demo_database_starts_empty_every_time(pg_server):
    name = f"h2j_demo_test_{uuid.uuid4().hex[:10]}"
    try:
        dsn = demo_setup.fresh_database(pg_server, name)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute("CREATE TABLE leftover (n int)")
        dsn = demo_setup.fresh_database(pg_server, name)
        with psycopg.connect(dsn) as conn:
            found = conn.execute("SELECT to_regclass('public.leftover')").fetchone()[0]
        assert found is None
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            admin.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


def test_make_demo_runs_whole_on_a_fresh_airflow_home(pg_server, tmp_path):
    """``make demo`` as a new user meets it: no metadata database, no pools, no DAG yet."""
    root = Path(__file__).resolve().parent.parent
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW")}
    env.update(
        AIRFLOW_HOME=str(tmp_path / "airflow"),
        H2J_PG_DSN=pg_server,
        PYTHONPATH=os.pathsep.join([str(root / "plugins"), str(root)]),
    )
    done = subprocess.run(
        [sys.executable, "-m", "tools.demo"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )

    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-4000:]
    assert "OPS-1: 10 h estimate, 3 h spent, 7 h remaining" in done.stdout, output[-4000:]
    assert "Demo finished in" in done.stdout
