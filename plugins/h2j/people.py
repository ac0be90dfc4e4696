"""Groups of people for mapped tasks, and running one step for each person of a group.

Airflow refuses to map a task over more than ``max_map_length`` items (1024 by default).
Up to that many people, every map index is one person; beyond it, people are grouped so
that the number of groups stays within the limit, and each group's task still works and
reports person by person.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

log = logging.getLogger(__name__)


def groups_of(users: list[dict[str, Any]], max_map_length: int) -> list[list[dict[str, Any]]]:
    """``users`` split into at most ``max_map_length`` groups of equal size (the last less)."""
    size = max(1, math.ceil(len(users) / max(1, max_map_length)))
    return [users[start : start + size] for start in range(0, len(users), size)]


def for_each(
    people: list[dict[str, Any]], step: Callable[[dict[str, Any]], Any], what: str
) -> tuple[list[Any], list[str]]:
    """Run ``step`` for every person; one person's exception never stops the others.

    Returns the results of those that finished and one message per person that did not.
    """
    results, errors = [], []
    for person in people:
        try:
            results.append(step(person))
        except Exception as exc:  # reported per person; the task fails after the group
            log.exception("Could not %s for %s (user %s)", what, person["name"], person["id"])
            errors.append(f"{person['name']} (user {person['id']}): {exc}")
    return results, errors
