"""The state a sandbox Harvest account is made of, and the rules for reading it.

The state is one JSON-serialisable dict, dumped and loaded unchanged by
``/_sandbox/state`` so that sample data can be written as a file:

``account_id`` (str), ``tokens`` ({personal access token: user id}), ``company`` (a Company
object), ``users`` (User objects, ``timezone`` a Harvest/Rails zone name), ``time_entries``
(TimeEntry objects) and ``next_id`` (the next time entry id; 64-bit, above 2**32, because
Harvest's ids outgrew 32 bits and a client that stores them in an int32 must fail here).

Objects may omit fields; responses fill them with the defaults below, so the dump stays
exactly what was loaded.
"""

from __future__ import annotations

import copy
import threading
from datetime import UTC, datetime, timedelta
from typing import Any

ACCOUNT_ID = "1234567"
DEFAULT_TOKEN = "sandbox-harvest-token"
FIRST_ENTRY_ID = 4_300_000_001
STATE_KEYS = ("account_id", "tokens", "company", "users", "time_entries", "next_id")
_EPOCH = "2025-01-01T00:00:00Z"

USER_DEFAULTS: dict[str, Any] = {
    "id": None,
    "first_name": None,
    "last_name": None,
    "email": None,
    "telephone": "",
    "timezone": "UTC",
    "has_access_to_all_future_projects": False,
    "is_contractor": False,
    "is_active": True,
    "weekly_capacity": 126000,
    "default_hourly_rate": None,
    "cost_rate": None,
    "roles": [],
    "access_roles": ["member"],
    "avatar_url": None,
    "created_at": _EPOCH,
    "updated_at": _EPOCH,
}

COMPANY_DEFAULTS: dict[str, Any] = {
    "base_uri": "https://sandbox.harvestapp.com",
    "full_domain": "sandbox.harvestapp.com",
    "name": "Sandbox",
    "is_active": True,
    "week_start_day": "Monday",
    "wants_timestamp_timers": False,
    "time_format": "hours_minutes",
    "date_format": "%Y-%m-%d",
    "plan_type": "sandbox",
    "clock": "12h",
    "currency_code_display": "iso_code_none",
    "currency_symbol_display": "symbol_before",
    "decimal_symbol": ".",
    "thousands_separator": ",",
    "color_scheme": "orange",
    "weekly_capacity": 126000,
    "expense_feature": False,
    "invoice_feature": True,
    "estimate_feature": False,
    "approval_feature": True,
    "team_feature": False,
}


class HarvestError(Exception):
    """An error answered in Harvest's shape; ``body`` overrides the usual one."""

    def __init__(self, status: int, message: str, body: dict[str, Any] | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.body = body


def error_body(status: int, message: str) -> dict[str, Any]:
    """The spec's Error object; Harvest's own 401 body is built by the auth check."""
    return {"code": status, "message": message}


def stamp(moment: datetime) -> str:
    """Harvest's timestamp format: UTC, whole seconds, ``Z``."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_stamp(text: str) -> datetime:
    """An ISO 8601 date or date-time as an aware datetime; naive values are taken as UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def touch(obj: dict[str, Any], now: datetime) -> None:
    """Move ``updated_at`` forward: by a second when an edit lands within the same second.

    Harvest stamps whole seconds; a client that syncs with ``updated_since`` must see every
    edit as a change, so two edits in one second may never leave the stamp alone.
    """
    moment = now.astimezone(UTC).replace(microsecond=0)
    previous = obj.get("updated_at")
    if previous and parse_stamp(previous) >= moment:
        moment = parse_stamp(previous) + timedelta(seconds=1)
    obj["updated_at"] = stamp(moment)


def default_state() -> dict[str, Any]:
    """An empty account with one administrator, usable with ``DEFAULT_TOKEN`` at once."""
    admin = {
        **copy.deepcopy(USER_DEFAULTS),
        "id": 1,
        "first_name": "Sandbox",
        "last_name": "Admin",
        "email": "admin@sandbox.example.com",
        "has_access_to_all_future_projects": True,
        "default_hourly_rate": 100.0,
        "cost_rate": 50.0,
        "access_roles": ["administrator"],
    }
    return {
        "account_id": ACCOUNT_ID,
        "tokens": {DEFAULT_TOKEN: 1},
        "company": copy.deepcopy(COMPANY_DEFAULTS),
        "users": [admin],
        "time_entries": [],
        "next_id": FIRST_ENTRY_ID,
    }


def full_name(user: dict[str, Any]) -> str:
    return f"{user.get('first_name') or ''} {user.get('last_name') or ''}".strip()


def roles_of(user: dict[str, Any]) -> list[str]:
    return list(user.get("access_roles") or USER_DEFAULTS["access_roles"])


def sees_everyone(user: dict[str, Any]) -> bool:
    """Administrators and managers see all time entries; members only their own.

    Harvest lists "your time entries": what a token sees depends on its user's role.
    The sandbox does not model which people a manager manages.
    """
    return bool({"administrator", "manager"} & set(roles_of(user)))


class HarvestStore:
    """One sandbox account. Hold ``lock`` while reading or changing ``state``."""

    def __init__(self, state: dict[str, Any] | None = None):
        self.lock = threading.RLock()
        self.state: dict[str, Any] = {}
        self.load(state if state is not None else default_state())

    def dump(self) -> dict[str, Any]:
        with self.lock:
            return copy.deepcopy(self.state)

    def load(self, state: dict[str, Any]) -> None:
        missing = [key for key in STATE_KEYS if key not in state]
        if missing:
            raise ValueError(f"Harvest sandbox state lacks {missing}")
        with self.lock:
            self.state = copy.deepcopy(state)

    def reset(self) -> None:
        self.load(default_state())

    def user_for_token(self, token: str) -> dict[str, Any] | None:
        """The active user a personal access token belongs to, if any."""
        user_id = self.state["tokens"].get(token)
        user = self.user(user_id) if user_id is not None else None
        return user if user and user.get("is_active", True) else None

    def user(self, user_id: int) -> dict[str, Any] | None:
        return next((u for u in self.state["users"] if u.get("id") == user_id), None)

    def entry(self, entry_id: int) -> dict[str, Any] | None:
        return next((e for e in self.state["time_entries"] if e.get("id") == entry_id), None)

    def visible_entry(self, actor: dict[str, Any], raw_id: str) -> dict[str, Any]:
        """The entry ``actor`` may see, or Harvest's 404."""
        entry = self.entry(int(raw_id)) if raw_id.isdigit() else None
        if entry is None or not (sees_everyone(actor) or _owner(entry) == actor["id"]):
            raise HarvestError(404, "Not found")
        return entry

    def company(self) -> dict[str, Any]:
        return {**COMPANY_DEFAULTS, **self.state["company"]}

    def take_id(self) -> int:
        entry_id = int(self.state["next_id"])
        self.state["next_id"] = entry_id + 1
        return entry_id


def _owner(entry: dict[str, Any]) -> int | None:
    return (entry.get("user") or {}).get("id")


def render_user(user: dict[str, Any]) -> dict[str, Any]:
    return {**copy.deepcopy(USER_DEFAULTS), **copy.deepcopy(user)}
