"""One bad entry from Harvest or Jira costs only that entry: whole DAG runs over bad input.

One run holds most cases. Ada's entries carry twenty different bad values next to odd but
readable ones, stored in the Harvest sandbox exactly as given. Bob's two pages are raw text
with what a JSON encoder refuses to write (NaN, 1e999, an id past 64 bits) and the same
entry on both pages. Carol's entries answer 403, Dave's an HTML page and Erin's a page cut
short. Jira answers one issue lookup with HTML, one without an issue id and one with 403.
Each case is then a test of what that one run left behind: the load reports, the extract
summaries, the ledger and Jira. A second test runs three times to show that a synced entry
turning bad keeps its worklog, that a person whose pages fail loses nothing, and that the
next good run repairs both.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
from psycopg import sql as pgsql

from h2j.convert import JIRA_TEXT_LIMIT, TRUNCATION_MARKER, utf16_units
from h2j.jira_hook import comment_text
from sandbox.__main__ import connection_env
from tests.fixtures.dagrun import DEFAULT_CONF
from tests.world import HOUR, World

WINDOW = {"from_date": "2026-11-01", "to_date": "2026-11-30"}
DAY = "2026-11-10"
SITE = "h2j-sandbox.atlassian.net"
ADA, BOB, CAROL, DAVE, ERIN = 7001, 7002, 7003, 7004, 7005
NAMES = {
    ADA: ("Ada", "Lovelace"),
    BOB: ("Bob", "Builder"),
    CAROL: ("Carol", "Shaw"),
    DAVE: ("Dave", "Cutler"),
    ERIN: ("Erin", "Catto"),
}
ISSUES = {"OPS-1": 200, "OPS-2": 20, "OPS-6": 5, "OPS-7": 5, "OPS-8": 5}
LONG_NOTES = "OPS-1 " + "x" * 100_000
EMOJI_NOTES = "OPS-1 👩🏽‍💻 shipped the 🇺🇦 build ✅"
RTL_NOTES = "OPS-1 \u202bשלום עולם\u202c مرحبا بالعالم"
ENTRIES = "^/v2/time_entries$"
MISSING_ISSUE_REF = {
    "id": "99999999",
    "group_id": "10000",
    "service": SITE,
    "permalink": f"https://{SITE}/browse/OPS-999",
}

# Ada's entries that must fail alone: the fields that differ from a good entry, and what the
# failure must say about them.
ADA_FAILS: dict[str, tuple[dict[str, Any], str]] = {
    "hours_text": ({"hours": "abc"}, "hours is 'abc', not a number"),
    "hours_numeric_text": ({"hours": "2.5"}, "hours is '2.5', not a number"),
    "hours_empty_text": ({"hours": ""}, "hours is '', not a number"),
    "hours_100k_text": ({"hours": "9" * 100_000}, "not a number"),
    "hours_negative": ({"hours": -1.5}, "hours is -1.5, below zero"),
    "hours_absurd_float": ({"hours": 1e300}, "hours is 1e+300, more than 24 hours"),
    "hours_absurd_integer": ({"hours": 10**30}, f"hours is {10**30}, more than 24 hours"),
    "hours_over_a_day": ({"hours": 24.5}, "hours is 24.5, more than 24 hours"),
    "hours_null": ({"hours": None}, "hours is missing"),
    "hours_boolean": ({"hours": True}, "hours is True, not a number"),
    "hours_object": ({"hours": {"value": 2}}, "hours is {'value': 2}, not a number"),
    "hours_list": ({"hours": [1]}, "hours is [1], not a number"),
    "date_with_time": (
        {"spent_date": "2026-11-15T10:00:00Z"},
        "spent_date is '2026-11-15T10:00:00Z', not a YYYY-MM-DD date",
    ),
    "date_unpadded": ({"spent_date": "2026-11-2"}, "spent_date is '2026-11-2', not a YYYY"),
    "date_letters": ({"spent_date": "2026-11-1x"}, "spent_date is '2026-11-1x', not a YYYY"),
    "issue_missing_in_known_project": ({"notes": "OPS-404 hotfix"}, "Jira has no issue OPS-404"),
    "reference_to_missing_issue": (
        {"notes": "vendor call", "external_reference": MISSING_ISSUE_REF},
        "Jira has no issue 99999999",
    ),
    "jira_lookup_not_json": ({"notes": "OPS-7 review"}, "issue OPS-7 in Jira failed"),
    "jira_lookup_without_id": ({"notes": "OPS-8 review"}, "about issue OPS-8 lacks a numeric"),
    "jira_lookup_forbidden": ({"notes": "OPS-6 review"}, "issue OPS-6 in Jira failed"),
}

# Ada's entries that look odd but are readable: they sync, to this issue, this many seconds,
# with this comment (None: checked by its own test).
ADA_SYNCS: dict[str, tuple[dict[str, Any], str, int, str | None]] = {
    "notes_control_characters": (
        {"notes": "OPS-1 a\x00b\x07c\x1b[0md\x7fe\x85f"},
        "OPS-1",
        HOUR,
        "Ada Lovelace: OPS-1 abc[0mde\nf",
    ),
    "notes_emoji": ({"notes": EMOJI_NOTES}, "OPS-1", HOUR, f"Ada Lovelace: {EMOJI_NOTES}"),
    "notes_right_to_left": ({"notes": RTL_NOTES}, "OPS-1", HOUR, f"Ada Lovelace: {RTL_NOTES}"),
    "notes_100k_characters": ({"notes": LONG_NOTES}, "OPS-1", HOUR, None),
    "reference_null": (
        {"notes": "ops-1 lower-case key", "external_reference": None},
        "OPS-1",
        HOUR,
        "Ada Lovelace: ops-1 lower-case key",
    ),
    "reference_id_only": (
        {"notes": "OPS-1 by notes", "external_reference": {"id": "<OPS-2 id>"}},
        "OPS-1",
        HOUR,
        "Ada Lovelace: OPS-1 by notes",
    ),
    "reference_text": (
        {"notes": "OPS-1 by notes", "external_reference": "OPS-2"},
        "OPS-1",
        HOUR,
        "Ada Lovelace: OPS-1 by notes",
    ),
    "reference_empty_object": (
        {"notes": "OPS-1 by notes", "external_reference": {}},
        "OPS-1",
        HOUR,
        "Ada Lovelace: OPS-1 by notes",
    ),
    "reference_permalink_only": (
        {"notes": "pairing", "external_reference": {"permalink": f"https://{SITE}/browse/OPS-2"}},
        "OPS-2",
        HOUR,
        "Ada Lovelace: pairing",
    ),
    "started_time_unreadable": (
        {"notes": "OPS-1 late", "started_time": "25:99"},
        "OPS-1",
        HOUR,
        "Ada Lovelace: OPS-1 late",
    ),
}
ADA_SKIPS = {"key_of_unknown_project": {"notes": "NOPE-12 planning"}}

# Bob's raw pages. "@1e999@" becomes a bare 1e999 literal, which Python reads as infinity.
BOB_FAILS: dict[str, tuple[dict[str, Any], str]] = {
    "hours_nan_literal": ({"hours": float("nan")}, "hours is nan, not a finite number"),
    "hours_infinity_literal": ({"hours": float("inf")}, "hours is inf, not a finite number"),
    "hours_1e999_literal": ({"hours": "@1e999@"}, "hours is inf, not a finite number"),
    "date_absent": ({"spent_date": "<absent>"}, "spent_date is missing"),
    "date_null": ({"spent_date": None}, "spent_date is missing"),
    "date_us_style": ({"spent_date": "11/03/2026"}, "spent_date is '11/03/2026', not a YYYY"),
    "date_number": ({"spent_date": 20261103}, "spent_date is 20261103, not a YYYY-MM-DD"),
}
BOB_LEFT_OUT: dict[str, str] = {
    "id_absent": "has no usable id: None",
    "id_text": "has no usable id: '4399000001'",
    "id_past_64_bits": f"has an id out of range: {2**64 + 7}",
    "not_an_object": "is not an object: 'oops'",
    "entry_of_another_person": f"belongs to user {ADA}",
    "duplicate_on_page_two": "came twice; the first copy is kept",
}
FAILED_PEOPLE = {
    "Carol Shaw": "answers 403",
    "Dave Cutler": "answers an HTML page",
    "Erin Catto": "answers a page cut short",
}


@dataclass
class Outcome:
    """What one DAG run left behind, read back once for all the cases it holds."""

    state: str
    ids: dict[str, int]
    summaries: dict[str, dict[str, Any]]
    extracts: dict[int, dict[str, Any]]
    ledger: dict[int, dict[str, Any]]
    worklogs: dict[int, tuple[str, dict[str, Any]]]
    held: set[tuple[str, str]]
    issue_ids: dict[str, str]
    failures: dict[int, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for summary in self.summaries.values():
            for failure in summary["failures"]:
                self.failures[failure["entry_id"]] = failure


@contextmanager
def ledger_database(pg_server: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A fresh database reachable as ``h2j_postgres`` for the life of the block."""
    name = f"h2j_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as admin:
        admin.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    info = psycopg.conninfo.conninfo_to_dict(pg_server)
    conn = {
        "conn_type": "postgres",
        "host": info.get("host", "127.0.0.1"),
        "port": int(info.get("port", 5432)),
        "login": info.get("user", "postgres"),
        "password": info.get("password"),
        "schema": name,
    }
    monkeypatch.setenv("AIRFLOW_CONN_H2J_POSTGRES", json.dumps(conn))
    try:
        yield psycopg.conninfo.make_conninfo(pg_server, dbname=name)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as admin:
            drop = pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
            admin.execute(drop.format(pgsql.Identifier(name)))


