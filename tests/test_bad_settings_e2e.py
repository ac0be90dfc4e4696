"""A wrong param or Variable fails the run in its first tasks, clearly and without retries,
before anything is staged or written."""

from __future__ import annotations

import json
import os

import psycopg
import pytest
from airflow.sdk.exceptions import AirflowFailException

from h2j import settings
from h2j.errors import BadSetting
from tests.world import World

WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}


@pytest.fixture
def world(sandbox) -> World:
    world = World(sandbox)
    world.add_issue("OPS-50", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace")
    world.log(ada, "2026-11-02", 2, "OPS-50 design")
    return world


def staged_rows(dsn: str) -> int:
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass('h2j.staging')").fetchone()[0] is None:
            return 0
        return conn.execute("SELECT count(*) FROM h2j.staging").fetchone()[0]


def assert_stopped_before_writing(result, failed: str, world: World, dsn: str) -> None:
    """The run failed in task ``failed`` with nothing staged and nothing written to Jira."""
    assert not result.succeeded
    assert result.task_states[failed] == ["failed"]
    assert world.jira_writes() == 0
    assert staged_rows(dsn) == 0


@pytest.mark.parametrize(
    ("conf", "variables", "failed"),
    [
        ({"from_date": "2026-11-10", "to_date": "2026-11-01"}, {}, "prepare"),
        ({"from_date": "2025-01-01", "to_date": "2026-11-30"}, {}, "prepare"),
        ({**WINDOW, "users": ["nobody@example.com"]}, {}, "list_users"),
        (WINDOW, {"H2J_LOAD_CONCURRENCY": "0"}, "prepare"),
        (WINDOW, {"H2J_AUTHOR_MODE": "everyone"}, "prepare"),
    ],
    ids=["dates_reversed", "window_too_long", "unknown_user", "concurrency_0", "author_mode"],
)
def test_a_bad_setting_fails_the_run_before_anything_is_written(
    world, run_dag, ledger_dsn, monkeypatch, conf, variables, failed
):
    for name, value in variables.items():
        monkeypatch.setenv(f"AIRFLOW_VAR_{name}", value)

    result = run_dag(conf)

    assert_stopped_before_writing(result, failed, world, ledger_dsn)
    assert result.task_states["diff"] == ["failed"]
    assert result.report is None


@pytest.mark.parametrize(
    ("variable", "field", "failed"),
    [
        ("AIRFLOW_CONN_JIRA_DEFAULT", "password", "list_projects"),
        ("AIRFLOW_CONN_HARVEST_DEFAULT", "extra", "list_users"),
    ],
)
def test_a_connection_missing_a_field_fails_at_once(
    world, run_dag, ledger_dsn, monkeypatch, variable, field, failed
):
    conn = json.loads(os.environ[variable])
    conn.pop(field)
    monkeypatch.setenv(variable, json.dumps(conn))

    result = run_dag(WINDOW)

    assert_stopped_before_writing(result, failed, world, ledger_dsn)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("H2J_LOAD_CONCURRENCY", "x", "h2j_load_concurrency 'x' is not a whole number"),
        ("H2J_LOAD_CONCURRENCY", "0", "h2j_load_concurrency must be at least 1, not 0"),
        ("H2J_STAGING_KEEP_DAYS", "-1", "h2j_staging_keep_days must be at least 0, not -1"),
        ("H2J_ADJUST_ESTIMATE", "banana", "adjust_estimate 'banana' is not one of"),
    ],
)
def test_bad_variables_are_named(monkeypatch, variable, value, message):
    monkeypatch.setenv(f"AIRFLOW_VAR_{variable}", value)
    with pytest.raises(BadSetting, match=message):
        settings.check_run_settings({})


def test_a_bad_setting_is_not_retried():
    from harvest_to_jira import no_retry_for_bad_settings

    with pytest.raises(AirflowFailException, match="from_date 2026-11-10 is after"):
        with no_retry_for_bad_settings():
            raise BadSetting("from_date 2026-11-10 is after to_date 2026-11-01")
    with pytest.raises(RuntimeError), no_retry_for_bad_settings():
        raise RuntimeError("Harvest is down")
