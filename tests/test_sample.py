"""The sample data drives the demo and the end-to-end tests; these pin what it promises."""

from __future__ import annotations

import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import requests
from jsonschema import validators
from openapi_schema_validator import OAS30Validator

from sandbox import sample

SPEC = Path(__file__).parent / "specs" / "harvest-v2.time-entries-users-subset.json"
MONTH = "2026-03"
KEY = re.compile(r"(?<![A-Za-z0-9_])([A-Za-z][A-Za-z0-9_]*)-(\d+)(?![0-9])")
CLOCK = re.compile(r"^(1[0-2]|[1-9]):[0-5]\d(am|pm)$")
ROOT = Path(__file__).resolve().parents[1]
# The spec writes "may be null" as anyOf [..., {"type": "null"}], which OpenAPI 3.0 lacks.
Validator = validators.extend(
    OAS30Validator,
    type_checker=OAS30Validator.TYPE_CHECKER.redefine("null", lambda _, value: value is None),
)


@pytest.fixture(scope="module")
def data() -> dict:
    return sample.generate(seed=7, month=MONTH)


@pytest.fixture(scope="module")
def entries(data) -> list[dict]:
    return data["harvest"]["time_entries"]


@pytest.fixture(scope="module")
def spec() -> dict:
    return json.loads(SPEC.read_text())


def _issue_keys(data: dict) -> dict[str, dict]:
    """Every key an issue answers to, current or previous."""
    keys = {}
    for issue in data["jira"]["issues"]:
        for key in [issue["key"], *issue["previous_keys"]]:
            keys[key] = issue
    return keys


def _note_keys(note: str | None, project_keys: set[str]) -> list[str]:
    """Key-shaped words of a note whose prefix is a Jira project, upper-cased."""
    found = [(p.upper(), n) for p, n in KEY.findall(note or "")]
    return [f"{p}-{n}" for p, n in found if p in project_keys]


def _project_keys(data: dict) -> set[str]:
    return {p["key"] for p in data["jira"]["projects"]}


def test_same_arguments_give_the_same_sample_and_another_seed_does_not():
    first = sample.generate(seed=7, people=5, month="2026-10", entries_per_person=30)
    again = sample.generate(seed=7, people=5, month="2026-10", entries_per_person=30)
    other = sample.generate(seed=8, people=5, month="2026-10", entries_per_person=30)
    assert json.dumps(first, sort_keys=True) == json.dumps(again, sort_keys=True)
    assert json.dumps(first, sort_keys=True) != json.dumps(other, sort_keys=True)


def test_default_month_is_the_one_before_today():
    assert sample.last_month(date(2026, 1, 15)) == "2025-12"
    assert sample.last_month(date(2026, 3, 31)) == "2026-02"
    expected = sample.last_month(date.today())
    spent = {e["spent_date"][:7] for e in sample.generate(people=2)["harvest"]["time_entries"]}
    assert spent == {expected}


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="2026-03"):
        sample.generate(month="2026-3")
    with pytest.raises(ValueError, match="people"):
        sample.generate(people=0, month=MONTH)


def test_counts_follow_the_arguments(data, entries):
    summary = sample.state_summary(data)
    assert summary["users"] == 12
    assert summary["time_entries"] == len(entries) == 12 * 40
    assert summary["jira_accounts"] == 13
    assert 3 <= summary["projects"] <= 5
    assert summary["worklogs"] == 0
    per_project = Counter(i["project_id"] for i in data["jira"]["issues"])
    assert all(10 <= n <= 20 for n in per_project.values())
    small = sample.generate(seed=3, people=3, month="2026-07", entries_per_person=5)
    assert sample.state_summary(small)["time_entries"] == 15


def test_every_spent_date_and_timestamp_lies_in_the_month(entries):
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = datetime(2026, 4, 1, tzinfo=UTC)
    for entry in entries:
        assert entry["spent_date"].startswith(MONTH)
        created = datetime.fromisoformat(entry["created_at"])
        updated = datetime.fromisoformat(entry["updated_at"])
        assert start <= created <= updated < end


def test_people_work_in_many_harvest_time_zones(data):
    zones = {u["timezone"] for u in data["harvest"]["users"]}
    assert zones <= set(sample.HARVEST_TIME_ZONES)
    wanted = {"Eastern Time (US & Canada)", "Pacific Time (US & Canada)", "London", "Berlin"}
    assert wanted | {"Kolkata", "Sydney", "UTC"} <= zones


