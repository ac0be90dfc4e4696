"""The DAG file parses cleanly, touches nothing while parsing, and has its params and tasks."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def forbid_lookups(monkeypatch):
    """Any connection or Variable lookup while parsing is recorded and fails the parse."""
    from airflow.sdk import BaseHook, Variable
    from airflow.sdk.definitions.connection import Connection

    calls: list[str] = []

    def refuse(kind):
        def lookup(*args, **kwargs):
            calls.append(f"{kind}{args[1:] or args}")
            raise RuntimeError(f"{kind} looked up while parsing")

        return lookup

    monkeypatch.setattr(BaseHook, "get_connection", classmethod(refuse("connection")))
    monkeypatch.setattr(Connection, "get", classmethod(refuse("connection")))
    monkeypatch.setattr(Variable, "get", staticmethod(refuse("variable")))
    return calls


@pytest.fixture
def parsed(forbid_lookups):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    return bag, forbid_lookups


def test_dag_file_imports_without_errors_or_lookups(parsed):
    bag, lookups = parsed
    assert bag.import_errors == {}
    assert lookups == []
    assert list(bag.dags) == ["harvest_to_jira"]


def test_params_are_typed_and_documented(parsed):
    dag = parsed[0].dags["harvest_to_jira"]
    params = dag.params
    assert set(params) == {
        "from_date",
        "to_date",
        "users",
        "dry_run",
        "adjust_estimate",
        "confirm_deletions",
        "author_mode",
    }
    for name in params:
        param = params.get_param(name)
        assert param.schema.get("title"), name
        assert param.description, name
    assert params.get_param("from_date").schema["format"] == "date"
    assert params["dry_run"] is False


def test_tasks_wiring_and_schedule(parsed):
    dag = parsed[0].dags["harvest_to_jira"]
    assert {t.task_id for t in dag.tasks} == {
        "prepare",
        "list_users",
        "list_projects",
        "extract",
        "diff",
        "load",
        "report",
        "check_drift",
    }
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert dag.task_dict["diff"].upstream_task_ids >= {"extract", "list_users", "prepare"}
    assert dag.task_dict["load"].upstream_task_ids >= {"diff"}
    assert dag.task_dict["report"].trigger_rule == "all_done"
    for task in dag.tasks:
        assert task.doc_md or task.doc, f"{task.task_id} has no one-line doc"
    assert "Harvest" in dag.doc_md


def test_invalid_date_param_is_refused(parsed):
    from airflow.sdk.exceptions import ParamValidationError

    params = copy.deepcopy(parsed[0].dags["harvest_to_jira"].params)
    with pytest.raises(ParamValidationError, match="from_date"):
        params["from_date"] = "30/11/2026"
