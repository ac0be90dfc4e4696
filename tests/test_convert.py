"""The pure mapping of a Harvest entry's fields to a Jira worklog's fields."""

from __future__ import annotations

import hashlib
import math
import re
from datetime import date, datetime, time
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from h2j.convert import (
    JIRA_TEXT_LIMIT,
    TRUNCATION_MARKER,
    BadEntry,
    adf_document,
    comment_hash,
    comment_text,
    entry_seconds,
    jira_started,
    parse_spent_date,
    parse_started_time,
    same_minutes,
    utf16_units,
    worklog_seconds,
)

STARTED_SHAPE = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}[+-]\d{4}")

# Hours to seconds


def test_two_point_oh_one_hours_is_exactly_7236_seconds():
    assert entry_seconds(1, 2.01) == 7236


@pytest.mark.parametrize(
    ("hours", "seconds"),
    [(0, 0), (0.0, 0), (1, 3600), (0.25, 900), (8.33, 29988), (0.0166, 60), (24, 86400)],
)
def test_hours_become_rounded_seconds(hours, seconds):
    assert entry_seconds(7, hours) == seconds


def test_half_second_rounds_up_never_truncates():
    # 0.000125 h is 0.45 s and 0.000139 h is 0.5004 s.
    assert entry_seconds(1, 0.000125) == 0
    assert entry_seconds(1, 0.000139) == 1
    assert entry_seconds(1, Decimal("0.0001388888888888888888888888889")) == 1


def test_decimal_hours_are_accepted():
    assert entry_seconds(1, Decimal("1.5")) == 5400


@given(st.integers(min_value=0, max_value=2400))
def test_hundredths_of_hours_always_give_exact_seconds(hundredths):
    hours = hundredths / 100
    assert entry_seconds(1, hours) == hundredths * 36


@pytest.mark.parametrize(
    ("hours", "what"),
    [
        (None, "missing"),
        (True, "not a number"),
        ("abc", "'abc', not a number"),
        ("2.5", "not a number"),
        (math.nan, "not a finite number"),
        (math.inf, "not a finite number"),
        (-math.inf, "not a finite number"),
        (Decimal("NaN"), "not a finite number"),
        (-0.5, "below zero"),
        (24.01, "more than 24 hours"),
        (1e300, "more than 24 hours"),
        ([1.0], "not a number"),
    ],
)
def test_unusable_hours_raise_bad_entry_naming_the_entry(hours, what):
    with pytest.raises(BadEntry) as caught:
        entry_seconds(123, hours)
    assert caught.value.entry_id == 123
    assert str(caught.value).startswith("entry 123: hours is")
    assert what in str(caught.value)


def test_bad_entry_is_a_value_error():
    assert issubclass(BadEntry, ValueError)


# Worklog seconds and comparison


def test_zero_seconds_means_no_worklog():
    assert worklog_seconds(0) is None


@pytest.mark.parametrize("seconds", [1, 36, 59])
def test_under_a_minute_becomes_jiras_minimum(seconds):
    assert worklog_seconds(seconds) == 60


def test_tiny_entry_becomes_one_minute_worklog():
    assert worklog_seconds(entry_seconds(5, 0.0166)) == 60


@pytest.mark.parametrize("seconds", [60, 61, 7236])
def test_a_minute_or_more_is_kept(seconds):
    assert worklog_seconds(seconds) == seconds


def test_negative_seconds_are_refused():
    with pytest.raises(ValueError, match="negative"):
        worklog_seconds(-1)


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [
        (7236, 7235, True),
        (7236, 7236, True),
        (60, 89, True),
        (89, 90, False),
        (29, 0, True),
        (30, 0, False),
        (3600, 3660, False),
        (None, None, True),
        (None, 60, False),
        (60, None, False),
    ],
)
def test_durations_compare_at_whole_minutes(a, b, same):
    assert same_minutes(a, b) is same


# Dates and start times


def test_spent_date_is_parsed():
    assert parse_spent_date(1, "2026-11-03") == date(2026, 11, 3)
    assert parse_spent_date(1, date(2026, 11, 3)) == date(2026, 11, 3)
    assert parse_spent_date(1, datetime(2026, 11, 3, 8, 0)) == date(2026, 11, 3)


