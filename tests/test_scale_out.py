"""h2j on a CeleryExecutor deployment: separate processes, two workers, REST and CLI.

One cluster serves the module: an api-server, a scheduler, a dag-processor and two Celery
workers on a fresh PostgreSQL metadata database, with h2j's connections pointing at the
sandbox servers and a fresh ledger database. What a single-process ``dag.test()`` cannot
show is shown here: per-person tasks spread over worker processes, one person's failure
staying theirs, a REST clear of that one map index repairing it, and a CLI backfill whose
runs each sync the window of their own date.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter

import psycopg
import pytest

from sandbox.__main__ import connection_env
from tests.airflow_cluster import (
    DAG_ID,
    create_database,
    drop_database,
    ledger_connection,
    running_cluster,
)
from tests.world import HOUR, World

# Start-up alone takes a minute on two busy cores; every wait inside has its own limit.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

NOVEMBER = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
RUN_TIMEOUT = 180
# Katherine's entries that some backfill run's window holds, with their hours.
SYNCED = {"2026-07-15": 2, "2026-08-01": 1.5, "2026-08-02": 0.5}


@pytest.fixture(scope="module")
def ledger_db(pg_server):
    """The ledger database the cluster's tasks write, shared by the module's tests."""
    name = create_database(pg_server, "h2j_test")
    yield psycopg.conninfo.make_conninfo(pg_server, dbname=name)
    drop_database(pg_server, name)


@pytest.fixture(scope="module")
def cluster(sandbox_process, pg_server, ledger_db, tmp_path_factory):
    sandbox_process.reset()
    connections = connection_env(sandbox_process.harvest_url, sandbox_process.jira_url)
    dbname = psycopg.conninfo.conninfo_to_dict(ledger_db)["dbname"]
    connections["AIRFLOW_CONN_H2J_POSTGRES"] = ledger_connection(pg_server, dbname)
    home = tmp_path_factory.mktemp("airflow-cluster")
    with running_cluster(home, pg_server, connections) as running:
        running.unpause()
        yield running


@pytest.fixture
def world(sandbox_process, cluster) -> World:
    """The sandboxes as the cluster sees them, with no fault left from a failed test."""
    sandbox_process.faults("jira", [])
    return World(sandbox_process)


def worklog_entries(world: World, key: str) -> list[int]:
    """The Harvest entry id each of the issue's worklogs carries in its ``h2j`` property."""
    return [
        prop["value"]["entry_id"]
        for worklog in world.worklogs(key)
        for prop in worklog["properties"]
        if prop["key"] == "h2j"
    ]


def assert_jira_holds(world: World, expected: dict[str, dict[int, float]]) -> None:
    """Each issue holds one worklog per expected entry, summing to the entries' hours."""
    for key, entries in expected.items():
        seconds = int(sum(entries.values()) * HOUR)
        assert sum(w["timeSpentSeconds"] for w in world.worklogs(key)) == seconds, key
        assert world.issue(key)["spent"] == seconds, key
        found = worklog_entries(world, key)
        assert [e for e, n in Counter(found).items() if n > 1] == [], f"duplicates on {key}"
        assert sorted(found) == sorted(entries), key


def test_one_person_fails_alone_and_a_clear_of_their_load_repairs_it(cluster, world):
    world.add_issue("OPS-40", estimate_hours=10)
    world.add_issue("WEB-40", estimate_hours=10)
    zed = world.add_issue("ZED-1", estimate_hours=8)
    ada = world.add_person("Ada", "Lovelace", "London")
    grace = world.add_person("Grace", "Hopper", "Eastern Time (US & Canada)")
    alan = world.add_person("Alan", "Turing")
    expected = {
        "OPS-40": {
            world.log(ada, "2026-11-02", 2, "OPS-40 build"): 2,
            world.log(grace, "2026-11-04", 1, "OPS-40 review"): 1,
        },
        "WEB-40": {
            world.log(ada, "2026-11-03", 1.5, "WEB-40 layout"): 1.5,
            world.log(grace, "2026-11-05", 0.5, "WEB-40 tests"): 0.5,
        },
        "ZED-1": {
            world.log(alan, "2026-11-06", 2, "ZED-1 cipher"): 2,
            world.log(alan, "2026-11-09", 1.25, "ZED-1 notes"): 1.25,
        },
    }
    # Every create on Alan's issue answers 500: ambiguous for a write, so his entries fail.
    worklog_path = rf"/issue/(ZED-1|{zed})/worklog$"
    world.sandbox.faults(
        "jira", [{"kind": "error", "status": 500, "method": "POST", "path": worklog_path}]
    )

    with cluster.explained():
        run_id = cluster.trigger(NOVEMBER)
        assert cluster.wait_run(run_id, RUN_TIMEOUT) == "failed"

        loads = cluster.mapped(run_id, "load")
        states = {ti["rendered_map_index"]: ti["state"] for ti in loads}
        assert {"Ada Lovelace", "Grace Hopper", "Alan Turing"} <= set(states)
        assert [name for name, state in states.items() if state != "success"] == ["Alan Turing"]
        assert states["Alan Turing"] == "failed"
        [alan_index] = [ti["map_index"] for ti in loads if ti["state"] == "failed"]
        extracts = cluster.mapped(run_id, "extract")
        assert [ti["rendered_map_index"] for ti in extracts] == list(states)
        assert {ti["state"] for ti in extracts} == {"success"}
        others = {
            ti["task_id"]: ti["state"]
            for ti in cluster.task_instances(run_id)
            if ti["map_index"] == -1
        }
        assert others == {
            "prepare": "success",
            "list_users": "success",
            "list_projects": "success",
            "check_drift": "success",
            "diff": "success",
            "report": "failed",
        }
        assert_jira_holds(world, {key: expected[key] for key in ("OPS-40", "WEB-40")})
        assert worklog_entries(world, "ZED-1") == []

        world.sandbox.faults("jira", [])
        cleared = cluster.clear(
            run_id, [["load", alan_index]], only_failed=True, include_downstream=True
        )
        assert sorted((ti["task_id"], ti["map_index"]) for ti in cleared) == [
            ("load", alan_index),
            ("report", -1),
        ]
        assert cluster.wait_run(run_id, RUN_TIMEOUT) == "success"

        reloaded = cluster.mapped(run_id, "load")
        assert {ti["state"] for ti in reloaded} == {"success"}
        tries = {ti["rendered_map_index"]: ti["try_number"] for ti in reloaded}
        assert tries.pop("Alan Turing") == 2
        assert set(tries.values()) == {1}, "only Alan's load ran again"
        assert_jira_holds(world, expected)
        assert cluster.xcom(run_id, "report")["failed_users"] == []


