"""Drift in Jira and mass deletions: h2j restores what people broke by hand, and refuses
to wipe out a person's month without a confirmation."""

from __future__ import annotations

import psycopg
import pytest

from tests.fixtures.sandbox import BOTH_JIRA_FLAVOURS
from tests.world import HOUR, World

WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def total_on(world: World, key: str) -> int:
    return sum(w["timeSpentSeconds"] for w in world.worklogs(key))


@BOTH_JIRA_FLAVOURS
def test_hand_edits_and_deletes_in_jira_are_restored(world, run_dag, ledger_dsn):
    world.add_issue("OPS-9", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    world.log(ada, "2026-11-02", 2, "OPS-9 design")
    world.log(ada, "2026-11-03", 1, "OPS-9 review")
    assert run_dag(WINDOW).succeeded
    stranger = world.hand_log("OPS-9", HOUR, "2026-11-04T10:00:00.000+0000")
    two_hours, one_hour = sorted(
        (w for w in world.worklogs("OPS-9") if w["id"] != stranger),
        key=lambda w: -w["timeSpentSeconds"],
    )

    world.hand_edit_worklog("OPS-9", two_hours["id"], 5 * HOUR)
    world.hand_delete_worklog("OPS-9", one_hour["id"])
    world.let_jira_feeds_catch_up()
    result = run_dag(WINDOW)

    assert result.succeeded, result
    own = [w for w in world.worklogs("OPS-9") if w["id"] != stranger]
    assert sorted(w["timeSpentSeconds"] for w in own) == [HOUR, 2 * HOUR]
    assert [w["id"] for w in world.worklogs("OPS-9") if w["id"] == stranger] == [stranger]
    assert world.issue("OPS-9")["spent"] == 4 * HOUR
    with psycopg.connect(ledger_dsn) as conn:
        states = conn.execute("SELECT state, count(*) FROM h2j.ledger GROUP BY 1").fetchall()
    assert states == [("synced", 2)]


def test_mass_deletion_is_held_until_confirmed(world, run_dag):
    world.add_issue("OPS-10", estimate_hours=40)
    ada = world.add_person("Ada", "Lovelace")
    entries = [world.log(ada, f"2026-11-{day:02d}", 1, "OPS-10 support") for day in range(2, 14)]
    assert run_dag(WINDOW).succeeded
    for entry in entries[:10]:
        world.delete(entry)

    held = run_dag(WINDOW)

    assert held.state == "failed"
    failures = held.summaries["Ada Lovelace"]["failures"]
    assert len(failures) == 10
    assert "confirm_deletions" in failures[0]["message"]
    assert total_on(world, "OPS-10") == 12 * HOUR

    confirmed = run_dag({**WINDOW, "confirm_deletions": True})
    assert confirmed.succeeded, confirmed
    assert confirmed.summaries["Ada Lovelace"]["deleted"] == 10
    assert total_on(world, "OPS-10") == 2 * HOUR


def worklog_list_reads(sandbox) -> int:
    seen = sandbox.requests_seen("jira")
    return sum(n for route, n in seen.items() if route.endswith("/worklog/list"))


def test_drift_check_reads_back_hand_edits_but_not_h2js_own_writes(world, run_dag, sandbox):
    world.add_issue("OPS-11", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    world.log(ada, "2026-11-02", 2, "OPS-11 design")
    entry = world.log(ada, "2026-11-03", 1, "OPS-11 review")
    assert run_dag(WINDOW).succeeded
    world.edit(entry, hours=1.5)
    world.let_jira_feeds_catch_up()
    assert run_dag(WINDOW).succeeded
    world.let_jira_feeds_catch_up()
    sandbox.forget_requests()

    assert run_dag(WINDOW).succeeded
    assert worklog_list_reads(sandbox) == 0
    assert world.jira_writes() == 0

    [two_hours] = [w for w in world.worklogs("OPS-11") if w["timeSpentSeconds"] == 2 * HOUR]
    world.hand_edit_worklog("OPS-11", two_hours["id"], 4 * HOUR)
    world.let_jira_feeds_catch_up()
    sandbox.forget_requests()
    result = run_dag(WINDOW)

    assert result.succeeded, result
    assert worklog_list_reads(sandbox) == 1
    assert sorted(w["timeSpentSeconds"] for w in world.worklogs("OPS-11")) == [5400, 2 * HOUR]
    assert world.issue("OPS-11")["spent"] == 2 * HOUR + 5400
