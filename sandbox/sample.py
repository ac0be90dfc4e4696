"""Deterministic sample data for the sandbox servers: one month of a small team's time.

The demo and the tests need an account that looks like a real Harvest account wired to a
real Jira site: people in many time zones (some crossing a DST change), notes written by
hand, entries started from Jira through Harvest's integration, running timers, rounded
hours. The same arguments must give the same data on every run, so everything is drawn
from one ``random.Random(seed)`` and every timestamp is derived from the month, never
from the clock.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sandbox.sample_data import (
    APPROVED_REASON,
    CLIENTS,
    COMPANY,
    DECOY_NOTES,
    DEMO_ESTIMATE_SECONDS,
    DEMO_ISSUE_KEY,
    FIRST_NAMES,
    HARVEST_ACCOUNT_ID,
    HARVEST_PROJECTS,
    HARVEST_TASKS,
    HARVEST_TIME_ZONES,
    HARVEST_TOKEN,
    JIRA_API_TOKEN,
    JIRA_EMAIL,
    JIRA_PAT,
    JIRA_PROJECTS,
    JIRA_SITE,
    LAST_NAMES,
    NO_KEY,
    NOTE_KINDS,
    ROLES,
    RUNNING_TIMERS,
    SUMMARIES,
    WORK,
)

__all__ = [
    "DEMO_ESTIMATE_SECONDS",
    "DEMO_ISSUE_KEY",
    "HARVEST_ACCOUNT_ID",
    "HARVEST_TIME_ZONES",
    "HARVEST_TOKEN",
    "JIRA_API_TOKEN",
    "JIRA_EMAIL",
    "JIRA_PAT",
    "JIRA_SITE",
    "RUNNING_TIMERS",
    "dst_change_days",
    "generate",
    "last_month",
    "month_days",
    "state_summary",
]

_MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")


def last_month(today: date) -> str:
    """The month before ``today``'s month as ``YYYY-MM``: the default window of a run."""
    end = today.replace(day=1) - timedelta(days=1)
    return f"{end.year:04d}-{end.month:02d}"


def month_days(month: str) -> list[date]:
    """Every date of ``month`` (``YYYY-MM``), first to last."""
    found = _MONTH.match(month or "")
    if not found:
        raise ValueError(f"month must look like 2026-03, not {month!r}")
    day = date(int(found.group(1)), int(found.group(2)), 1)
    days = []
    while day.month == int(found.group(2)):
        days.append(day)
        day += timedelta(days=1)
    return days


def dst_change_days(zone: str, month: str) -> list[date]:
    """Days of ``month`` on which the Harvest ``zone`` moves its clocks."""
    tz = ZoneInfo(HARVEST_TIME_ZONES[zone])
    return [
        day
        for day in month_days(month)
        if datetime.combine(day, time(0), tz).utcoffset()
        != datetime.combine(day, time(23, 59), tz).utcoffset()
    ]


def generate(
    seed: int = 7,
    people: int = 12,
    month: str | None = None,
    entries_per_person: int = 40,
) -> dict:
    """Build ``{"harvest": state, "jira": state}`` in the shape each sandbox loads.

    ``month`` defaults to the month before today; it is the only input read from the clock.
    The features the demo relies on are placed on purpose, not left to chance; they need
    at least 18 entries in all and four people (timers run for people two to four), and
    the DST-day entries need someone in a zone that changes its clocks that month.
    """
    most = len(FIRST_NAMES) * len(LAST_NAMES)
    if not 1 <= people <= most or entries_per_person < 0:
        raise ValueError(f"people must be 1 to {most}, entries_per_person at least 0")
    days = month_days(month or last_month(date.today()))
    rng = random.Random(seed)
    team = _people(rng, people, days[0])
    jira = _jira_state(rng, team)
    harvest = _harvest_state(rng, team, jira, days, entries_per_person)
    return {"harvest": harvest, "jira": jira}


def state_summary(sample: dict) -> dict:
    """Counts that say at a glance what a sample (or a dumped pair of states) holds."""
    users = sample["harvest"]["users"]
    entries = sample["harvest"]["time_entries"]
    issues = sample["jira"]["issues"]
    weekend = [e for e in entries if date.fromisoformat(e["spent_date"]).weekday() >= 5]
    return {
        "users": len(users),
        "time_zones": len({u["timezone"] for u in users}),
        "time_entries": len(entries),
        "weekend_entries": len(weekend),
        "hours": round(sum(e["hours"] for e in entries), 2),
        "rounded_hours": round(sum(e["rounded_hours"] for e in entries), 2),
        "running_timers": sum(1 for e in entries if e["is_running"]),
        "external_references": sum(1 for e in entries if e["external_reference"]),
        "timestamp_entries": sum(1 for e in entries if e["started_time"]),
        "jira_accounts": len(sample["jira"]["accounts"]),
        "projects": len(sample["jira"]["projects"]),
        "issues": len(issues),
        "closed_issues": sum(1 for i in issues if i["closed"]),
        "worklogs": len(sample["jira"]["worklogs"]),
    }