@pytest.mark.parametrize("month", ["2026-03", "2026-04", "2026-10", "2026-11"])
def test_entries_fall_on_dst_change_days_when_the_month_has_them(month):
    data = sample.generate(seed=11, month=month)
    zone_of = {u["id"]: u["timezone"] for u in data["harvest"]["users"]}
    on_change_day = set()
    for entry in data["harvest"]["time_entries"]:
        zone = zone_of[entry["user"]["id"]]
        if date.fromisoformat(entry["spent_date"]) in sample.dst_change_days(zone, month):
            on_change_day.add(zone)
    changing = {z for z in set(zone_of.values()) if sample.dst_change_days(z, month)}
    assert changing, "every one of these months moves the clocks somewhere"
    assert on_change_day == changing


def test_dst_change_days_match_the_tz_database():
    assert sample.dst_change_days("Eastern Time (US & Canada)", "2026-03") == [date(2026, 3, 8)]
    assert sample.dst_change_days("Berlin", "2026-03") == [date(2026, 3, 29)]
    assert sample.dst_change_days("Kolkata", "2026-03") == []


def test_most_entries_are_on_weekdays_and_a_few_on_weekends(entries):
    weekend = [e for e in entries if date.fromisoformat(e["spent_date"]).weekday() >= 5]
    assert 0 < len(weekend) < len(entries) / 5


def test_running_timers_look_like_harvest_shows_them(entries):
    running = [e for e in entries if e["is_running"]]
    assert len(running) == sample.RUNNING_TIMERS
    for entry in running:
        assert entry["timer_started_at"]
        assert entry["started_time"]
        assert entry["ended_time"] is None
        assert entry["hours_without_timer"] < entry["hours"]
    stopped = [e for e in entries if not e["is_running"]]
    assert all(e["timer_started_at"] is None for e in stopped)


def test_timer_start_is_the_local_start_time_in_utc(data, entries):
    zone_of = {u["id"]: sample.HARVEST_TIME_ZONES[u["timezone"]] for u in data["harvest"]["users"]}
    for entry in (e for e in entries if e["is_running"]):
        started = datetime.fromisoformat(entry["timer_started_at"])
        local = started.astimezone(ZoneInfo(zone_of[entry["user"]["id"]]))
        assert local.date().isoformat() == entry["spent_date"]
        assert local.strftime("%-I:%M%p").lower() == entry["started_time"]


def test_rounded_hours_round_up_to_the_quarter_and_often_differ(entries):
    for entry in entries:
        hours = entry["hours"]
        assert hours == round(hours, 2)
        assert hours > 0
        assert entry["rounded_hours"] == math.ceil(round(hours * 100) / 25) / 4
    assert sum(e["rounded_hours"] != e["hours"] for e in entries) > len(entries) / 4
    assert any(e["hours"] == 0.01 for e in entries), "one entry is under Jira's one minute"


def test_start_and_end_times_use_the_12h_clock_and_match_the_hours(entries):
    timed = [e for e in entries if e["ended_time"]]
    assert timed
    assert any(e["started_time"] is None for e in entries)
    for entry in timed:
        assert CLOCK.match(entry["started_time"])
        assert CLOCK.match(entry["ended_time"])
        begin = datetime.strptime(entry["started_time"], "%I:%M%p")
        end = datetime.strptime(entry["ended_time"], "%I:%M%p")
        assert entry["hours"] == round((end - begin) / timedelta(hours=1), 2)


def test_entry_ids_are_unique_64_bit_and_below_next_id(data, entries):
    ids = [e["id"] for e in entries]
    assert len(set(ids)) == len(ids)
    assert min(ids) > 2**32
    assert data["harvest"]["next_id"] > max(ids)
    issue_ids = [int(i["id"]) for i in data["jira"]["issues"]]
    project_ids = [int(p["id"]) for p in data["jira"]["projects"]]
    assert len(set(issue_ids + project_ids)) == len(issue_ids + project_ids)
    assert data["jira"]["next_id"] > max(issue_ids + project_ids)


