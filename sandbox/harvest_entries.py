"""Time entries: how the sandbox creates, edits, times and shows them.

Rules taken from Harvest's documentation, and the choices the sandbox makes where it is
silent:

- An account tracks time either by duration or by start and end times (the company's
  ``wants_timestamp_timers``). Harvest says to create entries by duration only on duration
  accounts and by start/end only on timestamp accounts; the sandbox answers 422 to the
  other style, in POST and PATCH alike, so a client that mixes them fails here first.
- A timer runs when an entry is created without ``hours`` (or without ``ended_time``) or
  restarted. A running entry's ``hours`` is ``hours_without_timer`` plus the time since
  ``timer_started_at``, computed when it is shown. A user has one running timer: starting
  another stops it, as Harvest's timesheet does.
- ``rounded_hours`` follows a Time Rounding preference of "round up to the next 15
  minutes" (the Company object does not expose the preference): 2.11 h shows as 2.25 h.
- The state has no project or task lists, so a new entry's project, client, task and
  assignments are copied from an existing entry with the same ids, or made up from them.
- Locked, closed and billed entries are not protected against edits.
"""

from __future__ import annotations

import copy
import math
from datetime import datetime
from typing import Any

from sandbox.harvest_fields import (
    format_time,
    given,
    hours_value,
    iso_date,
    notes_value,
    positive_int,
    reference_value,
    span_hours,
    time_of_day,
)
from sandbox.harvest_store import (
    HarvestError,
    HarvestStore,
    full_name,
    parse_stamp,
    sees_everyone,
    stamp,
    touch,
)
from sandbox.harvest_zones import wall_clock

ENTRY_DEFAULTS: dict[str, Any] = {
    "id": None,
    "spent_date": None,
    "user": None,
    "user_assignment": None,
    "client": None,
    "project": None,
    "task": None,
    "task_assignment": None,
    "external_reference": None,
    "invoice": None,
    "hours": 0.0,
    "hours_without_timer": 0.0,
    "rounded_hours": 0.0,
    "notes": None,
    "is_locked": False,
    "locked_reason": None,
    "is_closed": False,
    "is_billed": False,
    "timer_started_at": None,
    "started_time": None,
    "ended_time": None,
    "is_running": False,
    "billable": True,
    "budgeted": True,
    "billable_rate": None,
    "cost_rate": None,
    "created_at": None,
    "updated_at": None,
}

_REQUIRED = (("project_id", "Project"), ("task_id", "Task"), ("spent_date", "Spent date"))


def rounded(hours: float) -> float:
    """Hours rounded up to the next quarter hour, the sandbox's Time Rounding setting."""
    return math.ceil(round(hours * 4, 6)) / 4


def render_entry(entry: dict[str, Any], now: datetime) -> dict[str, Any]:
    """The entry as the API shows it, with every field and a running timer's hours."""
    out = {**copy.deepcopy(ENTRY_DEFAULTS), **copy.deepcopy(entry)}
    if out["is_running"] and out["timer_started_at"]:
        out["hours"] = _running_hours(out, now)
        out["rounded_hours"] = rounded(out["hours"])
    return out


def _running_hours(entry: dict[str, Any], now: datetime) -> float:
    elapsed = (now - parse_stamp(entry["timer_started_at"])).total_seconds() / 3600
    return round(float(entry.get("hours_without_timer") or 0) + max(elapsed, 0.0), 2)


def create_entry(
    store: HarvestStore, actor: dict[str, Any], body: dict[str, Any], now: datetime
) -> dict[str, Any]:
    """Add the entry a POST describes and return it as stored."""
    _check_style(store.company(), body)
    missing = [label for key, label in _REQUIRED if not given(body, key)]
    if missing:
        raise HarvestError(422, ", ".join(f"{label} can't be blank" for label in missing))
    user = _owner_for(store, actor, body.get("user_id"))
    project_id, task_id = positive_int(body, "project_id"), positive_int(body, "task_id")
    entry = {**copy.deepcopy(ENTRY_DEFAULTS), "spent_date": iso_date(body, "spent_date")}
    entry["notes"] = notes_value(body)
    if given(body, "external_reference"):
        entry["external_reference"] = reference_value(body["external_reference"])
    entry["user"] = {"id": user["id"], "name": full_name(user)}
    _assign(store, entry, user, project_id, task_id, now)
    _set_time(store, entry, user, body, now)
    entry.update(id=store.take_id(), created_at=stamp(now))
    touch(entry, now)
    store.state["time_entries"].append(entry)
    return entry


