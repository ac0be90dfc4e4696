"""Harvest (Rails) time zone names to IANA zone names."""

from __future__ import annotations

import logging
import zoneinfo
from datetime import date

import pytest

from h2j.convert import jira_started
from h2j.timezones import RAILS_ZONES, iana_zone


def test_harvest_zone_table_maps_every_name_to_a_valid_iana_zone():
    known = zoneinfo.available_timezones()
    for name, zone in RAILS_ZONES.items():
        assert zone in known, name
        zoneinfo.ZoneInfo(zone)
        assert iana_zone(name) == zone


def test_harvest_zone_table_is_the_full_rails_list():
    assert len(RAILS_ZONES) >= 150
    assert all(zone.count("/") >= 1 for zone in RAILS_ZONES.values())


@pytest.mark.parametrize(
    ("harvest_name", "zone"),
    [
        ("Eastern Time (US & Canada)", "America/New_York"),
        ("Central Time (US & Canada)", "America/Chicago"),
        ("Mountain Time (US & Canada)", "America/Denver"),
        ("Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("London", "Europe/London"),
        ("Berlin", "Europe/Berlin"),
        ("Kolkata", "Asia/Kolkata"),
        ("Chennai", "Asia/Kolkata"),
        ("Sydney", "Australia/Sydney"),
        ("Adelaide", "Australia/Adelaide"),
        ("Arizona", "America/Phoenix"),
        ("Hawaii", "Pacific/Honolulu"),
        ("UTC", "Etc/UTC"),
        ("Kyiv", "Europe/Kyiv"),
        ("Rangoon", "Asia/Yangon"),
    ],
)
def test_rails_names_map_to_iana(harvest_name, zone):
    assert iana_zone(harvest_name) == zone


def test_rails_name_matches_regardless_of_case_and_label():
    assert iana_zone("eastern time (us & canada)") == "America/New_York"
    assert iana_zone("(GMT-05:00) Eastern Time (US & Canada)") == "America/New_York"


def test_valid_iana_name_is_accepted_as_is():
    assert iana_zone("Australia/Lord_Howe") == "Australia/Lord_Howe"
    assert iana_zone("australia/lord_howe") == "Australia/Lord_Howe"


def test_unknown_zone_falls_back_to_default_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="h2j.timezones"):
        assert iana_zone("Atlantis Standard Time") == "UTC"
        assert iana_zone("Atlantis Standard Time", "Europe/Berlin") == "Europe/Berlin"
    assert "Atlantis Standard Time" in caplog.text


@pytest.mark.parametrize("value", ["../../etc/passwd", "/usr/share/zoneinfo/UTC", "America"])
def test_paths_and_folders_are_not_zones(value, caplog):
    with caplog.at_level(logging.WARNING, logger="h2j.timezones"):
        assert iana_zone(value, "Asia/Tokyo") == "Asia/Tokyo"
    assert value in caplog.text


@pytest.mark.parametrize("value", [None, "", "   "])
def test_missing_zone_gives_default(value):
    assert iana_zone(value, "America/Chicago") == "America/Chicago"


def test_invalid_default_is_refused():
    with pytest.raises(ValueError, match="Nowhere/Land"):
        iana_zone("London", "Nowhere/Land")


def test_arizona_keeps_standard_time_all_summer():
    zone = iana_zone("Arizona")
    assert jira_started(date(2026, 7, 14), None, zone).endswith("-0700")
    assert jira_started(date(2026, 1, 14), None, zone).endswith("-0700")


def test_adelaide_half_hour_offset_follows_southern_summer():
    zone = iana_zone("Adelaide")
    assert jira_started(date(2026, 1, 14), None, zone).endswith("+1030")
    assert jira_started(date(2026, 7, 14), None, zone).endswith("+0930")
