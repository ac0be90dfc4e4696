"""Whole DAG runs over the sandbox servers and a real PostgreSQL ledger."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from tests.fixtures.sandbox import BOTH_JIRA_FLAVOURS
from tests.world import HOUR, World

NOV = dt.date(2026, 11, 1)
WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def ledger(dsn: str) -> dict[int, dict]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        rows = cur.execute("SELECT * FROM h2j.ledger").fetchall()
    return {row["entry_id"]: row for row in rows}


@BOTH_JIRA_FLAVOURS
def test_edit_from_6h_to_3h_leaves_7h_remaining(world, run_dag, ledger_dsn):
    world.add_issue("OPS-1", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace", "London")
    entry = world.log(ada, "2026-11-03", 6, "OPS-1 deploy pipeline")

    first = run_dag(WINDOW)
    assert first.succeeded, first
    assert "Ada Lovelace" in first.map_names["extract"]
    assert "Ada Lovelace" in first.map_names["load"]
    assert world.issue("OPS-1") == {"spent": 6 * HOUR, "remaining": 4 * HOUR, "original": 10 * HOUR}

    world.edit(entry, hours=3)
    second = run_dag(WINDOW)
    assert second.succeeded, second
    assert world.issue("OPS-1") == {"spent": 3 * HOUR, "remaining": 7 * HOUR, "original": 10 * HOUR}
    [worklog] = world.worklogs("OPS-1")
    assert worklog["timeSpentSeconds"] == 3 * HOUR
    assert "Ada Lovelace" in world.stored_comment(worklog["id"])
    row = ledger(ledger_dsn)[entry]
    assert (row["worklog_id"], row["seconds"], row["state"]) == (worklog["id"], 3 * HOUR, "synced")
    assert row["site"] == world.site


def total_on(world: World, key: str) -> int:
    return sum(w["timeSpentSeconds"] for w in world.worklogs(key))


@BOTH_JIRA_FLAVOURS
def test_lifecycle_of_edits_deletes_repoints_and_timers(world, run_dag, ledger_dsn, sandbox):
    for key in ("OPS-2", "OPS-3", "WEB-7"):
        world.add_issue(key, estimate_hours=20)
    ada = world.add_person("Ada", "Lovelace", "London")
    grace = world.add_person("Grace", "Hopper", "Eastern Time (US & Canada)")
    edited = world.log(ada, "2026-11-03", 2, "OPS-2 review")
    deleted = world.log(ada, "2026-11-04", 1.5, "ops-3: on-call")
    repointed = world.log(ada, "2026-11-05", 1, "OPS-2 planning")
    redated = world.log(grace, "2026-11-10", 2.01, "Pairing on web-7 with Ada")
    zeroed = world.log(grace, "2026-11-11", 0.75, "WEB-7 fix")
    tiny = world.log(grace, "2026-11-12", 0.01, "WEB-7 glance")
    no_key = world.log(grace, "2026-11-12", 1, "standup, UTF-8 encoding chat")
    timer = world.log(ada, "2026-11-06", None, "OPS-3 incident")
    world.edit(timer, hours=1.5)

    first = run_dag(WINDOW)
    assert first.succeeded, first
    assert total_on(world, "OPS-2") == 3 * HOUR
    assert total_on(world, "OPS-3") == int(1.5 * HOUR), "a running timer waits"
    assert total_on(world, "WEB-7") == 7236 + 2700 + 60
    rows = ledger(ledger_dsn)
    assert no_key not in rows
    assert timer not in rows
    assert rows[tiny]["seconds"] == 60

    world.edit(edited, hours=4)
    world.delete(deleted)
    world.edit(repointed, notes="WEB-7 planning, moved from OPS-2")
    world.edit(redated, spent_date="2026-11-09")
    world.edit(zeroed, hours=0)
    timer_hours = world.stop_timer(timer)
    sandbox.forget_requests()

    second = run_dag(WINDOW)
    assert second.succeeded, second
    summary_ada, summary_grace = (second.summaries[n] for n in ("Ada Lovelace", "Grace Hopper"))
    assert (
        summary_ada["updated"],
        summary_ada["deleted"],
        summary_ada["moved"],
        summary_ada["created"],
    ) == (1, 1, 1, 1)
    assert (summary_grace["updated"], summary_grace["deleted"]) == (1, 1)
    assert total_on(world, "OPS-2") == 4 * HOUR
    assert total_on(world, "OPS-3") == round(timer_hours * HOUR)
    assert total_on(world, "WEB-7") == 7236 + 60 + HOUR
    assert world.issue("OPS-2")["remaining"] == 16 * HOUR
    assert world.issue("WEB-7")["remaining"] == 20 * HOUR - (7236 + 60 + HOUR)
    [moved_log] = [w for w in world.worklogs("WEB-7") if w["timeSpentSeconds"] == HOUR]
    rows = ledger(ledger_dsn)
    assert rows[repointed]["worklog_id"] == moved_log["id"]
    assert rows[deleted]["state"] == rows[zeroed]["state"] == "deleted"
    assert rows[redated]["started"].startswith("2026-11-09T09:00:00.000-0500")

    sandbox.forget_requests()
    third = run_dag(WINDOW)
    assert third.succeeded, third
    assert world.jira_writes() == 0, sandbox.requests_seen("jira")
    assert third.report["totals"]["unchanged"] == 5
    assert third.report["totals"]["skipped"] == 2


@BOTH_JIRA_FLAVOURS
def test_closed_issue_fails_only_its_entry_and_is_reported(world, run_dag, ledger_dsn):
    world.add_issue("OPS-4", estimate_hours=8)
    world.add_issue("OPS-5", estimate_hours=8, closed=True)
    ada = world.add_person("Ada", "Lovelace")
    good = world.log(ada, "2026-11-03", 2, "OPS-4 build")
    blocked = world.log(ada, "2026-11-04", 1, "OPS-5 late fix")

    result = run_dag(WINDOW)

    assert result.state == "failed"
    assert result.task_states["load"].count("failed") == 1
    assert total_on(world, "OPS-4") == 2 * HOUR
    assert world.worklogs("OPS-5") == []
    [failure] = result.summaries["Ada Lovelace"]["failures"]
    assert failure["entry_id"] == blocked
    assert failure["issue"] == "OPS-5"
    assert failure["status"] == 400
    assert "non-editable" in failure["message"]
    rows = ledger(ledger_dsn)
    assert rows[good]["state"] == "synced"
    assert rows[blocked]["state"] == "failed"
    assert rows[blocked]["worklog_id"] is None
    assert result.report is None or "Ada Lovelace" in result.report["failed_users"]


def test_users_filter_and_dry_run_write_nothing_for_others(world, run_dag, sandbox, ledger_dsn):
    world.add_issue("OPS-6", estimate_hours=8)
    ada = world.add_person("Ada", "Lovelace")
    grace = world.add_person("Grace", "Hopper")
    world.log(ada, "2026-11-03", 2, "OPS-6 build")
    world.log(grace, "2026-11-03", 3, "OPS-6 test")

    dry = run_dag({**WINDOW, "dry_run": True})
    assert dry.succeeded, dry
    assert world.jira_writes() == 0
    assert dry.report["totals"]["created"] == 2
    assert dry.report["dry_run"] is True
    assert ledger(ledger_dsn) == {}

    only_grace = run_dag({**WINDOW, "users": ["grace.hopper@example.com"]})
    assert only_grace.succeeded, only_grace
    assert list(only_grace.summaries) == ["Grace Hopper"]
    assert total_on(world, "OPS-6") == 3 * HOUR

    by_id = run_dag({**WINDOW, "users": [str(ada)]})
    assert by_id.succeeded, by_id
    assert total_on(world, "OPS-6") == 5 * HOUR


@BOTH_JIRA_FLAVOURS
def test_past_month_window_and_external_reference_links(world, run_dag, ledger_dsn):
    issue_id = world.add_issue("DATA2-9", estimate_hours=5)
    ada = world.add_person("Ada", "Lovelace", "Kolkata")
    reference = world.jira_reference(issue_id, "DATA2-9")
    linked = world.log(
        ada, "2026-07-15", 1.25, "call with the vendor", external_reference=reference
    )
    elsewhere = world.log(
        ada, "2026-07-16", 1, "sync", external_reference=world.foreign_reference(reference)
    )
    world.log(ada, "2026-08-01", 2, "DATA2-9 outside the window")

    result = run_dag({"from_date": "2026-07-01", "to_date": "2026-07-31"})

    assert result.succeeded, result
    [worklog] = world.worklogs("DATA2-9")
    assert worklog["timeSpentSeconds"] == 4500
    assert worklog["started"].startswith("2026-07-15")
    rows = ledger(ledger_dsn)
    assert rows[linked]["issue_id"] == issue_id
    assert rows[linked]["started"] == "2026-07-15T09:00:00.000+0530"
    assert elsewhere not in rows
    assert world.issue("DATA2-9")["remaining"] == 5 * HOUR - 4500


def test_leave_mode_never_touches_the_estimate(world, run_dag):
    world.add_issue("OPS-8", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    entry = world.log(ada, "2026-11-03", 6, "OPS-8 migration")

    assert run_dag({**WINDOW, "adjust_estimate": "leave"}).succeeded
    assert world.issue("OPS-8") == {
        "spent": 6 * HOUR,
        "remaining": 10 * HOUR,
        "original": 10 * HOUR,
    }
    world.edit(entry, hours=3)
    assert run_dag({**WINDOW, "adjust_estimate": "leave"}).succeeded
    assert world.issue("OPS-8") == {
        "spent": 3 * HOUR,
        "remaining": 10 * HOUR,
        "original": 10 * HOUR,
    }


def test_more_people_than_max_map_length_are_grouped(world, run_dag, monkeypatch):
    monkeypatch.setenv("AIRFLOW__CORE__MAX_MAP_LENGTH", "2")
    world.add_issue("OPS-11", estimate_hours=10)
    for first, last in (("Ada", "Lovelace"), ("Grace", "Hopper"), ("Alan", "Turing")):
        world.log(world.add_person(first, last), "2026-11-03", 1, "OPS-11 pairing")

    result = run_dag(WINDOW)

    assert result.succeeded, result
    assert len(result.map_names["load"]) == 2
    assert any(name.endswith("and 1 more") for name in result.map_names["load"])
    assert set(result.summaries) == {"Ada Lovelace", "Grace Hopper", "Alan Turing", "Sandbox Admin"}
    assert total_on(world, "OPS-11") == 3 * HOUR


def test_an_issue_named_by_id_and_by_key_is_looked_up_once(world, run_dag, sandbox):
    issue_id = world.add_issue("OPS-21", estimate_hours=8)
    ada = world.add_person("Ada", "Lovelace")
    grace = world.add_person("Grace", "Hopper")
    world.log(
        ada, "2026-11-02", 1, "pairing", external_reference=world.jira_reference(issue_id, "OPS-21")
    )
    world.log(grace, "2026-11-03", 2, "OPS-21 pairing")
    sandbox.forget_requests()

    result = run_dag(WINDOW)

    assert result.succeeded, result
    assert sorted(w["timeSpentSeconds"] for w in world.worklogs("OPS-21")) == [HOUR, 2 * HOUR]
    lookups = {
        route: n
        for route, n in sandbox.requests_seen("jira").items()
        if route.startswith("GET ") and route.endswith("/issue/{issueIdOrKey}")
    }
    assert sum(lookups.values()) == 1, lookups