@pytest.mark.parametrize("value", [None, "", "2026-13-01", "2026-02-30", "03/11/2026", 20261103])
def test_bad_spent_date_raises_bad_entry_naming_the_entry(value):
    with pytest.raises(BadEntry, match=r"^entry 9: spent_date is") as caught:
        parse_spent_date(9, value)
    assert caught.value.entry_id == 9


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8:00am", time(8, 0)),
        ("1:15pm", time(13, 15)),
        ("12:30pm", time(12, 30)),
        ("12:05am", time(0, 5)),
        ("8:00 AM", time(8, 0)),
        ("8:00 p.m.", time(20, 0)),
        ("9am", time(9, 0)),
        ("13:30", time(13, 30)),
        ("08:05", time(8, 5)),
        ("0:00", time(0, 0)),
        (" 9:45am ", time(9, 45)),
    ],
)
def test_started_time_in_either_clock_format(text, expected):
    assert parse_started_time(text) == expected


@pytest.mark.parametrize(
    "text", [None, "", "   ", "noon", "25:00", "24:00", "13:00pm", "0:30am", "9:60", "8", 830]
)
def test_unreadable_started_time_gives_none(text):
    assert parse_started_time(text) is None


@given(st.text(max_size=20))
def test_started_time_parsing_never_raises(text):
    result = parse_started_time(text)
    assert result is None or isinstance(result, time)


# Jira's started timestamp


@pytest.mark.parametrize(
    ("day", "start", "zone", "expected"),
    [
        (date(2026, 11, 3), None, "America/Chicago", "2026-11-03T09:00:00.000-0600"),
        (date(2026, 7, 14), None, "America/Chicago", "2026-07-14T09:00:00.000-0500"),
        (date(2026, 11, 3), time(8, 0), "Asia/Kolkata", "2026-11-03T08:00:00.000+0530"),
        (date(2026, 7, 14), time(13, 30), "Europe/Berlin", "2026-07-14T13:30:00.000+0200"),
        (date(2026, 11, 3), time(13, 30), "Europe/Berlin", "2026-11-03T13:30:00.000+0100"),
        (date(2026, 7, 14), None, "Australia/Lord_Howe", "2026-07-14T09:00:00.000+1030"),
        (date(2026, 1, 14), None, "Australia/Lord_Howe", "2026-01-14T09:00:00.000+1100"),
        (date(2026, 11, 3), None, "UTC", "2026-11-03T09:00:00.000+0000"),
        (date(2026, 11, 3), None, "Asia/Kathmandu", "2026-11-03T09:00:00.000+0545"),
    ],
)
def test_started_uses_the_offset_in_force_on_that_date(day, start, zone, expected):
    assert jira_started(day, start, zone) == expected


def test_started_defaults_to_nine_local():
    assert jira_started(date(2026, 11, 3), None, "Europe/Berlin").startswith("2026-11-03T09:00")


def test_started_on_spring_forward_day_after_the_change():
    assert jira_started(date(2026, 3, 8), None, "America/Chicago") == (
        "2026-03-08T09:00:00.000-0500"
    )
    assert jira_started(date(2026, 3, 29), None, "Europe/Berlin") == (
        "2026-03-29T09:00:00.000+0200"
    )


def test_started_on_fall_back_day_after_the_change():
    assert jira_started(date(2026, 11, 1), None, "America/Chicago") == (
        "2026-11-01T09:00:00.000-0600"
    )


def test_nonexistent_local_time_shifts_forward_by_the_gap():
    assert jira_started(date(2026, 3, 8), time(2, 30), "America/Chicago") == (
        "2026-03-08T03:30:00.000-0500"
    )


def test_lord_howe_half_hour_gap_shifts_forward_half_an_hour():
    assert jira_started(date(2026, 10, 4), time(2, 15), "Australia/Lord_Howe") == (
        "2026-10-04T02:45:00.000+1100"
    )


def test_ambiguous_local_time_takes_first_occurrence():
    assert jira_started(date(2026, 11, 1), time(1, 30), "America/Chicago") == (
        "2026-11-01T01:30:00.000-0500"
    )
    assert jira_started(date(2026, 10, 25), time(2, 30), "Europe/Berlin") == (
        "2026-10-25T02:30:00.000+0200"
    )


def test_started_from_parsed_harvest_times():
    day = date(2026, 11, 3)
    zone = "America/Chicago"
    assert jira_started(day, parse_started_time("8:00am"), zone) == "2026-11-03T08:00:00.000-0600"
    assert jira_started(day, parse_started_time("1:15pm"), zone) == "2026-11-03T13:15:00.000-0600"
    assert jira_started(day, parse_started_time("13:30"), zone) == "2026-11-03T13:30:00.000-0600"


def test_started_has_the_shape_jira_requires():
    assert STARTED_SHAPE.fullmatch(jira_started(date(1999, 12, 31), None, "Pacific/Chatham"))


def test_unknown_zone_is_refused():
    with pytest.raises(ValueError, match="Mars/Olympus"):
        jira_started(date(2026, 11, 3), None, "Mars/Olympus")