@pytest.mark.parametrize(
    ("schema", "pick"),
    [
        ("TimeEntry", lambda d: d["harvest"]["time_entries"]),
        ("User", lambda d: d["harvest"]["users"]),
        ("Company", lambda d: [d["harvest"]["company"]]),
    ],
)
def test_harvest_objects_have_every_spec_field_and_fit_the_schema(data, spec, schema, pick):
    fields = set(spec["components"]["schemas"][schema]["properties"])
    validator = Validator({**spec, "$ref": f"#/components/schemas/{schema}"})
    for obj in pick(data):
        assert fields <= set(obj), fields - set(obj)
        validator.validate(obj)


def test_harvest_token_belongs_to_an_administrator(data):
    users = {u["id"]: u for u in data["harvest"]["users"]}
    owner = users[data["harvest"]["tokens"][sample.HARVEST_TOKEN]]
    assert "administrator" in owner["access_roles"]
    assert data["harvest"]["account_id"] == sample.HARVEST_ACCOUNT_ID


def test_jira_has_the_bot_and_one_account_per_person(data):
    bot, *people = data["jira"]["accounts"]
    assert bot["emailAddress"] == sample.JIRA_EMAIL
    assert bot["api_token"] == sample.JIRA_API_TOKEN
    assert bot["personal_access_token"] == sample.JIRA_PAT
    assert [a["emailAddress"] for a in people] == [u["email"] for u in data["harvest"]["users"]]
    assert data["jira"]["site"] == sample.JIRA_SITE


def test_project_keys_include_digits_or_underscores(data):
    keys = _project_keys(data)
    assert "OPS" in keys
    assert any(re.search(r"[\d_]", k) for k in keys)


def test_demo_issue_has_ten_hours_and_no_entries(data, entries):
    demo = _issue_keys(data)[sample.DEMO_ISSUE_KEY]
    assert demo["original_estimate_seconds"] == demo["remaining_estimate_seconds"] == 36000
    assert not demo["closed"]
    projects = _project_keys(data)
    for entry in entries:
        assert sample.DEMO_ISSUE_KEY not in _note_keys(entry["notes"], projects)
        assert (entry["external_reference"] or {}).get("id") != demo["id"]


def test_estimates_are_mixed_and_remaining_equals_original(data):
    issues = data["jira"]["issues"]
    assert all(i["remaining_estimate_seconds"] == i["original_estimate_seconds"] for i in issues)
    assert any(i["original_estimate_seconds"] is None for i in issues)
    assert any(i["original_estimate_seconds"] for i in issues)


def test_every_key_meant_to_link_names_an_existing_issue(data, entries):
    keys, projects = _issue_keys(data), _project_keys(data)
    linked = [k for e in entries for k in _note_keys(e["notes"], projects)]
    assert len(linked) > len(entries) / 3
    assert set(linked) <= set(keys)


def test_notes_are_written_the_way_people_write_them(entries):
    notes = [e["notes"] or "" for e in entries]
    assert any(KEY.match(n) and n[0].isupper() for n in notes), "key first"
    assert any(KEY.search(n) and not KEY.match(n) for n in notes), "key inside a sentence"
    assert any(KEY.match(n) and n == n.lower() for n in notes), "lower case key"
    assert any(len(KEY.findall(n)) == 2 for n in notes), "two keys"
    assert {"standup", "email"} & set(notes), "no key at all"
    assert any(e["notes"] is None for e in entries)


def test_decoys_look_like_keys_but_name_no_project(data, entries):
    notes = {e["notes"] for e in entries}
    assert "UTF-8 encoding issue in the csv export" in notes
    assert f"planning {MONTH}" in notes
    projects = _project_keys(data)
    decoys = [n for n in notes if n and KEY.search(n) and not _note_keys(n, projects)]
    assert len(decoys) >= 3


def test_some_entries_link_only_through_harvests_jira_integration(data, entries):
    keys, projects = _issue_keys(data), _project_keys(data)
    referenced = [e for e in entries if e["external_reference"]]
    only = [e for e in referenced if not _note_keys(e["notes"], projects)]
    assert len(only) >= 2
    for entry in referenced:
        ref = entry["external_reference"]
        key = ref["permalink"].removeprefix(f"https://{sample.JIRA_SITE}/browse/")
        assert keys[key]["id"] == ref["id"]
        assert keys[key]["project_id"] == ref["group_id"]
        assert ref["service"] == sample.JIRA_SITE