def _people(rng: random.Random, count: int, first_day: date) -> list[dict]:
    """Harvest users spread over the zones; the first one is the administrator."""
    pairs = [(first, last) for first in FIRST_NAMES for last in LAST_NAMES]
    zones = list(HARVEST_TIME_ZONES)
    rng.shuffle(zones)
    user_id = 3_700_000 + rng.randrange(400_000)
    team = []
    for index, (first, last) in enumerate(rng.sample(pairs, count)):
        user_id += rng.randint(3, 900)
        created = _utc(first_day) - timedelta(
            days=rng.randint(90, 900), seconds=rng.randrange(86400)
        )
        rate = float(rng.choice([90, 110, 125, 150, 175]))
        person = {"id": user_id, "first_name": first, "last_name": last}
        person |= {
            "email": f"{first.lower()}.{last.lower()}@example.com",
            "telephone": rng.choice(["", f"+1 555 01{rng.randrange(100):02d}"]),
            "timezone": zones[index % len(zones)],
            "has_access_to_all_future_projects": index == 0,
            "is_contractor": index % 7 == 6,
            "is_active": True,
            "weekly_capacity": rng.choice([126000, 144000, 72000]),
            "default_hourly_rate": rate,
            "cost_rate": round(rate * 0.55, 2),
            "roles": [rng.choice(ROLES)],
            "access_roles": _access_roles(index),
            "avatar_url": f"https://cache.harvestapp.com/assets/profile_images/{user_id}.png",
            "created_at": _stamp(created),
            "updated_at": _stamp(created + timedelta(days=rng.randint(1, 60), minutes=17)),
        }
        team.append(person)
    return team


def _access_roles(index: int) -> list[str]:
    if index == 0:
        return ["administrator"]
    if index % 5 == 1:
        return ["manager", "time_and_expenses_manager"]
    return ["member"]


def _jira_state(rng: random.Random, team: list[dict]) -> dict:
    """Projects and issues with estimates, one closed and one moved, and the accounts."""
    projects, issues, next_id = [], [], 10000
    for key, name in JIRA_PROJECTS[: rng.randint(3, 5)]:
        projects.append({"id": str(next_id), "key": key, "name": name})
        count = rng.randint(10, 20)
        for number in range(1, count + 1):
            issues.append(_issue(rng, next_id + number, f"{key}-{number}", str(next_id)))
        next_id += count + 1
    _close_and_move(rng, issues)
    return {
        "site": JIRA_SITE,
        "accounts": _jira_accounts(rng, team),
        "projects": projects,
        "issues": issues,
        "worklogs": [],
        "deleted_worklogs": [],
        "next_id": next_id,
    }


def _issue(rng: random.Random, issue_id: int, key: str, project_id: str) -> dict:
    if key == DEMO_ISSUE_KEY:
        summary, estimate = "Demo: keep the estimate true to the hours", DEMO_ESTIMATE_SECONDS
    else:
        summary = rng.choice(SUMMARIES)
        estimate = rng.choice([None, 1800, 3600, 7200, 14400, 28800, 57600, 115200])
    return {
        "id": str(issue_id),
        "key": key,
        "project_id": project_id,
        "summary": summary,
        "closed": False,
        "original_estimate_seconds": estimate,
        "remaining_estimate_seconds": estimate,
        "previous_keys": [],
    }


def _close_and_move(rng: random.Random, issues: list[dict]) -> None:
    """Close one issue, and give one issue of another project the ``OPS`` key it once had."""
    closed, moved = rng.sample([i for i in issues if not i["key"].startswith("OPS-")], 2)
    closed["closed"] = True
    ops_count = sum(1 for i in issues if i["key"].startswith("OPS-"))
    moved["previous_keys"] = [f"OPS-{ops_count + 1}"]


