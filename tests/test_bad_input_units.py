"""Bad input below the DAG: one person's extract against the sandboxes, and the pure parts.

A failure that concerns a person as a whole (their pages refused, unreadable or cut short,
Jira refusing the credentials) must fail that person's extract with a message naming
them, and leave the rows an earlier attempt staged as they were. A failure that concerns
one entry must stay with that entry.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator

import psycopg
import pytest
import requests

from h2j.convert import BadEntry, entry_seconds, quoted
from h2j.errors import ApiError, TransientApiError
from h2j.extract import extract_user
from h2j.harvest_hook import HarvestHook
from h2j.issues import IssueLookupFailed, IssueResolver
from h2j.jira_hook import JiraHook
from h2j.retry import RateLimiter, RetryPolicy
from h2j.schema import ensure_schema
from h2j.staging import Person, StageCounts, usable_entries
from h2j.window import Window
from tests.world import World

RUN = "manual__bad_input_units"
WINDOW = Window(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
FAST = RetryPolicy(base_delay=0.01, max_delay=0.02, max_total_wait=1.0, max_attempts=3)
ADA = Person(user_id=7001, name="Ada Lovelace", zone="UTC")


@pytest.fixture
def world(sandbox) -> World:
    world = World(sandbox)
    world.add_issue("OPS-1", estimate_hours=10)
    world.add_person("Ada", "Lovelace", user_id=ADA.user_id)
    return world


@pytest.fixture
def ledger(ledger_dsn) -> Iterator[psycopg.Connection]:
    with psycopg.connect(ledger_dsn, autocommit=True) as conn:
        ensure_schema(conn)
        yield conn


def extract(ledger: psycopg.Connection) -> dict:
    jira = JiraHook(retry_policy=FAST)
    resolver = IssueResolver(
        conn=ledger,
        run_id=RUN,
        site="h2j-sandbox.atlassian.net",
        known_projects=["OPS"],
        lookup=jira.get_issue,
        site_host="h2j-sandbox.atlassian.net",
    )
    harvest = HarvestHook(retry_policy=FAST, rate_limiter=RateLimiter(1000, 1))
    return extract_user(
        conn=ledger, harvest=harvest, resolver=resolver, run_id=RUN, person=ADA, window=WINDOW
    )


def staged(ledger: psycopg.Connection) -> list[tuple]:
    query = "SELECT entry_id, status FROM h2j.staging WHERE run_id = %s ORDER BY entry_id"
    return ledger.execute(query, [RUN]).fetchall()


def page_of(entries: list, next_link: str | None = None) -> str:
    return json.dumps({"time_entries": entries, "links": {"next": next_link}})


ENTRIES = "^/v2/time_entries$"
PERSON_FAULTS = {
    "entries_forbidden": (
        {"kind": "error", "status": 403, "path": ENTRIES, "message": "Forbidden for this user"},
        "HTTP 403",
    ),
    "page_is_html": (
        {"kind": "body", "path": ENTRIES, "body": "<html>Bad gateway</html>"},
        "not valid JSON",
    ),
    "page_cut_short": (
        {"kind": "body", "path": ENTRIES, "body": '{"time_entries": [{"id": 43, "hours": 1.'},
        "not valid JSON",
    ),
    "page_without_entries_list": (
        {"kind": "body", "path": ENTRIES, "body": '{"time_entries": null, "links": {}}'},
        "has no 'time_entries' list",
    ),
    "page_linking_to_itself": (
        {"kind": "body", "path": ENTRIES, "body": page_of([], "/v2/time_entries?page=1")},
        "links back to a page already read",
    ),
}


@pytest.mark.parametrize("case", list(PERSON_FAULTS))
def test_failing_pages_fail_the_persons_extract_by_name_and_keep_earlier_rows(
    world, sandbox, ledger, case
):
    entry = world.log(ADA.user_id, "2026-11-03", 2, "OPS-1 build")
    assert extract(ledger)["ok"] == 1
    rule, says = PERSON_FAULTS[case]
    sandbox.faults("harvest", [rule])

    with pytest.raises(ApiError) as caught:
        extract(ledger)

    assert "Ada Lovelace (user 7001)" in str(caught.value)
    assert says in str(caught.value)
    assert staged(ledger) == [(entry, "ok")], "the failed attempt changed nothing"


def test_jira_refusing_the_credentials_fails_the_whole_extract(world, sandbox, ledger):
    world.log(ADA.user_id, "2026-11-03", 2, "OPS-1 build")
    sandbox.faults("jira", [{"kind": "error", "status": 401, "path": "/issue/"}])

    with pytest.raises(ApiError) as caught:
        extract(ledger)

    assert caught.value.status == 401
    assert "Ada Lovelace" in str(caught.value)
    assert staged(ledger) == []


def test_jira_unreachable_fails_the_extract_for_a_retry_and_remembers_nothing(
    world, sandbox, ledger
):
    world.log(ADA.user_id, "2026-11-03", 2, "OPS-1 build")
    sandbox.faults("jira", [{"kind": "error", "status": 503, "path": "/issue/"}])

    with pytest.raises(TransientApiError, match="Ada Lovelace"):
        extract(ledger)

    assert ledger.execute("SELECT count(*) FROM h2j.issue_lookups").fetchone() == (0,)
    sandbox.faults("jira", [])
    assert extract(ledger)["ok"] == 1


def test_body_fault_serves_raw_text_only_to_matching_queries(sandbox):
    rule = {"kind": "body", "path": ENTRIES, "query": "user_id=5(&|$)", "status": 502}
    sandbox.faults("harvest", [{**rule, "content_type": "text/plain", "body": '{"hours": NaN'}])
    headers = {
        "Authorization": "Bearer sandbox-harvest-token",
        "Harvest-Account-Id": "1234567",
        "User-Agent": "tests (tests@example.com)",
    }
    url = f"{sandbox.harvest_url}/v2/time_entries"

    faulted = requests.get(url, params={"user_id": 5}, headers=headers, timeout=10)
    served = requests.get(url, params={"user_id": 55}, headers=headers, timeout=10)

    assert (faulted.status_code, faulted.text) == (502, '{"hours": NaN')
    assert faulted.headers["content-type"].startswith("text/plain")
    assert served.status_code == 200
    assert served.json()["time_entries"] == []


def test_an_entry_of_someone_else_on_a_persons_page_is_left_out():
    counts = StageCounts()
    page = [
        {"id": 11, "user": {"id": ADA.user_id}},
        {"id": 12, "user": {"id": 7002, "name": "Bob Builder"}},
        {"id": 13, "user": {"id": str(ADA.user_id)}},
    ]
    kept = [entry["id"] for entry in usable_entries(page, set(), counts, ADA)]
    assert kept == [11]
    assert "entry 12 came among Ada Lovelace's entries but belongs to user 7002" in counts.unusable
    assert any("belongs to user '7001'" in text for text in counts.unusable)


@pytest.mark.parametrize(
    ("entry_id", "says"),
    [
        (True, "has no usable id: True"),
        (0, "has an id out of range: 0"),
        (-4, "has an id out of range: -4"),
        (2**63, f"has an id out of range: {2**63}"),
        (4.3e9, "has no usable id: 4300000000.0"),
    ],
)
def test_ids_that_cannot_key_a_ledger_row_are_left_out(entry_id, says):
    counts = StageCounts()
    assert list(usable_entries([{"id": entry_id}], set(), counts, ADA)) == []
    assert counts.unusable == [f"an entry of Ada Lovelace {says}"]


def test_the_largest_bigint_id_is_kept():
    page = [{"id": 2**63 - 1}]
    assert [e["id"] for e in usable_entries(page, set(), StageCounts(), ADA)] == [2**63 - 1]


def test_error_messages_quote_long_values_only_in_part():
    with pytest.raises(BadEntry) as caught:
        entry_seconds(5, "7" * 100_000)
    assert len(str(caught.value)) < 120
    assert "(100000 characters)" in str(caught.value)
    assert quoted("abc") == "'abc'"


class Answers:
    """Jira's issue lookups as a table; counts how often each issue is asked for."""

    def __init__(self, **answers):
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, ref: str):
        self.asked.append(ref)
        answer = self.answers[ref.replace("-", "_")]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {},
        {"key": "OPS-1"},
        {"id": True, "key": "OPS-1"},
        {"id": "10001", "key": ""},
        {"id": "ten", "key": "OPS-1"},
        ApiError("jira", 200, "issue is not valid JSON", method="GET", path="/issue/OPS-1"),
        ApiError("jira", 400, "bad request", method="GET", path="/issue/OPS-1"),
    ],
)
def test_an_unusable_issue_answer_fails_its_entries_once_per_task(answer):
    lookup = Answers(OPS_1=answer)
    resolver = IssueResolver(
        conn=None, run_id=RUN, site="s", known_projects=["OPS"], lookup=lookup, site_host=None
    )
    for _ in range(2):
        with pytest.raises(IssueLookupFailed, match="OPS-1"):
            resolver.resolve("OPS-1")
    assert lookup.asked == ["OPS-1"]
