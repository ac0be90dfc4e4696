"""Knobs a deployment sets once (Airflow Variables) and a run may override (params)."""

from __future__ import annotations

from typing import Any

ADJUST_ESTIMATE_MODES = ("auto", "leave")
DEFAULTS = {
    "h2j_adjust_estimate": "auto",
    "h2j_default_timezone": "UTC",
    "h2j_staging_keep_days": "14",
    "h2j_mass_delete_share": "0.5",
    "h2j_mass_delete_min": "10",
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
