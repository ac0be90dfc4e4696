"""The recorded plan: only the entries a run had to write, kept for a while, then pruned."""

from __future__ import annotations

import psycopg
import pytest

from tests.world import World

WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def plans(dsn: str) -> dict[str, list[tuple[int, str]]]:
    """Each run's recorded plan rows as (entry, action), by run id in the order of runs."""
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT run_id, entry_id, action FROM h2j.plan ORDER BY planned_at, entry_id"
        ).fetchall()
    found: dict[str, list[tuple[int, str]]] = {}
    for run_id, entry_id, action in rows:
        found.setdefault(run_id, []).append((entry_id, action))
    return found


def staged_runs(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        return {row[0] for row in conn.execute("SELECT DISTINCT run_id FROM h2j.staging")}


def age(dsn: str, run_id: str, days: int) -> None:
    with psycopg.connect(dsn) as conn:
        interval = {"run_id": run_id, "days": days}
        conn.execute(
            "UPDATE h2j.plan SET planned_at = now() - make_interval(days => %(days)s)"
            " WHERE run_id = %(run_id)s",
            interval,
        )
        conn.execute(
            "UPDATE h2j.staging SET staged_at = now() - make_interval(days => %(days)s)"
            " WHERE run_id = %(run_id)s",
            interval,
        )


def test_plan_records_only_the_writes_and_old_plans_are_pruned(world, run_dag, ledger_dsn):
    world.add_issue("OPS-30", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    kept = world.log(ada, "2026-11-02", 2, "OPS-30 design")
    edited = world.log(ada, "2026-11-03", 1, "OPS-30 review")

    first = run_dag(WINDOW)
    assert first.succeeded, first
    [first_run] = plans(ledger_dsn)
    assert plans(ledger_dsn)[first_run] == [(kept, "create"), (edited, "create")]
    assert first.diff["create"] == 2

    world.edit(edited, hours=1.5)
    second = run_dag(WINDOW)
    assert second.succeeded, second
    [second_run] = set(plans(ledger_dsn)) - {first_run}
    assert plans(ledger_dsn)[second_run] == [(edited, "update")]
    assert second.diff["update"] == 1
    assert "unchanged" not in second.diff

    age(ledger_dsn, first_run, days=15)
    age(ledger_dsn, second_run, days=13)
    third = run_dag(WINDOW)
    assert third.succeeded, third

    assert first_run not in plans(ledger_dsn)
    assert plans(ledger_dsn)[second_run] == [(edited, "update")]
    assert first_run not in staged_runs(ledger_dsn)
    assert second_run in staged_runs(ledger_dsn)
    assert sum(w["timeSpentSeconds"] for w in world.worklogs("OPS-30")) == 2 * 3600 + 5400
