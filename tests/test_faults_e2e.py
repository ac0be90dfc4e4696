"""The fault matrix: whatever fails, a clean rerun leaves Jira exactly as Harvest says.

Each test injects a fault into the sandboxes (or PostgreSQL, or the worker process), runs
the DAG, clears the fault, runs again, and checks the exact worklogs, the remaining
estimates, that no entry has two worklogs, and that the ledger names only what Jira holds.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import psycopg
import pytest

from tests.world import HOUR, World

ROOT = Path(__file__).resolve().parent.parent
WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
CREATE = {"method": "POST", "path": r"/issue/[^/]+/worklog$"}
UPDATE = {"method": "PUT", "path": r"/worklog/\d+$"}
DELETE = {"method": "DELETE", "path": r"/worklog/\d+$"}


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


@pytest.fixture
def team(world):
    """Two issues at 10 h, Ada with three entries on them, Grace with two."""
    world.add_issue("OPS-20", estimate_hours=10)
    world.add_issue("WEB-20", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    grace = world.add_person("Grace", "Hopper")
    entries = {
        "a1": world.log(ada, "2026-11-02", 2, "OPS-20 build"),
        "a2": world.log(ada, "2026-11-03", 1, "OPS-20 review"),
        "a3": world.log(ada, "2026-11-04", 3, "WEB-20 layout"),
        "g1": world.log(grace, "2026-11-02", 1.5, "WEB-20 tests"),
        "g2": world.log(grace, "2026-11-05", 0.5, "OPS-20 deploy"),
    }
    return entries


def assert_exact(world: World, dsn: str, expected: dict[str, int], estimate: int = 10 * HOUR):
    """Jira holds exactly ``expected`` seconds per issue, once per entry, as the ledger says."""
    with psycopg.connect(dsn) as conn:
        ledger = {
            str(wid): (entry, seconds)
            for entry, wid, seconds in conn.execute(
                "SELECT entry_id, worklog_id, seconds FROM h2j.ledger WHERE worklog_id IS NOT NULL"
            )
        }
    seen_entries: Counter = Counter()
    for key, seconds in expected.items():
        worklogs = world.worklogs(key)
        assert sum(w["timeSpentSeconds"] for w in worklogs) == seconds, key
        for worklog in worklogs:
            [prop] = [p["value"] for p in worklog["properties"] if p["key"] == "h2j"]
            seen_entries[prop["entry_id"]] += 1
            assert ledger.pop(worklog["id"]) == (prop["entry_id"], worklog["timeSpentSeconds"])
        issue = world.issue(key)
        assert issue["spent"] == seconds
        assert issue["remaining"] == max(0, estimate - seconds), key
    assert [entry for entry, n in seen_entries.items() if n > 1] == []
    assert ledger == {}, "the ledger names worklogs Jira does not hold"


BASELINE = {"OPS-20": int(3.5 * HOUR), "WEB-20": int(4.5 * HOUR)}


def test_jira_429_storm_is_waited_out(world, team, run_dag, ledger_dsn, sandbox):
    sandbox.faults("jira", [{"kind": "rate_limit", "retry_after": 1, "rate": 0.6, "times": 6}])
    result = run_dag(WINDOW)
    assert result.succeeded, result
    assert_exact(world, ledger_dsn, BASELINE)


def test_jira_5xx_on_writes_then_clean_rerun(world, team, run_dag, ledger_dsn, sandbox):
    sandbox.faults("jira", [{"kind": "error", "status": 503, **CREATE, "times": 2}])
    assert run_dag(WINDOW).state == "failed"
    sandbox.faults("jira", [])
    assert run_dag(WINDOW).succeeded
    assert_exact(world, ledger_dsn, BASELINE)


@pytest.mark.parametrize("drop", [False, True], ids=["502", "dropped"])
def test_create_applied_but_answer_lost_is_adopted(world, team, run_dag, ledger_dsn, sandbox, drop):
    sandbox.faults("jira", [{"kind": "apply_then_fail", "drop": drop, **CREATE, "times": 2}])
    assert run_dag(WINDOW).state == "failed"
    sandbox.faults("jira", [])
    sandbox.forget_requests()
    rerun = run_dag(WINDOW)
    assert rerun.succeeded, rerun
    posts = sandbox.requests_seen("jira").get("POST /rest/api/3/issue/{issueIdOrKey}/worklog")
    assert posts is None, "the rerun created a worklog again instead of adopting it"
    assert_exact(world, ledger_dsn, BASELINE)


def test_update_and_delete_applied_but_answer_lost(world, team, run_dag, ledger_dsn, sandbox):
    assert run_dag(WINDOW).succeeded
    world.edit(team["a1"], hours=4)
    world.edit(team["g1"], hours=0.25)
    world.delete(team["a2"])
    world.delete(team["g2"])
    sandbox.faults(
        "jira",
        [
            {"kind": "apply_then_fail", **UPDATE, "times": 1},
            {"kind": "apply_then_fail", "drop": True, **DELETE, "times": 1},
        ],
    )
    assert run_dag(WINDOW).state == "failed"
    sandbox.faults("jira", [])
    assert run_dag(WINDOW).succeeded
    assert_exact(world, ledger_dsn, {"OPS-20": 4 * HOUR, "WEB-20": int(3.25 * HOUR)})


def test_harvest_429_and_5xx_mid_pagination(world, run_dag, ledger_dsn, sandbox):
    world.add_issue("OPS-20", estimate_hours=10)
    world.add_issue("WEB-20", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    entry = world.log(ada, "2026-11-02", 2, "OPS-20 build")
    state = sandbox.state("harvest")
    [template] = [e for e in state["time_entries"] if e["id"] == entry]
    for n in range(2300):
        state["time_entries"].append(
            {
                **template,
                "id": entry + 1 + n,
                "hours": 0.1,
                "rounded_hours": 0.25,
                "notes": "standup",
            }
        )
    state["time_entries"].append(
        {
            **template,
            "id": entry + 5000,
            "hours": 1.0,
            "notes": "WEB-20 on the last page",
            "spent_date": "2026-11-01",
        }
    )
    state["next_id"] = entry + 6000
    sandbox.load(harvest=state)
    sandbox.faults(
        "harvest",
        [
            {
                "kind": "rate_limit",
                "method": "GET",
                "path": "/v2/time_entries$",
                "skip": 1,
                "times": 2,
                "retry_after": 1,
            },
            {
                "kind": "error",
                "status": 502,
                "method": "GET",
                "path": "/v2/time_entries$",
                "skip": 3,
                "times": 2,
            },
        ],
    )

    result = run_dag({**WINDOW, "users": [str(ada)]})

    assert result.succeeded, result
    fired = sandbox.admin("harvest", "GET", "/faults").json()["rules"]
    assert [rule["fired"] for rule in fired] == [2, 2]
    assert_exact(world, ledger_dsn, {"OPS-20": 2 * HOUR, "WEB-20": HOUR})


def other_backends(dsn: str) -> int:
    """Terminate every other session on the test database, as a failover would."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    return len(rows)


