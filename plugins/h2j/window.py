"""Which dates a run syncs: the params a person gave, else the schedule's window."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from h2j.errors import BadSetting

MAX_DAYS = 366


@dataclass(frozen=True)
class Window:
    from_date: dt.date
    to_date: dt.date

    def as_dict(self) -> dict[str, str]:
        return {"from_date": self.from_date.isoformat(), "to_date": self.to_date.isoformat()}

    @classmethod
    def from_dict(cls, value: dict[str, str]) -> Window:
        return cls(
            dt.date.fromisoformat(value["from_date"]), dt.date.fromisoformat(value["to_date"])
        )

    def __str__(self) -> str:
        return f"{self.from_date}..{self.to_date}"


def scheduled_window(end: dt.date) -> Window:
    """From the first day of the month before ``end`` to ``end``, both inclusive.

    People correct last month's timesheets well into this month, so every daily run
    looks back that far.
    """
    first_of_month = end.replace(day=1)
    previous_month_start = (first_of_month - dt.timedelta(days=1)).replace(day=1)
    return Window(previous_month_start, end)


def resolve_window(from_param: str | None, to_param: str | None, end: dt.date) -> Window:
    """The run's window: ``from_date``/``to_date`` params when given, else the schedule's.

    Only one of the two given: ``from_date`` runs to ``end``; ``to_date`` starts on the
    first of its month.
    """
    if not from_param and not to_param:
        return scheduled_window(end)

    to_date = _parse("to_date", to_param) if to_param else end
    from_date = _parse("from_date", from_param) if from_param else to_date.replace(day=1)
    if from_date > to_date:
        raise BadSetting(f"from_date {from_date} is after to_date {to_date}")
    if (to_date - from_date).days >= MAX_DAYS:
        raise BadSetting(
            f"the window {from_date}..{to_date} is longer than {MAX_DAYS} days; "
            "backfill a long period month by month"
        )
    return Window(from_date, to_date)


def _parse(name: str, value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise BadSetting(f"{name} {value!r} is not a date like 2026-11-30") from None
