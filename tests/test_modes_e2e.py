"""Estimate modes, author modes, failures reported once, moved issues and time zones."""

from __future__ import annotations

import json
import os

import psycopg
import pytest

from tests.world import HOUR, World

WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def ledger_rows(dsn: str) -> dict[int, tuple]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT entry_id, started, worklog_id, state FROM h2j.ledger")
        return {row[0]: row[1:] for row in rows}


@pytest.mark.parametrize(
    ("mode", "remaining"),
    [("auto", [1, 0, 5]), ("recompute", [1, 0, 4]), ("leave", [4, 4, 4])],
)
def test_worked_estimate_example(world, run_dag, mode, remaining):
    world.add_issue("OPS-40", estimate_hours=4)
    ada = world.add_person("Ada", "Lovelace")
    conf = {**WINDOW, "adjust_estimate": mode}
    seen = []

    entry = world.log(ada, "2026-11-03", 3, "OPS-40 spike")
    assert run_dag(conf).succeeded
    seen.append(world.issue("OPS-40")["remaining"])
    world.edit(entry, hours=5)
    assert run_dag(conf).succeeded
    seen.append(world.issue("OPS-40")["remaining"])
    world.delete(entry)
    assert run_dag(conf).succeeded
    seen.append(world.issue("OPS-40")["remaining"])

    assert seen == [hours * HOUR for hours in remaining]
    assert world.issue("OPS-40")["spent"] == 0


def add_jira_account(sandbox, email: str, token: str) -> None:
    sandbox.admin(
        "jira",
        "POST",
        "/accounts",
        json={"emailAddress": email, "displayName": email.split("@")[0], "api_token": token},
    )


def test_per_user_author_mode_with_fallback_and_without(world, run_dag, sandbox, monkeypatch):
    world.add_issue("OPS-41", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    grace = world.add_person("Grace", "Hopper")
    add_jira_account(sandbox, "ada@example.com", "ada-secret-token")
    jira = json.loads(os.environ["AIRFLOW_CONN_JIRA_DEFAULT"])
    monkeypatch.setenv(
        f"AIRFLOW_CONN_JIRA_USER_{ada}",
        json.dumps({**jira, "login": "ada@example.com", "password": "ada-secret-token"}),
    )
    world.log(ada, "2026-11-03", 2, "OPS-41 her own work")
    world.log(grace, "2026-11-03", 1, "OPS-41 reviewed")

    result = run_dag({**WINDOW, "author_mode": "per_user"})

    assert result.succeeded, result
    by_author = {w["author"]["emailAddress"]: w for w in world.worklogs("OPS-41")}
    assert set(by_author) == {"ada@example.com", "h2j-bot@example.com"}
    assert "Ada Lovelace" not in json.dumps(by_author["ada@example.com"]["comment"])
    assert "Grace Hopper" in json.dumps(by_author["h2j-bot@example.com"]["comment"])

    monkeypatch.setenv("AIRFLOW_VAR_H2J_PER_USER_FALLBACK", "false")
    world.log(grace, "2026-11-04", 1, "OPS-41 more review")
    strict = run_dag({**WINDOW, "author_mode": "per_user"})
    assert strict.state == "failed"
    [failure] = strict.summaries["Grace Hopper"]["failures"]
    assert f"jira_user_{grace}" in failure["message"]
    assert len(world.worklogs("OPS-41")) == 2


def test_closed_issue_fails_once_then_syncs_when_reopened(world, run_dag):
    world.add_issue("OPS-42", estimate_hours=5, closed=True)
    ada = world.add_person("Ada", "Lovelace")
    world.log(ada, "2026-11-03", 1, "OPS-42 late fix")

    first = run_dag(WINDOW)
    assert first.state == "failed"
    second = run_dag(WINDOW)
    assert second.succeeded, "a failure already reported must not fail every run"
    assert second.summaries["Ada Lovelace"]["failed"] == 1
    assert second.report["lines"][0]["status"].startswith("ok") or any(
        line["status"].startswith("ok (1 failures") for line in second.report["lines"]
    )

    world.change_issue("OPS-42", closed=False)
    third = run_dag(WINDOW)
    assert third.succeeded, third
    assert sum(w["timeSpentSeconds"] for w in world.worklogs("OPS-42")) == HOUR


def test_issue_moved_to_another_project_keeps_its_worklog(world, run_dag, sandbox, ledger_dsn):
    world.add_issue("OPS-43", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    entry = world.log(ada, "2026-11-03", 2, "OPS-43 migration")
    assert run_dag(WINDOW).succeeded
    [before] = world.worklogs("OPS-43")

    moved = world.change_issue("OPS-43", project_key="PLAT")
    sandbox.forget_requests()
    assert run_dag(WINDOW).succeeded
    assert world.jira_writes() == 0
    world.edit(entry, hours=3)
    assert run_dag(WINDOW).succeeded

    [after] = world.worklogs(moved["key"])
    assert after["id"] == before["id"]
    assert after["timeSpentSeconds"] == 3 * HOUR
    assert ledger_rows(ledger_dsn)[entry][1] == before["id"]


def test_started_keeps_the_date_in_every_zone(world, run_dag, ledger_dsn):
    world.add_issue("OPS-44", estimate_hours=40)
    people = {
        "America/Chicago": world.add_person("Chi", "Cago", "Central Time (US & Canada)"),
        "Asia/Kolkata": world.add_person("Kol", "Kata", "Kolkata"),
        "Europe/Berlin": world.add_person("Ber", "Lin", "Berlin"),
        "Australia/Lord_Howe": world.add_person("Lord", "Howe", "Australia/Lord_Howe"),
    }
    july = {zone: world.log(uid, "2026-07-15", 1, "OPS-44 summer") for zone, uid in people.items()}
    november = {
        zone: world.log(uid, "2026-11-02", 1, "OPS-44 autumn") for zone, uid in people.items()
    }

    assert run_dag({"from_date": "2026-07-01", "to_date": "2026-07-31"}).succeeded
    assert run_dag(WINDOW).succeeded

    started = {entry: row[0] for entry, row in ledger_rows(ledger_dsn).items()}
    assert [started[july[z]] for z in people] == [
        "2026-07-15T09:00:00.000-0500",
        "2026-07-15T09:00:00.000+0530",
        "2026-07-15T09:00:00.000+0200",
        "2026-07-15T09:00:00.000+1030",
    ]
    assert [started[november[z]] for z in people] == [
        "2026-11-02T09:00:00.000-0600",
        "2026-11-02T09:00:00.000+0530",
        "2026-11-02T09:00:00.000+0100",
        "2026-11-02T09:00:00.000+1100",
    ]
