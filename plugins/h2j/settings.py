"""Knobs a deployment sets once (Airflow Variables) and a run may override (params)."""

from __future__ import annotations

from typing import Any

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
        raise ValueError(f"adjust_estimate {mode!r} is not one of {ADJUST_ESTIMATE_MODES}")
    return mode


def author_mode(override: str | None = None) -> str:
    mode = setting("h2j_author_mode", override)
    if mode not in AUTHOR_MODES:
        raise ValueError(f"author_mode {mode!r} is not one of {AUTHOR_MODES}")
    return mode


def per_user_fallback() -> bool:
    return setting("h2j_per_user_fallback").strip().lower() in ("1", "true", "yes")


def load_concurrency() -> int:
    """How many of one person's issues a load task writes to at once (at least 1)."""
    value = setting("h2j_load_concurrency")
    try:
        threads = int(value)
    except ValueError:
        raise ValueError(f"h2j_load_concurrency {value!r} is not a whole number") from None
    if threads < 1:
        raise ValueError(f"h2j_load_concurrency must be at least 1, not {threads}")
    return threads