def _jira_accounts(rng: random.Random, team: list[dict]) -> list[dict]:
    bot = {
        "accountId": _account_id(rng),
        "emailAddress": JIRA_EMAIL,
        "displayName": "h2j bot",
        "api_token": JIRA_API_TOKEN,
        "personal_access_token": JIRA_PAT,
        "timeZone": "UTC",
        "active": True,
    }
    people = [
        {
            "accountId": _account_id(rng),
            "emailAddress": person["email"],
            "displayName": _name(person),
            "timeZone": HARVEST_TIME_ZONES[person["timezone"]],
            "active": True,
        }
        for person in team
    ]
    return [bot, *people]


def _account_id(rng: random.Random) -> str:
    return f"712020:{uuid.UUID(int=rng.getrandbits(128), version=4)}"


def _harvest_state(
    rng: random.Random, team: list[dict], jira: dict, days: list[date], per_person: int
) -> dict:
    drafts = [d for person in team for d in _drafts(rng, person, days, per_person)]
    _move_onto_dst_days(rng, drafts, team, days)
    _clock_in(rng, drafts)
    _write_notes(rng, drafts, jira, team, days[0])
    _start_timers(drafts, team)
    _shrink_one(rng, drafts)
    entries = [_entry(rng, draft, days) for draft in drafts]
    return {
        "account_id": HARVEST_ACCOUNT_ID,
        "tokens": {HARVEST_TOKEN: team[0]["id"]},
        "company": dict(COMPANY),
        "users": team,
        "time_entries": entries,
        "next_id": _number(rng, entries),
    }


def _drafts(rng: random.Random, person: dict, days: list[date], count: int) -> list[dict]:
    """``count`` entries on mostly working days, each with a project, task and length."""
    weekdays = [d for d in days if d.weekday() < 5]
    weekends = [d for d in days if d.weekday() >= 5]
    uses_clock = rng.random() < 0.5
    drafts = []
    for _ in range(count):
        pool = weekends if rng.random() < 0.05 else weekdays
        drafts.append(
            {
                "person": person,
                "day": rng.choice(pool),
                "project": rng.randrange(len(HARVEST_PROJECTS)),
                "task": rng.randrange(len(HARVEST_TASKS)),
                "timestamps": uses_clock and rng.random() < 0.9,
                "minutes": rng.choice(range(15, 241, 5)),
                "hours": _duration_hours(rng),
            }
        )
    return drafts


def _duration_hours(rng: random.Random) -> float:
    """Hours as a duration timer records them: often ragged (2.01), sometimes round."""
    if rng.random() < 0.4:
        return rng.choice([0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 7.25])
    return round(rng.uniform(0.1, 3.6), 2)


def _move_onto_dst_days(
    rng: random.Random, drafts: list[dict], team: list[dict], days: list[date]
) -> None:
    """Put one entry of someone in each zone that changes its clocks on the change day."""
    month = f"{days[0]:%Y-%m}"
    for zone in sorted({p["timezone"] for p in team}):
        mine = [d for d in drafts if d["person"]["timezone"] == zone]
        for change in dst_change_days(zone, month):
            if mine:
                rng.choice(mine)["day"] = change


def _clock_in(rng: random.Random, drafts: list[dict]) -> None:
    """Lay each person's entries of a day one after another from a morning start."""
    drafts.sort(key=lambda d: (d["person"]["id"], d["day"]))
    cursor: dict[tuple[int, date], int] = {}
    for draft in drafts:
        slot = (draft["person"]["id"], draft["day"])
        length = draft["minutes"] if draft["timestamps"] else round(draft["hours"] * 60)
        start = cursor.get(slot, rng.choice(range(7 * 60 + 30, 10 * 60 + 1, 5)))
        draft["start"] = min(start, 23 * 60 + 55 - length)
        draft["length"] = length
        cursor[slot] = draft["start"] + length + rng.choice(range(0, 50, 5))
        if draft["timestamps"]:
            draft["hours"] = round(length / 60, 2)


def _write_notes(
    rng: random.Random, drafts: list[dict], jira: dict, team: list[dict], first_day: date
) -> None:
    """Give every entry a note; each feature the tests look for appears at least once."""
    forced = ["key_first", "key_inside", "lower", "two_keys", "no_key", "null"]
    forced += ["ext_ref", "ext_ref", "closed", "closed", "old_key", "old_key_ref"]
    forced += [f"decoy:{n}" for n in range(len(DECOY_NOTES))]
    kinds = list(NOTE_KINDS)
    weights = list(NOTE_KINDS.values())
    extra = max(0, len(drafts) - len(forced))
    plan = forced[: len(drafts)] + rng.choices(kinds, weights, k=extra)
    rng.shuffle(plan)
    context = _NoteContext(rng, jira, team, f"{first_day:%Y-%m}")
    for draft, kind in zip(drafts, plan, strict=True):
        draft["kind"] = kind
        draft["notes"], draft["external_reference"] = context.write(kind)


