"""Finding the Jira issue of a Harvest entry: keys in notes and external references."""

from __future__ import annotations

import pytest

from h2j.issue_refs import (
    IssueRef,
    candidate_keys,
    first_known_key,
    project_of,
    reference_from_external,
)

SITE = "acme.atlassian.net"


def jira_reference(**overrides):
    """An external_reference as Harvest's Jira integration fills it."""
    ref = {
        "id": "10042",
        "group_id": "10000",
        "account_id": None,
        "permalink": "https://acme.atlassian.net/browse/OPS-12",
        "service": "acme.atlassian.net",
        "service_icon_url": "https://proxy.harvestfiles.com/production_harvestapp_public/jira.png",
    }
    ref.update(overrides)
    return ref


# Keys in notes


def test_key_first_in_notes_links():
    assert first_known_key("OPS-12 fixed the login page", {"OPS"}) == "OPS-12"


def test_key_inside_sentence_links():
    assert first_known_key("Reviewed the fix for OPS-7 with the team", {"OPS"}) == "OPS-7"


def test_lower_case_key_is_upper_cased():
    assert candidate_keys("pairing on ops-42") == ["OPS-42"]
    assert first_known_key("pairing on ops-42", {"ops"}) == "OPS-42"


def test_two_keys_first_wins():
    assert first_known_key("OPS-3 then WEB-9", {"OPS", "WEB"}) == "OPS-3"
    assert candidate_keys("OPS-3 then WEB-9") == ["OPS-3", "WEB-9"]


def test_unknown_project_is_skipped_for_the_next_known_one():
    assert first_known_key("Read RFC-2119 for WEB-9", {"WEB"}) == "WEB-9"


def test_no_key_gives_none():
    assert candidate_keys("Weekly planning meeting") == []
    assert first_known_key("Weekly planning meeting", {"OPS"}) is None


@pytest.mark.parametrize("notes", [None, "", 42, ["OPS-1"]])
def test_missing_or_non_text_notes_give_no_keys(notes):
    assert candidate_keys(notes) == []
    assert first_known_key(notes, {"OPS"}) is None


def test_repeated_key_is_listed_once():
    assert candidate_keys("OPS-1, ops-1 and OPS-1 again") == ["OPS-1"]


@pytest.mark.parametrize(
    "notes",
    ["(OPS-1)", "OPS-1:", "OPS-1,", "[ops-1]", "OPS-1.", '"OPS-1"', "see/OPS-1", "OPS-1\n"],
)
def test_punctuation_around_key_still_matches(notes):
    assert candidate_keys(notes) == ["OPS-1"]


@pytest.mark.parametrize("notes", ["xOPS-1", "OPS-12a", "OPS-1-2", "_OPS-1", "9OPS-1", "-OPS-1"])
def test_key_glued_to_word_characters_does_not_match_ops_1(notes):
    assert "OPS-1" not in candidate_keys(notes)
    assert "OPS-12" not in candidate_keys(notes)
    assert first_known_key(notes, {"OPS"}) is None


def test_key_glued_to_non_ascii_letter_does_not_match():
    assert candidate_keys("éOPS-1") == []
    assert candidate_keys("OPS-1é") == []


def test_year_month_never_matches():
    assert candidate_keys("Invoice for 2026-05 sent") == []


def test_utf8_is_only_a_candidate():
    assert candidate_keys("Fixed UTF-8 decoding") == ["UTF-8"]
    assert first_known_key("Fixed UTF-8 decoding in OPS-5", {"OPS"}) == "OPS-5"
    assert first_known_key("Fixed UTF-8 decoding", {"OPS"}) is None


@pytest.mark.parametrize("notes", ["O-1 is too short", "OPS-0", "OPS-012", "OPS-"])
def test_malformed_keys_do_not_match(notes):
    assert candidate_keys(notes) == []


def test_project_key_with_digits_and_underscore_matches():
    assert candidate_keys("MY_PROJ2-15 done") == ["MY_PROJ2-15"]


def test_project_key_longer_than_255_does_not_match():
    assert candidate_keys("A" * 255 + "-1") == ["A" * 255 + "-1"]
    assert candidate_keys("A" * 256 + "-1") == []


def test_key_inside_jira_url_in_notes_matches():
    assert candidate_keys("https://acme.atlassian.net/browse/OPS-88") == ["OPS-88"]


def test_project_of_key():
    assert project_of("my_proj2-15") == "MY_PROJ2"


# External references