def update_entry(
    store: HarvestStore, entry: dict[str, Any], body: dict[str, Any], now: datetime
) -> None:
    """Apply a PATCH: only the fields given change."""
    _check_style(store.company(), body)
    if "spent_date" in body:
        entry["spent_date"] = iso_date(body, "spent_date")
    if given(body, "project_id") or given(body, "task_id"):
        _reassign(store, entry, body, now)
    if "notes" in body:
        entry["notes"] = notes_value(body)
    if "external_reference" in body:
        reference = body["external_reference"]
        entry["external_reference"] = None if reference is None else reference_value(reference)
    if given(body, "hours"):
        _patch_hours(entry, hours_value(body), now)
    if given(body, "started_time") or given(body, "ended_time"):
        _patch_times(store, entry, body)
    touch(entry, now)


def _reassign(
    store: HarvestStore, entry: dict[str, Any], body: dict[str, Any], now: datetime
) -> None:
    project_id = positive_int(body, "project_id") if given(body, "project_id") else None
    task_id = positive_int(body, "task_id") if given(body, "task_id") else None
    project_id = project_id or (entry.get("project") or {}).get("id")
    task_id = task_id or (entry.get("task") or {}).get("id")
    _assign(store, entry, _user_of(store, entry), project_id, task_id, now)


def stop_entry(store: HarvestStore, entry: dict[str, Any], now: datetime) -> None:
    if not entry.get("is_running"):
        raise HarvestError(422, "Only a running time entry can be stopped")
    _stop(store, entry, now)


def restart_entry(store: HarvestStore, entry: dict[str, Any], now: datetime) -> None:
    if entry.get("is_running"):
        raise HarvestError(422, "Only a stopped time entry can be restarted")
    user = _user_of(store, entry)
    _stop_others(store, user["id"], now)
    entry["hours_without_timer"] = float(entry.get("hours") or 0)
    _start_timer(store, entry, user, now)
    touch(entry, now)


def _stop(store: HarvestStore, entry: dict[str, Any], now: datetime) -> None:
    running = entry.get("timer_started_at")
    hours = _running_hours(entry, now) if running else float(entry.get("hours") or 0)
    entry.update(hours=hours, hours_without_timer=hours, rounded_hours=rounded(hours))
    entry.update(is_running=False, timer_started_at=None)
    if store.company()["wants_timestamp_timers"]:
        entry["ended_time"] = _clock(store, _user_of(store, entry), now)
    touch(entry, now)


def _stop_others(store: HarvestStore, user_id: int, now: datetime) -> None:
    for other in store.state["time_entries"]:
        if other.get("is_running") and (other.get("user") or {}).get("id") == user_id:
            _stop(store, other, now)


def _start_timer(
    store: HarvestStore, entry: dict[str, Any], user: dict[str, Any], now: datetime
) -> None:
    entry.update(is_running=True, timer_started_at=stamp(now))
    entry["hours"] = float(entry.get("hours_without_timer") or 0)
    entry["rounded_hours"] = rounded(entry["hours"])
    if store.company()["wants_timestamp_timers"]:
        entry["started_time"] = entry.get("started_time") or _clock(store, user, now)
        entry["ended_time"] = None


def _set_time(
    store: HarvestStore,
    entry: dict[str, Any],
    user: dict[str, Any],
    body: dict[str, Any],
    now: datetime,
) -> None:
    """Hours for a new entry: given, from start and end times, or a timer that runs."""
    if given(body, "hours"):
        _set_hours(entry, hours_value(body))
        return
    if given(body, "started_time") and given(body, "ended_time"):
        entry["started_time"] = _shown(store, time_of_day(body, "started_time"))
        entry["ended_time"] = _shown(store, time_of_day(body, "ended_time"))
        _set_hours(entry, span_hours(body))
        return
    if given(body, "ended_time"):
        raise HarvestError(422, "Started time can't be blank when ended time is given")
    if given(body, "started_time"):
        entry["started_time"] = _shown(store, time_of_day(body, "started_time"))
    _stop_others(store, user["id"], now)
    _start_timer(store, entry, user, now)


def _patch_hours(entry: dict[str, Any], hours: float, now: datetime) -> None:
    if entry.get("is_running"):
        entry.update(hours_without_timer=hours, timer_started_at=stamp(now))
        entry.update(hours=hours, rounded_hours=rounded(hours))
    else:
        _set_hours(entry, hours)


