"""``python -m h2j rebuild-ledger`` and ``audit`` against the sandboxes and a real ledger.

The ledger is lost by dropping its schema after a real DAG run; the rebuilt ledger must
then make the next run write nothing to Jira.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import requests

from h2j.__main__ import main
from tests.world import HOUR, JIRA_AUTH, World

ROOT = Path(__file__).resolve().parent.parent
WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
NOVEMBER = ["--from", "2026-11-01", "--to", "2026-11-30"]
LEDGER_COLUMNS = (
    "user_id",
    "issue_id",
    "issue_key",
    "worklog_id",
    "seconds",
    "started",
    "spent_date",
    "comment_hash",
    "state",
    "author_conn",
)


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def cli(*argv: str) -> tuple[int, list[str]]:
    lines: list[str] = []
    return main(list(argv), out=lines.append), lines


def ledger(dsn: str) -> dict[int, dict]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        if not cur.execute("SELECT to_regclass('h2j.ledger') IS NOT NULL").fetchone()["?column?"]:
            return {}
        rows = cur.execute("SELECT * FROM h2j.ledger").fetchall()
    return {row["entry_id"]: {name: row[name] for name in LEDGER_COLUMNS} for row in rows}


def worklog_of(rows: dict[int, dict]) -> dict[int, str | None]:
    return {entry_id: row["worklog_id"] for entry_id, row in rows.items()}


def lose_ledger(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA h2j CASCADE")


@pytest.fixture
def team(world, run_dag):
    """A month synced for two people in different zones, on two issues."""
    world.add_issue("OPS-1", estimate_hours=40)
    world.add_issue("WEB-7", estimate_hours=20)
    ada = world.add_person("Ada", "Lovelace", "London")
    grace = world.add_person("Grace", "Hopper", "Eastern Time (US & Canada)")
    entries = {
        "deploy": world.log(ada, "2026-11-02", 6, "OPS-1 deploy\n\nrolled back twice"),
        "review": world.log(ada, "2026-11-03", 1.25, "Review of web-7"),
        "glance": world.log(grace, "2026-11-01", 0.01, "WEB-7 glance"),
        "pairing": world.log(grace, "2026-11-30", 2.01, "Pairing on OPS-1 with Ada"),
        "standup": world.log(grace, "2026-11-04", 0.5, "standup, no ticket"),
    }
    first = run_dag(WINDOW)
    assert first.succeeded, first
    return {"ada": ada, "grace": grace, **entries}


def test_rebuilt_ledger_makes_the_next_run_write_nothing(team, world, run_dag, sandbox, ledger_dsn):
    before = ledger(ledger_dsn)
    assert len(before) == 4
    lose_ledger(ledger_dsn)
    world.let_jira_feeds_catch_up()

    code, lines = cli("rebuild-ledger", *NOVEMBER)

    assert code == 0, lines
    assert lines[-1].startswith("Wrote 4 ledger rows for 2026-11-01..2026-11-30")
    assert ledger(ledger_dsn) == before
    sandbox.forget_requests()
    again = run_dag(WINDOW)
    assert again.succeeded, again
    assert world.jira_writes() == 0, sandbox.requests_seen("jira")
    assert again.report["totals"]["unchanged"] == 4
    assert worklog_of(ledger(ledger_dsn)) == worklog_of(before)


def test_rebuild_issue_by_issue_gives_the_same_ledger(team, world, ledger_dsn):
    before = ledger(ledger_dsn)
    lose_ledger(ledger_dsn)

    code, lines = cli("rebuild-ledger", *NOVEMBER, "--issues", "OPS-1, WEB-7")

    assert code == 0, lines
    assert ledger(ledger_dsn) == before


def test_dry_run_prints_the_rows_and_writes_nothing(team, world, ledger_dsn):
    before = ledger(ledger_dsn)
    lose_ledger(ledger_dsn)
    world.let_jira_feeds_catch_up()

    code, lines = cli("rebuild-ledger", *NOVEMBER, "--dry-run")

    assert code == 0, lines
    assert ledger(ledger_dsn) == {}
    for entry_id, row in before.items():
        [line] = [line for line in lines if line.startswith(f"entry {entry_id} ")]
        assert f"-> worklog {row['worklog_id']} on {row['issue_key']}" in line
    assert lines[-1].startswith("Would write 4 ledger rows")


def test_rebuild_leaves_the_window_alone_outside_its_dates(team, world, ledger_dsn):
    before = ledger(ledger_dsn)
    lose_ledger(ledger_dsn)
    world.let_jira_feeds_catch_up()

    code, lines = cli("rebuild-ledger", "--from", "2026-11-02", "--to", "2026-11-29")

    assert code == 0, lines
    assert set(ledger(ledger_dsn)) == {team["deploy"], team["review"]}
    assert set(before) - {team["deploy"], team["review"]} == {team["glance"], team["pairing"]}


def test_rebuild_keeps_jira_values_so_the_next_run_restores_harvest(
    team, world, run_dag, sandbox, ledger_dsn
):
    [worklog] = [w for w in world.worklogs("OPS-1") if w["timeSpentSeconds"] == 6 * HOUR]
    world.hand_edit_worklog("OPS-1", worklog["id"], 5 * HOUR)
    world.delete(team["pairing"])
    lose_ledger(ledger_dsn)
    world.let_jira_feeds_catch_up()

    code, lines = cli("rebuild-ledger", *NOVEMBER)

    assert code == 0, lines
    rows = ledger(ledger_dsn)
    assert rows[team["deploy"]]["seconds"] == 5 * HOUR
    assert any(line.startswith(f"gone: entry {team['pairing']} ") for line in lines), lines
    sandbox.forget_requests()
    again = run_dag(WINDOW)
    assert again.succeeded, again
    assert world.jira_writes() == 2, sandbox.requests_seen("jira")
    assert sum(w["timeSpentSeconds"] for w in world.worklogs("OPS-1")) == 6 * HOUR
    assert world.issue("OPS-1")["spent"] == 6 * HOUR
    assert ledger(ledger_dsn)[team["pairing"]]["state"] == "deleted"


def test_rebuild_restores_who_wrote_each_worklog(world, run_dag, sandbox, ledger_dsn, monkeypatch):
    world.add_issue("OPS-41", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    grace = world.add_person("Grace", "Hopper")
    account = {"emailAddress": "ada@example.com", "displayName": "Ada", "api_token": "ada-tok"}
    sandbox.admin("jira", "POST", "/accounts", json=account)
    service = json.loads(os.environ["AIRFLOW_CONN_JIRA_DEFAULT"])
    own = {**service, "login": "ada@example.com", "password": "ada-tok"}
    monkeypatch.setenv(f"AIRFLOW_CONN_JIRA_USER_{ada}", json.dumps(own))
    world.log(ada, "2026-11-03", 2, "OPS-41 her own work")
    world.log(grace, "2026-11-03", 1, "OPS-41 reviewed")
    per_user = {**WINDOW, "author_mode": "per_user"}
    assert run_dag(per_user).succeeded
    before = ledger(ledger_dsn)
    assert {row["author_conn"] for row in before.values()} == {f"jira_user_{ada}", "jira_default"}
    lose_ledger(ledger_dsn)
    world.let_jira_feeds_catch_up()

    code, lines = cli("rebuild-ledger", *NOVEMBER, "--author-mode", "per_user")

    assert code == 0, lines
    assert ledger(ledger_dsn) == before
    sandbox.forget_requests()
    assert run_dag(per_user).succeeded
    assert world.jira_writes() == 0, sandbox.requests_seen("jira")


def add_copy(world: World, key: str, worklog: dict) -> str:
    """A second worklog carrying the same h2j property, as a lost answer could leave."""
    body = {
        "timeSpentSeconds": worklog["timeSpentSeconds"],
        "started": worklog["started"],
        "properties": worklog["properties"],
    }
    response = requests.post(
        f"{world.jira}/rest/api/2/issue/{key}/worklog", json=body, auth=JIRA_AUTH, timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()["id"]


def test_a_second_worklog_for_one_entry_is_reported_not_deleted(team, world, ledger_dsn):
    [original] = [w for w in world.worklogs("WEB-7") if w["timeSpentSeconds"] == 1.25 * HOUR]
    copy = add_copy(world, "WEB-7", original)
    lose_ledger(ledger_dsn)
    world.let_jira_feeds_catch_up()

    code, lines = cli("rebuild-ledger", *NOVEMBER)

    assert code == 0, lines
    [line] = [line for line in lines if line.startswith("duplicate:")]
    assert f"entry {team['review']} " in line
    assert f"worklog {copy} " in line
    assert f"/worklog/{copy}?adjustEstimate=auto" in line
    assert ledger(ledger_dsn)[team["review"]]["worklog_id"] == original["id"]
    assert copy in {w["id"] for w in world.worklogs("WEB-7")}

    code, lines = cli("audit", *NOVEMBER)
    assert code == 1
    assert any(f"entry {team['review']} " in ln and "duplicate" in ln for ln in lines), lines


def test_audit_is_clean_after_a_sync(team, world):
    world.let_jira_feeds_catch_up()

    code, lines = cli("audit", *NOVEMBER)

    assert code == 0, lines
    assert lines == [lines[-1]]
    assert "5 entries checked, 5 agree, 0 disagree" in lines[-1]


def test_audit_names_a_hand_edited_worklog(team, world):
    [worklog] = [w for w in world.worklogs("WEB-7") if w["timeSpentSeconds"] == 1.25 * HOUR]
    world.hand_edit_worklog("WEB-7", worklog["id"], 2 * HOUR)
    world.let_jira_feeds_catch_up()

    code, lines = cli("audit", *NOVEMBER)

    assert code == 1
    problems = [line for line in lines[:-1]]
    assert problems, lines
    assert all(
        line.startswith(f"entry {team['review']} | Ada Lovelace | WEB-7 |") for line in problems
    )
    assert any("seconds differ: Jira 7200 s, Harvest 4500 s" in line for line in problems)
    assert any("seconds differ: Jira 7200 s, the ledger 4500 s" in line for line in problems)
    assert "1 disagree" in lines[-1]


def test_audit_after_losing_the_ledger_and_a_harvest_deletion(team, world, ledger_dsn):
    world.delete(team["glance"])
    lose_ledger(ledger_dsn)
    world.let_jira_feeds_catch_up()

    code, lines = cli("audit", *NOVEMBER)

    assert code == 1
    assert any(
        line.startswith(f"entry {team['glance']} | Grace Hopper | WEB-7 | entry gone")
        for line in lines
    ), lines
    not_in_ledger = [line for line in lines if "| not in ledger:" in line]
    assert len(not_in_ledger) == 4, lines
    assert ledger(ledger_dsn) == {}


def test_python_dash_m_h2j_runs_the_audit(team, world):
    world.let_jira_feeds_catch_up()
    done = subprocess.run(
        [sys.executable, "-m", "h2j", "audit", *NOVEMBER],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "0 disagree" in done.stdout


def test_a_window_the_wrong_way_round_is_refused(capsys):
    with pytest.raises(SystemExit) as refused:
        main(["audit", "--from", "2026-11-30", "--to", "2026-11-01"])
    assert refused.value.code == 2
    assert "after" in capsys.readouterr().err
