"""The h2j_pools plugin creates the DAG's pools in Airflow's metadata database, once.

Loading through Airflow's own plugin managers runs in a subprocess: each manager loads
plugins once per process, and the task-process case needs Airflow's database block.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import h2j_pools
import pytest
from h2j_pools import HARVEST_POOL, JIRA_POOL, H2jPoolsPlugin

ROOT = Path(__file__).resolve().parent.parent

CORE_LOAD = """
from airflow import plugins_manager

plugins_manager.ensure_plugins_loaded()
errors = {k: v for k, v in plugins_manager.get_import_errors().items() if "h2j_pools" in k}
print("RESULT", json.dumps(errors))
"""

TASK_PROCESS_LOAD = """
import airflow.settings
from airflow.sdk.execution_time.supervisor import block_orm_access

block_orm_access()
from airflow.sdk import plugins_manager

plugins, errors = plugins_manager._get_plugins()
assert "h2j_pools" in [plugin.name for plugin in plugins], plugins
print("RESULT", json.dumps({k: v for k, v in errors.items() if "h2j_pools" in k}))
"""


def pools() -> dict[str, tuple[int, str | None]]:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        return {
            pool.pool: (pool.slots, pool.description)
            for pool in session.query(Pool).filter(Pool.pool.in_([HARVEST_POOL, JIRA_POOL]))
        }


def drop_pools() -> None:
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(Pool).filter(Pool.pool.in_([HARVEST_POOL, JIRA_POOL])).delete()


@pytest.fixture
def no_pools(airflow_db):
    """Other tests' dag.test() runs load the plugin too, so each test starts without pools."""
    drop_pools()
    yield
    drop_pools()


def run_airflow(script: str, **env: str) -> dict:
    """Run ``script`` in a fresh Python with this session's Airflow home; what it reported."""
    completed = subprocess.run(
        [sys.executable, "-c", "import json\n" + textwrap.dedent(script)],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output[-3000:]
    results = [line for line in completed.stdout.splitlines() if line.startswith("RESULT ")]
    assert results, output[-3000:]
    return json.loads(results[-1].removeprefix("RESULT "))


def test_airflow_loading_its_plugins_creates_both_pools_with_default_sizes(no_pools):
    assert run_airflow(CORE_LOAD) == {}
    found = pools()
    assert {name: slots for name, (slots, _) in found.items()} == {HARVEST_POOL: 4, JIRA_POOL: 8}
    assert all(description and "h2j" in description for _, description in found.values())


def test_a_task_process_loads_the_plugin_without_touching_the_database(no_pools):
    assert run_airflow(TASK_PROCESS_LOAD) == {}
    assert pools() == {}


def test_an_existing_pool_keeps_its_size(no_pools, monkeypatch):
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        Pool.create_or_update_pool(HARVEST_POOL, 9, "set by hand", False, session=session)
    monkeypatch.setenv("AIRFLOW__H2J__HARVEST_POOL_SLOTS", "2")
    H2jPoolsPlugin.on_load()
    assert pools()[HARVEST_POOL] == (9, "set by hand")
    assert pools()[JIRA_POOL][0] == 8


def test_loading_twice_is_harmless(no_pools):
    H2jPoolsPlugin.on_load()
    first = pools()
    H2jPoolsPlugin.on_load()
    assert pools() == first
    assert h2j_pools.ensure_pools() == []


def test_sizes_come_from_airflow_config(no_pools, monkeypatch):
    monkeypatch.setenv("AIRFLOW__H2J__HARVEST_POOL_SLOTS", "2")
    monkeypatch.setenv("AIRFLOW__H2J__JIRA_POOL_SLOTS", "3")
    assert sorted(h2j_pools.ensure_pools()) == [HARVEST_POOL, JIRA_POOL]
    assert {name: slots for name, (slots, _) in pools().items()} == {HARVEST_POOL: 2, JIRA_POOL: 3}


@pytest.mark.parametrize("value", ["0", "-1", "four"])
def test_a_bad_size_falls_back_to_the_default(no_pools, monkeypatch, value):
    monkeypatch.setenv("AIRFLOW__H2J__HARVEST_POOL_SLOTS", value)
    H2jPoolsPlugin.on_load()
    assert pools()[HARVEST_POOL][0] == 4


CALLER_POOL = "h2j_test_callers_work"


@pytest.mark.parametrize("in_transaction", [True, False])
def test_loading_amid_airflows_own_work_leaves_its_session_alone(no_pools, in_transaction):
    """The first ``airflow dags test`` of a DAG loads plugins while writing the new DAG."""
    from airflow import settings
    from airflow.models.pool import Pool

    session = settings.Session()
    try:
        default = session.query(Pool).filter_by(pool="default_pool").one()
        if in_transaction:
            session.add(Pool(pool=CALLER_POOL, slots=1, description="", include_deferred=False))
        else:
            session.commit()

        H2jPoolsPlugin.on_load()

        assert default in session
        assert default.slots >= 0
        session.commit()
        assert set(pools()) == {HARVEST_POOL, JIRA_POOL}
        assert (session.query(Pool).filter_by(pool=CALLER_POOL).count() == 1) is in_transaction
    finally:
        session.query(Pool).filter_by(pool=CALLER_POOL).delete()
        session.commit()
        session.close()
