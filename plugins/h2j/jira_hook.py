"""Reads and writes Jira worklogs through the Jira REST API (v3 by default, or v2).

The connection is a stock ``http`` connection: host is the site's base URL, context path
included (``https://jira.acme.com/jira``; schema may hold ``https``). Login and password
are an e-mail and an API token (Basic auth), or with extra ``auth: "bearer"`` the password
alone is a personal access token. Extra ``api_version`` picks ``"3"`` (default; comments
in Atlassian Document Format) or ``"2"`` (comments as plain strings); extra ``site``
optionally names the site as Harvest's Jira integration records it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Literal
from urllib.parse import quote, urlsplit

import requests
from requests.auth import HTTPBasicAuth

from h2j.errors import ApiError, BadSetting
from h2j.http_base import BearerAuth, PolicyHttpHook, site_url

API_VERSIONS = ("2", "3")
WORKLOG_LIST_MAX_IDS = 1000
WORKLOG_PAGE_SIZE = 1000
PROJECT_PAGE_SIZE = 50
ESTIMATE_MODES = ("auto", "leave", "new")


class JiraHook(PolicyHttpHook):
    """Interact with Jira issues and worklogs.

    :param jira_conn_id: the http connection described in the module docstring.
    :param retry_policy: timeouts and backoff; the h2j default when None.
    """

    conn_name_attr = "jira_conn_id"
    default_conn_name = "jira_default"
    conn_type = "http"
    hook_name = "Jira"
    service = "jira"
    h2j_extra_keys = frozenset({"auth", "api_version", "site"})

    def __init__(self, jira_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(http_conn_id=jira_conn_id, **kwargs)
        self.jira_conn_id = jira_conn_id

    @property
    def api_version(self) -> str:
        """``"3"`` or ``"2"``, from the connection's ``api_version`` extra."""
        version = str(self.extras.get("api_version", "3")).strip()
        if version not in API_VERSIONS:
            raise BadSetting(f"connection {self.jira_conn_id!r}: api_version must be 2 or 3")
        return version

    @property
    def site(self) -> str:
        """The site's host name: extra ``site`` if set, else the host of the base URL."""
        site = self.extras.get("site")
        if site:
            return str(site)
        conn = self.connection
        return urlsplit(site_url(conn.host, conn.schema, conn.port)).hostname or ""

    def configure_session(self, session: requests.Session) -> None:
        conn = self.connection
        if not conn.password:
            raise BadSetting(f"connection {self.jira_conn_id!r} has no token in password")
        mode = str(self.extras.get("auth", "basic")).lower()
        if mode == "bearer":
            session.auth = BearerAuth(conn.password)
        elif mode == "basic" and conn.login:
            session.auth = HTTPBasicAuth(conn.login, conn.password)
        else:
            raise BadSetting(
                f"connection {self.jira_conn_id!r}: Basic auth needs a login (e-mail); "
                "extra 'auth' may be 'basic' or 'bearer'"
            )

    def _api(self, *parts: str | int) -> str:
        """The path of an API resource, each part quoted (issue keys hold no slash)."""
        quoted = "/".join(quote(str(part), safe="") for part in parts)
        return f"rest/api/{self.api_version}/{quoted}"

    def _read(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.json_of(self.request("GET", path, params=params), path)

    def _read_or_none(self, path: str, params: dict[str, Any] | None = None) -> Any:
        response = self.request("GET", path, params=params, allow=(404,))
        if response.status_code == 404:
            return None
        return self.json_of(response, path)

    def myself(self) -> dict[str, Any]:
        """The account the credentials belong to."""
        return self._read(self._api("myself"))

    def projects(self) -> list[dict[str, Any]]:
        """Every project the account can see, as ``{"id", "key", "name"}`` dicts."""
        found: list[dict[str, Any]] = []
        start = 0
        while True:
            params = {"startAt": start, "maxResults": PROJECT_PAGE_SIZE}
            page = self._read(self._api("project", "search"), params)
            values = _list_in(page, "values", self.service, "project/search")
            found.extend({k: p.get(k) for k in ("id", "key", "name")} for p in values)
            start += len(values)
            if page.get("isLast", True) or not values:
                return found

    def get_issue(self, id_or_key: str | int) -> dict[str, Any] | None:
        """The issue with only its time tracking fields, or None when Jira answers 404."""
        return self._read_or_none(self._api("issue", id_or_key), {"fields": "timetracking"})

    def get_worklog(self, issue_id: str | int, worklog_id: str | int) -> dict[str, Any] | None:
        """One worklog with its properties, or None when Jira answers 404."""
        path = self._api("issue", issue_id, "worklog", worklog_id)
        return self._read_or_none(path, {"expand": "properties"})

    def iter_worklogs(
        self, issue_id: str | int, expand_properties: bool = True
    ) -> Iterator[dict[str, Any]]:
        """Every worklog of an issue, following ``startAt``, ``maxResults`` and ``total``."""
        path = self._api("issue", issue_id, "worklog")
        start = 0
        while True:
            params: dict[str, Any] = {"startAt": start, "maxResults": WORKLOG_PAGE_SIZE}
            if expand_properties:
                params["expand"] = "properties"
            page = self._read(path, params)
            worklogs = _list_in(page, "worklogs", self.service, path)
            yield from worklogs
            start += len(worklogs)
            if not worklogs or start >= int(page.get("total") or 0):
                return

    def worklogs_by_ids(self, ids: Iterable[int | str]) -> list[dict[str, Any]]:
        """The worklogs with these ids, with properties; ids Jira cannot show are left out."""
        wanted = [int(worklog_id) for worklog_id in ids]
        found: list[dict[str, Any]] = []
        path = self._api("worklog", "list")
        for first in range(0, len(wanted), WORKLOG_LIST_MAX_IDS):
            chunk = wanted[first : first + WORKLOG_LIST_MAX_IDS]
            response = self.request(
                "POST", path, params={"expand": "properties"}, json={"ids": chunk}, idempotent=True
            )
            body = self.json_of(response, path)
            if not isinstance(body, list):
                raise ApiError(
                    self.service,
                    response.status_code,
                    "worklog/list is not a list",
                    method="POST",
                    path=urlsplit(response.url).path,
                )
            found.extend(body)
        return found

    def changed_worklogs(
        self, kind: Literal["updated", "deleted"], since_ms: int
    ) -> Iterator[dict[str, Any]]:
        """Ids (and, for updates, properties) of worklogs changed since a time in ms.

        Jira leaves out changes of the last minute, so a caller should keep ``since`` at
        least a minute behind the present for its next run.
        """
        if kind not in ("updated", "deleted"):
            raise ValueError("kind must be 'updated' or 'deleted'")
        params: dict[str, Any] | None = {"since": int(since_ms)}
        if kind == "updated":
            params["expand"] = "properties"
        link: str | None = self._api("worklog", kind)
        seen: set[str] = set()
        while link is not None:
            seen.add(link)
            page = self._read(link, params)
            yield from _list_in(page, "values", self.service, f"worklog/{kind}")
            link = self._next_changed_page(page)
            params = None
            if link in seen:
                raise ApiError(self.service, 200, f"worklog/{kind} links back to a read page")

    def _next_changed_page(self, page: dict[str, Any]) -> str | None:
        if page.get("lastPage", True):
            return None
        next_page = page.get("nextPage")
        if not next_page:
            raise ApiError(
                self.service, 200, "a changed-worklogs page has neither lastPage nor nextPage"
            )
        return self.url_for(next_page)

    def add_worklog(
        self,
        issue_id: str | int,
        *,
        started: str,
        seconds: int,
        comment: str,
        properties: dict[str, Any] | None = None,
        adjust_estimate: str = "auto",
        new_estimate: str | None = None,
    ) -> dict[str, Any]:
        """Create a worklog and return it as Jira stored it.

        :param started: ``2026-11-03T09:00:00.000+0000`` (Jira wants no colon in the offset).
        :param seconds: time spent; Jira refuses less than 60.
        :param comment: plain text; each line becomes a paragraph on v3.
        :param properties: worklog properties, key to JSON value.
        :raises AmbiguousWrite: the worklog may exist though no answer arrived; read back.
        """
        body: dict[str, Any] = self._worklog_body(started, seconds, comment)
        if properties:
            body["properties"] = [{"key": k, "value": v} for k, v in properties.items()]
        params = {**_estimate_params(adjust_estimate, new_estimate), "expand": "properties"}
        path = self._api("issue", issue_id, "worklog")
        return self.json_of(self.request("POST", path, params=params, json=body), path)

    def update_worklog(
        self,
        issue_id: str | int,
        worklog_id: str | int,
        *,
        started: str,
        seconds: int,
        comment: str,
        adjust_estimate: str = "auto",
        new_estimate: str | None = None,
    ) -> dict[str, Any]:
        """Replace a worklog's start, time spent and comment; return it as Jira stored it."""
        body = self._worklog_body(started, seconds, comment)
        params = {**_estimate_params(adjust_estimate, new_estimate), "expand": "properties"}
        path = self._api("issue", issue_id, "worklog", worklog_id)
        return self.json_of(self.request("PUT", path, params=params, json=body), path)

    def delete_worklog(
        self,
        issue_id: str | int,
        worklog_id: str | int,
        *,
        adjust_estimate: str = "auto",
        new_estimate: str | None = None,
    ) -> bool:
        """Delete a worklog; False when Jira answers 404 because it is already gone."""
        path = self._api("issue", issue_id, "worklog", worklog_id)
        params = _estimate_params(adjust_estimate, new_estimate)
        response = self.request("DELETE", path, params=params, allow=(404,))
        return response.status_code != 404

    def _worklog_body(self, started: str, seconds: int, comment: str) -> dict[str, Any]:
        text: Any = comment if self.api_version == "2" else adf_document(comment)
        return {"started": started, "timeSpentSeconds": int(seconds), "comment": text}


def adf_document(text: str) -> dict[str, Any]:
    """Plain text as an Atlassian Document Format doc, one paragraph per line.

    ADF forbids empty text nodes, so a blank line becomes an empty paragraph.
    """
    paragraphs = []
    for line in text.splitlines():
        content = [{"type": "text", "text": line}] if line else []
        paragraphs.append({"type": "paragraph", "content": content})
    return {"type": "doc", "version": 1, "content": paragraphs}


def comment_text(comment: Any) -> str:
    """A worklog comment as plain text, whether Jira sent a string (v2) or ADF (v3).

    Block nodes become lines and hard breaks become line breaks, so text written by
    :func:`adf_document` reads back unchanged.
    """
    if comment is None:
        return ""
    if isinstance(comment, str):
        return comment
    if not isinstance(comment, dict):
        return str(comment)
    return "\n".join(_inline_text(block) for block in comment.get("content") or [])


INLINE_NODES = frozenset({"text", "hardBreak", "mention", "emoji", "date", "inlineCard"})


def _inline_text(node: dict[str, Any]) -> str:
    kind = node.get("type")
    if kind == "text":
        return str(node.get("text", ""))
    if kind == "hardBreak":
        return "\n"
    if kind in INLINE_NODES:
        attrs = node.get("attrs") or {}
        return str(attrs.get("text") or attrs.get("url") or "")
    children = node.get("content") or []
    blocks = any(child.get("type") not in INLINE_NODES for child in children)
    return ("\n" if blocks else "").join(_inline_text(child) for child in children)


def _estimate_params(adjust_estimate: str, new_estimate: str | None) -> dict[str, str]:
    """Query parameters for how Jira should move the remaining estimate.

    ``manual`` is left out: it needs a reduceBy or increaseBy amount that h2j never has.
    """
    if adjust_estimate not in ESTIMATE_MODES:
        raise ValueError(f"adjust_estimate must be one of {ESTIMATE_MODES}")
    if adjust_estimate == "new":
        if not new_estimate:
            raise ValueError("adjust_estimate='new' needs new_estimate, such as '2h 30m'")
        return {"adjustEstimate": "new", "newEstimate": new_estimate}
    return {"adjustEstimate": adjust_estimate}


def _list_in(page: Any, key: str, service: str, what: str) -> list[dict[str, Any]]:
    """``page[key]`` when ``page`` is an object holding a list there; else an ApiError."""
    items = page.get(key) if isinstance(page, dict) else None
    if not isinstance(items, list):
        raise ApiError(service, 200, f"{what} answer has no '{key}' list")
    return items