def _patch_times(store: HarvestStore, entry: dict[str, Any], body: dict[str, Any]) -> None:
    """New start or end times; an end time stops a running entry and sets its hours."""
    merged = {"started_time": entry.get("started_time"), "ended_time": entry.get("ended_time")}
    merged.update({k: body[k] for k in ("started_time", "ended_time") if given(body, k)})
    if not merged["started_time"]:
        raise HarvestError(422, "Started time can't be blank")
    entry["started_time"] = _shown(store, time_of_day(merged, "started_time"))
    if merged["ended_time"]:
        entry["ended_time"] = _shown(store, time_of_day(merged, "ended_time"))
        entry.update(is_running=False, timer_started_at=None)
        _set_hours(entry, span_hours(merged))


def _set_hours(entry: dict[str, Any], hours: float) -> None:
    hours = round(hours, 2)
    entry.update(hours=hours, hours_without_timer=hours, rounded_hours=rounded(hours))
    entry.update(is_running=False, timer_started_at=None)


def _check_style(company: dict[str, Any], body: dict[str, Any]) -> None:
    if company["wants_timestamp_timers"] and given(body, "hours"):
        raise HarvestError(
            422, "This account tracks time via start and end times: send started_time"
        )
    if not company["wants_timestamp_timers"] and (
        given(body, "started_time") or given(body, "ended_time")
    ):
        raise HarvestError(422, "This account tracks time via duration: send hours")


def _owner_for(store: HarvestStore, actor: dict[str, Any], raw: Any) -> dict[str, Any]:
    """The user a new entry belongs to: the token's, or another one for those who may."""
    if raw is None:
        return actor
    user_id = positive_int({"user_id": raw}, "user_id")
    if user_id != actor["id"] and not sees_everyone(actor):
        raise HarvestError(403, "You may only track time for yourself")
    user = store.user(user_id)
    if user is None or not user.get("is_active", True):
        raise HarvestError(422, "User is not an active user of this account")
    return user


def _assign(
    store: HarvestStore,
    entry: dict[str, Any],
    user: dict[str, Any],
    project_id: int,
    task_id: int,
    now: datetime,
) -> None:
    """Project, client, task, assignments and rates, copied from a sibling entry if any."""
    same_project = _sibling(store, entry, lambda e: e["project"]["id"] == project_id)
    same_task = _sibling(
        store, entry, lambda e: e["project"]["id"] == project_id and e["task"]["id"] == task_id
    )
    same_user = _sibling(
        store,
        entry,
        lambda e: e["project"]["id"] == project_id and e["user"]["id"] == user["id"],
    )
    when = stamp(now)
    project = {"id": project_id, "name": f"Project {project_id}"}
    entry["project"] = _pick(same_project, "project", project)
    entry["client"] = _pick(same_project, "client", {"id": 1, "name": "Sandbox Client"})
    entry["task"] = _pick(same_task, "task", {"id": task_id, "name": f"Task {task_id}"})
    entry["task_assignment"] = _pick(
        same_task, "task_assignment", _made_assignment(project_id * 7 + task_id, when, True)
    )
    entry["user_assignment"] = _pick(
        same_user, "user_assignment", _made_assignment(project_id * 7 + user["id"], when, False)
    )
    entry["billable"] = bool(entry["task_assignment"].get("billable", True))
    rate = entry["user_assignment"].get("hourly_rate") or user.get("default_hourly_rate")
    entry["billable_rate"] = rate if entry["billable"] else None
    entry["cost_rate"] = user.get("cost_rate")


def _sibling(store: HarvestStore, entry: dict[str, Any], match) -> dict[str, Any] | None:
    for other in store.state["time_entries"]:
        if other is entry or not all(other.get(k) for k in ("project", "task", "user")):
            continue
        if match(other):
            return other
    return None


def _pick(source: dict[str, Any] | None, key: str, fallback: dict[str, Any]) -> dict[str, Any]:
    found = (source or {}).get(key)
    return copy.deepcopy(found) if found else fallback


def _made_assignment(seed: int, when: str, billable: bool) -> dict[str, Any]:
    """An assignment for ids the state has never seen; its id stays within int32."""
    made = {"id": seed % 2_000_000_000 + 1, "is_active": True, "budget": None}
    made.update(created_at=when, updated_at=when, hourly_rate=None)
    if billable:
        made["billable"] = True
    else:
        made["is_project_manager"] = False
    return made


def _shown(store: HarvestStore, hour_minute: tuple[int, int]) -> str:
    return format_time(hour_minute, store.company()["clock"])


def _clock(store: HarvestStore, user: dict[str, Any], now: datetime) -> str:
    return wall_clock(now, user.get("timezone"), store.company()["clock"])


def _user_of(store: HarvestStore, entry: dict[str, Any]) -> dict[str, Any]:
    user_id = (entry.get("user") or {}).get("id")
    return store.user(user_id) or {"id": user_id}
