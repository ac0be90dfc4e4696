"""Splits a person's writes into groups that share no Jira issue.

Jira keeps one time-tracking total per issue, and a write under ``adjustEstimate`` reads
and changes it, so two writes to one issue must not overlap. Groups that share no issue
can be written side by side. A move touches two issues and so joins both into one group.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


class _Joined:
    """Union-find over issue ids."""

    def __init__(self) -> None:
        self.parent: dict[str, str] = {}

    def root(self, issue: str) -> str:
        self.parent.setdefault(issue, issue)
        while self.parent[issue] != issue:
            self.parent[issue] = self.parent[self.parent[issue]]
            issue = self.parent[issue]
        return issue

    def join(self, first: str, second: str) -> None:
        self.parent[self.root(second)] = self.root(first)


def touched(row: dict[str, Any]) -> list[str]:
    """The issues a plan row writes to: the new issue and, for a move or delete, the old."""
    return [str(issue) for issue in (row.get("issue_id"), row.get("old_issue_id")) if issue]


def issue_groups(rows: Iterable[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """``rows`` in groups that touch disjoint sets of issues, each in the given order.

    A row that touches no issue is a group of its own.
    """
    rows = list(rows)
    joined = _Joined()
    for row in rows:
        issues = touched(row)
        for other in issues[1:]:
            joined.join(issues[0], other)

    groups: dict[str, list[dict[str, Any]]] = {}
    for number, row in enumerate(rows):
        issues = touched(row)
        key = f"issue {joined.root(issues[0])}" if issues else f"row {number}"
        groups.setdefault(key, []).append(row)
    return list(groups.values())