def test_postgres_drop_between_jira_call_and_ledger_write(
    world, team, run_dag, ledger_dsn, sandbox
):
    sandbox.faults("jira", [{"kind": "latency", "ms": 1500, **CREATE, "times": 1}])
    killed = []

    def kill_during_the_call():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            rules = sandbox.admin("jira", "GET", "/faults").json()["rules"]
            if rules and rules[0]["fired"]:
                time.sleep(0.5)
                killed.append(other_backends(ledger_dsn))
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_during_the_call)
    killer.start()
    first = run_dag(WINDOW)
    killer.join()
    assert killed
    assert killed[0] > 0
    assert first.state == "failed"

    sandbox.faults("jira", [])
    assert run_dag(WINDOW).succeeded
    assert_exact(world, ledger_dsn, BASELINE)


def test_worker_killed_mid_user_then_cleared(world, team, h2j_dag, ledger_dsn, sandbox):
    ada = next(u["id"] for u in sandbox.state("harvest")["users"] if u["first_name"] == "Ada")
    extra = [world.log(ada, f"2026-11-{day:02d}", 0.25, "WEB-20 support") for day in range(6, 16)]
    sandbox.faults("jira", [{"kind": "latency", "ms": 400, **CREATE}])
    logical = dt.datetime(2026, 12, 2, tzinfo=dt.UTC)
    conf = {
        "from_date": "2026-11-01",
        "to_date": "2026-11-30",
        "users": None,
        "dry_run": False,
        "adjust_estimate": None,
        "confirm_deletions": False,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "airflow",
            "dags",
            "test",
            "harvest_to_jira",
            logical.isoformat(),
            "-c",
            json.dumps(conf),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}:{ROOT}"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and len(world.worklogs("WEB-20")) < 4:
            assert worker.poll() is None, "the run ended before it could be killed"
            time.sleep(0.1)
    finally:
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait()
    assert len(world.worklogs("WEB-20")) < 2 + len(extra)

    sandbox.faults("jira", [])
    cleared = h2j_dag.test(logical_date=logical, run_conf=conf)
    assert str(cleared.state) == "success"
    assert_exact(
        world, ledger_dsn, {"OPS-20": int(3.5 * HOUR), "WEB-20": int(4.5 * HOUR) + len(extra) * 900}
    )
