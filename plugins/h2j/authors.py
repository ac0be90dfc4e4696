"""Whose Jira account writes a person's worklogs.

``service`` mode writes everything with the ``jira_default`` connection and names the
person in the comment. ``per_user`` mode writes with the connection
``jira_user_<harvest user id>`` when it exists, so Jira shows the person as the author;
without it the person falls back to the service account when the settings allow it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from h2j import settings

log = logging.getLogger(__name__)

SERVICE_CONN_ID = "jira_default"


@dataclass(frozen=True)
class Author:
    conn_id: str
    is_person: bool
    problem: str | None = None


def user_conn_id(user_id: int) -> str:
    return f"jira_user_{user_id}"


def _connection_exists(conn_id: str) -> bool:
    from airflow.sdk import BaseHook

    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # Airflow raises its not-found error; any failure means "not usable"
        return False
    return True


def author_for(user_id: int, name: str, mode_override: str | None = None) -> Author:
    """The connection that writes this person's new worklogs, or why there is none."""
    if settings.author_mode(mode_override) == "service":
        return Author(SERVICE_CONN_ID, is_person=False)
    own = user_conn_id(user_id)
    if _connection_exists(own):
        return Author(own, is_person=True)
    if settings.per_user_fallback():
        log.warning("%s has no connection %s; writing as the service account", name, own)
        return Author(SERVICE_CONN_ID, is_person=False)
    return Author(
        SERVICE_CONN_ID,
        is_person=False,
        problem=f"author_mode is per_user and connection {own} does not exist "
        f"(and h2j_per_user_fallback is off)",
    )
