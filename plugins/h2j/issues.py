"""Finds the Jira issue behind a Harvest entry, asking Jira once per issue per run."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from h2j.issue_refs import first_known_key, reference_from_external
from h2j.sql import sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issue:
    issue_id: str
    key: str


class IssueNotFound(LookupError):
    """The entry names an issue of a known project that Jira does not have."""


class IssueResolver:
    """Resolves entries to issues; lookups are shared by a run's tasks through PostgreSQL.

    ``lookup(ref)`` is the Jira call (an issue id or key in, the issue JSON or None out).
    """

    def __init__(
        self,
        *,
        conn: psycopg.Connection,
        run_id: str,
        site: str,
        known_projects: Iterable[str],
        lookup,
        site_host: str | None,
    ):
        self.conn = conn
        self.run_id = run_id
        self.site = site
        self.site_host = site_host
        self.known_projects = {key.upper() for key in known_projects}
        self.lookup = lookup
        self.cache: dict[str, Issue | None] = {}

    def reference(self, entry: Mapping[str, Any]) -> str | None:
        """The issue id or key an entry points at, before asking Jira.

        Harvest's Jira integration (``external_reference``) wins over keys in the notes.
        """
        ref = reference_from_external(entry.get("external_reference"), self.site_host)
        if ref is not None:
            return ref.issue_id or ref.key
        notes = entry.get("notes")
        return first_known_key(notes if isinstance(notes, str) else None, self.known_projects)

    def prefetch(self, refs: Iterable[str]) -> None:
        """Load the run's earlier lookups of ``refs`` in one query."""
        wanted = sorted({ref for ref in refs if ref and ref not in self.cache})
        if not wanted:
            return
        params = {"run_id": self.run_id, "site": self.site, "refs": wanted}
        for ref, issue_id, key, found in self.conn.execute(sql("issue_lookup_get"), params):
            self.cache[ref] = Issue(issue_id, key) if found else None

    def resolve(self, ref: str) -> Issue:
        """The issue for ``ref``; IssueNotFound when Jira does not know it."""
        if ref not in self.cache:
            self.cache[ref] = self._ask_jira(ref)
        issue = self.cache[ref]
        if issue is None:
            raise IssueNotFound(f"Jira has no issue {ref}")
        return issue

    def _ask_jira(self, ref: str) -> Issue | None:
        found = self.lookup(ref)
        issue = Issue(str(found["id"]), found["key"]) if found else None
        self.conn.execute(
            sql("issue_lookup_put"),
            {
                "run_id": self.run_id,
                "site": self.site,
                "ref": ref,
                "issue_id": issue.issue_id if issue else None,
                "issue_key": issue.key if issue else None,
                "found": issue is not None,
            },
        )
        if issue is None:
            log.warning("Jira has no issue %s", ref)
        return issue