def test_a_moved_issue_is_still_reached_by_its_old_key(data, entries):
    moved = [i for i in data["jira"]["issues"] if i["previous_keys"]]
    assert len(moved) == 1
    old = moved[0]["previous_keys"][0]
    assert old not in {i["key"] for i in data["jira"]["issues"]}
    assert any(old in _note_keys(e["notes"], _project_keys(data)) for e in entries)
    permalinks = [(e["external_reference"] or {}).get("permalink", "") for e in entries]
    assert any(p.endswith(f"/browse/{old}") for p in permalinks)


def test_one_closed_issue_is_referenced_by_a_couple_of_entries(data, entries):
    closed = [i for i in data["jira"]["issues"] if i["closed"]]
    assert len(closed) == 1
    projects = _project_keys(data)
    mentions = [e for e in entries if closed[0]["key"] in _note_keys(e["notes"], projects)]
    assert len(mentions) >= 2


def test_connection_env_points_airflow_at_the_sandboxes():
    from sandbox.__main__ import connection_env

    env = connection_env("http://127.0.0.1:5010", "http://127.0.0.1:5020")
    harvest = json.loads(env["AIRFLOW_CONN_HARVEST_DEFAULT"])
    jira = json.loads(env["AIRFLOW_CONN_JIRA_DEFAULT"])
    assert harvest == {
        "conn_type": "http",
        "schema": "http",
        "host": "127.0.0.1",
        "port": 5010,
        "password": sample.HARVEST_TOKEN,
        "extra": {"account_id": sample.HARVEST_ACCOUNT_ID, "user_agent": "h2j-sandbox@example.com"},
    }
    assert jira["port"] == 5020
    assert jira["login"] == sample.JIRA_EMAIL
    assert jira["password"] == sample.JIRA_API_TOKEN
    assert jira["extra"] == {"api_version": "3", "site": sample.JIRA_SITE}


def _wait_for(path: Path, proc: subprocess.Popen) -> dict:
    """Wait until the server writes its ready file; give up if it dies or takes a minute."""
    deadline = time.monotonic() + 60
    while not path.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            out, err = proc.communicate(timeout=10) if proc.poll() is not None else ("", "")
            pytest.fail(f"sandbox did not get ready (rc={proc.poll()}):\n{out}\n{err}")
        time.sleep(0.05)
    return json.loads(path.read_text())


def test_command_serves_the_sample_and_stops_on_sigterm(tmp_path):
    ready = tmp_path / "ready.json"
    command = [sys.executable, "-m", "sandbox", "--sample", "--month", MONTH]
    command += ["--harvest-port", "0", "--jira-port", "0", "--ready-file", str(ready)]
    env = {**os.environ, "PYTHONPATH": f"{ROOT / 'plugins'}{os.pathsep}{ROOT}"}
    proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    try:
        urls = _wait_for(ready, proc)
        expected = sample.generate(month=MONTH)
        users = requests.get(
            f"{urls['harvest']}/v2/users",
            headers={
                "Authorization": f"Bearer {sample.HARVEST_TOKEN}",
                "Harvest-Account-Id": sample.HARVEST_ACCOUNT_ID,
                "User-Agent": "h2j tests (h2j-sandbox@example.com)",
            },
            timeout=30,
        )
        assert users.status_code == 200, users.text
        emails = {u["email"] for u in users.json()["users"]}
        assert emails == {u["email"] for u in expected["harvest"]["users"]}
        me = requests.get(
            f"{urls['jira']}/rest/api/3/myself",
            auth=(sample.JIRA_EMAIL, sample.JIRA_API_TOKEN),
            timeout=30,
        )
        assert me.status_code == 200, me.text
        assert me.json()["emailAddress"] == sample.JIRA_EMAIL
        assert me.json()["accountId"] == expected["jira"]["accounts"][0]["accountId"]
        for name in ("harvest", "jira"):
            dumped = requests.get(f"{urls[name]}/_sandbox/state", timeout=30).json()
            assert dumped == expected[name], f"{name} did not load the sample as it is"
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert "export AIRFLOW_CONN_HARVEST_DEFAULT='" in out
    assert f'"port": {int(urls["jira"].rsplit(":", 1)[1])}' in out