@contextmanager
def pointed_at_sandboxes(sandbox, pg_server: str) -> Iterator[str]:
    """Empty sandboxes, h2j's connections set to them and to a fresh ledger database."""
    sandbox.reset()
    with pytest.MonkeyPatch.context() as patch:
        for name, value in connection_env(sandbox.harvest_url, sandbox.jira_url).items():
            patch.setenv(name, value)
        with ledger_database(pg_server, patch) as dsn:
            yield dsn


def raw_entry(template: dict[str, Any], entry_id: Any, user_id: int, **fields: Any) -> dict:
    """A Harvest entry like ``template`` with other values, however odd they are."""
    entry = copy.deepcopy(template)
    entry.update(spent_date=DAY, hours=1.0, is_running=False)
    entry["user"] = {"id": user_id, "name": " ".join(NAMES[user_id])}
    for key, value in {"id": entry_id, **fields}.items():
        if value == "<absent>":
            entry.pop(key, None)
        else:
            entry[key] = value
    return entry


def page_text(sandbox, user_id: int, items: list[Any], page: int, last: int) -> str:
    """A page of Harvest's time entry list as raw JSON text, NaN and all."""
    base = f"{sandbox.harvest_url}/v2/time_entries?user_id={user_id}&per_page=2000&page="
    body = {
        "time_entries": items,
        "per_page": 2000,
        "total_pages": last,
        "total_entries": len(items),
        "next_page": page + 1 if page < last else None,
        "previous_page": page - 1 if page > 1 else None,
        "page": page,
        "links": {
            "first": f"{base}1",
            "next": f"{base}{page + 1}" if page < last else None,
            "previous": f"{base}{page - 1}" if page > 1 else None,
            "last": f"{base}{last}",
        },
    }
    return json.dumps(body, allow_nan=True).replace('"@1e999@"', "1e999")


