"""Finds the Jira issue behind a Harvest entry, asking Jira once per issue per run."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import psycopg

from h2j.errors import ApiError, TransientApiError
from h2j.issue_refs import first_known_key, reference_from_external
from h2j.sql import sql

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Issue:
    issue_id: str
    key: str


class IssueNotFound(LookupError):
    """The entry names an issue of a known project that Jira does not have."""


class IssueLookupFailed(LookupError):
    """Jira refused to show one issue or answered in a shape h2j cannot read.

    Only the entries naming that issue fail. Jira being unreachable, or refusing the
    credentials (401), is not about one issue and is raised as the hook's own error.
    """


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
        self.failed: dict[str, str] = {}

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
        """The issue for ``ref``.

        :raises IssueNotFound: Jira does not know it.
        :raises IssueLookupFailed: Jira's answer about it was an error or unreadable; the
            failure is remembered for the rest of the task, but not shared with the run's
            other tasks, so a later attempt asks again.
        """
        if ref in self.failed:
            raise IssueLookupFailed(self.failed[ref])
        if ref not in self.cache:
            try:
                self.cache[ref] = self._ask_jira(ref)
            except IssueLookupFailed as exc:
                log.warning("Entries naming %s fail: %s", ref, exc)
                self.failed[ref] = str(exc)
                raise
        issue = self.cache[ref]
        if issue is None:
            raise IssueNotFound(f"Jira has no issue {ref}")
        return issue

    def _ask_jira(self, ref: str) -> Issue | None:
        """Jira's answer for ``ref``, kept for the run under the issue's id and key as well,
        since one entry may name an issue by its id and another by its key."""
        issue = self._issue_from(ref, self._answer(ref))
        aliases = [ref]
        if issue is not None:
            aliases += [alias for alias in (issue.issue_id, issue.key) if alias != ref]
        for alias in aliases:
            self.conn.execute(
                sql("issue_lookup_put"),
                {
                    "run_id": self.run_id,
                    "site": self.site,
                    "ref": alias,
                    "issue_id": issue.issue_id if issue else None,
                    "issue_key": issue.key if issue else None,
                    "found": issue is not None,
                },
            )
            self.cache[alias] = issue
        if issue is None:
            log.warning("Jira has no issue %s", ref)
        return issue

    def _answer(self, ref: str) -> Any:
        """Jira's answer for ``ref``; errors about this one issue become IssueLookupFailed."""
        try:
            return self.lookup(ref)
        except TransientApiError:
            raise
        except ApiError as exc:
            if exc.status == 401:
                raise
            raise IssueLookupFailed(f"looking up issue {ref} in Jira failed: {exc}") from exc

    @staticmethod
    def _issue_from(ref: str, found: Any) -> Issue | None:
        """The id and key in Jira's issue JSON; IssueLookupFailed when either is missing."""
        if found is None:
            return None
        fields = found if isinstance(found, Mapping) else {}
        issue_id, key = fields.get("id"), fields.get("key")
        if not _is_issue_id(issue_id) or not isinstance(key, str) or not key.strip():
            raise IssueLookupFailed(
                f"Jira's answer about issue {ref} lacks a numeric issue id or a key"
            )
        return Issue(str(issue_id), key.strip())


def _is_issue_id(value: Any) -> bool:
    """Jira sends issue ids as digit strings; a positive integer is taken too."""
    if isinstance(value, str):
        return value.isascii() and value.isdigit()
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