def test_full_external_reference_gives_id_and_key():
    assert reference_from_external(jira_reference(), SITE) == IssueRef("10042", "OPS-12")


def test_full_external_reference_without_site_is_trusted_on_jira_cloud():
    assert reference_from_external(jira_reference()) == IssueRef("10042", "OPS-12")


def test_site_given_as_url_is_compared_by_host():
    ref = jira_reference()
    assert reference_from_external(ref, "https://ACME.atlassian.net/") == IssueRef(
        "10042", "OPS-12"
    )


def test_id_only_reference_with_service_gives_id():
    ref = jira_reference(permalink=None)
    assert reference_from_external(ref, SITE) == IssueRef("10042", None)


def test_bare_id_without_service_or_permalink_is_not_trusted():
    assert reference_from_external({"id": "10042"}, SITE) is None
    assert reference_from_external({"id": "10042"}) is None


def test_permalink_only_reference_gives_key():
    ref = {"permalink": "https://acme.atlassian.net/browse/ops-12"}
    assert reference_from_external(ref, SITE) == IssueRef(None, "OPS-12")


def test_permalink_query_and_fragment_are_ignored():
    ref = jira_reference(
        id=None, permalink="https://acme.atlassian.net/browse/OPS-12?focusedId=3#comment-3"
    )
    assert reference_from_external(ref, SITE) == IssueRef(None, "OPS-12")


def test_permalink_not_ending_in_browse_key_gives_no_key():
    ref = jira_reference(permalink="https://acme.atlassian.net/browse/OPS-12/edit")
    assert reference_from_external(ref, SITE) == IssueRef("10042", None)


def test_reference_from_other_jira_site_is_ignored():
    ref = jira_reference(
        service="other.atlassian.net", permalink="https://other.atlassian.net/browse/OPS-12"
    )
    assert reference_from_external(ref, SITE) is None


def test_permalink_host_disagreeing_with_service_is_ignored():
    ref = jira_reference(permalink="https://other.atlassian.net/browse/OPS-12")
    assert reference_from_external(ref, SITE) is None
    assert reference_from_external(ref) is None


@pytest.mark.parametrize(
    ("service", "permalink", "ref_id"),
    [
        ("trello.com", "https://trello.com/c/a1b2c3d4/12-fix-login", "5f0c8e7b2a1d4c3b2a1d4c3b"),
        ("github.com", "https://github.com/acme/app/issues/12", "987654321"),
        ("app.asana.com", "https://app.asana.com/0/1200/1201", "1201"),
    ],
)
def test_non_jira_service_is_ignored(service, permalink, ref_id):
    ref = {"id": ref_id, "group_id": "1", "permalink": permalink, "service": service}
    assert reference_from_external(ref) is None
    assert reference_from_external(ref, SITE) is None


def test_self_hosted_jira_is_recognised_by_browse_permalink_or_site():
    ref = {
        "id": "20001",
        "service": "jira.example.com",
        "permalink": "https://jira.example.com/browse/OPS-4",
    }
    assert reference_from_external(ref) == IssueRef("20001", "OPS-4")
    assert reference_from_external(ref, "jira.example.com") == IssueRef("20001", "OPS-4")
    assert reference_from_external({"id": "20001", "service": "jira.example.com"}) is None


@pytest.mark.parametrize("ref", [None, {}, "OPS-12", 10042, ["id", "10042"]])
def test_null_or_non_object_reference_gives_none(ref):
    assert reference_from_external(ref, SITE) is None


@pytest.mark.parametrize(
    "ref",
    [
        {"id": None, "permalink": None, "service": None},
        {"id": True, "service": SITE},
        {"id": "OPS-12", "service": SITE},
        {"id": "-5", "service": SITE},
        {"id": "0", "service": SITE},
        {"id": 3.5, "service": SITE},
        {"id": "10042", "service": 7, "permalink": ["https://acme.atlassian.net/browse/OPS-1"]},
        {"id": "10042", "service": "http://[broken", "permalink": "http://[broken/browse/A-1"},
        {"id": "10042", "service": ""},
    ],
)
def test_garbage_reference_never_raises_and_gives_none(ref):
    assert reference_from_external(ref, SITE) is None


def test_numeric_id_is_accepted_as_text():
    ref = jira_reference(id=10042)
    assert reference_from_external(ref, SITE) == IssueRef("10042", "OPS-12")


def test_service_written_as_url_is_read_as_host():
    ref = jira_reference(service="https://acme.atlassian.net")
    assert reference_from_external(ref, SITE) == IssueRef("10042", "OPS-12")