def entries_of(user_id: int) -> str:
    """A fault rule ``query`` for the first page of one person's entries."""
    return rf"^(?!(.*&)?page=)(.*&)?user_id={user_id}(&|$)"


def build_world(world: World, sandbox) -> tuple[dict[str, int], dict[str, str]]:
    """Everyone's entries and the faults; returns the entry id of each case."""
    issue_ids = {key: world.add_issue(key, estimate_hours=h) for key, h in ISSUES.items()}
    for user_id, (first, last) in NAMES.items():
        world.add_person(first, last, user_id=user_id)
    ids = {"plain": world.log(ADA, DAY, 2, "OPS-1 plain work")}
    for user_id in (CAROL, DAVE, ERIN):
        ids[f"good_of_{user_id}"] = world.log(user_id, DAY, 1, "OPS-1 would sync")
    state = sandbox.state("harvest")
    template = next(e for e in state["time_entries"] if e["id"] == ids["plain"])
    cases = {
        **{label: fields for label, (fields, _) in ADA_FAILS.items()},
        **{label: fields for label, (fields, *_) in ADA_SYNCS.items()},
        **ADA_SKIPS,
    }
    for number, (label, fields) in enumerate(cases.items()):
        ids[label] = 4_310_000_000 + number
        fields = json.loads(json.dumps(fields).replace("<OPS-2 id>", issue_ids["OPS-2"]))
        state["time_entries"].append(raw_entry(template, ids[label], ADA, **fields))
    sandbox.load(harvest=state)
    rules = bob_pages(sandbox, template, ids) + failing_pages(sandbox, template)
    sandbox.faults("harvest", rules)
    sandbox.faults("jira", jira_faults())
    return ids, issue_ids