def scheduled_window(day: dt.date) -> dict[str, str]:
    """A scheduled run's window: the first of the previous month to the run's date."""
    first = (day.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
    return {"from_date": first.isoformat(), "to_date": day.isoformat()}


def staged_dates(ledger_dsn: str, run_id: str, user_id: int) -> list[str]:
    with psycopg.connect(ledger_dsn) as conn:
        rows = conn.execute(
            "SELECT spent_date FROM h2j.staging WHERE run_id = %s AND user_id = %s"
            " ORDER BY spent_date",
            (run_id, user_id),
        ).fetchall()
    return [row[0].isoformat() for row in rows]


AUGUST = ("2026-08-01", "2026-08-02")
# Backfill conf is copied into every run; narrowing it to one person keeps the runs short.
ONLY_KATE = {"users": ["katherine.johnson@example.com"]}


def backfill_with_cli(cluster) -> None:
    """``airflow backfill create`` as an operator types it, against the metadata database."""
    first, last = AUGUST
    done = cluster.airflow(
        *("backfill", "create", "--dag-id", DAG_ID, "--from-date", first, "--to-date", last),
        *("--dag-run-conf", json.dumps(ONLY_KATE)),
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-3000:]


def backfill_again_over_rest(cluster) -> None:
    """The same dates once more, rerunning the finished runs, through ``POST /backfills``."""
    first, last = AUGUST
    body = {
        "dag_id": DAG_ID,
        "from_date": f"{first}T00:00:00Z",
        "to_date": f"{last}T00:00:00Z",
        "reprocess_behavior": "completed",
        "dag_run_conf": ONLY_KATE,
    }
    cluster.api("POST", "/backfills", json=body)


def backfills_complete(cluster) -> bool:
    found = cluster.api("GET", "/backfills", params={"dag_id": DAG_ID})["backfills"]
    return bool(found) and all(b["completed_at"] for b in found)


def finished_backfill_runs(cluster, count: int) -> list[dict]:
    """Wait until the DAG has ``count`` backfill runs and none is queued or running."""

    def check():
        runs = [r for r in cluster.runs() if r["run_type"] == "backfill"]
        done = len(runs) == count and all(r["state"] in ("success", "failed") for r in runs)
        return done and sorted(runs, key=lambda r: r["logical_date"])

    return cluster.wait_until(f"{count} backfill runs", check, 2 * RUN_TIMEOUT)


def test_backfill_syncs_each_runs_own_window_and_a_second_pass_writes_nothing(
    cluster, world, ledger_db
):
    world.add_issue("DATA-50", estimate_hours=20)
    kate = world.add_person("Katherine", "Johnson")
    hours = {"2026-06-30": 1, **SYNCED, "2026-08-03": 0.25}
    days = {day: world.log(kate, day, h, f"DATA-50 orbit {day}") for day, h in hours.items()}

    with cluster.explained():
        backfill_with_cli(cluster)
        runs = finished_backfill_runs(cluster, 2)
        assert [r["logical_date"][:10] for r in runs] == list(AUGUST)
        assert [r["state"] for r in runs] == ["success", "success"]
        for run in runs:
            window = scheduled_window(dt.date.fromisoformat(run["logical_date"][:10]))
            assert cluster.xcom(run["dag_run_id"], "prepare") == window
            in_window = [d for d in days if window["from_date"] <= d <= window["to_date"]]
            assert staged_dates(ledger_db, run["dag_run_id"], kate) == in_window
        synced = {days[d]: h for d, h in SYNCED.items()}
        assert_jira_holds(world, {"DATA-50": synced})

        # Airflow allows one unfinished backfill per DAG; the scheduler marks a backfill
        # complete on its own 30 s timer.
        cluster.wait_until(
            "the backfill to be marked complete", lambda: backfills_complete(cluster), 90
        )
        world.sandbox.forget_requests()
        backfill_again_over_rest(cluster)
        again = finished_backfill_runs(cluster, 2)
        assert [r["state"] for r in again] == ["success", "success"]
        assert [r["dag_run_id"] for r in again] == [r["dag_run_id"] for r in runs]
        assert all(a["end_date"] > r["end_date"] for a, r in zip(again, runs, strict=True))
        assert world.sandbox.requests_seen("harvest"), "the second pass read Harvest again"
        assert world.jira_writes() == 0, world.sandbox.requests_seen("jira")
        assert_jira_holds(world, {"DATA-50": synced})
