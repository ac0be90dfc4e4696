"""The window a run syncs: params first, else last month's first day to the run's date."""

from __future__ import annotations

import datetime as dt

import pytest

from h2j.window import Window, resolve_window, scheduled_window


def test_scheduled_window_reaches_back_to_last_months_first_day():
    assert scheduled_window(dt.date(2026, 12, 3)) == Window(
        dt.date(2026, 11, 1), dt.date(2026, 12, 3)
    )


def test_scheduled_window_in_january_reaches_into_last_year():
    assert scheduled_window(dt.date(2027, 1, 1)).from_date == dt.date(2026, 12, 1)


def test_params_win_over_the_schedule():
    window = resolve_window("2026-07-01", "2026-07-31", dt.date(2026, 12, 3))
    assert str(window) == "2026-07-01..2026-07-31"


def test_only_from_date_runs_to_the_runs_date():
    window = resolve_window("2026-11-15", None, dt.date(2026, 12, 3))
    assert window == Window(dt.date(2026, 11, 15), dt.date(2026, 12, 3))


def test_only_to_date_starts_on_the_first_of_its_month():
    window = resolve_window(None, "2026-07-20", dt.date(2026, 12, 3))
    assert window == Window(dt.date(2026, 7, 1), dt.date(2026, 7, 20))


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2026-07-31", "2026-07-01", "after"),
        ("2025-01-01", "2026-07-01", "longer than"),
        ("July", "2026-07-01", "not a date"),
    ],
)
def test_bad_windows_are_refused_with_a_reason(start, end, message):
    with pytest.raises(ValueError, match=message):
        resolve_window(start, end, dt.date(2026, 12, 3))


def test_window_round_trips_through_xcom():
    window = Window(dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert Window.from_dict(window.as_dict()) == window