def entries_rule(user_id: int, kind: str, **spec: Any) -> dict[str, Any]:
    """A fault rule for the first page of one person's entries."""
    return {"kind": kind, "path": ENTRIES, "query": entries_of(user_id), **spec}


def issue_rule(key: str, kind: str, **spec: Any) -> dict[str, Any]:
    """A fault rule for Jira's answer to a lookup of one issue."""
    return {"kind": kind, "method": "GET", "path": f"^/rest/api/3/issue/{key}$", **spec}


def bob_pages(sandbox, template: dict[str, Any], ids: dict[str, int]) -> list[dict]:
    """Fault rules that serve Bob's two raw pages."""
    first: list[Any] = []
    for number, (label, (fields, _)) in enumerate(BOB_FAILS.items()):
        ids[label] = 4_320_000_000 + number
        first.append(raw_entry(template, ids[label], BOB, notes=f"OPS-1 {label}", **fields))
    ids.update(first_copy=4_320_000_100, page_two=4_320_000_101, lone_surrogate=4_320_000_102)
    first += [
        raw_entry(template, "<absent>", BOB, notes="OPS-1 no id"),
        raw_entry(template, "4399000001", BOB, notes="OPS-1 id as text"),
        raw_entry(template, 2**64 + 7, BOB, notes="OPS-1 huge id"),
        "oops",
        raw_entry(template, ids["plain"], ADA, notes="OPS-1 not Bob's"),
        raw_entry(template, ids["first_copy"], BOB, hours=1.0, notes="OPS-1 first copy"),
        raw_entry(template, ids["lone_surrogate"], BOB, notes="OPS-1 fix \ud83d done"),
    ]
    second = [
        raw_entry(template, ids["first_copy"], BOB, hours=5.0, notes="OPS-1 second copy"),
        raw_entry(template, ids["page_two"], BOB, hours=2.0, notes="OPS-1 page two"),
    ]
    page_two = {"kind": "body", "path": ENTRIES, "query": f"user_id={BOB}&.*page=2"}
    return [
        entries_rule(BOB, "body", body=page_text(sandbox, BOB, first, 1, 2)),
        {**page_two, "body": page_text(sandbox, BOB, second, 2, 2)},
    ]


