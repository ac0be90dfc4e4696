"""The failure notice: one line that says which run, task and person failed, and why."""

from __future__ import annotations

from types import SimpleNamespace

from h2j.notify import failure_summary, task_failed


def ti(**fields):
    base = {
        "dag_id": "harvest_to_jira",
        "run_id": "manual__2026-12-01",
        "task_id": "load",
        "rendered_map_index": "Ada Lovelace",
        "try_number": 2,
    }
    return SimpleNamespace(**{**base, **fields})


def test_summary_names_run_task_person_and_reason():
    line = failure_summary({"ti": ti(), "exception": RuntimeError("Jira said 400\nclosed")})
    assert line == (
        "harvest_to_jira manual__2026-12-01: load [Ada Lovelace] failed (try 2): "
        "Jira said 400 closed"
    )


def test_summary_of_an_unmapped_task_and_a_long_reason_stays_one_line():
    line = failure_summary(
        {"ti": ti(task_id="diff", rendered_map_index=None), "exception": ValueError("x" * 1000)}
    )
    assert line.startswith("harvest_to_jira manual__2026-12-01: diff failed (try 2): xxx")
    assert "\n" not in line
    assert len(line) < 400


def test_callback_logs_the_summary_without_any_channel_configured(caplog, monkeypatch):
    monkeypatch.delenv("AIRFLOW_CONN_H2J_SLACK", raising=False)
    monkeypatch.setenv("AIRFLOW_VAR_H2J_ALERT_EMAIL", "")
    with caplog.at_level("ERROR", logger="h2j.notify"):
        summary = task_failed({"ti": ti(), "exception": RuntimeError("boom")})
    assert summary in caplog.text