class _NoteContext:
    """Writes notes the way people type them, over the issues a note may name."""

    def __init__(self, rng: random.Random, jira: dict, team: list[dict], month: str):
        self.rng = rng
        self.month = month
        self.names = [p["first_name"] for p in team]
        issues = jira["issues"]
        self.closed = next(i for i in issues if i["closed"])
        self.moved = next(i for i in issues if i["previous_keys"])
        self.open = [i for i in issues if not i["closed"] and i["key"] != DEMO_ISSUE_KEY]

    def write(self, kind: str) -> tuple[str | None, dict | None]:
        rng, work = self.rng, self.rng.choice(WORK)
        key = rng.choice(self.open)["key"]
        if kind.startswith("decoy"):
            index = int(kind.split(":")[1]) if ":" in kind else rng.randrange(len(DECOY_NOTES))
            return DECOY_NOTES[index].format(month=self.month), None
        if kind in ("ext_ref", "ext_ref_and_key", "old_key_ref"):
            return self._from_jira(kind)
        notes = {
            "key_first": rng.choice([f"{key} {work}", f"{key}: {work}", f"[{key}] {work}"]),
            "key_inside": self._sentence(key),
            "lower": f"{key} {work}".lower(),
            "two_keys": self._two_keys(work),
            "closed": f"{self.closed['key']} {work}",
            "old_key": f"{self.moved['previous_keys'][0]} {work}",
            "no_key": rng.choice(NO_KEY) or f"1:1 with {rng.choice(self.names)}",
            "null": None,
        }
        return notes[kind], None

    def _two_keys(self, work: str) -> str:
        first, second = (i["key"] for i in self.rng.sample(self.open, 2))
        return self.rng.choice([f"{first} and {second} {work}", f"{first}, {second}: {work}"])

    def _sentence(self, key: str) -> str:
        name = self.rng.choice(self.names)
        return self.rng.choice(
            [
                f"reviewed the PR for {key.lower()} with {name}",
                f"paired with {name} on {key}, mostly tests",
                f"call with {name} about the {key} rollout",
                f"looked into {key.lower()} again",
            ]
        )

    def _from_jira(self, kind: str) -> tuple[str | None, dict]:
        """An entry started from Jira: the reference carries the link, the note may not."""
        issue = self.moved if kind == "old_key_ref" else self.rng.choice(self.open)
        key = issue["previous_keys"][0] if kind == "old_key_ref" else issue["key"]
        reference = {
            "id": issue["id"],
            "group_id": issue["project_id"],
            "account_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, JIRA_SITE)),
            "permalink": f"https://{JIRA_SITE}/browse/{key}",
            "service": JIRA_SITE,
            "service_icon_url": "https://cache.harvestapp.com/assets/platform/jira.png",
        }
        if kind == "ext_ref_and_key":
            return f"{key} {self.rng.choice(WORK)}", reference
        return self.rng.choice([issue["summary"], self.rng.choice(WORK), None]), reference


def _start_timers(drafts: list[dict], team: list[dict]) -> None:
    """Leave the last entry of a few people running, as a forgotten timer does."""
    for person in team[1 : RUNNING_TIMERS + 1]:
        mine = [d for d in drafts if d["person"] is person]
        if mine:
            last = max(mine, key=lambda d: (d["day"], d["start"]))
            last["running"] = True
            last["timestamps"] = True


def _shrink_one(rng: random.Random, drafts: list[dict]) -> None:
    """Make one linked entry 36 seconds long: shorter than the minute Jira accepts."""
    linked = [d for d in drafts if d["kind"] == "key_first" and not d["timestamps"]]
    if linked:
        tiny = rng.choice(linked)
        tiny["hours"], tiny["length"] = 0.01, 1