def failing_pages(sandbox, template: dict[str, Any]) -> list[dict]:
    """Carol's entries answer 403, Dave's an HTML page, Erin's JSON that stops half way."""
    whole = page_text(sandbox, ERIN, [raw_entry(template, 4_330_000_001, ERIN)], 1, 1)
    forbidden = "You do not have access to this user's time entries"
    html = "<html><body><h1>502 Bad Gateway</h1></body></html>"
    return [
        entries_rule(CAROL, "error", status=403, message=forbidden),
        entries_rule(DAVE, "body", content_type="text/html", body=html),
        entries_rule(ERIN, "body", body=whole[: len(whole) // 2]),
    ]


def jira_faults() -> list[dict]:
    """OPS-7 answers HTML, OPS-8 JSON without an issue id, OPS-6 a 403."""
    forbidden = "You do not have the permission to see the specified issue."
    return [
        issue_rule("OPS-7", "body", content_type="text/html", body="<html>Maintenance</html>"),
        issue_rule("OPS-8", "body", body='{"key": "OPS-8", "fields": {}}'),
        issue_rule("OPS-6", "error", status=403, message=forbidden),
    ]


def run(h2j_dag, conf: dict[str, Any]):
    """One real DAG run; each gets its own logical date so runs never collide."""
    moment = dt.datetime(2026, 12, 2, tzinfo=dt.UTC) + dt.timedelta(
        microseconds=uuid.uuid4().int % 10**6, minutes=uuid.uuid4().int % 1000
    )
    return h2j_dag.test(logical_date=moment, run_conf={**DEFAULT_CONF, **conf})


def per_person(dagrun, task_id: str) -> dict[int, dict[str, Any]]:
    """The per-person summaries a mapped task pushed as XCom ``summary``, by user id.

    A task may push one person's summary or a list of them (people grouped per task).
    """
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        rows = (
            session.query(XComModel)
            .filter(
                XComModel.dag_id == dagrun.dag_id,
                XComModel.run_id == dagrun.run_id,
                XComModel.task_id == task_id,
                XComModel.key == "summary",
            )
            .all()
        )
        values = [XComModel.deserialize_value(row) for row in rows]
    found = [item for value in values for item in (value if isinstance(value, list) else [value])]
    return {int(item["user_id"]): item for item in found}


def read_ledger(dsn: str) -> dict[int, dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor(row_factory=psycopg.rows.dict_row) as cur:
        return {row["entry_id"]: row for row in cur.execute("SELECT * FROM h2j.ledger")}


def jira_worklogs(world: World, issue_ids: dict[str, str]):
    """Every worklog by the Harvest entry its h2j property names, and what Jira holds."""
    by_entry: dict[int, tuple[str, dict[str, Any]]] = {}
    held: set[tuple[str, str]] = set()
    for key, issue_id in issue_ids.items():
        for worklog in world.worklogs(key):
            held.add((issue_id, worklog["id"]))
            for prop in worklog.get("properties") or []:
                if prop["key"] == "h2j":
                    by_entry[prop["value"]["entry_id"]] = (key, worklog)
    return by_entry, held


def outcome_of(dagrun, dsn: str, world: World, ids, issue_ids) -> Outcome:
    summaries = {s["user"]: s for s in per_person(dagrun, "load").values()}
    extracts = per_person(dagrun, "extract")
    by_entry, held = jira_worklogs(world, issue_ids)
    return Outcome(
        state=str(dagrun.state),
        ids=ids,
        summaries=summaries,
        extracts=extracts,
        ledger=read_ledger(dsn),
        worklogs=by_entry,
        held=held,
        issue_ids=issue_ids,
    )


@pytest.fixture(scope="module")
def bad_run(sandbox_process, h2j_dag, pg_server) -> Iterator[Outcome]:
    """The one run over every bad input of Ada, Bob, Carol, Dave and Erin."""
    with pointed_at_sandboxes(sandbox_process, pg_server) as dsn:
        world = World(sandbox_process)
        ids, issue_ids = build_world(world, sandbox_process)
        dagrun = run(h2j_dag, WINDOW)
        yield outcome_of(dagrun, dsn, world, ids, issue_ids)


FAIL_CASES = [(label, "Ada Lovelace", says) for label, (_, says) in ADA_FAILS.items()] + [
    (label, "Bob Builder", says) for label, (_, says) in BOB_FAILS.items()
]


@pytest.mark.parametrize(("label", "person", "says"), FAIL_CASES, ids=[c[0] for c in FAIL_CASES])
def test_bad_entry_fails_alone_and_is_named(bad_run, label, person, says):
    entry_id = bad_run.ids[label]
    failure = bad_run.failures[entry_id]
    assert failure in bad_run.summaries[person]["failures"]
    assert failure["action"] == "fail"
    assert failure["message"].startswith(f"entry {entry_id}: "), failure
    assert says in failure["message"], failure
    assert len(failure["message"]) < 300, "a 100,000-character value is not quoted whole"
    row = bad_run.ledger[entry_id]
    assert (row["state"], row["worklog_id"], row["pending_action"]) == ("failed", None, None)
    assert row["last_error"] == failure["message"]
    assert entry_id not in bad_run.worklogs


def test_jira_lookup_failures_say_what_jira_answered(bad_run):
    def message(label: str) -> str:
        return bad_run.failures[bad_run.ids[label]]["message"]

    assert "not valid JSON" in message("jira_lookup_not_json")
    assert "HTTP 403" in message("jira_lookup_forbidden")
    assert "permission to see the specified issue" in message("jira_lookup_forbidden")


@pytest.mark.parametrize("label", list(ADA_SYNCS))
def test_odd_but_readable_entry_syncs_exactly(bad_run, label):
    _, key, seconds, comment = ADA_SYNCS[label]
    entry_id = bad_run.ids[label]
    issue, worklog = bad_run.worklogs[entry_id]
    assert (issue, worklog["timeSpentSeconds"]) == (key, seconds)
    if comment is not None:
        assert comment_text(worklog["comment"]) == comment
    row = bad_run.ledger[entry_id]
    assert (row["state"], row["worklog_id"], row["issue_key"]) == ("synced", worklog["id"], key)
    assert entry_id not in bad_run.failures


def test_100k_notes_are_cut_to_jiras_limit_with_a_marker(bad_run):
    _, worklog = bad_run.worklogs[bad_run.ids["notes_100k_characters"]]
    text = comment_text(worklog["comment"])
    assert text.startswith("Ada Lovelace: OPS-1 xxxx")
    assert text.endswith(TRUNCATION_MARKER)
    assert JIRA_TEXT_LIMIT - 100 < utf16_units(text) <= JIRA_TEXT_LIMIT


def test_unreadable_started_time_starts_the_worklog_at_nine(bad_run):
    row = bad_run.ledger[bad_run.ids["started_time_unreadable"]]
    assert row["started"] == f"{DAY}T09:00:00.000+0000"


def test_key_of_a_project_jira_lacks_is_skipped_and_counted(bad_run):
    entry_id = bad_run.ids["key_of_unknown_project"]
    assert entry_id not in bad_run.ledger
    assert entry_id not in bad_run.worklogs
    assert bad_run.extracts[ADA]["no_issue"] == 1
    assert bad_run.summaries["Ada Lovelace"]["skipped"] == 1


def test_the_good_entries_of_the_person_with_bad_ones_sync(bad_run):
    summary = bad_run.summaries["Ada Lovelace"]
    assert (summary["failed"], summary["created"]) == (len(ADA_FAILS), len(ADA_SYNCS) + 1)
    issue, worklog = bad_run.worklogs[bad_run.ids["plain"]]
    assert (issue, worklog["timeSpentSeconds"]) == ("OPS-1", 2 * HOUR)
    assert comment_text(worklog["comment"]) == "Ada Lovelace: OPS-1 plain work"


@pytest.mark.parametrize("label", list(BOB_LEFT_OUT))
def test_entry_without_a_usable_identity_is_left_out_and_named(bad_run, label):
    said = [text for text in bad_run.extracts[BOB]["unusable"] if BOB_LEFT_OUT[label] in text]
    assert len(said) == 1, bad_run.extracts[BOB]["unusable"]
    assert "Bob Builder" in said[0]
    assert set(bad_run.ledger) <= set(bad_run.ids.values()), "no row for a stray id"
    assert 4399000001 not in bad_run.ledger


def test_an_entry_of_someone_else_in_a_page_is_not_taken_as_ones_own(bad_run):
    row = bad_run.ledger[bad_run.ids["plain"]]
    assert row["user_id"] == ADA
    assert row["state"] == "synced"


def test_duplicate_entry_on_two_pages_syncs_once_from_the_first_copy(bad_run):
    entry_id = bad_run.ids["first_copy"]
    issue, worklog = bad_run.worklogs[entry_id]
    assert (issue, worklog["timeSpentSeconds"]) == ("OPS-1", HOUR)
    assert comment_text(worklog["comment"]) == "Bob Builder: OPS-1 first copy"
    assert bad_run.extracts[BOB]["duplicates"] == 1
    _, second_page = bad_run.worklogs[bad_run.ids["page_two"]]
    assert second_page["timeSpentSeconds"] == 2 * HOUR


def test_lone_surrogate_in_notes_is_dropped_and_the_entry_syncs(bad_run):
    _, worklog = bad_run.worklogs[bad_run.ids["lone_surrogate"]]
    assert comment_text(worklog["comment"]) == "Bob Builder: OPS-1 fix  done"
    assert bad_run.ledger[bad_run.ids["lone_surrogate"]]["state"] == "synced"


@pytest.mark.parametrize("person", list(FAILED_PEOPLE))
def test_person_whose_pages_fail_loses_only_their_own_sync(bad_run, person):
    user_id = next(uid for uid, name in NAMES.items() if " ".join(name) == person)
    assert user_id not in bad_run.extracts, FAILED_PEOPLE[person]
    assert person not in bad_run.summaries, "nothing was loaded for them"
    assert not [row for row in bad_run.ledger.values() if row["user_id"] == user_id]
    assert bad_run.ids[f"good_of_{user_id}"] not in bad_run.worklogs
    assert {ADA, BOB} <= bad_run.extracts.keys(), "the others were extracted"
    assert {"Ada Lovelace", "Bob Builder"} <= bad_run.summaries.keys()


def test_the_run_fails_and_the_ledger_holds_no_half_written_row(bad_run):
    assert bad_run.state == "failed"
    states = {row["state"] for row in bad_run.ledger.values()}
    assert states == {"synced", "failed"}
    for entry_id, row in bad_run.ledger.items():
        assert row["pending_action"] is None, entry_id
        if row["worklog_id"] is None:
            assert row["state"] == "failed", entry_id
            assert entry_id in bad_run.failures
        else:
            assert (row["issue_id"], row["worklog_id"]) in bad_run.held, entry_id
    assert len(bad_run.worklogs) == sum(1 for r in bad_run.ledger.values() if r["worklog_id"])


# ---------------------------------------------------------------------------------------
# A synced entry that turns bad, and a person whose pages start failing, over three runs.


@pytest.fixture
def world(sandbox) -> World:
    return World(sandbox)


def test_entry_turning_bad_keeps_its_worklog_until_fixed(world, sandbox, run_dag, ledger_dsn):
    world.add_issue("OPS-1", estimate_hours=10)
    ada = world.add_person("Ada", "Lovelace", user_id=ADA)
    carol = world.add_person("Carol", "Shaw", user_id=CAROL)
    turns_bad = world.log(ada, DAY, 2, "OPS-1 design")
    edited = world.log(ada, DAY, 3, "OPS-1 build")
    kept = world.log(carol, DAY, 1, "OPS-1 review")
    assert run_dag(WINDOW).succeeded
    before = {w["id"]: w["timeSpentSeconds"] for w in world.worklogs("OPS-1")}
    synced = read_ledger(ledger_dsn)

    state = sandbox.state("harvest")
    next(e for e in state["time_entries"] if e["id"] == turns_bad)["hours"] = "2h"
    sandbox.load(harvest=state)
    world.edit(edited, hours=4)
    sandbox.faults("harvest", [{"kind": "error", "status": 403, "query": entries_of(carol)}])
    second = run_dag(WINDOW)

    assert second.state == "failed"
    [failure] = second.summaries["Ada Lovelace"]["failures"]
    assert failure["entry_id"] == turns_bad
    assert "hours is '2h', not a number" in failure["message"]
    assert second.summaries["Ada Lovelace"]["updated"] == 1
    after = {w["id"]: w["timeSpentSeconds"] for w in world.worklogs("OPS-1")}
    assert after[synced[turns_bad]["worklog_id"]] == 2 * HOUR, "its worklog is untouched"
    assert after[synced[kept]["worklog_id"]] == HOUR, "Carol's worklog is not deleted"
    assert after.keys() == before.keys()
    assert world.issue("OPS-1")["remaining"] == (10 - 2 - 4 - 1) * HOUR
    rows = read_ledger(ledger_dsn)
    assert (rows[turns_bad]["state"], rows[turns_bad]["worklog_id"]) == (
        "failed",
        synced[turns_bad]["worklog_id"],
    )
    assert rows[kept] == synced[kept]

    state = sandbox.state("harvest")
    next(e for e in state["time_entries"] if e["id"] == turns_bad)["hours"] = 2.5
    sandbox.load(harvest=state)
    sandbox.faults("harvest", [])
    third = run_dag(WINDOW)

    assert third.succeeded, third
    assert third.summaries["Ada Lovelace"]["updated"] == 1
    rows = read_ledger(ledger_dsn)
    assert (rows[turns_bad]["state"], rows[turns_bad]["seconds"]) == ("synced", 9000)
    assert world.issue("OPS-1")["remaining"] == (10 - 2.5 - 4 - 1) * HOUR