# Comment text


def test_comment_is_prefixed_with_the_person():
    assert comment_text("Fixed OPS-12", "Ada Lovelace") == "Ada Lovelace: Fixed OPS-12"


def test_comment_without_notes_is_just_the_name():
    assert comment_text(None, "Ada Lovelace") == "Ada Lovelace"
    assert comment_text("  \n ", "Ada Lovelace") == "Ada Lovelace"


def test_comment_without_person_is_just_the_notes():
    assert comment_text("  Fixed OPS-12\n", None) == "Fixed OPS-12"
    assert comment_text(None, None) == ""


def test_control_characters_are_dropped_but_newlines_and_tabs_kept():
    notes = "a\x00b\x07c\x1b[31md\x7fe\x9ff\tg\nh\ud83di"
    assert comment_text(notes, None) == "abc[31mdef\tg\nhi"


def test_windows_and_unicode_line_breaks_become_newlines():
    assert comment_text("one\r\ntwo\rthree\u2028four", None) == "one\ntwo\nthree\nfour"


def test_person_name_is_flattened_to_one_line():
    assert comment_text("notes", " Ada\n\tLovelace\x00 ") == "Ada Lovelace: notes"


def test_short_comment_is_untouched_at_the_limit():
    notes = "x" * JIRA_TEXT_LIMIT
    assert comment_text(notes, None) == notes


def test_long_emoji_and_rtl_note_is_cut_to_jiras_limit_in_utf16_units():
    chunk = "שלום עולם \u200f مرحبا 😀👍🏽 👨\u200d👩\u200d👧 🇩🇪 e\u0301 "
    notes = (chunk * (100_000 // len(chunk) + 1))[:100_000]
    text = comment_text(notes, "Ada Lovelace")
    assert utf16_units(text) <= JIRA_TEXT_LIMIT
    assert utf16_units(text) > JIRA_TEXT_LIMIT - 40
    assert len(text.encode("utf-16-le")) // 2 == utf16_units(text)
    assert text.startswith("Ada Lovelace: שלום")
    assert text.endswith(TRUNCATION_MARKER)
    text.encode("utf-8")  # no lone surrogate survived


def test_truncation_never_splits_an_emoji():
    notes = "👨\u200d👩\u200d👧" * 20_000
    text = comment_text(notes, None)
    body = text.removesuffix(TRUNCATION_MARKER)
    assert utf16_units(text) <= JIRA_TEXT_LIMIT
    assert body.endswith("👧")
    assert len(body) % 5 == 0


def test_truncation_never_splits_a_flag():
    notes = "x" + "🇩🇪" * 20_000
    body = comment_text(notes, None).removesuffix(TRUNCATION_MARKER)
    assert (len(body) - 1) % 2 == 0


def test_truncation_keeps_combining_accent_with_its_letter():
    notes = "e\u0301" * 40_000
    body = comment_text(notes, None).removesuffix(TRUNCATION_MARKER)
    assert body.endswith("e\u0301")


@given(st.text(max_size=200), st.one_of(st.none(), st.text(max_size=30)))
def test_comment_text_never_fails_and_has_no_control_characters(notes, name):
    text = comment_text(notes, name)
    assert utf16_units(text) <= JIRA_TEXT_LIMIT
    assert not any(ord(ch) < 32 and ch not in "\n\t" for ch in text)
    text.encode("utf-8")


# ADF and hash


def test_adf_one_paragraph_per_block_with_hard_breaks():
    doc = adf_document("Ada Lovelace: first line\nsecond line\n\nnext block")
    assert doc == {
        "type": "doc",
        "version": 1,
        "content": [
            {
                "type": "paragraph",
                "content": [
                    {"type": "text", "text": "Ada Lovelace: first line"},
                    {"type": "hardBreak"},
                    {"type": "text", "text": "second line"},
                ],
            },
            {"type": "paragraph", "content": [{"type": "text", "text": "next block"}]},
        ],
    }


def test_adf_for_empty_text_is_an_empty_document():
    assert adf_document("") == {"type": "doc", "version": 1, "content": []}
    assert adf_document("\n \n") == {"type": "doc", "version": 1, "content": []}


@given(st.text(max_size=100))
def test_adf_never_holds_an_empty_text_node(text):
    doc = adf_document(text)
    for paragraph in doc["content"]:
        assert paragraph["content"]
        for node in paragraph["content"]:
            assert node["type"] == "hardBreak" or node["text"]


def test_comment_hash_is_sha256_of_the_text():
    assert comment_hash("Fixed OPS-12") == hashlib.sha256(b"Fixed OPS-12").hexdigest()
    assert comment_hash("a") != comment_hash("b")
