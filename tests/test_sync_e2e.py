"""Whole DAG runs over the sandbox servers and a real PostgreSQL ledger."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

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


def test_edit_from_6h_to_3h_leaves_7h_remaining(world, run_dag, ledger_dsn):
    world.add_issue("OPS-1", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace", "London")
    entry = world.log(ada, "2026-11-03", 6, "OPS-1 deploy pipeline")

    first = run_dag(WINDOW)
    assert first.succeeded, first
    assert world.issue("OPS-1") == {"spent": 6 * HOUR, "remaining": 4 * HOUR, "original": 10 * HOUR}

    world.edit(entry, hours=3)
    second = run_dag(WINDOW)
    assert second.succeeded, second
    assert world.issue("OPS-1") == {"spent": 3 * HOUR, "remaining": 7 * HOUR, "original": 10 * HOUR}
    [worklog] = world.worklogs("OPS-1")
    assert worklog["timeSpentSeconds"] == 3 * HOUR
    row = ledger(ledger_dsn)[entry]
    assert (row["worklog_id"], row["seconds"], row["state"]) == (worklog["id"], 3 * HOUR, "synced")