def _entry(rng: random.Random, draft: dict, days: list[date]) -> dict:
    person = draft["person"]
    project = HARVEST_PROJECTS[draft["project"]]
    task_name, task_billable = HARVEST_TASKS[draft["task"]]
    running = draft.get("running", False)
    approved = not running and draft["day"].day <= 15 and rng.random() < 0.5
    billable = project["billable"] and task_billable
    created, updated = _created_updated(rng, draft, days)
    entry = {"id": 0, "spent_date": draft["day"].isoformat()}
    entry |= {
        "user": {"id": person["id"], "name": _name(person)},
        "client": dict(CLIENTS[project["client"]]),
        "project": {"id": project["id"], "name": project["name"]},
        "task": {"id": 8_083_365 + draft["task"], "name": task_name},
        "user_assignment": _user_assignment(person, draft["project"], days[0]),
        "task_assignment": _task_assignment(
            draft["project"], draft["task"], task_billable, days[0]
        ),
        "external_reference": draft["external_reference"],
        "invoice": None,
    }
    entry |= _hours(rng, draft, running)
    entry |= {
        "notes": draft["notes"],
        "is_locked": approved,
        "locked_reason": APPROVED_REASON if approved else None,
        "is_closed": approved,
        "is_billed": False,
        "timer_started_at": _stamp(_instant(draft, draft["start"])) if running else None,
        "started_time": _clock(draft["start"]) if draft["timestamps"] else None,
        "ended_time": _ended_time(draft, running),
        "is_running": running,
        "billable": billable,
        "budgeted": project["billable"],
        "billable_rate": person["default_hourly_rate"] if billable else None,
        "cost_rate": person["cost_rate"],
        "created_at": _stamp(created),
        "updated_at": _stamp(updated),
    }
    return entry


def _hours(rng: random.Random, draft: dict, running: bool) -> dict:
    """Raw hours, the part tracked before the timer last started, and the rounded figure."""
    hours = draft["hours"]
    before = round(hours * rng.choice([0, 0.5]), 2) if running else hours
    return {
        "hours": hours,
        "hours_without_timer": before,
        "rounded_hours": _round_up_quarter(hours),
    }


def _created_updated(rng: random.Random, draft: dict, days: list[date]) -> tuple:
    """When the entry was saved (at its end; at its start when running), then edited."""
    first = _utc(days[0])
    last = _utc(days[-1]) + timedelta(hours=23, minutes=59, seconds=59)
    length = 0 if draft.get("running") else draft["length"]
    created = _instant(draft, draft["start"] + length) + timedelta(seconds=rng.randrange(60))
    created = min(max(created, first), last)
    edited = created + timedelta(minutes=rng.choice([0, 0, 0, 7, 95, 1500]))
    return created, min(edited, last)


def _ended_time(draft: dict, running: bool) -> str | None:
    if running or not draft["timestamps"]:
        return None
    return _clock(draft["start"] + draft["length"])


def _user_assignment(person: dict, project: int, first_day: date) -> dict:
    assigned = _stamp(_utc(first_day) - timedelta(days=75, hours=8, minutes=57, seconds=49))
    return {
        "id": 120_000_000 + (person["id"] % 100_000) * 10 + project,
        "is_project_manager": person["access_roles"] != ["member"],
        "is_active": True,
        "budget": None,
        "created_at": assigned,
        "updated_at": assigned,
        "hourly_rate": person["default_hourly_rate"],
    }


def _task_assignment(project: int, task: int, billable: bool, first_day: date) -> dict:
    assigned = _stamp(_utc(first_day) - timedelta(days=75, hours=9, minutes=11, seconds=23))
    return {
        "id": 150_000_000 + project * 100 + task,
        "billable": billable,
        "is_active": True,
        "created_at": assigned,
        "updated_at": assigned,
        "hourly_rate": 120.0,
        "budget": None,
    }


def _number(rng: random.Random, entries: list[dict]) -> int:
    """Give ids in creation order, above 2**32 as Harvest's now are; return the next one."""
    entries.sort(key=lambda e: (e["created_at"], e["user"]["id"], e["spent_date"]))
    next_id = 2**32 + 600_000_000 + rng.randrange(50_000_000)
    for entry in entries:
        entry["id"] = next_id
        next_id += rng.randint(1, 40)
    return next_id


def _round_up_quarter(hours: float) -> float:
    """Harvest's "round up to 15 minutes" setting, on hundredths to dodge float noise."""
    return math.ceil(round(hours * 100) / 25) * 25 / 100


def _clock(minutes: int) -> str:
    """Minutes after midnight in Harvest's 12h style: ``9:15am``, ``12:00pm``."""
    hour, minute = divmod(minutes % (24 * 60), 60)
    return f"{(hour - 1) % 12 + 1}:{minute:02d}{'am' if hour < 12 else 'pm'}"


def _instant(draft: dict, minutes: int) -> datetime:
    """The UTC instant ``minutes`` after local midnight on the draft's day."""
    tz = ZoneInfo(HARVEST_TIME_ZONES[draft["person"]["timezone"]])
    hour, minute = divmod(min(minutes, 24 * 60 - 1), 60)
    return datetime.combine(draft["day"], time(hour, minute), tz).astimezone(UTC)


def _name(person: dict) -> str:
    return f"{person['first_name']} {person['last_name']}"


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(0), UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
