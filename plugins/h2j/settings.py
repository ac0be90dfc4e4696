"""Knobs a deployment sets once (Airflow Variables) and a run may override (params)."""

from __future__ import annotations

from typing import Any

from h2j.errors import BadSetting

ADJUST_ESTIMATE_MODES = ("auto", "leave", "recompute")
AUTHOR_MODES = ("service", "per_user")
DEFAULTS = {
    "h2j_adjust_estimate": "auto",
    "h2j_default_timezone": "UTC",
    "h2j_staging_keep_days": "14",
    "h2j_mass_delete_share": "0.5",
    "h2j_mass_delete_min": "10",
    "h2j_author_mode": "service",
    "h2j_per_user_fallback": "true",
    "h2j_load_concurrency": "4",
}


def setting(name: str, override: Any = None) -> str:
    """``override`` when a run gave one, else the Airflow Variable, else the default.

    Read at run time only; a DAG file must never look up a Variable while parsing.
    """
    if override not in (None, ""):
        return str(override)
    from airflow.sdk import Variable

    return str(Variable.get(name, default=DEFAULTS[name]))


def adjust_estimate(override: str | None = None) -> str:
    mode = setting("h2j_adjust_estimate", override)
    if mode not in ADJUST_ESTIMATE_MODES:
        raise BadSetting(f"adjust_estimate {mode!r} is not one of {ADJUST_ESTIMATE_MODES}")
    return mode


def author_mode(override: str | None = None) -> str:
    mode = setting("h2j_author_mode", override)
    if mode not in AUTHOR_MODES:
        raise BadSetting(f"author_mode {mode!r} is not one of {AUTHOR_MODES}")
    return mode


def per_user_fallback() -> bool:
    return setting("h2j_per_user_fallback").strip().lower() in ("1", "true", "yes")


def whole_number(name: str, minimum: int) -> int:
    """The Variable ``name`` as a whole number of at least ``minimum``."""
    value = setting(name)
    try:
        number = int(value)
    except ValueError:
        raise BadSetting(f"{name} {value!r} is not a whole number") from None
    if number < minimum:
        raise BadSetting(f"{name} must be at least {minimum}, not {number}")
    return number


def load_concurrency() -> int:
    """How many of one person's issues a load task writes to at once."""
    return whole_number("h2j_load_concurrency", 1)


def staging_keep_days() -> int:
    """How many days staged rows and plans are kept."""
    return whole_number("h2j_staging_keep_days", 0)


def check_run_settings(params: dict[str, Any]) -> None:
    """Fail the run's first task, before anything is read or written, on a bad setting.

    Later tasks read the same settings; a mistake found there would cost a run that has
    already staged and planned everyone.
    """
    adjust_estimate(params.get("adjust_estimate"))
    author_mode(params.get("author_mode"))
    load_concurrency()
    staging_keep_days()
